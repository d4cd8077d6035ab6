"""Telegram channel: one post becomes Bot API calls (sendPhoto + sendMessage) in HTML parse mode
(https://core.telegram.org/bots/api#sendmessage, https://core.telegram.org/bots/api#html-style).

Rendering (pure): the post tree becomes *runs* (plain text + the stack of Telegram tags around it),
runs are grouped in blocks, blocks are packed into messages of at most MESSAGE_LIMIT visible
characters, and only then is each message turned into HTML. Because the HTML of every message is
built from its own runs, every message opens and closes its own tags and no cut can fall inside a
tag or an entity.

Render side (pure; imports no HTTP or database library):
  limits.py    platform facts (limits, allowed tags, link schemes), layout constants, delivery timing
  runs.py      Tag, Run, escaping, UTF-16 length, runs_to_html
  blocks.py    Markdown tree -> blocks: inline runs, lists, quotes, code, tables, raw HTML
  split.py     boundaries, split_text_spans, slicing and packing blocks into messages
  payload.py   BotCall, TelegramPayload, render_full / render_summary, the mode
  validate.py  the Telegram HTML validator, visible_text / visible_length, call_problems
  parts.py     ledger parts: names, canonical JSON and sha256, the plain-text fallback call
  channel.py   TelegramChannel (CHANNEL)
Delivery side (imported only by TelegramChannel.send):
  errors.py    BotApiFailure, the error table (failure -> outcome), retry_after_of, scrub
  client.py    BotApiClient, BotReply, chat_id_param
  deliver.py   one BotCall and what its answer means, on the shared part protocol (send_payload)

Importing this package loads the render side only; import submodules by their names.
"""
from __future__ import annotations

from channels.telegram.channel import CHANNEL, TelegramChannel

__all__ = ["CHANNEL", "TelegramChannel"]
