"""The encoded RFC 5322 message: placeholders, EmailPayload (personalisation by byte substitution),
header values (To, Date, Message-ID, RFC 2047 encoded-words), the header block with List-Unsubscribe,
the multipart template and its quoted-printable bodies.

Why quoted-printable bodies: substitution must not break the encoding. Each body placeholder sits
alone between two QP soft line breaks (`=\\r\\n`), and the value put there is QP-encoded with its own
soft breaks, so every line stays ≤ 76 characters whatever the recipient's URL
(https://www.rfc-editor.org/rfc/rfc2045#section-6.7). The boundary starts with `=_`, which
quoted-printable can never produce, so it cannot clash.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import html
import re
from dataclasses import dataclass, field
from email.utils import format_datetime
from urllib.parse import urlsplit

from channels.email.limits import (
    CRLF, ENCODED_WORD_BYTES, MAX_ASCII_NAME_CHARS, MAX_LINE_OCTETS, SMTP_POLICY,
)
from publisher.addresses import InvalidAddress, normalize_email, wire_address
from publisher.config import Settings

# --- placeholders -------------------------------------------------------------------------------
# In `html`/`text`: the values a recipient sees. In `template`: every per-recipient slot, already
# in the encoding its place needs (header text, QP of the raw value, QP of the HTML-escaped value).
RESERVED = "%%PUB:"
UNSUBSCRIBE_URL = "%%PUB:UNSUBSCRIBE_URL%%"
TO_EMAIL = "%%PUB:TO_EMAIL%%"
_BODY_TOKEN = re.compile(r"(%%PUB:(?:UNSUBSCRIBE_URL|TO_EMAIL)%%)")
_TEMPLATE_SLOT = re.compile(rb"%%PUB:([A-Z_]+)%%")
TEXT_SLOTS = {UNSUBSCRIBE_URL: "UNSUBSCRIBE_URL_QP", TO_EMAIL: "TO_EMAIL_QP"}
HTML_SLOTS = {UNSUBSCRIBE_URL: "UNSUBSCRIBE_URL_HTML_QP", TO_EMAIL: "TO_EMAIL_HTML_QP"}

EXAMPLE_EMAIL = "reader@example.com"
EXAMPLE_NAME = "Reader"
EXAMPLE_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)  # preview of an undated post only

_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_DOT_ATOM}@{_LABEL}(?:\.{_LABEL})*")
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")  # RFC 3986 characters only
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# --- the payload --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmailPayload:
    subject: str
    preheader: str
    html: str = field(repr=False)  # final inlined HTML with UNSUBSCRIBE_URL / TO_EMAIL placeholders
    text: str = field(repr=False)  # plain-text part with the same placeholders
    template: bytes = field(repr=False)  # the whole encoded message; per-recipient values are %%PUB:...%% slots
    slug: str
    message_id_domain: str
    post_date: dt.datetime | None
    example_unsubscribe_url: str  # what previews show; a real send passes each recipient's URL
    html_part_bytes: int  # encoded size of the text/html body, what Gmail's clip counts
    _segments: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    _slots: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _id_seed: bytes = field(init=False, repr=False, compare=False)
    _default_date: bytes | None = field(init=False, repr=False, compare=False)
    _max_url_chars: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pieces = _TEMPLATE_SLOT.split(self.template)
        object.__setattr__(self, "_segments", tuple(pieces[0::2]))
        object.__setattr__(self, "_slots", tuple(p.decode("ascii") for p in pieces[1::2]))
        seed = hashlib.sha256(self.slug.encode() + b"\0" + self.template).digest()
        object.__setattr__(self, "_id_seed", seed)
        default = format_datetime(self.post_date).encode() if self.post_date else None
        object.__setattr__(self, "_default_date", default)
        line = next(x for x in self.template.split(CRLF) if x.startswith(b"List-Unsubscribe:"))
        fixed = len(line) - len(b"%%PUB:UNSUBSCRIBE_URL%%")
        object.__setattr__(self, "_max_url_chars", MAX_LINE_OCTETS - fixed)

    def personalize(self, *, to_email: str, to_name: str = "", unsubscribe_url: str,
                    date: dt.datetime | None = None) -> bytes:
        """The final RFC 5322 message for one recipient (ASCII bytes, CRLF line ends)."""
        address = _checked_address(to_email)
        url = self._checked_unsubscribe_url(unsubscribe_url)
        escaped_address = html.escape(address)
        escaped_url = html.escape(url)
        values = {
            "TO": _to_header_value(to_name, address),
            "DATE": self._date_header_value(date),
            "MESSAGE_ID": self._message_id(address),
            "UNSUBSCRIBE_URL": url.encode("ascii"),
            "UNSUBSCRIBE_URL_QP": _qp_value(url),
            "UNSUBSCRIBE_URL_HTML_QP": _qp_value(escaped_url),
            "TO_EMAIL_QP": _qp_value(address),
            "TO_EMAIL_HTML_QP": _qp_value(escaped_address),
        }
        segments = self._segments
        out = [segments[0]]
        for slot, segment in zip(self._slots, segments[1:]):
            out.append(values[slot])
            out.append(segment)
        return b"".join(out)

    def example_message(self) -> bytes:
        return self.personalize(to_email=EXAMPLE_EMAIL, to_name=EXAMPLE_NAME,
                                unsubscribe_url=self.example_unsubscribe_url,
                                date=None if self.post_date else EXAMPLE_DATE)

    def _checked_unsubscribe_url(self, url: str) -> str:
        if not _URL.fullmatch(url):
            raise ValueError(f"unsubscribe URL must be an http(s) URL of ASCII URL characters, got {url!r}")
        if len(url) > self._max_url_chars:
            raise ValueError(f"unsubscribe URL is {len(url)} characters; at most {self._max_url_chars} fit "
                             "the List-Unsubscribe header line")
        return url

    def _date_header_value(self, date: dt.datetime | None) -> bytes:
        if date is None:
            if self._default_date is None:
                raise ValueError("the post has no date; pass date= to personalize()")
            return self._default_date
        return _date_header(date)

    def _message_id(self, address: str) -> bytes:
        # Same post content + same recipient → same id, so a resend after an uncertain SMTP reply
        # is recognised as a duplicate by the receiver instead of landing twice.
        digest = hashlib.sha256(self._id_seed + address.lower().encode()).hexdigest()[:32]
        return f"<{digest}@{self.message_id_domain}>".encode("ascii")


@functools.lru_cache(maxsize=64)  # a batch shares one date; formatting it costs more than the rest
def _date_header(date: dt.datetime) -> bytes:
    if date.tzinfo is None:
        raise ValueError("date must be timezone-aware")
    return format_datetime(date).encode("ascii")


def _checked_address(to_email: str) -> str:
    """The recipient in its wire form (publisher.addresses, the grammar the subscriber list uses):
    IDN domains as punycode; a quoted or UTF-8 local part kept (the latter needs SMTPUTF8)."""
    try:
        return wire_address(normalize_email(to_email, smtputf8=True))
    except InvalidAddress as exc:
        raise ValueError(f"recipient {to_email!r}: {exc}") from None


def _clean_display_name(name: str) -> str:
    return " ".join(_CONTROL.sub(" ", name).split())


def _to_header_value(name: str, address: str) -> bytes:
    """`To:` value: atoms or a quoted-string for short ASCII names, RFC 2047 encoded-words otherwise."""
    name = _clean_display_name(name)
    if not name:
        return address.encode("utf-8")
    if name.isascii() and len(name) <= MAX_ASCII_NAME_CHARS and "=?" not in name:
        phrase = name if _ATOM_PHRASE.fullmatch(name) else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines = [phrase]
    else:
        lines = _encoded_words(name)
    angle = f"<{address}>"
    if len("To: ") + len(lines[-1]) + 1 + len(angle) <= SMTP_POLICY.max_line_length:
        lines[-1] += " " + angle
    else:
        lines.append(angle)
    return "\r\n ".join(lines).encode("utf-8")  # ASCII but for an SMTPUTF8 address (RFC 6532)


def _encoded_words(text: str) -> list[str]:
    raw = text.encode("utf-8")
    if len(raw) <= ENCODED_WORD_BYTES:
        chunks = [raw]
    else:  # split on character boundaries so every word decodes on its own
        chunks, current = [], b""
        for char in text:
            encoded = char.encode("utf-8")
            if len(current) + len(encoded) > ENCODED_WORD_BYTES:
                chunks.append(current)
                current = b""
            current += encoded
        chunks.append(current)
    return ["=?utf-8?b?" + base64.b64encode(chunk).decode("ascii") + "?=" for chunk in chunks]


def _qp(text: str) -> bytes:
    """Quoted-printable of text with CRLF hard breaks and ≤ 76-character lines (RFC 2045 6.7)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True)


