"""Platform facts and layout constants of the Telegram channel (pure: no I/O).

Bot API references: https://core.telegram.org/bots/api#sendmessage (text),
https://core.telegram.org/bots/api#sendphoto (caption), https://core.telegram.org/bots/api#html-style
(HTML parse mode), https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this (pace).
"""
from __future__ import annotations


# sendMessage `text`: 1-4096 characters after entities parsing
# (https://core.telegram.org/bots/api#sendmessage). The unit is disputed (code points vs UTF-16),
# so we count UTF-16 code units, which is safe either way.
MESSAGE_LIMIT = 4096
# sendPhoto `caption`: 0-1024 characters after entities parsing (https://core.telegram.org/bots/api#sendphoto).
CAPTION_LIMIT = 1024
# HTML parse mode accepts these tags and nothing else (https://core.telegram.org/bots/api#html-style).
ALLOWED_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "tg-emoji", "tg-time", "code", "pre", "blockquote",
})
# Tags that may wrap and be wrapped by any entity except being inside pre/code
# (https://core.telegram.org/bots/api#html-style).
STYLE_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler"})
# Only these named entities are understood; numeric ones all are (https://core.telegram.org/bots/api#html-style).
NAMED_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
# Link schemes kept in an <a href>: http(s) and tg are the ones the HTML style documents
# (https://core.telegram.org/bots/api#html-style); mailto: is kept too, because a newsletter's
# contact and reply links are part of the post and Telegram clients open them in the mail app.
LINK_SCHEMES = frozenset({"http", "https", "tg", "mailto"})

MODES = ("full", "summary")
HORIZONTAL_RULE = "———"
BULLETS = ("•", "◦", "▪")  # by nesting depth
LIST_INDENT = "   "
TABLE_COLUMN_SEPARATOR = " │ "
TABLE_RULE, TABLE_RULE_CROSSING = "─", "─┼─"
# A table stays aligned monospace only when it is at most this many columns wide (about what a
# phone shows of a <pre> line in a message bubble before wrapping it) and holds no link or image;
# any other table becomes one bullet line per row, "• Header: cell — Header: cell".
TABLE_MAX_WIDTH = 40
TABLE_CELL_SEPARATOR, TABLE_LABEL_SEPARATOR = " — ", ": "
# Cells of a raw HTML table, kept on one line.
HTML_CELL_SEPARATOR = " │ "
# A paragraph that is all bold and at most this long reads as a heading ("**1. Tools**"): like a
# heading it travels with the paragraph after it.
BOLD_HEADING_MAX = 120
# The large preview of the cover above the first message, when the caption of a photo cannot hold
# the start of the post (https://core.telegram.org/bots/api#linkpreviewoptions).
COVER_PREVIEW = {"prefer_large_media": True, "show_above_text": True}
# A cut inside one block is made at the best boundary that still fills this share of the limit.
MIN_FILL = 0.5

# --- Delivery timing: pure numbers, here so the channel can default to them without importing
# the delivery side (client.py, deliver.py).

# Connect timeout: a request that never connected is safely retried (TransientError).
CONNECT_TIMEOUT = 5.0
# Read timeout: after it the message may or may not be posted (UncertainError).
READ_TIMEOUT = 30.0
# "Avoid sending more than one message per second in a chat"
# (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
PER_CHAT_INTERVAL = 1.0
