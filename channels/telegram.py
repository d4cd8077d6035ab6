"""Telegram channel: one post becomes Bot API calls (sendPhoto + sendMessage) in HTML parse mode.

Rendering (pure, in this section): the post tree becomes *runs* (plain text + the stack of
Telegram tags around it), runs are grouped in blocks, blocks are packed into messages of at most
MESSAGE_LIMIT visible characters, and only then is each message turned into HTML. Because the
HTML of every message is built from its own runs, every message opens and closes its own tags
and no cut can fall inside a tag or an entity.

Sections: platform facts, payload, runs, tree -> blocks, splitting, payload assembly, HTML
validation, the channel. The Bot API client (send) goes in its own section below rendering.
"""
from __future__ import annotations

import hashlib
import html
import itertools
import json
import logging
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from html.parser import HTMLParser
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3
from markdown_it.tree import SyntaxTreeNode

from channels.base import (
    Channel, DeliveryError, PermanentError, Receipt, SendContext, TransientError, UncertainError,
)
from publisher.config import Settings
from publisher.errors import PostError
from publisher.markdown import html_links, html_to_text, inline_text
from publisher.post import Post

if TYPE_CHECKING:
    from publisher.ledger import Ledger, LedgerEntry

# --- Platform facts -------------------------------------------------------------------------

# sendMessage `text`: 1-4096 characters after entities parsing (PLATFORMS.md 2.3). The unit is
# disputed (code points vs UTF-16), so we count UTF-16 code units, which is safe either way.
MESSAGE_LIMIT = 4096
# sendPhoto `caption`: 0-1024 characters after entities parsing (PLATFORMS.md 2.5).
CAPTION_LIMIT = 1024
# HTML parse mode accepts these tags and nothing else (PLATFORMS.md 2.4).
ALLOWED_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "tg-emoji", "tg-time", "code", "pre", "blockquote",
})
# Tags that may wrap and be wrapped by any entity except being inside pre/code (PLATFORMS.md 2.4).
STYLE_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler"})
# Only these named entities are understood; numeric ones all are (PLATFORMS.md 2.4).
NAMED_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
# Link schemes Telegram opens from an <a href> (PLATFORMS.md 2.4).
LINK_SCHEMES = frozenset({"http", "https", "tg"})

MODES = ("full", "summary")
READ_MORE = {"cjk": "阅读原文", "latin": "Read on the web"}
IMAGE_FALLBACK = {"cjk": "图片", "latin": "Image"}
HORIZONTAL_RULE = "———"
BULLETS = ("•", "◦", "▪")  # by nesting depth
LIST_INDENT = "   "
TABLE_COLUMN_SEPARATOR = " │ "
TABLE_RULE, TABLE_RULE_CROSSING = "─", "─┼─"
# A cut inside one block is made at the best boundary that still fills this share of the limit.
MIN_FILL = 0.5


# --- Payload --------------------------------------------------------------------------------

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


# --- Runs: text with the Telegram tags around it ---------------------------------------------

@dataclass(frozen=True)
class Tag:
    name: str
    attrs: str = ""  # already escaped, with a leading space: ' href="..."'

    @property
    def opening(self) -> str:
        return f"<{self.name}{self.attrs}>"

    @property
    def closing(self) -> str:
        return f"</{self.name}>"


BOLD, ITALIC, UNDERLINE, STRIKE = Tag("b"), Tag("i"), Tag("u"), Tag("s")
CODE, PRE, BLOCKQUOTE = Tag("code"), Tag("pre"), Tag("blockquote")


def link_tag(href: str) -> Tag:
    return Tag("a", f' href="{escape_attribute(href)}"')


def code_block_tag(language: str) -> Tag:
    return Tag("code", f' class="language-{escape_attribute(language)}"')


@dataclass(frozen=True)
class Run:
    text: str  # visible text, unescaped
    tags: tuple[Tag, ...] = ()  # outermost first


Block = tuple[Run, ...]


def escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(value: str) -> str:
    return escape_text(value).replace('"', "&quot;")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def runs_length(runs: Iterable[Run]) -> int:
    return sum(utf16_length(run.text) for run in runs)


def normalize_tags(tags: Iterable[Tag]) -> tuple[Tag, ...]:
    """Order and prune tags so Telegram's nesting rules hold (PLATFORMS.md 2.4).

    One blockquote, outermost; one link; nothing inside code; code not inside a link (the
    link wins). Code blocks (pre) are built whole by `code_block_runs` and never come here.
    """
    tags = list(tags)
    quote = (BLOCKQUOTE,) if BLOCKQUOTE in tags else ()
    has_link = any(t.name == "a" for t in tags)
    has_code = CODE in tags and not has_link
    middle: list[Tag] = []
    for tag in tags:
        if tag.name in ("blockquote", "code") or tag in middle:
            continue
        if tag.name == "a" and any(t.name == "a" for t in middle):
            continue
        middle.append(tag)
    return quote + tuple(middle) + ((CODE,) if has_code else ())


def runs_to_html(runs: Iterable[Run]) -> str:
    """Telegram HTML of runs: tags open and close by diffing neighbouring tag stacks."""
    out: list[str] = []
    open_tags: tuple[Tag, ...] = ()
    for run in runs:
        if not run.text:
            continue
        common = 0
        while common < min(len(open_tags), len(run.tags)) and open_tags[common] == run.tags[common]:
            common += 1
        out.extend(tag.closing for tag in reversed(open_tags[common:]))
        out.extend(tag.opening for tag in run.tags[common:])
        out.append(escape_text(run.text))
        open_tags = run.tags
    out.extend(tag.closing for tag in reversed(open_tags))
    return "".join(out)


# --- Markdown tree -> blocks ----------------------------------------------------------------

@dataclass(frozen=True)
class RenderContext:
    base_url: str  # relative links resolve against the post URL
    language: str  # "cjk" | "latin"
    quote: tuple[Tag, ...] = ()  # (BLOCKQUOTE,) inside a quote; Telegram cannot nest them