def _qp_value(value: str) -> bytes:
    # b2a_qp only uses CRLF soft breaks when the input has a CRLF, so give it one and take it off.
    return _qp(value + "\n")[:-2]


# --- headers ------------------------------------------------------------------------------------
def _fold(name: str, value: str) -> bytes:
    """One header, folded and RFC 2047-encoded by email.policy.SMTP
    (https://www.rfc-editor.org/rfc/rfc2047#section-2)."""
    return SMTP_POLICY.header_factory(name, value).fold(policy=SMTP_POLICY).encode("ascii")


def _address_of(value: str) -> str:
    try:
        addresses = SMTP_POLICY.header_factory("From", value).addresses
    except (IndexError, ValueError):
        return ""
    spec = addresses[0].addr_spec if addresses else ""
    return spec if "@" in spec and spec.split("@")[-1] else ""


def _message_id_domain(settings: Settings) -> str:
    address = _address_of(settings.email_from)
    domain = address.rsplit("@", 1)[-1] if address else (urlsplit(settings.site_url).hostname or "localhost")
    return domain.encode("idna").decode("ascii") if not domain.isascii() else domain


def _list_unsubscribe_line(settings: Settings) -> bytes:
    # One unfolded line: a relay re-folding it breaks a simple-canonicalised DKIM signature
    # (https://www.rfc-editor.org/rfc/rfc6376#section-3.4.1).
    line = b"List-Unsubscribe: <%%PUB:UNSUBSCRIBE_URL%%>"
    mailto = settings.email_unsubscribe_mailto.strip()
    if mailto:
        mailto = mailto.removeprefix("mailto:")
        if not mailto.isascii() or re.search(r"[\s<>,]", mailto):
            raise ValueError(f"PUBLISHER_EMAIL_UNSUBSCRIBE_MAILTO must be a plain ASCII address, got {mailto!r}")
        if "?" not in mailto:
            mailto += "?subject=unsubscribe"
        line += b", <mailto:" + mailto.encode("ascii") + b">"
    return line + CRLF


