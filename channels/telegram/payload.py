"""The payload (Bot API calls) and its assembly from a post, in "full" or "summary" mode."""
from __future__ import annotations

from publisher.language import words

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from channels.telegram.blocks import RenderContext, article_blocks
from channels.telegram.limits import BULLETS, MODES
from channels.telegram.runs import BOLD, Block, Run, link_tag, runs_length, runs_to_html, utf16_length
from channels.telegram.split import pack_blocks, split_text_spans
from publisher.config import Settings
from publisher.errors import PostError
from publisher.markdown import inline_text
from publisher.post import Post


@dataclass(frozen=True)
class BotCall:
    method: str  # "sendPhoto" | "sendMessage"; chat_id is added at send time
    params: Mapping[str, Any]


@dataclass(frozen=True)
class TelegramPayload:
    calls: tuple[BotCall, ...]
    mode: str  # "full" | "summary"


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# --- Payload assembly ----------------------------------------------------------------------

def render_mode(post: Post, settings: Settings) -> str:
    mode = post.channel_options("telegram").get("mode") or settings.telegram_mode
    if mode not in MODES:
        raise PostError(f"{post.source}, field 'channels.telegram.mode'",
                        f"expected full or summary, got {mode!r}")
    return mode


def title_block(title: str) -> Block:
    return (Run(title, (BOLD,)),)


def read_more_block(post: Post, language: str) -> Block:
    return (Run(words(language)["read_more"], (link_tag(post.url),)),)


def summary_points(post: Post) -> list[str]:
    if post.summary:
        return list(post.summary)
    first = next((n for n in post.tree.children if n.type == "paragraph" and n.children), None)
    text = " ".join(inline_text(first.children[0]).split()) if first else ""
    return [text] if text else []


def points_block(points: list[str]) -> Block:
    """Summary points, one bullet a line."""
    runs: list[Run] = []
    for point in points:
        runs += ([Run("\n")] if runs else []) + [Run(f"{BULLETS[0]} {point}")]
    return tuple(runs)


def join_blocks(blocks: Iterable[Block]) -> list[Run]:
    """Blocks as one text, a blank line between them (for a caption, which is never split)."""
    runs: list[Run] = []
    for block in blocks:
        if block:
            runs += ([Run("\n\n")] if runs else []) + list(block)
    return runs


def truncate_to(text: str, limit: int) -> str:
    if utf16_length(text) <= limit:
        return text
    spans = split_text_spans(text, limit - 1)
    return text[:spans[0][1]].rstrip() + "…"


def message_call(runs: list[Run], disable_preview: bool) -> BotCall:
    params: dict[str, Any] = {"text": runs_to_html(runs), "parse_mode": "HTML"}
    if disable_preview:
        params["link_preview_options"] = {"is_disabled": True}
    return BotCall("sendMessage", _frozen(params))


def photo_call(url: str, caption_runs: list[Run]) -> BotCall:
    return BotCall("sendPhoto", _frozen({"photo": url, "caption": runs_to_html(caption_runs),
                                         "parse_mode": "HTML"}))


def render_full(post: Post, ctx: RenderContext, message_limit: int, caption_limit: int) -> list[BotCall]:
    title = title_block(truncate_to(post.title, caption_limit if post.cover_image else message_limit))
    blocks = article_blocks(post, ctx) + [read_more_block(post, ctx.language)]
    calls = []
    if post.cover_image:
        calls.append(photo_call(post.cover_image, list(title)))
    else:
        blocks.insert(0, title)
    calls += [message_call(m, disable_preview=True) for m in pack_blocks(blocks, message_limit)]
    return calls


def render_summary(post: Post, ctx: RenderContext, message_limit: int, caption_limit: int) -> list[BotCall]:
    """Cover with title and summary points, then the link; without a cover, one message."""
    points = summary_points(post)
    read_more = read_more_block(post, ctx.language)
    if not post.cover_image:
        blocks = [title_block(truncate_to(post.title, message_limit)), points_block(points), read_more]
        return [message_call(m, disable_preview=False) for m in pack_blocks([b for b in blocks if b], message_limit)]
    title = title_block(truncate_to(post.title, caption_limit))
    caption = join_blocks([title, points_block(points), read_more])
    if runs_length(caption) <= caption_limit:
        return [photo_call(post.cover_image, caption)]
    fitting = max(count for count in range(len(points) + 1)
                  if runs_length(join_blocks([title, points_block(points[:count])])) <= caption_limit)
    caption = join_blocks([title, points_block(points[:fitting])])
    rest = [b for b in (points_block(points[fitting:]), read_more) if b]
    return [photo_call(post.cover_image, caption),
            *(message_call(m, disable_preview=True) for m in pack_blocks(rest, message_limit))]