def mostly_cjk(text: str) -> bool:
    """True when CJK characters carry the text (one CJK character ~ one word ~ 2 Latin letters)."""
    cjk = sum(1 for ch in text if _is_cjk(ch))
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return cjk > 0 and cjk * 2 >= latin


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
            or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x2FA1F)


def allowed_url(url: str, base_url: str) -> str | None:
    """The absolute URL if Telegram accepts it in <a href>, else None."""
    url = url.strip()
    if not url:
        return None
    try:
        absolute = urljoin(base_url, url)
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return None
    return absolute if scheme in LINK_SCHEMES else None


_RAW_STYLE = {"b": BOLD, "strong": BOLD, "i": ITALIC, "em": ITALIC, "u": UNDERLINE, "ins": UNDERLINE,
              "s": STRIKE, "strike": STRIKE, "del": STRIKE, "code": CODE}
_RAW_TAG = re.compile(r"^<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9-]*)")
_RAW_HREF = re.compile(r"""\bhref\s*=\s*["']([^"']*)["']""", re.I)


def inline_runs(node: SyntaxTreeNode, tags: tuple[Tag, ...], ctx: RenderContext,
                raw_tags: list[tuple[str, Tag | None]] | None = None) -> list[Run]:
    """Runs of an inline subtree; `raw_tags` tracks sanitized inline HTML (<b>, <a href>...)."""
    raw_tags = [] if raw_tags is None else raw_tags
    runs: list[Run] = []

    def add(text: str, extra: tuple[Tag, ...] = ()) -> None:
        raw = tuple(tag for _, tag in raw_tags if tag is not None)
        runs.append(Run(text, normalize_tags(ctx.quote + tags + raw + extra)))

    for child in node.children:
        kind = child.type
        if kind == "text":
            add(child.content)
        elif kind == "softbreak":
            add(" ")
        elif kind == "hardbreak":
            add("\n")
        elif kind == "code_inline":
            add(child.content, (CODE,))
        elif kind in ("em", "strong", "s"):
            style = {"em": ITALIC, "strong": BOLD, "s": STRIKE}[kind]
            runs.extend(inline_runs(child, tags + (style,), ctx, raw_tags))
        elif kind == "link":
            href = allowed_url(str(child.attrs.get("href", "")), ctx.base_url)
            extra = (link_tag(href),) if href else ()
            runs.extend(inline_runs(child, tags + extra, ctx, raw_tags))
        elif kind == "image":
            add(*image_link(child, ctx))
        elif kind == "html_inline":
            text = apply_raw_inline_tag(child.content, raw_tags, ctx)
            if text:
                add(text)
        elif child.children:
            runs.extend(inline_runs(child, tags, ctx, raw_tags))
    return runs


def image_link(node: SyntaxTreeNode, ctx: RenderContext) -> tuple[str, tuple[Tag, ...]]:
    """Telegram messages cannot hold inline images: an image becomes a link named by its alt text."""
    alt = " ".join(inline_text(node).split()) or IMAGE_FALLBACK[ctx.language]
    src = allowed_url(str(node.attrs.get("src", "")), ctx.base_url)
    return alt, ((link_tag(src),) if src else ())


def apply_raw_inline_tag(fragment: str, raw_tags: list[tuple[str, Tag | None]], ctx: RenderContext) -> str:
    """Track one sanitized inline HTML tag in `raw_tags`; returns the text it stands for.

    `raw_tags` holds (source tag name, Telegram tag or None when the tag has no Telegram form,
    like <a> without a usable href) so that each closing tag pops its own opening tag.
    """
    match = _RAW_TAG.match(fragment)
    if not match:
        return ""
    closing, name = match.group(1) == "/", match.group(2).lower()
    if name == "br":
        return "\n"
    if name == "a":
        href_match = _RAW_HREF.search(fragment)
        href = allowed_url(html.unescape(href_match.group(1)), ctx.base_url) if href_match else None
        tag = link_tag(href) if href else None
    elif name in _RAW_STYLE:
        tag = _RAW_STYLE[name]
    else:
        return ""
    if not closing:
        raw_tags.append((name, tag))
        return ""
    for index in range(len(raw_tags) - 1, -1, -1):
        if raw_tags[index][0] == name:
            del raw_tags[index]
            break
    return ""


def join_parts(parts: Iterable[list[Run]], separator: str, ctx: RenderContext) -> list[Run]:
    out: list[Run] = []
    for part in parts:
        if not part or not "".join(r.text for r in part).strip():
            continue
        if out:
            out.append(Run(separator, ctx.quote))
        out.extend(part)
    return out


def block_runs(node: SyntaxTreeNode, ctx: RenderContext, depth: int = 0) -> list[Run]:
    """Runs of one block node (paragraph, heading, list, quote, code, table, HTML, rule)."""
    kind = node.type
    if kind == "paragraph":
        return inline_runs(node.children[0], (), ctx) if node.children else []
    if kind == "heading":
        return inline_runs(node.children[0], (BOLD,), ctx) if node.children else []
    if kind in ("bullet_list", "ordered_list"):
        return list_runs(node, ctx, depth)
    if kind == "blockquote":
        inner = RenderContext(ctx.base_url, ctx.language, (BLOCKQUOTE,))
        return join_parts((block_runs(c, inner, depth) for c in node.children), "\n\n", inner)
    if kind in ("fence", "code_block"):
        return code_block_runs(node, ctx)
    if kind == "table":
        return [Run(table_text(node, ctx), ctx.quote + (PRE,))]
    if kind == "hr":
        return [Run(HORIZONTAL_RULE, ctx.quote)]
    if kind == "html_block":
        return html_block_runs(node.content, ctx)
    if kind == "inline":
        return inline_runs(node, (), ctx)
    return join_parts((block_runs(c, ctx, depth) for c in node.children), "\n\n", ctx)


def code_block_runs(node: SyntaxTreeNode, ctx: RenderContext) -> list[Run]:
    code = node.content.rstrip("\n")
    language = re.sub(r"[^\w#+.-]", "", (node.info or "").split()[0]) if (node.info or "").strip() else ""
    tags = (PRE, code_block_tag(language)) if language else (PRE,)
    return [Run(code, ctx.quote + tags)] if code.strip() else []


