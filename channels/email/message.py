"""The encoded RFC 5322 message: placeholders, EmailPayload (personalisation by byte substitution),
the per-recipient header values (To, Date, Message-ID), the header block with List-Unsubscribe, and
the multipart template.

Headers are written by headers.py from the literal text (never parsed from it); bodies are encoded
by transfer.py, which keeps every placeholder a slot: between QP soft breaks, or inside the one
base64 tail slot of a part (its end, carried in the slot) that personalize() encodes with the
recipient's values. The boundary starts with `=_`, which neither quoted-printable nor base64 can
produce, so it cannot clash.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import html
import re
from dataclasses import dataclass, field
from email.utils import format_datetime
from urllib.parse import urlsplit

from channels.email.headers import (
    list_id_field,
    mailbox,
    mailbox_field,
    parse_mailbox,
    phrase_lines,
)
from channels.email.limits import CRLF, MAX_ADDRESS_CHARS, MAX_LINE_OCTETS
from channels.email.transfer import BODY_TOKEN as _BODY_TOKEN  # noqa: F401 (its old home; channel.py)
from channels.email.transfer import b64_tail, parse_b64_slot, qp_value
from publisher.addresses import InvalidAddress, normalize_email, wire_address
from publisher.config import Settings
from publisher.errors import ConfigError

# --- placeholders -------------------------------------------------------------------------------
# In `html`/`text`: the values a recipient sees. In `template`: every per-recipient slot, already
# in the encoding its place needs (header text, QP of the raw value, QP of the HTML-escaped value).
RESERVED = "%%PUB:"
UNSUBSCRIBE_URL = "%%PUB:UNSUBSCRIBE_URL%%"
TO_EMAIL = "%%PUB:TO_EMAIL%%"
# The base64 alphabet too: a base64 tail slot carries the end of its part (transfer.py).
_TEMPLATE_SLOT = re.compile(rb"%%PUB:([A-Za-z0-9_+/=]+)%%")
TEXT_SLOTS = {UNSUBSCRIBE_URL: "UNSUBSCRIBE_URL_QP", TO_EMAIL: "TO_EMAIL_QP"}
HTML_SLOTS = {UNSUBSCRIBE_URL: "UNSUBSCRIBE_URL_HTML_QP", TO_EMAIL: "TO_EMAIL_HTML_QP"}

EXAMPLE_EMAIL = "reader@example.com"
EXAMPLE_NAME = "Reader"
EXAMPLE_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)  # preview of an undated post only

_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")  # RFC 3986 characters only


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
    html_encoding: str = "quoted-printable"  # or "base64", whichever was shorter (transfer.py)
    unsized_images: tuple[str, ...] = ()  # images whose pixel size neither the post nor the cache knows
    _segments: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    _slots: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _id_seed: bytes = field(init=False, repr=False, compare=False)
    _default_date: bytes | None = field(init=False, repr=False, compare=False)
    _max_url_chars: int = field(init=False, repr=False, compare=False)
    _tails: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pieces = _TEMPLATE_SLOT.split(self.template)
        object.__setattr__(self, "_segments", tuple(pieces[0::2]))
        object.__setattr__(self, "_slots", tuple(p.decode("ascii") for p in pieces[1::2]))
        tails = {slot: parsed for slot in self._slots if (parsed := parse_b64_slot(slot))}
        object.__setattr__(self, "_tails", tails)
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
        }
        if len(self._tails) < 2:  # a part in quoted-printable: its values between soft breaks
            values.update({
                "UNSUBSCRIBE_URL_QP": qp_value(url),
                "UNSUBSCRIBE_URL_HTML_QP": qp_value(escaped_url),
                "TO_EMAIL_QP": qp_value(address),
                "TO_EMAIL_HTML_QP": qp_value(escaped_address),
            })
        if self._tails:  # base64 parts: the end of the part, encoded with this recipient's values
            plain = {UNSUBSCRIBE_URL: url, TO_EMAIL: address}
            escaped = {UNSUBSCRIBE_URL: escaped_url, TO_EMAIL: escaped_address}
            for slot, (is_html, pieces) in self._tails.items():
                values[slot] = b64_tail(pieces, escaped if is_html else plain)
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


# A lower-case dot-atom at an LDH domain that is not an IDN ("xn--" labels are left to the full check).
_PLAIN_ADDRESS = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                            r"@(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")


def _checked_address(to_email: str) -> str:
    """The recipient in its wire form (publisher.addresses, the grammar the subscriber list uses):
    IDN domains as punycode; a quoted or UTF-8 local part kept (the latter needs SMTPUTF8)."""
    if len(to_email) <= MAX_ADDRESS_CHARS and _PLAIN_ADDRESS.fullmatch(to_email):
        return to_email  # the common case is already its wire form: no IDNA work per recipient
    try:
        return wire_address(normalize_email(to_email, smtputf8=True))
    except InvalidAddress as exc:
        raise ValueError(f"recipient {to_email!r}: {exc}") from None


def _to_header_value(name: str, address: str) -> bytes:
    """`To:` value: atoms or a quoted-string for short ASCII names, RFC 2047 encoded-words otherwise
    (headers.py: written from the literal name, never parsed)."""
    return mailbox("To", name, address).encode("utf-8")  # ASCII but for an SMTPUTF8 address (RFC 6532)


# --- headers ------------------------------------------------------------------------------------
def _address_of(value: str) -> str:
    """The wire address of a sender setting (`Name <local@domain>`), its domain in punycode; "" when
    it holds none. Read by our own rules (headers.parse_mailbox), never by a header parser."""
    parsed = parse_mailbox(value)
    return parsed[1] if parsed else ""


def _message_id_domain(settings: Settings) -> str:
    address = _address_of(settings.email_from)
    domain = address.rsplit("@", 1)[-1] if address else (urlsplit(settings.site_url).hostname or "localhost")
    return domain.encode("idna").decode("ascii") if not domain.isascii() else domain


def _from_field(settings: Settings) -> bytes:
    field_bytes = mailbox_field("From", settings.email_from)
    if field_bytes is not None:
        return field_bytes
    # No address: the checks refuse the mailing; the preview still shows the name, encoded.
    name = " ".join(settings.email_from.split()) or "?"
    return ("From: " + "\r\n ".join(phrase_lines(name, 70)) + "\r\n").encode("ascii")


def _list_unsubscribe_line(settings: Settings) -> bytes:
    # One unfolded line: a relay re-folding it breaks a simple-canonicalised DKIM signature
    # (https://www.rfc-editor.org/rfc/rfc6376#section-3.4.1).
    line = b"List-Unsubscribe: <%%PUB:UNSUBSCRIBE_URL%%>"
    mailto = settings.email_unsubscribe_mailto.strip()
    if mailto:
        mailto = mailto.removeprefix("mailto:")
        if not mailto.isascii() or re.search(r"[\s<>,\x00-\x1f\x7f]", mailto) or len(mailto) > 300:
            raise ConfigError("PUBLISHER_EMAIL_UNSUBSCRIBE_MAILTO",
                              f"expected a plain ASCII address like unsubscribe@example.com, got {mailto[:80]!r}")
        if "?" not in mailto:
            mailto += "?subject=unsubscribe"
        line += b", <mailto:" + mailto.encode("ascii") + b">"
    return line + CRLF


def _message_template(subject_field: bytes, settings: Settings, text_part: tuple[bytes, bytes],
                      html_part: tuple[bytes, bytes]) -> bytes:
    """The whole message with its slots. `subject_field` is the encoded `Subject:` line(s)
    (subject.py); each part is (Content-Transfer-Encoding, encoded body) from transfer.py."""
    boundary = b"=_" + hashlib.sha256(text_part[1] + html_part[1]).hexdigest()[:32].encode()
    headers = [
        _from_field(settings),
        b"To: %%PUB:TO%%\r\n",
        subject_field,
        b"Date: %%PUB:DATE%%\r\n",
        b"Message-ID: %%PUB:MESSAGE_ID%%\r\n",
        _list_unsubscribe_line(settings),
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",  # RFC 8058, exactly this
    ]
    if settings.email_list_id.strip():
        list_id = list_id_field(settings.email_list_id)
        if list_id is None:
            raise ConfigError("PUBLISHER_EMAIL_LIST_ID", "expected a list identifier like "
                              f"'Weekly Notes <weekly.example.com>', got {settings.email_list_id[:80]!r}")
        headers.append(list_id)
    reply_to = mailbox_field("Reply-To", settings.email_reply_to) if settings.email_reply_to else None
    if reply_to is not None:  # an unusable one is named by the checks
        headers.append(reply_to)
    headers += [
        # Suppresses vacation auto-replies: non-standard but widely honoured, see
        # https://datatracker.ietf.org/doc/html/rfc3834 for automatic responders.
        b"Precedence: bulk\r\n",
        b"MIME-Version: 1.0\r\n",
        b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n',
    ]
    delimiter = b"--" + boundary + CRLF
    part_head = b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: %s\r\n\r\n'
    return b"".join([
        *headers, CRLF,
        # plain first, html last = preferred (RFC 2046)
        delimiter, part_head % (b"plain", text_part[0]), text_part[1], CRLF,
        delimiter, part_head % (b"html", html_part[0]), html_part[1], CRLF,
        b"--" + boundary + b"--" + CRLF,
    ])
