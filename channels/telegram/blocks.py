"""Markdown tree -> blocks of runs: inline text, lists, quotes, code, tables, raw HTML, rules."""
from __future__ import annotations

from publisher.language import words

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urljoin, urlsplit

from markdown_it.tree import SyntaxTreeNode

from channels.telegram.limits import (
    BULLETS, HORIZONTAL_RULE, LINK_SCHEMES, LIST_INDENT, TABLE_COLUMN_SEPARATOR, TABLE_RULE,
    TABLE_RULE_CROSSING,
)
from channels.telegram.runs import (
    BLOCKQUOTE, BOLD, CODE, ITALIC, PRE, STRIKE, UNDERLINE, Block, Run, Tag, code_block_tag, link_tag,
    normalize_tags,
)
from publisher.markdown import html_links, html_to_text, inline_text
from publisher.post import Post


@dataclass(frozen=True)
class RenderContext:
    base_url: str  # relative links resolve against the post URL
    language: str  # the post's language tag (Post.language)
    quote: tuple[Tag, ...] = ()  # (BLOCKQUOTE,) inside a quote; Telegram cannot nest them


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
    alt = " ".join(inline_text(node).split()) or words(ctx.language)["image"]
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
