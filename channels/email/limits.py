"""Email facts and knobs: what RFCs and inboxes allow (render side), timing and batch sizes (delivery).

Pure data: imported by both sides, it imports nothing but the standard library.
"""
from __future__ import annotations

from email import policy as email_policy

# --- rendering ----------------------------------------------------------------------------------
# Gmail clips HTML after ~102 KB of encoded HTML (measured, not documented by Google:
# https://www.spamresource.com/2022/01/what-is-gmail-clipping-and-what-to-do.html)
GMAIL_CLIP_BYTES = 102_000
MAX_SUBJECT_CHARS = 150  # longer subjects are cut in every inbox list and look like spam
MAX_LINE_OCTETS = 998  # RFC 5322 2.1.1 hard limit per header/body line
# https://www.rfc-editor.org/rfc/rfc2047#section-2: encoded-word ≤ 75 chars = 12 + base64 of ≤ 45 bytes
ENCODED_WORD_BYTES = 45
MAX_ADDRESS_CHARS = 254  # RFC 5321 4.5.3.1 path limit, less the angle brackets
MAX_ASCII_NAME_CHARS = 60  # longer ASCII names go as encoded-words, which may be folded
TEXT_WIDTH = 72  # plain-text wrap column (East Asian wide characters count 2)
PREHEADER_MAX_CHARS = 140  # inbox preview shows ~90-140 characters
PREHEADER_PADDING = "&#847;&zwnj;&nbsp;" * 90  # keeps clients from pulling body text into the preview
# The layout (templates/email.html): a 600-pixel container, 28-pixel side padding around the text,
# lists indented 24 pixels, quotes 16 plus a 4-pixel rule. Outlook for Windows sizes images by
# their width attribute alone (https://www.caniemail.com/features/css-max-width/).
EMAIL_WIDTH = 600
CONTENT_WIDTH = EMAIL_WIDTH - 2 * 28
LIST_INDENT = 24
BLOCKQUOTE_INDENT = 20
# Formats Outlook for Windows does not draw: https://www.caniemail.com/features/image-webp/ and
# https://www.caniemail.com/features/image-svg/ (Gmail does not draw SVG either).
OUTLOOK_UNSUPPORTED_IMAGES = {"webp": "WebP", "svg": "SVG", "svgz": "SVG", "svg+xml": "SVG"}

CRLF = b"\r\n"
SMTP_POLICY = email_policy.SMTP

# --- delivery -----------------------------------------------------------------------------------
# How they shape the send sequence: see the docstring of deliver.py.
SMTP_CONNECT_TIMEOUT = 5.0  # seconds for the TCP connect and the server's greeting (SEND.md)
# Seconds per reply once connected. RFC 5321 4.5.3.2 allows a server 10 minutes to answer the end
# of DATA; a timeout there leaves that message uncertain (never resent), so do not go much lower.
SMTP_READ_TIMEOUT = 30.0
# Recipients claimed, sent and recorded together: a killed worker leaves at most this many in
# "sending" (settled from its journal), and the ledger costs one commit per group instead of two
# per message. 100 rather than 50: on PostgreSQL each commit waits for a WAL flush, and halving
# them took a 10k mailing from 0.83 to 0.88 of the bare-smtplib limit (bench/fanout.py).
SETTLE_EVERY = 100
# A part still "sending" this long after its claim was left by a dead worker (a live one settles a
# group within seconds); a younger one may belong to a live worker and is left alone.
STALE_SENDING_SECONDS = 300.0
# Reconnect on SMTPServerDisconnected (https://docs.python.org/3/library/smtplib.html). A server
# that drops us again gets the batch back as a TransientError, retried by the orchestrator with backoff.
RECONNECTS_PER_BATCH = 1
PART_PREFIX = "to:"
ENTRY_READ_CHUNK = 1000  # parts per ledger read (SQLite: ≤ 32766 bound variables per statement)
DETAIL_EXAMPLES = 3  # server replies quoted per kind in Receipt.detail