def list_runs(node: SyntaxTreeNode, ctx: RenderContext, depth: int) -> list[Run]:
    start = int(node.attrs.get("start", 1)) if node.type == "ordered_list" else 0
    loose = any(not p.hidden for item in node.children for p in item.children if p.type == "paragraph")
    items = []
    for number, item in enumerate(node.children, start):
        marker = f"{number}. " if node.type == "ordered_list" else f"{BULLETS[min(depth, len(BULLETS) - 1)]} "
        content = join_parts((block_runs(c, ctx, depth + 1) for c in item.children), "\n", ctx)
        items.append([Run(marker, ctx.quote)] + indent_runs(content, LIST_INDENT))
    return join_parts(items, "\n\n" if loose else "\n", ctx)


def indent_runs(runs: list[Run], indent: str) -> list[Run]:
    """Indent every line after the first, except lines of preformatted code."""
    out: list[Run] = []
    at_line_start = False
    for run in runs:
        if PRE in run.tags:
            out.append(run)
            at_line_start = False
            continue
        for number, line in enumerate(run.text.split("\n")):
            if number:
                out.append(Run("\n", run.tags))
                at_line_start = True
            if line:
                if at_line_start:
                    out.append(Run(indent, quote_of(run.tags)))
                out.append(Run(line, run.tags))
                at_line_start = False
    return out


def quote_of(tags: tuple[Tag, ...]) -> tuple[Tag, ...]:
    return (BLOCKQUOTE,) if BLOCKQUOTE in tags else ()


def table_text(node: SyntaxTreeNode, ctx: RenderContext) -> str:
    """A Markdown table as aligned monospace text (Telegram has no tables)."""
    rows: list[list[tuple[str, str]]] = []
    for section in node.children:
        for row in section.children:
            rows.append([(cell_text(cell, ctx), str(cell.attrs.get("style", ""))) for cell in row.children])
    if not rows:
        return ""
    columns = max(len(r) for r in rows)
    rows = [r + [("", "")] * (columns - len(r)) for r in rows]
    widths = [max(display_width(r[c][0]) for r in rows) for c in range(columns)]
    lines = [TABLE_COLUMN_SEPARATOR.join(pad_cell(text, widths[c], style) for c, (text, style)
                                         in enumerate(row)).rstrip() for row in rows]
    has_header = node.children[0].type == "thead"
    if has_header:
        lines.insert(1, TABLE_RULE_CROSSING.join(TABLE_RULE * w for w in widths))
    return "\n".join(lines)


def cell_text(cell: SyntaxTreeNode, ctx: RenderContext) -> str:
    runs = inline_runs(cell.children[0], (), ctx) if cell.children else []
    return " ".join("".join(run.text for run in runs).split())


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad_cell(text: str, width: int, style: str) -> str:
    gap = width - display_width(text)
    if "right" in style:
        return " " * gap + text
    if "center" in style:
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def html_block_runs(fragment: str, ctx: RenderContext) -> list[Run]:
    """A sanitized raw HTML block as its text, its links kept as <a> where found in order."""
    text = html_to_text(fragment)
    runs: list[Run] = []
    position = 0
    for link_text, href in html_links(fragment):
        url = allowed_url(href, ctx.base_url)
        found = text.find(link_text, position) if link_text else -1
        if url is None or found < 0:
            continue
        runs.append(Run(text[position:found], ctx.quote))
        runs.append(Run(link_text, ctx.quote + (link_tag(url),)))
        position = found + len(link_text)
    runs.append(Run(text[position:], ctx.quote))
    return [r for r in runs if r.text]


def article_blocks(post: Post, ctx: RenderContext) -> list[Block]:
    blocks = (tuple(block_runs(node, ctx)) for node in post.tree.children)
    return [b for b in blocks if "".join(r.text for r in b).strip()]


# --- Splitting ------------------------------------------------------------------------------

_SENTENCE_END = frozenset("。！？!?；;…")
_CLOSERS = frozenset("\"'”’」』）)]》")


def _is_glue(ch: str) -> bool:
    """Characters that belong to the character before them (a cut there would break a glyph)."""
    code = ord(ch)
    return (unicodedata.combining(ch) != 0 or code == 0x200D or 0xFE00 <= code <= 0xFE0F
            or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F or 0xE0100 <= code <= 0xE01EF
            or unicodedata.category(ch) in ("Mn", "Me"))


def _safe_char_cut(text: str, cut: int, lowest: int) -> int:
    """Move a forced cut left so it does not split a combining sequence, ZWJ emoji or flag."""
    for candidate in range(cut, max(lowest, cut - 32), -1):
        before, after = text[candidate - 1], text[candidate] if candidate < len(text) else ""
        if not after:
            return candidate
        if _is_glue(after) or ord(before) == 0x200D or _after_list_marker(text, candidate):
            continue
        if _is_regional(before) and _is_regional(after) and _regional_run(text, candidate) % 2 == 1:
            continue
        return candidate
    return cut


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _regional_run(text: str, end: int) -> int:
    count = 0
    while end - count - 1 >= 0 and _is_regional(text[end - count - 1]):
        count += 1
    return count


_LIST_MARKER_LINE = re.compile(r"[ \t]*(?:[•◦▪] ?|\d+(?:\. ?)?)")


def _after_list_marker(text: str, cut: int) -> bool:
    """A cut in or right after "• " or "12. " would leave a bare marker at the end of a message."""
    line_start = text.rfind("\n", 0, cut) + 1
    return _LIST_MARKER_LINE.fullmatch(text, line_start, cut) is not None


