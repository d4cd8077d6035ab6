"""Markdown tree -> blocks of runs: inline text, lists, quotes, code, tables, raw HTML, rules.

Every link and every image of the post reaches the reader: links as <a>, images as links to the
image (images.py), links and images in tables as list rows (tables.py), raw HTML with its links
(html_runs.py), a link with no text by its address.
"""
from __future__ import annotations

import dataclasses
import html
import re
from typing import Iterable, NamedTuple

from markdown_it.tree import SyntaxTreeNode

from channels.telegram.context import RenderContext, allowed_url
from channels.telegram.html_runs import html_block_runs, tag_attributes
from channels.telegram.images import Image, empty_link_runs, image_runs, linked_images_runs
from channels.telegram.limits import BOLD_HEADING_MAX, BULLETS, HORIZONTAL_RULE, LIST_INDENT
from channels.telegram.runs import (
    BLOCKQUOTE, BOLD, CODE, ITALIC, PRE, STRIKE, UNDERLINE, Block, Run, Tag, code_block_tag, link_tag,
    normalize_tags,
)
# display_width and pad_cell were defined here; they stay importable from this module.
from channels.telegram.tables import display_width, monospace_text, pad_cell, plain, table_rows, table_runs  # noqa: F401
from publisher.markdown import inline_text
from publisher.post import Post

RawTags = list[tuple[str, "Tag | None"]]
_RAW_STYLE = {"b": BOLD, "strong": BOLD, "i": ITALIC, "em": ITALIC, "u": UNDERLINE, "ins": UNDERLINE,
              "s": STRIKE, "strike": STRIKE, "del": STRIKE, "code": CODE}
_RAW_TAG = re.compile(r"^<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9-]*)")
_RAW_HREF = re.compile(r"""\bhref\s*=\s*["']([^"']*)["']""", re.I)


class Part(NamedTuple):
    """A top-level block and whether it is a heading (which travels with the block after it)."""
    block: Block
    heading: bool
    gallery: bool = False  # a paragraph of images only: consecutive ones share a block, a line each


def _raw_name(node: SyntaxTreeNode) -> tuple[bool, str] | None:
    match = _RAW_TAG.match(node.content) if node.type == "html_inline" else None
    return (match.group(1) == "/", match.group(2).lower()) if match else None


def markdown_image(node: SyntaxTreeNode) -> Image:
    return Image(str(node.attrs.get("src", "")), (inline_text(node), str(node.attrs.get("title") or "")))


def _is_blank(node: SyntaxTreeNode) -> bool:
    return node.type == "softbreak" or (node.type == "text" and not node.content.strip())


def images_only(nodes: Iterable[SyntaxTreeNode]) -> list[Image] | None:
    """The images of inline nodes that hold nothing else (blanks aside), else None."""
    images: list[Image] = []
    for node in nodes:
        if node.type == "image":
            images.append(markdown_image(node))
        elif _raw_name(node) == (False, "img"):
            images.append(Image(*_raw_image(node)))
        elif not _is_blank(node):
            return None
    return images


def _raw_image(node: SyntaxTreeNode) -> tuple[str, tuple[str, ...]]:
    attrs = tag_attributes(node.content)
    return attrs.get("src", ""), (attrs.get("alt", ""), attrs.get("title", ""))


def _raw_link_end(children: list[SyntaxTreeNode], start: int) -> int | None:
    """Index of the </a> closing the raw <a> at `start` among its siblings, if any."""
    for index in range(start + 1, len(children)):
        name = _raw_name(children[index])
        if name and name[1] == "a":
            return index if name[0] else None
    return None


def inline_runs(node: SyntaxTreeNode, tags: tuple[Tag, ...], ctx: RenderContext,
                raw_tags: RawTags | None = None) -> list[Run]:
    """Runs of an inline subtree; `raw_tags` tracks sanitized inline HTML (<b>, <a href>...)."""
    raw_tags = [] if raw_tags is None else raw_tags
    runs: list[Run] = []

    def around() -> tuple[Tag, ...]:
        return tags + tuple(tag for _, tag in raw_tags if tag is not None)

    def add(text: str, extra: tuple[Tag, ...] = ()) -> None:
        runs.append(Run(text, normalize_tags(ctx.quote + around() + extra)))

    children = node.children
    index = 0
    while index < len(children):
        child, kind = children[index], children[index].type
        index += 1
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
            runs.extend(link_runs(child, tags, ctx, raw_tags))
        elif kind == "image":
            runs.extend(image_runs(markdown_image(child), around(), ctx))
        elif kind == "html_inline":
            name = _raw_name(child)
            if name == (False, "img"):
                runs.extend(image_runs(Image(*_raw_image(child)), around(), ctx))
                continue
            end = _raw_link_end(children, index - 1) if name == (False, "a") else None
            href = _raw_href(child.content, ctx) if end is not None else None
            inside = children[index:end] if end is not None else []
            if href and (images := images_only(inside)) is not None:
                runs.extend(linked_images_runs(href, images, around(), ctx) if images
                            else empty_link_runs(href, around(), ctx))
                index = end + 1  # type: ignore[operator]
                continue
            text = apply_raw_inline_tag(child.content, raw_tags, ctx)
            if text:
                add(text)
        elif child.children:
            runs.extend(inline_runs(child, tags, ctx, raw_tags))
    return runs


