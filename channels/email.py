"""The email channel: one post → one multipart/alternative message, personalised by byte substitution.

`render` does all the expensive work once per post: it walks the Markdown tree into HTML (Jinja2
layout, CSS inlined by premailer) and into a plain-text part, then encodes the whole RFC 5322
message as bytes in which the per-recipient values are placeholders (`%%PUB:NAME%%`).
`EmailPayload.personalize` only validates and encodes the recipient's values and joins them with the
pre-encoded segments, so a 100k-recipient mailing never re-renders or re-inlines anything.

Why quoted-printable bodies: substitution must not break the encoding. Each body placeholder sits
alone between two QP soft line breaks (`=\\r\\n`), and the value put there is QP-encoded with its own
soft breaks, so every line stays ≤ 76 characters whatever the recipient's URL (PLATFORMS.md 4.1).
The boundary starts with `=_`, which quoted-printable can never produce, so it cannot clash.

Delivery over SMTP (`send_batch`, one recipient batch per call, exactly-once bookkeeping in the
ledger) is the last section of this module.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import html
import logging
import re
import smtplib
import socket
import ssl
import unicodedata
from dataclasses import dataclass, field
from email import policy as email_policy
from email.utils import format_datetime
from typing import Callable, Iterable, Sequence
from urllib.parse import urljoin, urlsplit

from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup
from premailer import Premailer

from sqlalchemy import select

from channels.base import Channel, PermanentError, Receipt, SendContext, TransientError
from publisher.config import Settings
from publisher.ledger import ENTRY_COLUMNS, PERSON_DECISIONS, Ledger, LedgerEntry
from publisher.rate_limit import local_pacer as _local_pacer
from publisher.store import LedgerRow, utcnow
from publisher.subscribers import Subscribers
from publisher.markdown import html_images, html_links, html_to_text, inline_text
from publisher.post import Post
from templates import environment

# --- limits -------------------------------------------------------------------------------------
GMAIL_CLIP_BYTES = 102_000  # Gmail clips HTML after ~102 KB of encoded HTML; PLATFORMS.md 4.7
MAX_SUBJECT_CHARS = 150  # longer subjects are cut in every inbox list and look like spam
MAX_LINE_OCTETS = 998  # RFC 5322 2.1.1 hard limit per header/body line
ENCODED_WORD_BYTES = 45  # RFC 2047 2: encoded-word ≤ 75 chars = 12 + base64 of ≤ 45 bytes; PLATFORMS.md 4.1
MAX_ADDRESS_CHARS = 254  # RFC 5321 4.5.3.1 path limit, less the angle brackets
MAX_ASCII_NAME_CHARS = 60  # longer ASCII names go as encoded-words, which may be folded
TEXT_WIDTH = 72  # plain-text wrap column (East Asian wide characters count 2)
PREHEADER_MAX_CHARS = 140  # inbox preview shows ~90-140 characters
PREHEADER_PADDING = "&#847;&zwnj;&nbsp;" * 90  # keeps clients from pulling body text into the preview

CRLF = b"\r\n"
SMTP_POLICY = email_policy.SMTP

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

LABELS = {
    "en": {
        "in_this_issue": "In this issue", "read_on_web": "Read on the web", "view_in_browser": "View in browser",
        "unsubscribe": "Unsubscribe", "image": "Image", "colon": ": ",
        "footer": "You are receiving this email because you subscribed to {site}.",
        "sent_to": "Sent to", "months": ("January", "February", "March", "April", "May", "June", "July",
                                         "August", "September", "October", "November", "December"),
    },
    "zh": {
        "in_this_issue": "本期要点", "read_on_web": "在网页中阅读", "view_in_browser": "在浏览器中查看",
        "unsubscribe": "退订", "image": "图片", "colon": "：",
        "footer": "你收到这封邮件，是因为订阅了 {site}。", "sent_to": "收件地址", "months": None,
    },
}


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
    if len(to_email) > MAX_ADDRESS_CHARS or not _ADDRESS.fullmatch(to_email):
        raise ValueError(f"recipient must be a plain ASCII address like name@example.com, got {to_email!r}")
    return to_email


def _clean_display_name(name: str) -> str:
    return " ".join(_CONTROL.sub(" ", name).split())


def _to_header_value(name: str, address: str) -> bytes:
    """`To:` value: atoms or a quoted-string for short ASCII names, RFC 2047 encoded-words otherwise."""
    name = _clean_display_name(name)
    if not name:
        return address.encode("ascii")
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
    return "\r\n ".join(lines).encode("ascii")


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


# --- the channel --------------------------------------------------------------------------------
class EmailChannel(Channel):
    name = "email"
    reconciles_itself = False  # SMTP keeps no record to check a message against

    def render(self, post: Post, settings: Settings) -> EmailPayload:
        options = post.channel_options("email")
        subject = " ".join(str(options.get("subject") or post.title).split())
        lang = _language(post)
        labels = LABELS["zh" if lang.startswith("zh") else "en"]
        preheader = _preheader(post, options, lang)
        _refuse_reserved(post, settings, subject, preheader)

        context = _Context(base_url=post.url, heading_shift=_heading_shift(post.tree), labels=labels)
        html_doc = _render_html(post, settings, subject, preheader, lang, labels, context)
        text_doc = _render_text(post, settings, labels, context)
        html_body = _qp_body(html_doc, HTML_SLOTS)
        text_body = _qp_body(text_doc, TEXT_SLOTS)
        template = _message_template(subject, settings, text_body, html_body)
        return EmailPayload(
            subject=subject, preheader=preheader, html=html_doc, text=text_doc, template=template,
            slug=post.slug, message_id_domain=_message_id_domain(settings), post_date=post.date,
            example_unsubscribe_url=f"{settings.site_url.rstrip('/')}/unsubscribe/EXAMPLE-TOKEN",
            html_part_bytes=len(html_body),
        )

    def checks(self, payload: EmailPayload, settings: Settings) -> list[str]:
        problems = []
        if payload.html_part_bytes > GMAIL_CLIP_BYTES:
            problems.append(f"The HTML part is {payload.html_part_bytes:,} bytes encoded; Gmail clips messages "
                            f"over about {GMAIL_CLIP_BYTES:,} bytes and hides the rest, including the "
                            "unsubscribe link, so shorten the post.")
        if not payload.subject:
            problems.append("The subject is empty; set a title or channels.email.subject.")
        elif len(payload.subject) > MAX_SUBJECT_CHARS:
            problems.append(f"The subject is {len(payload.subject)} characters; keep it under "
                            f"{MAX_SUBJECT_CHARS} (channels.email.subject).")
        if not _address_of(settings.email_from):
            problems.append(f"The sender {settings.email_from!r} has no email address; set PUBLISHER_EMAIL_FROM "
                            "to something like 'Newsletter <news@example.com>'.")
        if settings.email_reply_to and not _address_of(settings.email_reply_to):
            problems.append(f"The Reply-To {settings.email_reply_to!r} has no email address.")
        if not settings.site_url.startswith("https://"):
            problems.append(f"The site URL {settings.site_url!r} is not https; Gmail and Yahoo require an HTTPS "
                            "one-click unsubscribe link (RFC 8058).")
        for src in sorted(set(html_images(payload.html))):
            if not src.startswith(("http://", "https://")):
                problems.append(f"The image {src[:80]!r} is not an http(s) URL; mail clients will not show it.")
        return problems

    def preview_json(self, payload: EmailPayload) -> dict:
        return {
            "subject": payload.subject,
            "preheader": payload.preheader,
            "html_bytes": len(payload.html.encode("utf-8")),
            "html_part_bytes": payload.html_part_bytes,
            "text_chars": len(payload.text),
            "message_bytes": len(payload.example_message()),
        }

    def preview_files(self, payload: EmailPayload) -> dict[str, str]:
        url = payload.example_unsubscribe_url
        fill = {UNSUBSCRIBE_URL: url, TO_EMAIL: EXAMPLE_EMAIL}
        return {
            "email.html": _BODY_TOKEN.sub(lambda m: html.escape(fill[m.group(1)]), payload.html),
            "email.txt": _BODY_TOKEN.sub(lambda m: fill[m.group(1)], payload.text),
            "email.eml": payload.example_message().decode("ascii"),
        }

    # --- delivery: see "SMTP delivery" at the end of this module ---------------------------------
    def configured(self, settings: Settings) -> bool:
        return bool(settings.smtp_host)

    def send(self, payload: EmailPayload, ctx: SendContext) -> Receipt:
        raise NotImplementedError("email is sent with send_batch: the orchestrator splits the mailing "
                                  "into recipient batches")

    def send_batch(self, payload: EmailPayload, ctx: SendContext, recipients: Sequence["Recipient"]) -> Receipt:
        return send_batch(payload, ctx, recipients)

    def resolve_uncertain(self, ctx: SendContext, decision: str,
                          recipients: Iterable[str] | None = None) -> list[str]:
        return resolve_uncertain(ctx, decision, recipients)


CHANNEL = EmailChannel()


# --- subject, preheader, language ---------------------------------------------------------------
def _language(post: Post) -> str:
    declared = post.extra.get("lang") or post.extra.get("language")
    if isinstance(declared, str) and declared.strip():
        return declared.strip()
    sample = post.title + "".join(post.summary) + post.body[:2000]
    if re.search(r"[\u3040-\u30ff\uac00-\ud7a3]", sample):  # kana or hangul: not Chinese labels
        return "en"
    return "zh" if re.search(r"[\u4e00-\u9fff]", sample) else "en"


def _preheader(post: Post, options, lang: str) -> str:
    chosen = options.get("preheader")
    if chosen:
        text = str(chosen)
    elif post.summary:
        text = ("；" if lang.startswith("zh") else "; ").join(post.summary)
    else:
        first = next((b for b in post.tree.children if b.type == "paragraph"), None)
        text = inline_text(first.children[0]) if first else ""
    return _shorten(" ".join(text.split()), PREHEADER_MAX_CHARS)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:] and not _has_cjk(cut[-10:]):
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;，；、") + "…"


def _refuse_reserved(post: Post, settings: Settings, *texts: str) -> None:
    fields = [post.body, post.title, post.url, post.category or "", post.author or "", post.cover_image or "",
              *post.summary, *texts, settings.email_from, settings.email_reply_to, settings.email_list_id,
              settings.email_unsubscribe_mailto, settings.site_url]
    if any(RESERVED in f for f in fields):
        raise ValueError(f"{post.source}: the text {RESERVED!r} is reserved for per-recipient placeholders")


# --- headers ------------------------------------------------------------------------------------
def _fold(name: str, value: str) -> bytes:
    """One header, folded and RFC 2047-encoded by email.policy.SMTP (PLATFORMS.md 4.1)."""
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
    # One unfolded line: a relay re-folding it breaks a simple-canonicalised DKIM signature; PLATFORMS.md 4.2
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
        b"Precedence: bulk\r\n",  # suppresses vacation auto-replies; PLATFORMS.md 4.4
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


# --- HTML ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    base_url: str  # relative links and images resolve against the post's web address
    heading_shift: int  # the email's title is the only h1
    labels: dict


def _heading_shift(tree: SyntaxTreeNode) -> int:
    return 1 if any(b.type == "heading" and b.tag == "h1" for b in tree.children) else 0


def _render_html(post: Post, settings: Settings, subject: str, preheader: str, lang: str, labels: dict,
                 context: _Context) -> str:
    document = environment().get_template("email.html").render(
        lang=lang, title=post.title, subject=subject, preheader=preheader,
        preheader_padding=Markup(PREHEADER_PADDING), site_name=_site_name(settings),
        site_url=settings.site_url, post_url=post.url, cover_image=post.cover_image,
        meta_line=_meta_line(post, labels), summary=list(post.summary), labels=labels,
        body_html=Markup(_html_blocks(post.tree.children, context)),
        unsubscribe_url=UNSUBSCRIBE_URL, to_email=TO_EMAIL,
        footer_text=labels["footer"].format(site=_site_name(settings)),
    )
    return _inline_css(document)


def _inline_css(document: str) -> str:
    inliner = Premailer(
        document,
        allow_network=False,  # never fetch <link> stylesheets: render is offline and pure
        strip_important=False,  # the kept @media rules need !important to beat inline styles
        keep_style_tags=False,  # the kept sheet is marked data-premailer="ignore"
        disable_validation=True,  # cssutils does not know mso-* or prefers-color-scheme
        cssutils_logging_level=logging.CRITICAL,
        remove_classes=False,  # the @media rules select by class
        # CSS width/height must not become attributes: Outlook reads width="100%" on an image as
        # its natural size; the template sets pixel widths where Outlook needs them.
        disable_basic_attributes=["width", "height"],
    )
    return inliner.transform(pretty_print=False)


def _site_name(settings: Settings) -> str:
    try:
        addresses = SMTP_POLICY.header_factory("From", settings.email_from).addresses
    except (IndexError, ValueError):
        addresses = ()
    name = addresses[0].display_name if addresses else ""
    return name or (urlsplit(settings.site_url).hostname or settings.site_url)


def _meta_line(post: Post, labels: dict) -> str:
    parts = []
    if post.date:
        months = labels["months"]
        d = post.date
        parts.append(f"{months[d.month - 1]} {d.day}, {d.year}" if months else f"{d.year}年{d.month}月{d.day}日")
    parts += [p for p in (post.category, post.author) if p]
    return " · ".join(parts)


def _absolute(url: str, context: _Context) -> str:
    return url if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url) else urljoin(context.base_url, url)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _html_blocks(nodes: Iterable[SyntaxTreeNode], context: _Context) -> str:
    return "".join(_html_block(node, context) for node in nodes)


def _html_block(node: SyntaxTreeNode, context: _Context) -> str:
    kind = node.type
    if kind == "paragraph":
        inner = _html_inline(node.children[0], context)
        return inner + "\n" if node.hidden else f"<p>{inner}</p>\n"
    if kind == "heading":
        level = min(6, int(node.tag[1]) + context.heading_shift)
        return f"<h{level}>{_html_inline(node.children[0], context)}</h{level}>\n"
    if kind == "bullet_list":
        return f"<ul>\n{_html_blocks(node.children, context)}</ul>\n"
    if kind == "ordered_list":
        start = node.attrs.get("start")
        start_attr = f' start="{int(start)}"' if start not in (None, 1) else ""
        return f"<ol{start_attr}>\n{_html_blocks(node.children, context)}</ol>\n"
    if kind == "list_item":
        return f"<li>{_html_blocks(node.children, context).rstrip()}</li>\n"
    if kind == "blockquote":
        return f"<blockquote>\n{_html_blocks(node.children, context)}</blockquote>\n"
    if kind in ("fence", "code_block"):
        return f"<pre><code>{html.escape(node.content.rstrip(chr(10)))}</code></pre>\n"
    if kind == "hr":
        return "<hr>\n"
    if kind == "html_block":  # already sanitized by publisher.markdown; emitted as is
        return f'<div class="raw-html">\n{node.content.strip()}\n</div>\n'
    if kind == "table":
        return f'<table class="md-table" role="table">\n{_html_blocks(node.children, context)}</table>\n'
    if kind in ("thead", "tbody", "tr"):
        return f"<{kind}>\n{_html_blocks(node.children, context)}</{kind}>\n"
    if kind in ("th", "td"):
        style = node.attrs.get("style")
        style_attr = f' style="{_attr(str(style))}"' if style else ""
        inner = _html_inline(node.children[0], context) if node.children else ""
        return f"<{kind}{style_attr}>{inner}</{kind}>\n"
    return _html_blocks(node.children, context)  # unknown containers: keep their content


def _html_inline(node: SyntaxTreeNode, context: _Context) -> str:
    out = []
    for child in node.children:
        kind = child.type
        if kind == "text":
            out.append(html.escape(child.content, quote=False))
        elif kind == "softbreak":
            out.append("\n")
        elif kind == "hardbreak":
            out.append("<br>\n")
        elif kind == "code_inline":
            out.append(f"<code>{html.escape(child.content, quote=False)}</code>")
        elif kind in ("em", "strong", "s"):
            out.append(f"<{kind}>{_html_inline(child, context)}</{kind}>")
        elif kind == "link":
            href = _absolute(str(child.attrs.get("href", "")), context)
            title = child.attrs.get("title")
            title_attr = f' title="{_attr(str(title))}"' if title else ""
            out.append(f'<a href="{_attr(href)}"{title_attr}>{_html_inline(child, context)}</a>')
        elif kind == "image":
            src = _absolute(str(child.attrs.get("src", "")), context)
            title = child.attrs.get("title")
            title_attr = f' title="{_attr(str(title))}"' if title else ""
            out.append(f'<img src="{_attr(src)}" alt="{_attr(inline_text(child))}"{title_attr}>')
        elif kind == "html_inline":  # sanitized by publisher.markdown
            out.append(child.content)
        else:
            out.append(_html_inline(child, context))
    return "".join(out)


# --- plain text ---------------------------------------------------------------------------------
_HARD_BREAK = "\u2028"  # marks a Markdown hard break inside a paragraph until wrapping
_CJK = re.compile(r"[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
                  r"\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]")
_WRAP_UNITS = re.compile(rf"\s+|{_CJK.pattern}|(?:(?!{_CJK.pattern})\S)+")
# Line-breaking rules (kinsoku): never start a line with closing punctuation, never end one on opening.
_NO_LINE_START = set("，。、；：！？）」』》】〕〉”’…‥・ー々〜,.;:!?)]}%")
_NO_LINE_END = set("（「『《【〔〈“‘([{")


def _has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _wrap(text: str, width: int = TEXT_WIDTH) -> list[str]:
    """Greedy wrap by display width; breaks at spaces and between CJK characters, never inside words."""
    lines = []
    for hard_line in text.split(_HARD_BREAK):
        lines += _wrap_line(hard_line, max(width, 20))
    return lines


@dataclass(frozen=True)
class _Unit:
    text: str
    width: int
    spaced: bool  # a space separated it from the unit before
    breakable: bool  # a line may start with it


def _wrap_line(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current: list[_Unit] = []
    for unit in _wrap_units(text):
        current.append(unit)
        if len(current) > 1 and _units_width(current) > width:
            # Break at the last opportunity; a closing mark that cannot start a line pulls the
            # character before it along (kinsoku oidashi) instead of hanging past the margin.
            cut = next((k for k in range(len(current) - 1, 0, -1) if current[k].breakable), 0)
            if cut:
                lines.append(_units_text(current[:cut]))
                current = current[cut:]
    lines.append(_units_text(current))
    return lines


def _wrap_units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    spaced, previous = False, ""
    for piece in _WRAP_UNITS.findall(text):
        if piece.isspace():
            spaced = True
            continue
        breakable = spaced or _has_cjk(piece[0]) or _has_cjk(previous[-1:])
        breakable = breakable and piece[0] not in _NO_LINE_START and previous[-1:] not in _NO_LINE_END
        units.append(_Unit(piece, _display_width(piece), spaced, breakable))
        spaced, previous = False, piece
    return units


def _units_width(units: list[_Unit]) -> int:
    return sum(u.width + (1 if u.spaced and i else 0) for i, u in enumerate(units))


def _units_text(units: list[_Unit]) -> str:
    return "".join((" " if u.spaced and i else "") + u.text for i, u in enumerate(units))


def _join_softbreaks(text: str) -> str:
    """A source line break between two CJK characters is no space at all; elsewhere it is one."""
    def joiner(match: re.Match) -> str:
        before, after = text[match.start() - 1:match.start()], text[match.end():match.end() + 1]
        return "" if _has_cjk(before) and _has_cjk(after) else " "

    return re.sub("\n", joiner, text)


def _render_text(post: Post, settings: Settings, labels: dict, context: _Context) -> str:
    blocks: list[list[str]] = [_underlined(post.title, "=")]
    meta = _meta_line(post, labels)
    if meta:
        blocks.append(_wrap(meta))
    if post.summary:
        points = [labels["in_this_issue"] + labels["colon"].rstrip()]
        for point in post.summary:
            points += _hanging("- ", _wrap(point, TEXT_WIDTH - 2))
        blocks.append(points)
    read_on_web = [labels["read_on_web"] + labels["colon"] + post.url]
    blocks.append(read_on_web)
    blocks += _text_blocks(post.tree.children, TEXT_WIDTH, context)
    blocks.append(["-" * 24])
    blocks.append(read_on_web)
    blocks.append(_wrap(labels["footer"].format(site=_site_name(settings)))
                  + [labels["sent_to"] + labels["colon"] + TO_EMAIL,
                     labels["unsubscribe"] + labels["colon"] + UNSUBSCRIBE_URL])
    return "\n\n".join("\n".join(line.rstrip() for line in block) for block in blocks if block) + "\n"


def _underlined(text: str, mark: str) -> list[str]:
    lines = _wrap(text)
    return lines + [mark * max(_display_width(line) for line in lines)]


def _hanging(marker: str, lines: list[str]) -> list[str]:
    pad = " " * len(marker)
    return [(marker if i == 0 else pad if line else "") + line for i, line in enumerate(lines)]


def _text_blocks(nodes: Iterable[SyntaxTreeNode], width: int, context: _Context) -> list[list[str]]:
    return [lines for node in nodes if (lines := _text_block(node, width, context))]


def _flatten(blocks: list[list[str]], tight: bool) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if out and not tight:
            out.append("")
        out += block
    return out


def _text_block(node: SyntaxTreeNode, width: int, context: _Context) -> list[str]:
    kind = node.type
    if kind == "paragraph":
        return _wrap(_text_inline(node.children[0], context), width)
    if kind == "heading":
        level = int(node.tag[1]) + context.heading_shift
        text = _text_inline(node.children[0], context).replace(_HARD_BREAK, " ")
        return _underlined(text, "-" if level <= 2 else "~") if level <= 3 else _wrap(text, width)
    if kind in ("bullet_list", "ordered_list"):
        return _text_list(node, width, context)
    if kind == "blockquote":
        inner = _flatten(_text_blocks(node.children, width - 2, context), tight=False)
        return [f"> {line}" if line else ">" for line in inner]
    if kind in ("fence", "code_block"):
        return [f"    {line}" if line.strip() else "" for line in node.content.rstrip("\n").split("\n")]
    if kind == "hr":
        return ["-" * 24]
    if kind == "html_block":
        return _text_raw_html(node.content, width)
    if kind == "table":
        return _text_table(node, context)
    return _flatten(_text_blocks(node.children, width, context), tight=False)


def _text_list(node: SyntaxTreeNode, width: int, context: _Context) -> list[str]:
    start = int(node.attrs.get("start") or 1)
    tight = any(child.hidden for item in node.children for child in item.children if child.type == "paragraph")
    out: list[str] = []
    for number, item in enumerate(node.children, start):
        marker = f"{number}. " if node.type == "ordered_list" else "- "
        inner = _flatten(_text_blocks(item.children, width - len(marker), context), tight=tight)
        if out and not tight:
            out.append("")
        out += _hanging(marker, inner or [""])
    return out


def _text_raw_html(fragment: str, width: int) -> list[str]:
    lines = [wrapped for line in html_to_text(fragment).splitlines() for wrapped in _wrap(line, width)]
    seen = set()
    for text, href in html_links(fragment):
        if href in seen:
            continue
        seen.add(href)
        lines.append(f"{text} ({href})" if text and text != href else href)
    return lines


def _text_table(node: SyntaxTreeNode, context: _Context) -> list[str]:
    rows = [[_text_inline(cell.children[0], context).replace(_HARD_BREAK, " ") if cell.children else ""
             for cell in row.children] for row in _table_rows(node)]
    if not rows:
        return []
    columns = max(len(r) for r in rows)
    rows = [r + [""] * (columns - len(r)) for r in rows]
    widths = [max(_display_width(r[i]) for r in rows) for i in range(columns)]

    def line(cells: list[str]) -> str:
        return " | ".join(c + " " * (w - _display_width(c)) for c, w in zip(cells, widths)).rstrip()

    has_head = any(part.type == "thead" for part in node.children)
    out = [line(r) for r in rows]
    if has_head:
        out.insert(1, "-+-".join("-" * w for w in widths))
    return out


def _table_rows(node: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    return [row for part in node.children for row in part.children if row.type == "tr"]


def _text_inline(node: SyntaxTreeNode, context: _Context) -> str:
    out = []
    for child in node.children:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(child.content)
        elif kind == "softbreak":
            out.append("\n")
        elif kind == "hardbreak":
            out.append(_HARD_BREAK)
        elif kind == "s":
            out.append(f"~~{_text_inline(child, context)}~~")  # struck text must not read as current
        elif kind == "link":
            href = _absolute(str(child.attrs.get("href", "")), context)
            label = _text_inline(child, context)
            shown = href.removeprefix("mailto:")
            out.append(shown if label in (href, shown, "") else f"{label} ({shown})")
        elif kind == "image":
            src = _absolute(str(child.attrs.get("src", "")), context)
            alt = inline_text(child) or context.labels["image"]
            out.append(f"[{alt}] ({src})")
        elif kind == "html_inline":
            if re.match(r"<br\s*/?>", child.content, re.I):
                out.append(_HARD_BREAK)
        else:
            out.append(_text_inline(child, context))
    return _join_softbreaks("".join(out)) if node.type == "inline" else "".join(out)


# =================================================================================================
# --- SMTP delivery -------------------------------------------------------------------------------
# =================================================================================================
# The orchestrator splits a mailing into recipient batches and calls `send_batch` once per batch
# (one Celery task and one SMTP connection each); `EmailChannel.send` is not used for email.
#
# Exactly once, as far as SMTP allows it (DESIGN.md "State", STYLE.md habit 4):
# - each recipient is one ledger part, "to:<address in lower case>", whose content hash is the hash
#   of the post's message template. The orchestrator plans every part of the mailing up front;
#   send_batch plans the parts it finds missing (none then) so that it also works alone.
# - parts are claimed SETTLE_EVERY at a time (compare-and-set in the database), sent, and recorded
#   with one mark_sent_many. Claiming the whole batch at once would leave every not-yet-sent
#   recipient of a killed worker in "sending", where they can only become uncertain.
# - SMTP cannot be asked "did you take message X?". A message in flight when the connection dropped
#   after DATA, and a part found in "sending" after a crash, are marked uncertain and never resent
#   on a guess; `resolve_uncertain` settles them on an editor's decision. A drop before DATA (at
#   MAIL or RCPT) cannot have delivered anything: that message goes out on the next connection.
SMTP_CONNECT_TIMEOUT = 5.0  # seconds for the TCP connect and the server's greeting (SEND.md)
# Seconds per reply once connected. RFC 5321 4.5.3.2 allows a server 10 minutes to answer the end
# of DATA; a timeout there leaves that message uncertain (never resent), so do not go much lower.
SMTP_READ_TIMEOUT = 30.0
# Recipients claimed, sent and recorded together: a killed worker leaves at most this many in
# "sending", and the ledger costs two writes per group instead of two per message.
SETTLE_EVERY = 50
# A part still "sending" this long after its claim was left by a dead worker (a live one settles a
# group within seconds); a younger one may belong to a live worker and is left alone.
STALE_SENDING_SECONDS = 300.0
# PLATFORMS.md 4.5: reconnect on SMTPServerDisconnected. A server that drops us again gets the
# batch back as a TransientError, retried by the orchestrator with backoff.
RECONNECTS_PER_BATCH = 1
PART_PREFIX = "to:"
ENTRY_READ_CHUNK = 1000  # parts per ledger read (SQLite: ≤ 32766 bound variables per statement)
DETAIL_EXAMPLES = 3  # server replies quoted per kind in Receipt.detail
RESOLUTIONS = PERSON_DECISIONS

# RFC 5321 4.2.2: 550 mailbox unavailable, 551 user not local, 553 mailbox name not allowed. Only a
# "no such address" reason makes a bounce (RFC 3463 3.2: enhanced status 5.1.x); a 550 for policy
# (5.7.x) or a full mailbox (5.2.2) is no reason to stop mailing someone.
BOUNCE_CODES = frozenset({550, 551, 553})
_UNKNOWN_MAILBOX = re.compile(
    r"^5\.1\.\d{1,3}\b|user unknown|unknown user|no such (?:user|mailbox|recipient|address)|"
    r"does ?n[o']t exist|unknown (?:recipient|mailbox|address)|invalid (?:recipient|mailbox)", re.I)

# What one message's attempt came to.
SENT = "sent"
RETRY = "retry"  # 4xx for this message: the recipient stays claimable, the batch goes on
REFUSED = "refused"  # 5xx for this recipient: failed for good, the batch goes on
UNCERTAIN = "uncertain"  # may have been accepted: never resent on a guess
RESEND = "resend"  # dropped before DATA: the server cannot have taken it
STOP_RETRY = "stop-retry"  # the server will take nothing now (421 closing): batch retried later
STOP_FAIL = "stop-fail"  # nothing can get through (the sender is refused): a setting to fix

# Where in the transaction smtplib.sendmail's exception comes from (exact types, not ancestry:
# SMTPAuthenticationError is an SMTPResponseException too, and means something else).
SENDMAIL_STAGES: dict[type[Exception], str] = {
    smtplib.SMTPHeloError: "helo",
    smtplib.SMTPSenderRefused: "mail",
    smtplib.SMTPRecipientsRefused: "rcpt",  # one address: refused means all refused, so it raises
    smtplib.SMTPDataError: "data",
    smtplib.SMTPServerDisconnected: "dropped",  # also how smtplib reports a read timeout
}
# (stage, reply class) → outcome; PLATFORMS.md 4.5: 4xx retryable, 5xx permanent per recipient.
# Any 421 means the server is closing the connection: STOP_RETRY whatever the stage.
REPLY_OUTCOMES: dict[tuple[str, int], str] = {
    ("helo", 4): STOP_RETRY, ("helo", 5): STOP_FAIL,
    ("mail", 4): RETRY, ("mail", 5): STOP_FAIL,  # a refused sender refuses every recipient
    ("rcpt", 4): RETRY, ("rcpt", 5): REFUSED,
    ("data", 4): RETRY, ("data", 5): REFUSED,
}

# Opening the connection failed. Nothing was sent, so the claims are released either way; the
# value says which error the batch raises: "retry" TransientError, "fail" PermanentError, "code"
# by the server's reply (4xx retry, 5xx fail). Socket errors not listed here (reset, no route to
# host) mean the server was not reached: "retry".
CONNECT_FAILURES: dict[type[Exception], str] = {
    ConnectionRefusedError: "retry",  # nothing listening (yet)
    TimeoutError: "retry",  # connect or greeting timed out (socket.timeout is TimeoutError)
    socket.gaierror: "retry",  # name lookup failed
    smtplib.SMTPServerDisconnected: "retry",
    ssl.SSLError: "retry",
    ssl.SSLCertVerificationError: "fail",  # wrong host name or untrusted certificate
    smtplib.SMTPNotSupportedError: "fail",  # no STARTTLS or AUTH offered: never fall back to plain
    smtplib.SMTPException: "fail",  # smtplib's "No suitable authentication method found."
    smtplib.SMTPConnectError: "code",  # greeting other than 220 (421 busy, 554 no service)
    smtplib.SMTPHeloError: "code",
    smtplib.SMTPAuthenticationError: "code",  # 535 bad credentials, 454 temporary failure
    smtplib.SMTPResponseException: "code",  # e.g. STARTTLS refused
}


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    unsubscribe_url: str


def recipient_part(address: str) -> str:
    """The ledger part of one recipient: stable across runs and case-insensitive."""
    return PART_PREFIX + address.strip().lower()


def content_sha256(payload: EmailPayload) -> str:
    """One hash per post: what every recipient's part is planned with."""
    return hashlib.sha256(payload.template).hexdigest()


