"""The ledger parts of a Telegram delivery, named and hashed (pure: no HTTP, no database).

Every BotCall is one part "call-<index>-<method>" with the sha256 of its canonical JSON.
"""
from __future__ import annotations

import hashlib
import json

from channels.telegram.payload import BotCall, TelegramPayload, _frozen, _plain
from channels.telegram.validate import visible_text


def canonical_json(call: BotCall) -> str:
    return json.dumps({"method": call.method, "params": _plain(call.params)}, ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))


def part_name(index: int, call: BotCall) -> str:
    return f"call-{index}-{call.method}"


def ledger_parts(payload: TelegramPayload) -> list[tuple[str, str]]:
    """(part name, content sha256) per call, in sending order; index from 1 like "message N"."""
    return [(part_name(index, call), hashlib.sha256(canonical_json(call).encode("utf-8")).hexdigest())
            for index, call in enumerate(payload.calls, 1)]


def plain_text_call(call: BotCall) -> BotCall:
    """The same message without formatting: tags stripped, entities decoded, no parse_mode."""
    field = "caption" if call.method == "sendPhoto" else "text"
    formatting = ("parse_mode", "entities", "caption_entities")
    params = {k: v for k, v in _plain(call.params).items() if k not in formatting}
    if field in params:
        params[field] = visible_text(str(params[field]))
    return BotCall(call.method, _frozen(params))