def _boundaries(text: str, start: int, end: int, lowest: int) -> Iterator[tuple[int, int]]:
    """Candidate (cut, resume) pairs in text[lowest:end], best kind first, latest first."""
    span = range(end, lowest - 1, -1)
    for i in span:  # paragraph break
        if i < end and text.startswith("\n\n", i):
            yield i, i + 2
    for i in span:  # line break
        if i < end and text[i] == "\n":
            yield i, i + 1
    for i in span:  # sentence end (CJK needs no space after it)
        if i <= start or _after_list_marker(text, i):
            continue
        if text[i - 1] in _SENTENCE_END and (i == len(text) or text[i] not in _CLOSERS):
            yield i, i
        if i > start + 1 and text[i - 1] in _CLOSERS and text[i - 2] in _SENTENCE_END:
            yield i, i
        if i < len(text) and text[i - 1] == "." and text[i].isspace():
            yield i, i + 1
    for i in span:  # whitespace
        if i < end and text[i].isspace() and not _after_list_marker(text, i):
            yield i, i + 1


def split_text_spans(text: str, limit: int, first_limit: int | None = None) -> list[tuple[int, int]]:
    """Cut text into (start, end) spans, each at most `limit` UTF-16 units, at the best boundary.

    The first span may be given a smaller limit (the room left in a message already started).
    """
    units = [0, *itertools.accumulate(utf16_length(ch) for ch in text)]
    spans: list[tuple[int, int]] = []
    start = 0
    full_limit, limit = limit, first_limit or limit
    while start < len(text):
        if spans:
            limit = full_limit
        end = bisect_right(units, units[start] + limit) - 1
        if end >= len(text):
            spans.append((start, len(text)))
            break
        if end <= start:  # one character wider than the limit (only if limit < 2): take it anyway
            end = start + 1
        lowest = max(start + 1, bisect_right(units, units[start] + int(limit * MIN_FILL)) - 1)
        cut, resume = next(_boundaries(text, start, end, lowest), (None, None))
        if cut is None or cut <= start:
            cut = resume = _safe_char_cut(text, end, start + 1)
        spans.append((start, cut))
        start = resume
    return [(a, b) for a, b in spans if b > a]


def slice_runs(runs: Block, start: int, end: int) -> list[Run]:
    out, offset = [], 0
    for run in runs:
        a, b = max(start, offset), min(end, offset + len(run.text))
        if a < b:
            out.append(Run(run.text[a - offset:b - offset], run.tags))
        offset += len(run.text)
    return out


def split_block(block: Block, limit: int, first_limit: int | None = None) -> list[list[Run]]:
    text = "".join(run.text for run in block)
    return [slice_runs(block, a, b) for a, b in split_text_spans(text, limit, first_limit)]


def trim_runs(runs: list[Run]) -> list[Run]:
    """Drop whitespace at both ends of a message (Telegram would, and it counts)."""
    runs = [r for r in runs if r.text]
    while runs and not runs[0].text.strip():
        runs.pop(0)
    while runs and not runs[-1].text.strip():
        runs.pop()
    if runs:
        first = runs[0]
        runs[0] = Run(first.text.lstrip("\n") if PRE in first.tags else first.text.lstrip(), first.tags)
        runs[-1] = Run(runs[-1].text.rstrip(), runs[-1].tags)
    return runs


def pack_blocks(blocks: list[Block], limit: int) -> list[list[Run]]:
    """Blocks into messages of at most `limit` units, cutting between blocks where possible.

    A block too long for any message is cut inside; its first piece fills the current message
    when at least MIN_FILL of it is still free (so a title is not sent alone).
    """
    messages: list[list[Run]] = []
    current: list[Run] = []
    for block in blocks:
        size = runs_length(block)
        separator = [Run("\n\n")] if current else []
        room = limit - runs_length(current + separator)
        if size <= room:
            current += separator + list(block)
            continue
        if size <= limit or room < limit * MIN_FILL:
            if current:
                messages.append(current)
            current, separator, room = [], [], limit
            if size <= limit:
                current = list(block)
                continue
        first, *rest = split_block(block, limit, first_limit=room)
        pieces = [current + separator + first, *rest]
        messages.extend(pieces[:-1])
        current = pieces[-1]
    if current:
        messages.append(current)
    return [m for m in (trim_runs(m) for m in messages) if m]


# --- Payload assembly ----------------------------------------------------------------------

def render_mode(post: Post, settings: Settings) -> str:
    mode = post.channel_options("telegram").get("mode") or settings.telegram_mode
    if mode not in MODES:
        raise PostError(f"{post.source}, field 'channels.telegram.mode'",
                        f"expected full or summary, got {mode!r}")
    return mode


def post_language(post: Post) -> str:
    return "cjk" if mostly_cjk(" ".join([post.title, *post.summary, post.body])) else "latin"


def title_block(title: str) -> Block:
    return (Run(title, (BOLD,)),)


def read_more_block(post: Post, language: str) -> Block:
    return (Run(READ_MORE[language], (link_tag(post.url),)),)


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


# --- Validation -----------------------------------------------------------------------------

_ENTITY = re.compile(r"&(?:(?P<name>[A-Za-z][A-Za-z0-9]*)|#(?P<dec>[0-9]+)|#[xX](?P<hex>[0-9A-Fa-f]+));")