def mailing_parts(payload: EmailPayload, recipients: Iterable[Recipient]) -> list[tuple[str, str]]:
    """(part, content sha256) for Ledger.plan: the orchestrator plans a whole mailing with it."""
    return address_parts(payload, (r.email for r in recipients))


def address_parts(payload: EmailPayload, addresses: Iterable[str]) -> list[tuple[str, str]]:
    """mailing_parts from the addresses alone: planning needs no unsubscribe URL."""
    sha = content_sha256(payload)
    return [(part, sha) for part in dict.fromkeys(recipient_part(address) for address in addresses)]


def send_batch(payload: EmailPayload, ctx: SendContext, recipients: Sequence[Recipient]) -> Receipt:
    """Mail one batch of recipients over one SMTP connection, each at most once.

    Returns a Receipt once every recipient is settled: "sent" (all sent), "partial" (some refused
    for good or uncertain), "failed" (all refused), "uncertain" (none sent, some uncertain). Raises
    TransientError when some recipients must be tried again (4xx, the server closing, connection
    refused, a part held by another worker): calling again sends only those. Raises PermanentError
    when nothing can get through (bad credentials, the sender refused): nothing is lost, the claims
    are released, so a run after fixing the settings resumes.
    """
    settings = ctx.settings
    sender = _envelope_sender(settings)
    batch = {recipient_part(r.email): r for r in reversed(recipients)}  # the first of duplicates wins
    parts = [part for part in dict.fromkeys(recipient_part(r.email) for r in recipients)]
    entries = _entries_for(ctx.ledger, parts)
    unplanned = [part for part in parts if part not in entries]
    if unplanned:  # a batch sent on its own; the orchestrator plans a whole mailing up front
        sha = content_sha256(payload)
        ctx.ledger.plan([(part, sha) for part in unplanned])
        entries.update(_entries_for(ctx.ledger, unplanned))
    leftovers = _mark_leftovers_uncertain(ctx.ledger, entries.values())
    todo = [part for part in parts if entries[part].claimable]
    finished = sum(1 for e in entries.values() if e.state not in ("planned", "sending") and not e.claimable)
    run = _BatchRun(payload, ctx, batch, sender, total=len(parts), done=finished + len(leftovers))
    run.send(todo)
    return _batch_receipt(ctx.ledger, parts, leftovers)


