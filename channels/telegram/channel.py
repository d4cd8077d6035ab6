"""The Telegram channel as the publisher sees it: render, checks, preview. Delivery (send) lives in
deliver.py and is imported only when something is sent."""
from __future__ import annotations

import json
from dataclasses import replace

from channels.base import Channel, PartView, PlanSummary, Receipt, SendContext
from channels.telegram.blocks import RenderContext
from channels.telegram.limits import CAPTION_LIMIT, CONNECT_TIMEOUT, MESSAGE_LIMIT, PER_CHAT_INTERVAL, READ_TIMEOUT
from channels.telegram.payload import (BotCall, TelegramPayload, _frozen, _plain, render_full, render_mode,
                                       render_summary)
from channels.telegram.parts import ledger_parts
from channels.telegram.validate import call_problems, visible_length
from publisher.config import Settings
from publisher.post import Post
from publisher.utm import LinkTag, link_tagger, tag_hrefs


class TelegramChannel(Channel):
    name = "telegram"
    title = "Telegram"
    reconciles_itself = False  # the Bot API cannot read a channel's history
    options = frozenset({"enabled", "mode"})

    def __init__(self, message_limit: int = MESSAGE_LIMIT, caption_limit: int = CAPTION_LIMIT,
                 send_interval: float | None = None, timeout: tuple[float, float] | None = None):
        self.message_limit = message_limit
        self.caption_limit = caption_limit
        # Delivery knobs (see deliver.py); tests use 0 s and short timeouts.
        self.send_interval = PER_CHAT_INTERVAL if send_interval is None else send_interval
        self.timeout = timeout or (CONNECT_TIMEOUT, READ_TIMEOUT)

    def render(self, post: Post, settings: Settings) -> TelegramPayload:
        mode = render_mode(post, settings)
        ctx = RenderContext(base_url=post.url, language=post.language)
        render = render_full if mode == "full" else render_summary
        payload = TelegramPayload(tuple(render(post, ctx, self.message_limit, self.caption_limit)), mode)
        tag_link = link_tagger(post, settings, self.name)
        return _tagged_calls(payload, tag_link) if tag_link else payload

    def checks(self, payload: TelegramPayload, settings: Settings) -> list[str]:
        problems: list[str] = []
        for number, call in enumerate(payload.calls, 1):
            problems += call_problems(number, call, self.message_limit, self.caption_limit)
        return problems

    def preview_json(self, payload: TelegramPayload) -> dict:
        return {"calls": [{"method": call.method, "params": _plain(call.params)} for call in payload.calls]}

    def preview_view(self, payload: TelegramPayload) -> dict:
        """Each call as the preview shows it: its HTML, its photo and its length as Telegram counts."""
        calls = []
        for call in self.preview_json(payload)["calls"]:
            params = call["params"]
            body = params.get("text") or params.get("caption") or ""
            preview = params.get("link_preview_options") or {}
            calls.append({"method": call["method"], "photo": params.get("photo") or preview.get("url"),
                          "html": body, "length": visible_length(body)})
        return {"calls": calls}

    def preview_files(self, payload: TelegramPayload) -> dict[str, str]:
        return {"telegram.json": json.dumps(self.preview_json(payload), ensure_ascii=False, indent=2) + "\n"}

    def configured(self, settings: Settings) -> bool:
        return is_configured(settings)

    def missing_settings(self, settings: Settings) -> list[str]:
        return missing_telegram_settings(settings)

    def planned_parts(self, payload: TelegramPayload, settings: Settings) -> list[tuple[str, str]]:
        return ledger_parts(payload)

    def describe_part(self, part: str, total: int) -> PartView:
        return describe_part(part, total)

    def plan_summary(self, payload: TelegramPayload, settings: Settings, recipients: int = 0) -> PlanSummary:
        n = len(payload.calls)
        return PlanSummary(n, f"{n} {'message' if n == 1 else 'messages'} to {settings.telegram_chat_id or 'the chat'}")

    def send(self, payload: TelegramPayload, ctx: SendContext) -> Receipt:
        from channels.telegram.deliver import send_payload

        return send_payload(payload, ctx, interval=self.send_interval, timeout=ctx.settings.timeouts(self.timeout))


def _tagged_calls(payload: TelegramPayload, tag_link: LinkTag) -> TelegramPayload:
    """Every <a href> of every message and caption through `tag_link`. Telegram's limits count the
    text after entities parsing, not the hrefs (https://core.telegram.org/bots/api#sendmessage), so
    the split stands; the photo and the link preview's picture are images and stay as they are."""
    calls = tuple(BotCall(call.method, _frozen({key: tag_hrefs(value, tag_link) if key in ("text", "caption") else value
                                                for key, value in call.params.items()}))
                  for call in payload.calls)
    return replace(payload, calls=calls)


def missing_telegram_settings(settings: Settings) -> list[str]:
    return [variable for variable, value in (("PUBLISHER_TELEGRAM_BOT_TOKEN", settings.telegram_bot_token),
                                             ("PUBLISHER_TELEGRAM_CHAT_ID", settings.telegram_chat_id)) if not value]


def is_configured(settings: Settings) -> bool:
    return not missing_telegram_settings(settings)


def describe_part(part: str, total: int) -> PartView:
    """"call-3-sendPhoto" → "photo + caption 3/12"; the remote id is Telegram's message id."""
    _, index, method = (part.split("-", 2) + ["", ""])[:3]
    kind = "photo + caption" if method == "sendPhoto" else "message"
    return PartView(f"{kind} {index}/{total}" if index.isdigit() else part, id_label="message id")


CHANNEL = TelegramChannel()