class _TelegramHTMLValidator(HTMLParser):
    """Strict check of Telegram HTML: allowed tags and attributes, nesting rules, escaping."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.problem: str | None = None

    def fail(self, problem: str) -> None:
        self.problem = self.problem or problem

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        problem = _start_tag_problem(tag, attributes, [name for name, _ in self.stack])
        if problem:
            self.fail(problem)
        self.stack.append((tag, attributes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.fail(f"self-closing tag <{tag}/> is not supported")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            self.fail(f"unexpected end tag </{tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if any(ch in data for ch in "<>&"):
            self.fail("unescaped <, > or & in text")

    def handle_entityref(self, name: str) -> None:
        if name not in NAMED_ENTITIES:
            self.fail(f"unsupported entity &{name};")

    def handle_comment(self, data: str) -> None:
        self.fail("HTML comments are not supported")

    def handle_decl(self, decl: str) -> None:
        self.fail("declarations are not supported")

    def handle_pi(self, data: str) -> None:
        self.fail("processing instructions are not supported")

    def unknown_decl(self, data: str) -> None:
        self.fail("CDATA is not supported")


def _start_tag_problem(tag: str, attrs: dict[str, str | None], open_tags: list[str]) -> str | None:
    if tag not in ALLOWED_TAGS:
        return f"unsupported tag <{tag}>"
    parent = open_tags[-1] if open_tags else None
    if parent == "code":
        return f"<{tag}> inside <code>"
    if parent == "pre" and tag != "code":
        return f"<{tag}> inside <pre>"
    if tag == "blockquote" and "blockquote" in open_tags:
        return "nested <blockquote>"
    if tag in ("a", "code", "pre") and "a" in open_tags:
        return f"<{tag}> inside <a>"
    if tag == "pre" and "code" in open_tags:
        return "<pre> inside <code>"
    expected: dict[str, set[str]] = {"a": {"href"}, "span": {"class"}, "tg-emoji": {"emoji-id"},
                                     "tg-time": {"unix", "format"}, "blockquote": {"expandable"},
                                     "code": {"class"} if parent == "pre" else set()}
    unknown = set(attrs) - expected.get(tag, set())
    if unknown:
        return f"unsupported attribute {sorted(unknown)[0]!r} on <{tag}>"
    if tag == "a":
        href = attrs.get("href") or ""
        if urlsplit(href).scheme.lower() not in LINK_SCHEMES:
            return f"link {href!r} is not http(s) or tg"
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        return "<span> without class=\"tg-spoiler\""
    if tag == "code" and "class" in attrs and not re.fullmatch(r"language-[\w#+.-]+", attrs["class"] or ""):
        return "code class must be language-NAME"
    return None


def telegram_html_problem(text: str) -> str | None:
    """Why Telegram would refuse this HTML, or None when it is valid."""
    for match in re.finditer("&", text):
        entity = _ENTITY.match(text, match.start())
        if not entity:
            return "a bare & (write &amp;)"
        if entity.group("name") and entity.group("name") not in NAMED_ENTITIES:
            return f"unsupported entity &{entity.group('name')};"
        number = entity.group("dec") or entity.group("hex")
        if number and int(number, 16 if entity.group("hex") else 10) > 0x10FFFF:
            return f"entity {entity.group(0)} is not a character"
    validator = _TelegramHTMLValidator()
    validator.feed(text)
    validator.close()
    if validator.problem:
        return validator.problem
    if validator.stack:
        return f"<{validator.stack[-1][0]}> is never closed"
    return None


def is_balanced_telegram_html(text: str) -> bool:
    """True when every tag is allowed, properly nested and closed, and all text is escaped."""
    return telegram_html_problem(text) is None


_TAG_MARKUP = re.compile(r"<[^>]*>")


def visible_text(text: str) -> str:
    """What Telegram shows of HTML: tags removed, entities decoded."""
    return html.unescape(_TAG_MARKUP.sub("", text))


def visible_length(text: str) -> int:
    """Length Telegram checks against its limits, counted in UTF-16 code units (PLATFORMS.md 2.3)."""
    return utf16_length(visible_text(text))


# --- The channel ----------------------------------------------------------------------------

class TelegramChannel(Channel):
    name = "telegram"
    reconciles_itself = False  # the Bot API cannot read a channel's history

    def __init__(self, message_limit: int = MESSAGE_LIMIT, caption_limit: int = CAPTION_LIMIT,
                 send_interval: float | None = None, timeout: tuple[float, float] | None = None):
        self.message_limit = message_limit
        self.caption_limit = caption_limit
        # Delivery knobs (see "Bot API client and send" below); tests use 0 s and short timeouts.
        self.send_interval = PER_CHAT_INTERVAL if send_interval is None else send_interval
        self.timeout = timeout or (CONNECT_TIMEOUT, READ_TIMEOUT)

    def render(self, post: Post, settings: Settings) -> TelegramPayload:
        mode = render_mode(post, settings)
        ctx = RenderContext(base_url=post.url, language=post_language(post))
        render = render_full if mode == "full" else render_summary
        return TelegramPayload(tuple(render(post, ctx, self.message_limit, self.caption_limit)), mode)

    def checks(self, payload: TelegramPayload, settings: Settings) -> list[str]:
        problems: list[str] = []
        for number, call in enumerate(payload.calls, 1):
            problems += call_problems(number, call, self.message_limit, self.caption_limit)
        return problems

    def preview_json(self, payload: TelegramPayload) -> dict:
        return {"calls": [{"method": call.method, "params": _plain(call.params)} for call in payload.calls]}

    def preview_files(self, payload: TelegramPayload) -> dict[str, str]:
        return {"telegram.json": json.dumps(self.preview_json(payload), ensure_ascii=False, indent=2) + "\n"}

    def configured(self, settings: Settings) -> bool:
        return is_configured(settings)

    def send(self, payload: TelegramPayload, ctx: SendContext) -> Receipt:
        return send_payload(payload, ctx, interval=self.send_interval, timeout=ctx.settings.timeouts(self.timeout))


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def call_problems(number: int, call: BotCall, message_limit: int, caption_limit: int) -> list[str]:
    if call.method == "sendPhoto":
        field, limit, what = "caption", caption_limit, f"The photo caption (call {number})"
        photo = str(call.params.get("photo", ""))
        problems = [] if is_http_url(photo) else [
            f"Call {number} (sendPhoto) has photo {photo!r}, which is not an http(s) URL Telegram can fetch."]
    elif call.method == "sendMessage":
        field, limit, what = "text", message_limit, f"Message {number}"
        problems = []
    else:
        return [f"Call {number} uses {call.method!r}; the Telegram renderer only sends sendPhoto and sendMessage."]
    text = str(call.params.get(field, ""))
    html_problem = telegram_html_problem(text)
    if html_problem:
        problems.append(f"{what} has HTML Telegram would refuse: {html_problem}.")
    length = visible_length(text)
    if length > limit:
        problems.append(f"{what} is {length:,} characters after formatting; Telegram allows {limit:,}.")
    if field == "text" and not visible_text(text).strip():
        problems.append(f"{what} is empty; Telegram refuses empty messages.")
    return problems


# =============================================================================================
# --- Bot API client and send ----------------------------------------------------------------
# =============================================================================================
#
# Delivery (I/O) starts here; nothing above talks to the network.
#
# Exactly once: every BotCall is one ledger part "call-<index>-<method>" planned up front with the
# sha256 of its canonical JSON; each part is claimed (intent committed) before its request and
# settled right after it. Parts are sent strictly in order: a channel post read out of order is
# worse than one that stops, so send() never passes a part it could not settle.
#
# Reconciliation: Telegram keeps no record a bot can read back. The Bot API has no method to
# list a channel's history, so an "uncertain" part (read timeout, 5xx, dropped connection) or a
# "sending" part left by a killed worker cannot be verified. We looked for the one safe check and
# found none that is safe enough to run automatically:
# - getUpdates does not return the bot's own posts, fails while a webhook is set, and consumes
#   updates another integration of the same bot may be waiting for;
# - guessing the message id (the last sent id + 1) and probing it with editMessageText,
#   copyMessage/forwardMessage or setMessageReaction is a write: it could alter a post another
#   admin published in between, post a copy, or ping followers; and a hit would still not prove
#   the message is ours.
# So the part stays "uncertain" and a person decides (`resolve_uncertain`, via the CLI).

# Connect timeout: a request that never connected is safely retried (TransientError).
CONNECT_TIMEOUT = 5.0
# Read timeout: after it the message may or may not be posted (UncertainError).
READ_TIMEOUT = 30.0
# "Avoid sending more than one message per second in a chat" (PLATFORMS.md 2.6, [TG4]).
PER_CHAT_INTERVAL = 1.0
# Public chats have post links of this form; private ones have none a follower can open.
POST_LINK = "https://t.me/{username}/{message_id}"

log = logging.getLogger(__name__)

# Outcomes of one Bot API request.
SENT = "sent"                # ok: true; the platform accepted the message
PLAIN_TEXT = "plain_text"    # our HTML was refused; this one message is retried once without it
TRANSIENT = "transient"      # not accepted, try later (TransientError; part failed retryably)
PERMANENT = "permanent"      # refused for good (PermanentError; part failed)
UNCERTAIN = "uncertain"      # may have been accepted (UncertainError; part uncertain)


@dataclass(frozen=True)
class BotApiFailure:
    """Everything known about a request that did not return ok: true."""

    status: int | None  # HTTP status; None when no answer arrived
    description: str  # the platform's own words (scrubbed), or the transport error (scrubbed)
    parameters: Mapping[str, Any]  # the envelope's `parameters` (retry_after, migrate_to_chat_id)
    exception: BaseException | None = None  # the requests exception when no answer arrived
    from_bot_api: bool = False  # the answer was the Bot API's own {"ok": false, ...} envelope


@dataclass(frozen=True)
class ErrorRule:
    matches_what: str  # for people reading the table
    outcome: str
    matches: Callable[[BotApiFailure], bool]


def _never_left(exc: BaseException | None) -> bool:
    """True when the request cannot have reached Telegram: connect timeout, refused, DNS.

    requests wraps urllib3's NewConnectionError/NameResolutionError (both ConnectTimeoutError
    subclasses) inside a ConnectionError, the same class it uses for a connection dropped after
    the request was sent, so the cause is read from the chain rather than from the class.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.ConnectTimeoutError):
            return True
        pending += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                                *current.args) if isinstance(e, BaseException)]
    return False