def resolve_uncertain(ctx: SendContext, decision: str, recipients: Iterable[str] | None = None) -> list[str]:
    """Settle email parts whose fate SMTP cannot tell: "uncertain" ones, and "sending" ones left by a
    worker that died (older than STALE_SENDING_SECONDS). Returns the parts settled.

    `recipients` (addresses or "to:" parts) limits it to those; by default every such part.
    - decision "sent": count them as sent; nothing is mailed again. Usually right: a server that
      received the whole message almost always took it.
    - decision "resend": make them claimable again; the next send_batch of their batch mails them.
      Resending is made safer by the Message-ID: `EmailPayload.personalize` derives it from the
      post's slug and content and the recipient, so the second copy carries the same Message-ID as
      the first, and receiving servers and mail clients that de-duplicate by Message-ID show it once.
    """
    if decision not in RESOLUTIONS:
        raise ValueError(f"decision must be one of {RESOLUTIONS}, not {decision!r}")
    ledger = ctx.ledger
    if recipients is None:
        settle = ledger.entries("uncertain") + [e for e in ledger.entries("sending") if _is_stale(e)]
    else:
        wanted = [r if r.startswith(PART_PREFIX) else recipient_part(r) for r in recipients]
        settle = [e for e in _entries_for(ledger, wanted).values() if e.state == "uncertain" or _is_stale(e)]
    for entry in settle:
        ledger.resolve_uncertain(entry.part, remote_id=None, sent=decision == "sent")
    return [entry.part for entry in settle]


