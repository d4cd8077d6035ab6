"""The email channel: one post → one multipart/alternative message, personalised by byte substitution.

`render` does all the expensive work once per post: it walks the Markdown tree into HTML (Jinja2
layout, its CSS inlined) and into a plain-text part, then encodes the whole RFC 5322
message as bytes in which the per-recipient values are placeholders (`%%PUB:NAME%%`).
`EmailPayload.personalize` only validates and encodes the recipient's values and joins them with the
pre-encoded segments, so a 100k-recipient mailing never re-renders or re-inlines anything.

Render side (pure; imports no SMTP, HTTP or database library):
  limits.py    RFC and inbox limits, layout constants, delivery timing and batch sizes
  message.py   placeholders, EmailPayload and personalize, header values, the message template, QP
  html.py      the HTML part: Markdown tree → HTML in the layout
  inline_css.py the layout's stylesheet onto the elements (what premailer did, for our sheet)
  text.py      the plain-text part: wrapping by display width (CJK, kinsoku), lists, tables
  subject.py   subject, preheader, language and label words, reserved-text refusal
  parts.py     Recipient and the ledger parts of a mailing ("to:<address>", content sha256)
  channel.py   EmailChannel (CHANNEL)
Delivery side (imported only by EmailChannel.send_batch):
  errors.py    SMTP reply/failure → outcome tables, bounces, password scrubbing
  client.py    the batch's SMTP connection (reconnect, pacing), the envelope sender
  receipt.py   the batch read back from the ledger: entries, stale leftovers, the Receipt
  deliver.py   send_batch (claim, send with per-message journal marks, settle per group)

Importing this package loads the render side only; import submodules by their names.

This package never shadows the standard library's `email`: every import here is absolute, so
`from email import policy` inside it is the stdlib's.
"""
from __future__ import annotations

from channels.email.channel import CHANNEL, EmailChannel

__all__ = ["CHANNEL", "EmailChannel"]