def _description(failure: BotApiFailure) -> str:
    return failure.description.lower()


# The error table (PLATFORMS.md 2.2): the first matching row decides. It branches on what
# happened to the request, then on HTTP status + description; never on `error_code` (documented
# as "subject to change") and never on exception ancestry alone. Anything no row matches
# (a 3xx, a 200 that is not JSON) is treated as UNCERTAIN: the request did reach Telegram.
ERROR_TABLE: tuple[ErrorRule, ...] = (
    ErrorRule("connect timeout, connection refused, DNS failure: the request never left",
              TRANSIENT, lambda f: _never_left(f.exception)),
    ErrorRule("a base URL requests cannot use (a configuration mistake)", PERMANENT,
              lambda f: isinstance(f.exception, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                                                 requests.exceptions.InvalidSchema))),
    ErrorRule("read timeout, dropped connection, broken answer: sent, outcome unknown", UNCERTAIN,
              lambda f: f.exception is not None),
    ErrorRule("parameters.migrate_to_chat_id: the group became a supergroup with a new id", PERMANENT,
              lambda f: "migrate_to_chat_id" in f.parameters),
    ErrorRule("429 Too Many Requests (parameters.retry_after)", TRANSIENT, lambda f: f.status == 429),
    ErrorRule("400 can't parse entities: our HTML was refused", PLAIN_TEXT,
              lambda f: f.status == 400 and "can't parse entities" in _description(f)),
    ErrorRule("other 400 (chat not found, message is too long, ...), 401/404 bad token, 403 not allowed",
              PERMANENT, lambda f: f.status is not None and 400 <= f.status < 500),
    # The Bot API answers {"ok": false} only when the method failed ("ok ... false, the request was
    # unsuccessful", core.telegram.org/bots/api#making-requests): nothing was posted, so retrying
    # cannot duplicate. Only an answer that is not the Bot API's own is left uncertain.
    ErrorRule("5xx answered by the Bot API itself ({\"ok\": false}): the method failed", TRANSIENT,
              lambda f: f.status is not None and 500 <= f.status < 600 and f.from_bot_api),
    ErrorRule("5xx not from the Bot API (the front end's 502 HTML page)", UNCERTAIN,
              lambda f: f.status is not None and 500 <= f.status < 600),
)