# --- one batch ------------------------------------------------------------------------------------
class _BatchRun:
    """Claims, sends and records the recipients of one send_batch call, group by group."""

    def __init__(self, payload: EmailPayload, ctx: SendContext, batch: dict[str, Recipient], sender: str,
                 total: int, done: int):
        self.payload = payload
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.batch = batch
        self.total = total
        self.done = done
        self.sent_now = 0
        self.connection = _Connection(ctx.settings, sender, ctx.pace)
        # Undated posts get the send time; a batch shares one Date (personalize caches its header).
        self.date = None if payload.post_date else dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def send(self, todo: Sequence[str]) -> None:
        try:
            for start in range(0, len(todo), SETTLE_EVERY):
                won = self.ledger.claim_many(todo[start:start + SETTLE_EVERY])
                if won:
                    self._send_group(won)
                self.ctx.progress(self.done, self.total)
        finally:
            self.connection.close()

    def _send_group(self, won: list[str]) -> None:
        sent: list[str] = []
        settled = 0  # won[:settled] have an outcome: recorded already, or waiting in `sent`
        try:
            for part in won:
                outcome, reply = self._attempt(part)
                if outcome == SENT:
                    sent.append(part)
                elif outcome in (STOP_RETRY, STOP_FAIL):
                    self.ledger.mark_failed(part, reply, retryable=True)  # not this recipient's fault
                    settled += 1
                    raise (TransientError if outcome == STOP_RETRY else PermanentError)(reply)
                else:
                    self._record_failure(part, outcome, reply)
                settled += 1
                self.done += 1
        except (TransientError, PermanentError) as exc:
            # Raised before the current message left, or after its refusal was recorded: nothing
            # from here on went out, so those recipients are released for the next attempt.
            self._release(won[settled:])
            raise self._with_counts(exc, len(sent)) from None
        except BaseException:
            # Anything else may have struck mid-transaction: that message stays "sending" and is
            # reconciled as a leftover; the ones after it never left.
            self._release(won[settled + 1:])
            raise
        finally:
            if sent:
                self.ledger.mark_sent_many(sent)
                self.sent_now += len(sent)

    def _release(self, parts: Sequence[str]) -> None:
        if parts:
            self.ledger.mark_failed_many(parts, "not attempted: the batch stopped early", retryable=True)

    def _with_counts(self, exc: TransientError | PermanentError, sent_in_group: int) -> Exception:
        sent = self.sent_now + sent_in_group
        if isinstance(exc, TransientError):
            return TransientError(f"{exc} ({sent} sent in this attempt; the rest is retried)", exc.retry_after)
        return PermanentError(f"{exc} ({sent} sent in this attempt; the rest waits for the settings to be "
                              "fixed)")

    def _attempt(self, part: str) -> tuple[str, str]:
        recipient = self.batch[part]
        try:
            message = self.payload.personalize(to_email=recipient.email, to_name=recipient.name,
                                               unsubscribe_url=recipient.unsubscribe_url, date=self.date)
        except ValueError as exc:
            return REFUSED, f"not sent: {exc}"
        outcome, reply = self.connection.deliver(recipient.email, message)
        return outcome, self._scrub(reply)

    def _record_failure(self, part: str, outcome: str, reply: str) -> None:
        if outcome == UNCERTAIN:
            self.ledger.mark_uncertain(part, reply)
            return
        self.ledger.mark_failed(part, reply, retryable=outcome == RETRY)
        if outcome == REFUSED and _is_unknown_mailbox(reply):
            _mark_bounced(self.ctx, self.batch[part].email)

    def _scrub(self, text: str) -> str:
        return _scrub(text, self.ctx.settings)