def link_runs(node: SyntaxTreeNode, tags: tuple[Tag, ...], ctx: RenderContext, raw_tags: RawTags) -> list[Run]:
    href = allowed_url(str(node.attrs.get("href", "")), ctx.base_url)
    if href is None:
        return inline_runs(node, tags, ctx, raw_tags)
    outside = tags + tuple(tag for _, tag in raw_tags if tag is not None)
    images = images_only(node.children)
    if images:
        return linked_images_runs(href, images, outside, ctx)
    inner = inline_runs(node, tags + (link_tag(href),), ctx, raw_tags)
    return inner if "".join(run.text for run in inner).strip() else empty_link_runs(href, outside, ctx)


def image_link(node: SyntaxTreeNode, ctx: RenderContext) -> tuple[str, tuple[Tag, ...]]:
    """One Markdown image as (label, tags): a link to the image named by its alt text or number."""
    (run,) = image_runs(markdown_image(node), (), ctx)
    return run.text, run.tags


def _raw_href(fragment: str, ctx: RenderContext) -> str | None:
    match = _RAW_HREF.search(fragment)
    return allowed_url(html.unescape(match.group(1)), ctx.base_url) if match else None


def apply_raw_inline_tag(fragment: str, raw_tags: RawTags, ctx: RenderContext) -> str:
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
        href = _raw_href(fragment, ctx)
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


def cell_runs(cell: SyntaxTreeNode, ctx: RenderContext) -> list[Run]:
    return inline_runs(cell.children[0], (), ctx) if cell.children else []


def _tidy_breaks(runs: list[Run]) -> list[Run]:
    """A paragraph's line breaks as typed in exports (`text<br>` + newline, `<br><br><br>`): no space
    around a break, at most one blank line, none at the paragraph's ends."""
    merged: list[Run] = []
    for run in runs:  # a break and the space after it often arrive as two runs of the same style
        if merged and merged[-1].tags == run.tags:
            merged[-1] = Run(merged[-1].text + run.text, run.tags)
        else:
            merged.append(run)
    out = [r if CODE in r.tags else Run(re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]*\n[ \t]*", "\n", r.text)), r.tags)
           for r in merged]
    if out and CODE not in out[0].tags:
        out[0] = Run(out[0].text.lstrip("\n"), out[0].tags)
    if out and CODE not in out[-1].tags:
        out[-1] = Run(out[-1].text.rstrip("\n"), out[-1].tags)
    return [r for r in out if r.text]


def block_runs(node: SyntaxTreeNode, ctx: RenderContext, depth: int = 0) -> list[Run]:
    """Runs of one block node (paragraph, heading, list, quote, code, table, HTML, rule)."""
    kind = node.type
    if kind == "paragraph":
        return _tidy_breaks(inline_runs(node.children[0], (), ctx)) if node.children else []
    if kind == "heading":
        return inline_runs(node.children[0], (BOLD,), ctx) if node.children else []
    if kind in ("bullet_list", "ordered_list"):
        return list_runs(node, ctx, depth)
    if kind == "blockquote":
        inner = RenderContext(ctx.base_url, ctx.language, (BLOCKQUOTE,), ctx.images)
        return join_parts((block_runs(c, inner, depth) for c in node.children), "\n\n", inner)
    if kind in ("fence", "code_block"):
        return code_block_runs(node, ctx)
    if kind == "table":
        return table_runs(node, ctx, lambda cell: cell_runs(cell, ctx))
    if kind == "hr":
        return [Run(HORIZONTAL_RULE, ctx.quote)]
    if kind == "html_block":
        return html_block_runs(node.content, ctx)
    if kind == "admonition":
        return admonition_runs(node, ctx, depth)
    if kind == "dl":
        return definition_runs(node, ctx, depth)
    if kind == "inline":
        return inline_runs(node, (), ctx)
    return join_parts((block_runs(c, ctx, depth) for c in node.children), "\n\n", ctx)


def admonition_runs(node: SyntaxTreeNode, ctx: RenderContext, depth: int) -> list[Run]:
    """A Docusaurus admonition as a titled block: its bold title line, then its body, in one quote
    (Telegram has no callout, and quotes do not nest)."""
    inner = dataclasses.replace(ctx, quote=(BLOCKQUOTE,))
    title, *body = node.children
    heading = inline_runs(title.children[0], (), inner) if title.children else []
    return join_parts([heading, join_parts((block_runs(c, inner, depth) for c in body), "\n\n", inner)], "\n", inner)