# What a person should check, by HTTP status (descriptions are just "Unauthorized"/"Forbidden").
STATUS_HINTS = {
    401: "check PUBLISHER_TELEGRAM_BOT_TOKEN",
    404: "check PUBLISHER_TELEGRAM_BOT_TOKEN (malformed token) and PUBLISHER_TELEGRAM_API_BASE",
    403: "add the bot to the chat as an admin allowed to post",
}


def classify_failure(failure: BotApiFailure) -> str:
    return next((rule.outcome for rule in ERROR_TABLE if rule.matches(failure)), UNCERTAIN)


def failure_text(failure: BotApiFailure) -> str:
    """One line: the platform's description, its HTTP status and, where useful, what to check."""
    if failure.status is None:
        return failure.description
    text = f"{failure.description} (HTTP {failure.status})"
    if "migrate_to_chat_id" in failure.parameters:
        text += (f"; the chat moved to id {failure.parameters['migrate_to_chat_id']}: "
                 "set PUBLISHER_TELEGRAM_CHAT_ID to it")
    elif failure.status in STATUS_HINTS:
        text += f"; {STATUS_HINTS[failure.status]}"
    return text


def retry_after_of(failure: BotApiFailure, headers: Mapping[str, str] | None = None) -> float | None:
    value = failure.parameters.get("retry_after")
    if value is None and headers is not None:
        value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# --- secrets ---

def scrub(text: str, token: str) -> str:
    """`text` without the bot token: requests puts the URL, and so the token, in its errors."""
    if token:
        secret = token.split(":", 1)[-1]
        for form in {token, quote(token, safe=""), secret}:
            if form:
                text = text.replace(form, "<token>")
    return re.sub(r"/bot[^/\s'\"]+/", "/bot<token>/", text)


# --- the client ---

@dataclass(frozen=True)
class BotReply:
    """The answer to one request: the Message on success, else the failure and its outcome."""

    outcome: str
    result: Any = None
    failure: BotApiFailure | None = None
    retry_after: float | None = None


class BotApiClient:
    """requests against {api_base}/bot{token}/{method} with JSON bodies (PLATFORMS.md 2.1).

    Never raises: every outcome, transport errors included, comes back as a BotReply whose
    texts are already scrubbed of the token.
    """

    def __init__(self, settings: Settings, timeout: tuple[float, float]):
        self.token = settings.telegram_bot_token
        self.base = settings.telegram_api_base.rstrip("/")
        self.chat_id = chat_id_param(settings.telegram_chat_id)
        self.timeout = timeout
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, params: Mapping[str, Any]) -> BotReply:
        body = json.dumps({"chat_id": self.chat_id, **_plain(params)}, ensure_ascii=False).encode("utf-8")
        try:
            response = self.session.post(f"{self.base}/bot{self.token}/{method}", data=body, timeout=self.timeout,
                                         headers={"Content-Type": "application/json"})
        except requests.exceptions.RequestException as exc:
            failure = BotApiFailure(None, scrub(f"{type(exc).__name__}: {exc}", self.token), {}, exc)
            return BotReply(classify_failure(failure), failure=failure)
        envelope = _json_or_none(response)
        if response.status_code == 200 and envelope and envelope.get("ok") is True:
            return BotReply(SENT, result=envelope.get("result"))
        failure = self._failure(response, envelope)
        return BotReply(classify_failure(failure), failure=failure,
                        retry_after=retry_after_of(failure, response.headers))

    def _failure(self, response: requests.Response, envelope: dict[str, Any] | None) -> BotApiFailure:
        if envelope is not None and isinstance(envelope.get("description"), str):
            parameters = envelope.get("parameters")
            return BotApiFailure(response.status_code, scrub(envelope["description"], self.token),
                                 parameters if isinstance(parameters, dict) else {}, from_bot_api=True)
        # Not the Bot API's JSON: e.g. the front end's nginx "502 Bad Gateway" page.
        reason = response.reason or "no Bot API answer"
        return BotApiFailure(response.status_code, scrub(f"{reason} (not a Bot API answer)", self.token), {})


def _json_or_none(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def chat_id_param(chat_id: str) -> int | str:
    """Numeric ids as integers, public chats as "@username" (PLATFORMS.md 2.3)."""
    chat_id = chat_id.strip()
    return int(chat_id) if re.fullmatch(r"-?\d+", chat_id) else chat_id


# --- ledger parts ---

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


def post_link(settings: Settings, message: Mapping[str, Any]) -> str | None:
    """t.me link of a message in a public chat (one with a @username), else None."""
    chat = message.get("chat") if isinstance(message.get("chat"), Mapping) else {}
    configured = settings.telegram_chat_id.strip()
    username = chat.get("username") or (configured[1:] if configured.startswith("@") else "")
    message_id = message.get("message_id")
    return POST_LINK.format(username=username, message_id=message_id) if username and message_id else None


def uncertain_message(index: int, entry: LedgerEntry) -> str:
    why = entry.last_error or "the attempt that sent it did not finish"
    return (f"telegram: message {index} may or may not have been posted ({why}); check the channel, then run "
            f"`publisher retry POST --channel telegram --resolve sent|resend`")


# --- send ---

def is_configured(settings: Settings) -> bool:
    return bool(settings.telegram_bot_token and settings.telegram_chat_id)


class ChatPacer:
    """One request per `interval` to a chat (PLATFORMS.md 2.6): across all workers through
    ctx.pace when given, else ctx.sleep between two requests of one send()."""

    def __init__(self, ctx: SendContext, interval: float):
        self.ctx, self.interval, self.started = ctx, interval, False

    def wait(self) -> None:
        if self.ctx.pace is not None:
            self.ctx.pace(f"telegram:{self.ctx.settings.telegram_chat_id}", self.interval)
        elif self.started and self.interval > 0:
            self.ctx.sleep(self.interval)
        self.started = True


@dataclass
class SendRun:
    """One send(): the context, the client and what this run learned."""

    ctx: SendContext
    client: BotApiClient
    pacer: ChatPacer
    notes: list[str]  # plain-text fallbacks, for Receipt.detail

    def refuse(self, error_type: type[DeliveryError], message: str, **kwargs: Any) -> DeliveryError:
        """The error to raise, with this run's fallback notes so they are not lost."""
        if self.notes:
            message += " [earlier in this attempt: " + "; ".join(self.notes) + "]"
        return error_type(scrub(message, self.client.token), **kwargs)


def send_payload(payload: TelegramPayload, ctx: SendContext, interval: float = PER_CHAT_INTERVAL,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)) -> Receipt:
    if not is_configured(ctx.settings):
        raise PermanentError("telegram: not configured: set PUBLISHER_TELEGRAM_BOT_TOKEN and "
                             "PUBLISHER_TELEGRAM_CHAT_ID")
    parts = ledger_parts(payload)
    ctx.ledger.plan(parts)
    entries = settle_leftovers(ctx.ledger, parts)
    run = SendRun(ctx, BotApiClient(ctx.settings, timeout), ChatPacer(ctx, interval), notes=[])
    try:
        for index, (call, (part, _sha)) in enumerate(zip(payload.calls, parts), 1):
            if entries[part].state != "sent":
                deliver_part(run, index, call, entries[part])
                ctx.progress(index, len(parts))
    finally:
        run.client.close()
    return receipt(ctx.ledger, parts, run.notes)