# --- the connection -------------------------------------------------------------------------------
class _NotesDataStage:
    """Notes whether the current message got as far as DATA: a connection lost before DATA cannot
    have delivered it, one lost after may have."""

    reached_data = False

    def data(self, msg: bytes) -> tuple[int, bytes]:
        self.reached_data = True
        return super().data(msg)  # type: ignore[misc]


class _SMTP(_NotesDataStage, smtplib.SMTP):
    pass


class _SMTPSSL(_NotesDataStage, smtplib.SMTP_SSL):
    pass


class _Connection:
    """The batch's SMTP connection: opened on first use, reopened at most RECONNECTS_PER_BATCH times.
    Its errors are DeliveryErrors raised only before a message left (connecting, reconnecting)."""

    def __init__(self, settings: Settings, sender: str, pace: Callable[[str, float], None] | None = None):
        self.settings = settings
        self.sender = sender
        self.smtp: _SMTP | _SMTPSSL | None = None
        self.opened = 0
        # PUBLISHER_SMTP_MAX_PER_SECOND: the relay's limit, shared by every worker through pace.
        self.pace = pace or _local_pacer
        self.interval = 1.0 / settings.smtp_max_per_second if settings.smtp_max_per_second > 0 else 0.0

    def deliver(self, to_addr: str, message: bytes) -> tuple[str, str]:
        """Send one message: (outcome, the server's reply or what went wrong)."""
        if self.interval:
            self.pace(f"smtp:{self.settings.smtp_host}", self.interval)
        while True:
            smtp = self._open()
            smtp.reached_data = False
            try:
                smtp.sendmail(self.sender, [to_addr], message)
                return SENT, ""
            except (smtplib.SMTPException, OSError) as exc:
                outcome, reply = _sendmail_outcome(exc, smtp.reached_data)
            if smtp.sock is None:  # smtplib closed it: a drop, a timeout, or a 421
                self.smtp = None
            if outcome != RESEND:
                return outcome, reply

    def _open(self) -> _SMTP | _SMTPSSL:
        if self.smtp is not None:
            return self.smtp
        if self.opened > RECONNECTS_PER_BATCH:
            raise TransientError("the SMTP server dropped the connection again after a reconnect")
        self.opened += 1
        try:
            self.smtp = _open_smtp(self.settings)
        except (smtplib.SMTPException, OSError) as exc:
            raise _connect_error(exc, self.settings) from None
        return self.smtp

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _open_smtp(settings: Settings) -> _SMTP | _SMTPSSL:
    security = settings.smtp_security
    if security == "ssl":
        smtp: _SMTP | _SMTPSSL = _SMTPSSL(settings.smtp_host, settings.smtp_port, timeout=SMTP_CONNECT_TIMEOUT,
                                          context=ssl.create_default_context())
    else:
        smtp = _SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_CONNECT_TIMEOUT)
    try:
        smtp.sock.settimeout(SMTP_READ_TIMEOUT)
        smtp.ehlo()
        if security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _sendmail_outcome(exc: Exception, reached_data: bool) -> tuple[str, str]:
    stage = SENDMAIL_STAGES.get(type(exc))
    if stage is None:
        if isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException):
            stage = "dropped"  # a socket error smtplib did not wrap: the connection is gone
        else:
            raise exc
    if stage == "dropped":
        if reached_data:
            return UNCERTAIN, (f"connection lost after DATA ({exc}): the server may have taken the "
                               "message and SMTP cannot tell; not resent")
        return RESEND, str(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
    else:
        code, text = exc.smtp_code, exc.smtp_error  # type: ignore[attr-defined]
    reply = _reply_text(code, text)
    if code == 421:
        return STOP_RETRY, f"the server is closing the connection: {reply}"
    outcome = REPLY_OUTCOMES.get((stage, code // 100))
    if outcome is None:  # an unreadable reply (smtplib says -1): after DATA it may have been taken
        return (UNCERTAIN if reached_data else RETRY), f"unexpected reply: {reply}"
    if outcome == STOP_FAIL and stage == "mail":
        reply = f"the server refused the sender: {reply}"
    return outcome, reply


def _connect_error(exc: Exception, settings: Settings) -> TransientError | PermanentError:
    kind = CONNECT_FAILURES.get(type(exc))
    if kind is None:
        if not isinstance(exc, OSError) or isinstance(exc, smtplib.SMTPException):
            raise exc
        kind = "retry"
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if kind == "code":
        code = exc.smtp_code  # type: ignore[attr-defined]
        message = f"SMTP server {where} answered {_reply_text(code, exc.smtp_error)}"  # type: ignore[attr-defined]
        kind = "retry" if 400 <= code < 500 else "fail"
    else:
        message = f"cannot use SMTP server {where}: {type(exc).__name__}: {exc}"
    message = _scrub(message, settings)
    return TransientError(message) if kind == "retry" else PermanentError(message)


def _reply_text(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


def _envelope_sender(settings: Settings) -> str:
    if not settings.smtp_host:
        raise PermanentError("email is not configured: set PUBLISHER_SMTP_HOST")
    sender = _address_of(settings.email_from)
    if not sender:
        raise PermanentError(f"PUBLISHER_EMAIL_FROM {settings.email_from!r} has no email address")
    if not (settings.smtp_user.isascii() and settings.smtp_password.isascii()):
        # smtplib's AUTH PLAIN and LOGIN encode the credentials as ASCII and would crash mid-login.
        raise PermanentError("PUBLISHER_SMTP_USER / PUBLISHER_SMTP_PASSWORD contain non-ASCII characters, "
                             "which smtplib cannot send; use an ASCII password")
    return sender


def _scrub(text: str, settings: Settings) -> str:
    """Remove the SMTP password, also as AUTH LOGIN / AUTH PLAIN put it on the wire (base64)."""
    password = settings.smtp_password
    if not password:
        return text
    forms = {password, base64.b64encode(password.encode()).decode(),
             base64.b64encode(f"\0{settings.smtp_user}\0{password}".encode()).decode()}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


# --- the ledger and the subscribers ---------------------------------------------------------------
def _entries_for(ledger: Ledger, parts: Sequence[str]) -> dict[str, LedgerEntry]:
    """The ledger entries of these parts, one query per ENTRY_READ_CHUNK parts.
    (A candidate for Ledger itself: `entries()` reads the whole publication.)"""
    found: dict[str, LedgerEntry] = {}
    with ledger.store.read_session() as session:
        for start in range(0, len(parts), ENTRY_READ_CHUNK):
            query = select(*ENTRY_COLUMNS).where(
                LedgerRow.publication_id == ledger.publication_id, LedgerRow.channel == ledger.channel,
                LedgerRow.part.in_(parts[start:start + ENTRY_READ_CHUNK]))
            found.update((row.part, LedgerEntry.from_row(row)) for row in session.execute(query))
    return found


def _is_stale(entry: LedgerEntry) -> bool:
    return entry.abandoned(STALE_SENDING_SECONDS)


def _mark_leftovers_uncertain(ledger: Ledger, entries: Iterable[LedgerEntry]) -> list[str]:
    leftovers = [entry.part for entry in entries if _is_stale(entry)]
    for part in leftovers:
        ledger.mark_uncertain(part, "left in sending by an interrupted attempt: the server may have taken "
                                    "the message and SMTP cannot tell; not resent")
    return leftovers


def _is_unknown_mailbox(reply: str) -> bool:
    code, _, text = reply.partition(" ")
    return code.isdigit() and int(code) in BOUNCE_CODES and _UNKNOWN_MAILBOX.search(text) is not None


def _mark_bounced(ctx: SendContext, address: str) -> None:
    """Stop mailing an address the receiving server says does not exist (active subscribers only;
    an address that is not on the list, e.g. a test send, is left alone)."""
    subscribers = Subscribers(ctx.store, ctx.settings)
    subscriber = subscribers.get(address)
    if subscriber is not None and subscriber.status == "active":
        subscribers.set_status(subscriber.id, "bounced")


def _batch_receipt(ledger: Ledger, parts: Sequence[str], leftovers: Sequence[str]) -> Receipt:
    """Where the batch stands now, read back from the ledger (other workers' results included)."""
    entries = _entries_for(ledger, parts)
    kinds: dict[str, list[LedgerEntry]] = {}
    for part in parts:
        entry = entries[part]
        kind = entry.state if entry.state != "failed" else ("to retry" if entry.retryable else "refused")
        kinds.setdefault("busy" if kind in ("sending", "planned") else kind, []).append(entry)
    total, sent = len(parts), len(kinds.get("sent", ()))
    detail = _receipt_detail(kinds, total, leftovers)
    busy = kinds.get("busy", [])
    if busy or kinds.get("to retry"):
        # A part another worker holds is settled by it, or turns stale (then uncertain) in time.
        youngest = max((entry.updated_at for entry in busy), default=None)
        retry_after = (max(1.0, STALE_SENDING_SECONDS - (utcnow() - youngest).total_seconds())
                       if youngest else None)
        raise TransientError(detail, retry_after)
    if sent == total:
        state = "sent"
    else:
        state = "partial" if sent else ("uncertain" if kinds.get("uncertain") else "failed")
    return Receipt(state=state, sent=sent, total=total, detail=detail)


def _receipt_detail(kinds: dict[str, list[LedgerEntry]], total: int, leftovers: Sequence[str]) -> str:
    lines = [f"{len(kinds.get('sent', ()))}/{total} sent"]
    for kind in ("refused", "uncertain", "to retry", "busy"):
        entries = kinds.get(kind)
        if not entries:
            continue
        label = "held by another worker" if kind == "busy" else kind
        examples = "; ".join(f"{e.part.removeprefix(PART_PREFIX)}: {e.last_error or e.state}"
                             for e in entries[:DETAIL_EXAMPLES])
        more = f"; and {len(entries) - DETAIL_EXAMPLES} more" if len(entries) > DETAIL_EXAMPLES else ""
        lines.append(f"{label} {len(entries)} ({examples}{more})")
    if leftovers:
        lines.append(f"{len(leftovers)} found in sending after an interrupted attempt marked uncertain, not resent")
    if kinds.get("uncertain"):
        lines.append("uncertain ones are settled with resolve_uncertain(ctx, 'sent' | 'resend')")
    return "; ".join(lines)
