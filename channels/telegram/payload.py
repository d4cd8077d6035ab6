"""The payload (Bot API calls) and its assembly from a post, in "full" or "summary" mode.

The post's picture is its cover, else its first body image. In full mode it is sent as a photo
whose caption holds the title and the start of the post (as many whole groups as fit, a group
being a block with the headings before it); a post whose start a caption cannot hold shows the
picture as the large link preview above its first message instead, and a front-matter cover (the
post's title card) is still sent as the photo, with the title and as much of the start as fits.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from channels.telegram.blocks import RenderContext, article_parts
from channels.telegram.limits import BULLETS, COVER_PREVIEW, MODES
from channels.telegram.runs import BOLD, Block, Run, link_tag, runs_length, runs_to_html, utf16_length
from channels.telegram.split import Group, group_blocks, pack_blocks, pack_groups, split_first, split_text_spans, trim_runs
from publisher.config import Settings
from publisher.errors import PostError
from publisher.language import words
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


def message_call(runs: list[Run], disable_preview: bool, preview_url: str | None = None) -> BotCall:
    params: dict[str, Any] = {"text": runs_to_html(runs), "parse_mode": "HTML"}
    if preview_url:
        params["link_preview_options"] = {"url": preview_url, **COVER_PREVIEW}
    elif disable_preview:
        params["link_preview_options"] = {"is_disabled": True}
    return BotCall("sendMessage", _frozen(params))


def photo_call(url: str, caption_runs: list[Run]) -> BotCall:
    return BotCall("sendPhoto", _frozen({"photo": url, "caption": runs_to_html(caption_runs),
                                         "parse_mode": "HTML"}))


def post_image(post: Post) -> str | None:
    """The post's picture: its cover, else its first body image."""
    return post.cover_image or post.first_image


def caption_groups(groups: list[Group], limit: int) -> int:
    """How many whole groups, from the first, fit in one caption of `limit` units."""
    count, size = 0, -len("\n\n")
    for block, _ in groups:
        size += len("\n\n") + runs_length(block)
        if size > limit:
            break
        count += 1
    return count


def render_full(post: Post, ctx: RenderContext, message_limit: int, caption_limit: int) -> list[BotCall]:
    image = post_image(post)
    parts = article_parts(post, ctx, lead_image=image)
    blocks = [part.block for part in parts] + [read_more_block(post, ctx.language)]
    # The title and each heading travel with the block after them (not with the closing link: a
    # heading that ends the post has no text of its own to travel with).
    headings = [0, *(index + 1 for index, part in enumerate(parts) if part.heading and index + 1 < len(parts))]

    def groups_under(title_limit: int) -> list[Group]:
        return group_blocks([title_block(truncate_to(post.title, title_limit))] + blocks, headings)

    def messages(groups: list[Group]) -> list[BotCall]:
        return [message_call(m, disable_preview=True) for m in pack_groups(groups, message_limit)]

    if not image:
        return messages(groups_under(message_limit))
    cap = min(caption_limit, message_limit)  # a caption never holds more than a message would
    groups = groups_under(cap)
    fitting = caption_groups(groups, cap)
    if fitting:  # the caption holds the title and the start
        caption = [run for index, (block, _) in enumerate(groups[:fitting])
                   for run in ([Run("\n\n")] if index else []) + list(block)]
        return [photo_call(image, trim_runs(caption)), *messages(groups[fitting:])]
    if post.cover_image:  # the cover is the post's title card: the title and what fits of the start
        first, rest, keep = split_first(groups[0][0], cap, groups[0][1])
        return [photo_call(image, trim_runs(first)), *messages(([(rest, keep)] if rest else []) + groups[1:])]
    first_message, *others = pack_groups(groups_under(message_limit), message_limit)
    return [message_call(first_message, disable_preview=False, preview_url=image),
            *(message_call(m, disable_preview=True) for m in others)]


def render_summary(post: Post, ctx: RenderContext, message_limit: int, caption_limit: int) -> list[BotCall]:
    """The picture with title and summary points, then the link; without a picture, one message."""
    points = summary_points(post)
    read_more = read_more_block(post, ctx.language)
    image = post_image(post)
    if not image:
        blocks = [title_block(truncate_to(post.title, message_limit)), points_block(points), read_more]
        return [message_call(m, disable_preview=False) for m in pack_blocks([b for b in blocks if b], message_limit)]
    title = title_block(truncate_to(post.title, caption_limit))
    caption = join_blocks([title, points_block(points), read_more])
    if runs_length(caption) <= caption_limit:
        return [photo_call(image, caption)]
    fitting = max(count for count in range(len(points) + 1)
                  if runs_length(join_blocks([title, points_block(points[:count])])) <= caption_limit)
    caption = join_blocks([title, points_block(points[:fitting])])
    rest = [b for b in (points_block(points[fitting:]), read_more) if b]
    return [photo_call(image, caption),
            *(message_call(m, disable_preview=True) for m in pack_blocks(rest, message_limit))]
