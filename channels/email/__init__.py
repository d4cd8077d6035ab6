"""The email channel: one post → one multipart/alternative message, personalised by byte substitution.

`render` does all the expensive work once per post: it walks the Markdown tree into HTML (Jinja2
layout, CSS inlined by premailer) and into a plain-text part, then encodes the whole RFC 5322
message as bytes in which the per-recipient values are placeholders (`%%PUB:NAME%%`).
`EmailPayload.personalize` only validates and encodes the recipient's values and joins them with the
pre-encoded segments, so a 100k-recipient mailing never re-renders or re-inlines anything.

Render side (pure; imports no SMTP, HTTP or database library):
  limits.py    RFC and inbox limits, layout constants, delivery timing and batch sizes
  message.py   placeholders, EmailPayload and personalize, header values, the message template, QP
  html.py      the HTML part: Markdown tree → HTML in the layout, premailer inlining
  text.py      the plain-text part: wrapping by display width (CJK, kinsoku), lists, tables
  subject.py   subject, preheader, language and label words, reserved-text refusal
  parts.py     Recipient and the ledger parts of a mailing ("to:<address>", content sha256)
  channel.py   EmailChannel (CHANNEL)
Delivery side (imported only by EmailChannel.send_batch):
  errors.py    SMTP reply/failure → outcome tables, bounces, password scrubbing
  client.py    the batch's SMTP connection (reconnect, pacing), the envelope sender
  receipt.py   the batch read back from the ledger: entries, stale leftovers, the Receipt
  deliver.py   send_batch (claim, send with per-message journal marks, settle per group)

Names the single module `channels/email.py` used to hold stay importable from `channels.email`,
loaded on first use (PEP 562), so importing this package never pulls in the delivery side.

This package never shadows the standard library's `email`: every import here is absolute, so
`from email import policy` inside it is the stdlib's.
"""
from __future__ import annotations

import importlib
from typing import Any

from channels.email.channel import CHANNEL, EmailChannel

__all__ = ["CHANNEL", "EmailChannel"]

_HOMES = {
    "limits": ("CRLF", "DETAIL_EXAMPLES", "ENCODED_WORD_BYTES", "ENTRY_READ_CHUNK", "GMAIL_CLIP_BYTES",
               "MAX_ADDRESS_CHARS", "MAX_ASCII_NAME_CHARS", "MAX_LINE_OCTETS", "MAX_SUBJECT_CHARS", "PART_PREFIX",
               "PREHEADER_MAX_CHARS", "PREHEADER_PADDING", "RECONNECTS_PER_BATCH", "SETTLE_EVERY",
               "SMTP_CONNECT_TIMEOUT", "SMTP_POLICY", "SMTP_READ_TIMEOUT", "STALE_SENDING_SECONDS", "TEXT_WIDTH"),
    "message": ("EXAMPLE_DATE", "EXAMPLE_EMAIL", "EXAMPLE_NAME", "EmailPayload", "HTML_SLOTS", "RESERVED",
                "TEXT_SLOTS", "TO_EMAIL", "UNSUBSCRIBE_URL", "_address_of"),
    "subject": ("LABELS",),
    "parts": ("Recipient", "address_parts", "content_sha256", "mailing_parts", "recipient_part"),
    "errors": ("BOUNCE_CODES", "CONNECT_FAILURES", "REFUSED", "REPLY_OUTCOMES", "RESEND", "RETRY",
               "SENDMAIL_STAGES", "SENT", "STOP_FAIL", "STOP_RETRY", "UNCERTAIN"),
    "deliver": ("send_batch",),
}
_MOVED = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MOVED})