def _message_template(subject: str, settings: Settings, text_body: bytes, html_body: bytes) -> bytes:
    boundary = b"=_" + hashlib.sha256(text_body + html_body).hexdigest()[:32].encode()
    headers = [
        _fold("From", settings.email_from),
        b"To: %%PUB:TO%%\r\n",
        _fold("Subject", subject),
        b"Date: %%PUB:DATE%%\r\n",
        b"Message-ID: %%PUB:MESSAGE_ID%%\r\n",
        _list_unsubscribe_line(settings),
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",  # RFC 8058, exactly this
    ]
    if settings.email_list_id:
        list_id = settings.email_list_id.strip()
        headers.append(_fold("List-Id", list_id if "<" in list_id else f"<{list_id}>"))
    if settings.email_reply_to:
        headers.append(_fold("Reply-To", settings.email_reply_to))
    headers += [
        # Suppresses vacation auto-replies: non-standard but widely honoured, see
        # https://datatracker.ietf.org/doc/html/rfc3834 for automatic responders.
        b"Precedence: bulk\r\n",
        b"MIME-Version: 1.0\r\n",
        b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n',
    ]
    delimiter = b"--" + boundary + CRLF
    part_head = b"Content-Type: text/%s; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    return b"".join([
        *headers, CRLF,
        delimiter, part_head % b"plain", text_body, CRLF,  # plain first, html last = preferred (RFC 2046)
        delimiter, part_head % b"html", html_body, CRLF,
        b"--" + boundary + b"--" + CRLF,
    ])


def _qp_body(document: str, slots: dict[str, str]) -> bytes:
    """QP-encode a part body; each placeholder becomes a template slot between two soft breaks."""
    pieces = _BODY_TOKEN.split(document)
    out = []
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(b"%%PUB:" + slots[piece].encode() + b"%%=\r\n")
            continue
        encoded = _qp(piece)
        if encoded and not encoded.endswith(CRLF) and index + 1 < len(pieces):
            encoded += b"=\r\n"
        out.append(encoded)
    return b"".join(out)