# A claim younger than this may belong to a live worker with its request in flight (connect + read
# timeouts and a margin); older, or its process gone (LedgerEntry.abandoned), it was interrupted.
CLAIM_IN_FLIGHT_SECONDS = CONNECT_TIMEOUT + READ_TIMEOUT + 5


def settle_leftovers(ledger: Ledger, parts: list[tuple[str, str]]) -> dict[str, LedgerEntry]:
    """Entries of this plan, after two checks: a part whose content changed after it left this
    machine is refused, and a part still "sending" (its worker was killed, the request possibly
    in flight) becomes "uncertain": it cannot be verified (see the top of this section)."""
    entries = {entry.part: entry for entry in ledger.entries()}
    for index, (part, sha) in enumerate(parts, 1):
        entry = entries[part]
        if entry.content_sha256 != sha and entry.state in ("sent", "sending", "uncertain"):
            raise PermanentError(f"telegram: message {index} changed after it was sent; publish again as a new "
                                 f"publication to post the new version")
        if entry.state == "sending":
            if not entry.abandoned(CLAIM_IN_FLIGHT_SECONDS):
                raise TransientError(f"telegram: message {index} is being sent by another worker right now",
                                     retry_after=CLAIM_IN_FLIGHT_SECONDS)
            ledger.mark_uncertain(part, "the attempt that sent it did not finish (a worker stopped mid-request)")
    return {entry.part: entry for entry in ledger.entries()}


def deliver_part(run: SendRun, index: int, call: BotCall, entry: LedgerEntry) -> None:
    """Claim, send and settle one part; raises unless it ends "sent"."""
    ledger = run.ctx.ledger
    if entry.state == "uncertain":
        raise run.refuse(PermanentError, uncertain_message(index, entry))
    if not entry.claimable:
        raise run.refuse(PermanentError, f"telegram: message {index} was refused earlier: {entry.last_error}")
    if ledger.claim(entry.part) is None:
        current = ledger.entry(entry.part)
        if current is not None and current.state == "sent":
            return
        raise run.refuse(TransientError, f"telegram: message {index} is being sent by another worker")
    run.pacer.wait()
    reply = run.client.call(call.method, call.params)
    context = ""
    if reply.outcome == PLAIN_TEXT:
        refused = reply.failure.description if reply.failure else "can't parse entities"
        run.pacer.wait()
        reply = run.client.call(call.method, plain_text_call(call).params)
        if reply.outcome == SENT:
            note = f"message {index} sent as plain text: {refused}"
            log.warning("telegram: %s", note)
            run.notes.append(note)
        context = f"its HTML was refused ({refused}), then as plain text: "
    settle(run, index, call, entry.part, reply, context)


def settle(run: SendRun, index: int, call: BotCall, part: str, reply: BotReply, context: str = "") -> None:
    """Record the outcome right after the request, then raise for anything but "sent"."""
    ledger = run.ctx.ledger
    if reply.outcome == SENT:
        message = reply.result if isinstance(reply.result, Mapping) else {}
        remote_id = str(message["message_id"]) if message.get("message_id") is not None else None
        ledger.mark_sent(part, remote_id=remote_id, remote_url=post_link(run.ctx.settings, message))
        return
    failure = reply.failure
    assert failure is not None
    what = f"telegram: message {index} ({call.method})"
    text = scrub(context + failure_text(failure), run.client.token)
    if reply.outcome == TRANSIENT:
        ledger.mark_failed(part, text, retryable=True)
        raise run.refuse(TransientError, f"{what} not sent, try again later: {text}", retry_after=reply.retry_after)
    if reply.outcome == UNCERTAIN:
        ledger.mark_uncertain(part, text)
        raise run.refuse(UncertainError, f"{what} may or may not have been posted: {text}")
    # PERMANENT, or PLAIN_TEXT again (the plain retry cannot have entities to parse: give up)
    ledger.mark_failed(part, text, retryable=False)
    raise run.refuse(PermanentError, f"{what} refused: {text}")


def receipt(ledger: Ledger, parts: list[tuple[str, str]], notes: list[str]) -> Receipt:
    entries = {entry.part: entry for entry in ledger.entries()}
    sent = [entries[part] for part, _ in parts]
    return Receipt(state="sent", sent=len(sent), total=len(parts), detail="; ".join(notes),
                   remote_ids=tuple(e.remote_id for e in sent if e.remote_id),
                   url=next((e.remote_url for e in sent if e.remote_url), None))


def resolve_uncertain(ctx: SendContext, decision: str) -> list[str]:
    """Settle this delivery's uncertain parts after a person checked the channel (the CLI's
    `--resolve`): "sent" marks them sent (no message id is known), "resend" makes them claimable
    so the next send() posts them. Returns the parts settled."""
    return ctx.ledger.settle_uncertain(decision)


CHANNEL = TelegramChannel()