def definition_runs(node: SyntaxTreeNode, ctx: RenderContext, depth: int) -> list[Run]:
    """A definition list: each term in bold, its definitions on the lines under it."""
    entries: list[list[Run]] = []
    for child in node.children:
        if child.type == "dt":
            paragraph = child.children[0] if child.children else None
            entries.append(inline_runs(paragraph.children[0], (BOLD,), ctx) if paragraph and paragraph.children else [])
        else:
            runs = join_parts((block_runs(c, ctx, depth) for c in child.children), "\n", ctx)
            entries.append(join_parts([entries.pop(), runs], "\n", ctx) if entries else runs)
    return join_parts(entries, "\n\n", ctx)


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
        if node.type == "bullet_list" and item.attrs.get("class") == "task-list-item":
            marker = ""  # its ☐/☑ is the marker
        content = join_parts((block_runs(c, ctx, depth + 1) for c in item.children), "\n", ctx)
        items.append([Run(marker, ctx.quote)] + indent_runs(content, LIST_INDENT, inside_quote=bool(ctx.quote)))
    return join_parts(items, "\n\n" if loose else "\n", ctx)


def indent_runs(runs: list[Run], indent: str, inside_quote: bool = True) -> list[Run]:
    """Indent every line after the first, except lines of preformatted code and, in a list that is
    not itself quoted, the lines of a quote under an item: its bar sets it apart, and spaces would
    open the quote's text."""
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
                if at_line_start and (inside_quote or BLOCKQUOTE not in run.tags):
                    out.append(Run(indent, quote_of(run.tags)))
                out.append(Run(line, run.tags))
                at_line_start = False
    return out


def quote_of(tags: tuple[Tag, ...]) -> tuple[Tag, ...]:
    return (BLOCKQUOTE,) if BLOCKQUOTE in tags else ()


def table_text(node: SyntaxTreeNode, ctx: RenderContext) -> str:
    """A Markdown table as aligned monospace text (see tables.py for when a table is shown so)."""
    return monospace_text(table_rows(node, lambda cell: cell_runs(cell, ctx)))


def cell_text(cell: SyntaxTreeNode, ctx: RenderContext) -> str:
    return plain(cell_runs(cell, ctx))


def is_heading(node: SyntaxTreeNode) -> bool:
    """A heading, or a short paragraph that is all bold ("**1. Tools**"), which reads as one."""
    if node.type == "heading":
        return True
    if node.type != "paragraph" or not node.children:
        return False
    content = [c for c in node.children[0].children if not _is_blank(c)]
    return (len(content) == 1 and content[0].type == "strong"
            and 0 < len(inline_text(content[0]).strip()) <= BOLD_HEADING_MAX)


def introduces(node: SyntaxTreeNode, following: SyntaxTreeNode | None) -> bool:
    """A rule, or a paragraph ending in a colon right before the list, code, table or quote it
    introduces: like a heading, it travels with that block, so no message ends on "such as:" or ———."""
    if following is None:
        return False
    if node.type == "hr":
        return True
    return (node.type == "paragraph" and bool(node.children) and following.type in _INTRODUCED
            and inline_text(node.children[0]).rstrip().endswith((":", "："))
            and len(inline_text(node.children[0])) <= LEAD_IN_MAX)


_INTRODUCED = frozenset({"bullet_list", "ordered_list", "fence", "code_block", "table", "blockquote", "html_block"})
LEAD_IN_MAX = 300  # characters: a longer paragraph is text of its own, whatever it ends with


def is_lead_image(node: SyntaxTreeNode, image: str | None, ctx: RenderContext) -> bool:
    """A paragraph holding only `image` (it is shown as the post's photo or preview already)."""
    if not image or node.type != "paragraph" or not node.children:
        return False
    images = images_only(node.children[0].children)
    return bool(images) and len(images) == 1 and allowed_url(images[0].src, ctx.base_url) == image


def article_parts(post: Post, ctx: RenderContext, lead_image: str | None = None) -> list[Part]:
    """The post's top-level blocks with their heading flags; a first paragraph holding only
    `lead_image` is left out (its image is the post's photo) but still counts as image 1."""
    parts: list[Part] = []
    nodes = post.tree.children
    for position, node in enumerate(nodes):
        skip = position == 0 and is_lead_image(node, lead_image, ctx)
        block = tuple(block_runs(node, ctx))
        if skip or not "".join(r.text for r in block).strip():
            continue
        gallery = node.type == "paragraph" and bool(node.children) and bool(images_only(node.children[0].children))
        if gallery and parts and parts[-1].gallery:
            parts[-1] = Part(parts[-1].block + (Run("\n", ctx.quote),) + block, False, True)
        else:
            following = nodes[position + 1] if position + 1 < len(nodes) else None
            parts.append(Part(block, is_heading(node) or introduces(node, following), gallery))
    return parts


def article_blocks(post: Post, ctx: RenderContext) -> list[Block]:
    return [part.block for part in article_parts(post, ctx)]
