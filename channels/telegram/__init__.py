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

Names the single module `channels/telegram.py` used to hold stay importable from `channels.telegram`,
loaded on first use (PEP 562), so importing this package never pulls in the delivery side.
"""
from __future__ import annotations

import importlib
from typing import Any

from channels.telegram.channel import CHANNEL, TelegramChannel

__all__ = ["CHANNEL", "TelegramChannel"]

_HOMES = {
    "limits": ("ALLOWED_TAGS", "BULLETS", "CAPTION_LIMIT", "CONNECT_TIMEOUT", "HORIZONTAL_RULE", "IMAGE_FALLBACK",
               "LINK_SCHEMES", "LIST_INDENT", "MESSAGE_LIMIT", "MIN_FILL", "MODES", "NAMED_ENTITIES",
               "PER_CHAT_INTERVAL", "READ_TIMEOUT", "STYLE_TAGS", "TABLE_COLUMN_SEPARATOR",
               "TABLE_RULE", "TABLE_RULE_CROSSING"),
    "runs": ("BLOCKQUOTE", "BOLD", "Block", "CODE", "ITALIC", "PRE", "Run", "STRIKE", "Tag", "UNDERLINE",
             "code_block_tag", "escape_attribute", "escape_text", "link_tag", "normalize_tags", "runs_length",
             "runs_to_html", "utf16_length"),
    "blocks": ("RenderContext", "allowed_url", "apply_raw_inline_tag", "article_blocks", "block_runs", "cell_text",
               "code_block_runs", "display_width", "html_block_runs", "image_link", "indent_runs", "inline_runs",
               "join_parts", "list_runs", "pad_cell", "quote_of", "table_text"),
    "split": ("pack_blocks", "slice_runs", "split_block", "split_text_spans", "trim_runs"),
    "payload": ("BotCall", "TelegramPayload", "join_blocks", "message_call", "photo_call", "points_block",
                "read_more_block", "render_full", "render_mode", "render_summary",
                "summary_points", "title_block", "truncate_to"),
    "validate": ("call_problems", "is_balanced_telegram_html", "is_http_url", "telegram_html_problem",
                 "visible_length", "visible_text"),
    "parts": ("canonical_json", "ledger_parts", "part_name", "plain_text_call"),
    "channel": ("is_configured",),
    "errors": ("BotApiFailure", "ERROR_TABLE", "ErrorRule", "PERMANENT", "PLAIN_TEXT", "SENT", "STATUS_HINTS",
               "TRANSIENT", "UNCERTAIN", "classify_failure", "failure_text", "retry_after_of", "scrub"),
    "client": ("BotApiClient", "BotReply", "chat_id_param"),
    "deliver": ("ChatPacer", "POST_LINK", "post_link", "send_payload", "post_call", "outcome_of"),
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
