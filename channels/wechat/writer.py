"""Emitting WeChat HTML from the parsed post: a small tag vocabulary, every style inline.

- Links to external sites are not clickable in WeChat, so they become numbered references
  (`text<sup>[n]</sup>`) collected into a trailing 引用链接 / References section; only
  mp.weixin.qq.com links stay `<a>`.
- Nested lists are moved out of their `<li>` (WeChat mangles them) and every item carries a
  text marker, so order and numbering survive whatever WeChat does to list styles.
"""
from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urljoin, urlsplit

from channels.wechat.limits import WECHAT_ARTICLE_HOST
from channels.wechat.theme import (
    BLOCK_CONTAINERS,
    BLOCK_SOURCE_TAGS,
    BULLETS,
    HEADINGS,
    INLINE_TAGS,
    PARAGRAPH_LIKE,
    STYLES,
)
from channels.wechat.tree import _Element, _is_blank, _text_of

_COLLAPSIBLE_SPACE = re.compile(r"[ \t\n\r\f]+")  # HTML whitespace only: keeps U+00A0 and U+3000
_TEXT_ALIGN = re.compile(r"text-align\s*:\s*(left|center|right)")

def _tag(name: str, style_key: str, inner: str, attrs: str = "", **fill: str) -> str:
    style = STYLES[style_key].format(**fill) if fill else STYLES[style_key]
    style_attr = f' style="{html.escape(style)}"' if style else ""
    return f"<{name}{attrs}{style_attr}>{inner}</{name}>"


@dataclass(frozen=True)
class _Context:
    inline: bool = False  # inside a paragraph-like element: block tags are unwrapped
    in_link: bool = False
    in_section: bool = False  # inside a container that already has the page margins
    tight: bool = False  # inside blockquote / list / table cell: smaller paragraph margins

    def inside(self, **changes) -> "_Context":
        return dataclasses.replace(self, **changes)


def _is_block(node) -> bool:
    return isinstance(node, _Element) and node.tag in BLOCK_SOURCE_TAGS


class _ArticleWriter:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.images: list[str] = []
        self.references: dict[str, tuple[int, str]] = {}  # url → (number, text of first link)

    # blocks and inlines

    def blocks(self, nodes: list, ctx: _Context) -> str:
        """Block children; runs of loose text and inline tags between them become paragraphs."""
        out, run = [], []
        for child in [*nodes, None]:
            if child is None or _is_block(child):
                if any(not _is_blank(n) for n in run):
                    out.append(self.paragraph(_Element("p", {}, run), ctx))
                run = []
                if child is not None:
                    out.append(self.node(child, ctx))
            else:
                run.append(child)
        return "".join(out)

    def inlines(self, nodes: list, ctx: _Context) -> str:
        return "".join(self.node(n, ctx) for n in nodes).strip(" ")

    def node(self, node, ctx: _Context) -> str:
        if isinstance(node, str):
            return html.escape(_COLLAPSIBLE_SPACE.sub(" ", node), quote=False)
        tag = node.tag
        if tag == "br":
            return "<br>"
        if tag == "a":
            return self.link(node, ctx)
        if tag == "img":
            return self.image(node)
        if tag in INLINE_TAGS:
            return self.inline_element(node, ctx)
        if ctx.inline:
            return self.inlines(node.children, ctx)  # a block inside a paragraph, or unknown: keep text
        if tag in HEADINGS:
            inner = self.inlines(node.children, ctx.inside(inline=True))
            return _tag(HEADINGS[tag], HEADINGS[tag], inner) if inner else ""
        if tag in PARAGRAPH_LIKE:
            return self.paragraph(node, ctx)
        if tag in BLOCK_CONTAINERS:
            return self.section(node, ctx)
        if tag in ("ul", "ol"):
            return self.listing(node, ctx)
        if tag == "pre":
            return self.code_block(node)
        if tag == "blockquote":
            inner = self.blocks(node.children, ctx.inside(in_section=True, tight=True))
            return _tag("blockquote", "blockquote", inner) if inner else ""
        if tag == "table":
            return self.table(node, ctx)
        if tag == "figure":
            return self.figure_element(node, ctx)
        if tag == "hr":
            return f'<hr style="{STYLES["hr"]}">'
        return self.blocks(node.children, ctx)  # li outside a list, stray table parts: keep content

    def inline_element(self, node: _Element, ctx: _Context) -> str:
        name, style = INLINE_TAGS[node.tag]
        inner = self.code_span(node) if name == "code" else self.inlines(node.children, ctx)
        return _tag(name, style, inner) if inner else ""

    def code_span(self, node: _Element) -> str:
        return html.escape(_COLLAPSIBLE_SPACE.sub(" ", _text_of(node)), quote=False)

    def paragraph(self, node: _Element, ctx: _Context) -> str:
        meaningful = [c for c in node.children
                      if not _is_blank(c) and not (isinstance(c, _Element) and c.tag == "br")]
        if node.tag == "p" and meaningful and all(isinstance(c, _Element) and c.tag == "img" for c in meaningful):
            return "".join(self.figure(img, ctx) for img in meaningful)
        inner = self.inlines(node.children, ctx.inside(inline=True))
        if not inner:
            return ""
        name = PARAGRAPH_LIKE[node.tag]
        if name == "figcaption":
            return _tag("figcaption", "figcaption", inner)
        if node.tag in ("summary", "dt"):
            inner = _tag("strong", "summary", inner)
        return _tag("p", "p/tight" if ctx.tight or ctx.in_section else "p", inner)

    def section(self, node: _Element, ctx: _Context) -> str:
        meaningful = [c for c in node.children if not _is_blank(c)]
        if len(meaningful) == 1 and isinstance(meaningful[0], _Element) and meaningful[0].tag == "img":
            return self.figure(meaningful[0], ctx)
        inner = self.blocks(meaningful, ctx.inside(in_section=True))
        if not inner:
            return ""
        return _tag("section", "section/nested" if ctx.in_section or ctx.tight else "section", inner)

    def figure_element(self, node: _Element, ctx: _Context) -> str:
        parts = []
        for child in node.children:
            if isinstance(child, _Element) and child.tag == "img":
                parts.append(self.image(child))
            elif not _is_blank(child):
                parts.append(self.blocks([child], ctx.inside(in_section=True, tight=True)))
        inner = "".join(parts)
        return _tag("figure", "figure/nested" if ctx.in_section or ctx.tight else "figure", inner) if inner else ""

    # lists: nested lists move out of their <li>; markers are text

    def listing(self, node: _Element, ctx: _Context) -> str:
        entries = list(self.list_entries(node, 0, ctx))
        groups: list[str] = []
        run: list[str] = []
        run_key = None
        for kind, depth, ordered, body in entries + [("end", 0, False, "")]:
            key = (depth, ordered) if kind == "item" else None
            if run and key != run_key:
                name = "ol" if run_key[1] else "ul"
                groups.append(_tag(name, name, "".join(run), indent=_indent(run_key[0])))
                run = []
            if kind == "item":
                run.append(body)
                run_key = key
            elif kind == "block":
                groups.append(_tag("section", "list-block", body, indent=_indent(depth)))
        inner = "".join(groups)
        return _tag("section", "list", inner) if inner else ""

    def list_entries(self, node: _Element, depth: int, ctx: _Context) -> Iterator[tuple[str, int, bool, str]]:
        ordered = node.tag == "ol"
        number = _list_start(node)
        item_ctx = ctx.inside(inline=True)
        block_ctx = ctx.inside(in_section=True, tight=True)
        for child in node.children:
            if _is_blank(child):
                continue
            if isinstance(child, str) or child.tag not in ("li", "ul", "ol"):
                if isinstance(child, str) or child.tag not in BLOCK_SOURCE_TAGS:
                    text = self.inlines([child], item_ctx)
                    if text:
                        yield "item", depth, ordered, _tag("li", "li", text)
                else:
                    yield "block", depth, ordered, self.node(child, block_ctx)
                continue
            if child.tag in ("ul", "ol"):  # malformed: a list directly inside a list
                yield from self.list_entries(child, depth + 1, ctx)
                continue
            marker = f"{number}." if ordered else BULLETS[min(depth, len(BULLETS) - 1)]
            number += 1
            yield from self.list_item(child, marker, depth, ordered, ctx)

    def list_item(self, item: _Element, marker: str | None, depth: int, ordered: bool,
                  ctx: _Context) -> Iterator[tuple[str, int, bool, str]]:
        item_ctx = ctx.inside(inline=True)
        block_ctx = ctx.inside(in_section=True, tight=True)
        parts: list[str] = []

        def flush():
            nonlocal marker, parts
            text = "".join(parts).strip(" ")
            if text or marker is not None:
                label = _tag("span", "marker", html.escape(marker)) + " " if marker else ""
                yield "item", depth, ordered, _tag("li", "li", label + text)
                marker = None
            parts = []

        for child in item.children:
            if isinstance(child, _Element) and child.tag in ("ul", "ol"):
                yield from flush()
                yield from self.list_entries(child, depth + 1, ctx)
            elif isinstance(child, _Element) and child.tag == "p":
                text = self.inlines(child.children, item_ctx)
                if text:
                    parts.extend(["<br>", text] if "".join(parts).strip(" ") else [text])
            elif isinstance(child, _Element) and child.tag in BLOCK_SOURCE_TAGS:
                yield from flush()
                yield "block", depth, ordered, self.node(child, block_ctx)
            else:
                parts.append(self.node(child, item_ctx))
        if "".join(parts).strip(" ") or marker is not None:
            yield from flush()

    # code, tables, images, links

    def code_block(self, node: _Element) -> str:
        text = _text_of(node).expandtabs(4).rstrip("\n")
        # WeChat's editor drops leading and repeated spaces and bare newlines (doocs/md does the same)
        lines = [re.sub(r"^ +| {2,}", lambda m: "&nbsp;" * len(m.group()), html.escape(line, quote=False))
                 for line in text.split("\n")]
        return _tag("pre", "pre", _tag("code", "pre/code", "<br>".join(lines)))

    def table(self, node: _Element, ctx: _Context) -> str:
        inner = self.table_part(node, ctx.inside(tight=True))
        return _tag("section", "table-wrap", _tag("table", "table", inner)) if inner else ""

    def table_part(self, node: _Element, ctx: _Context) -> str:
        out = []
        for child in node.children:
            if _is_blank(child) or isinstance(child, str):
                continue
            tag = "tbody" if child.tag == "tfoot" else child.tag
            if tag in ("thead", "tbody", "tr"):
                out.append(_tag(tag, tag, self.table_part(child, ctx)))
            elif tag in ("th", "td"):
                match = _TEXT_ALIGN.search(child.attrs.get("style", "") + ";" + child.attrs.get("align", ""))
                align = f"text-align:{match.group(1)};" if match else ""
                span = "".join(f' {a}="{int(child.attrs[a])}"' for a in ("colspan", "rowspan")
                               if child.attrs.get(a, "").isdigit())
                out.append(_tag(tag, tag, self.cell(child, ctx), span, align=align))
            elif tag == "caption":
                out.append(_tag("caption", "caption", self.inlines(child.children, ctx.inside(inline=True))))
        return "".join(out)

    def cell(self, node: _Element, ctx: _Context) -> str:
        if any(_is_block(c) for c in node.children):
            return self.blocks(node.children, ctx.inside(in_section=True))
        return self.inlines(node.children, ctx.inside(inline=True))

    def figure(self, img: _Element, ctx: _Context) -> str:
        caption = " ".join(img.attrs.get("alt", "").split())
        inner = self.image(img)
        if caption:
            inner += _tag("figcaption", "figcaption", html.escape(caption, quote=False))
        return _tag("figure", "figure/nested" if ctx.in_section or ctx.tight else "figure", inner)

    def image(self, node: _Element) -> str:
        src = (node.attrs.get("src") or node.attrs.get("data-src") or "").strip()
        if not src:
            return ""
        src = urljoin(self.base_url, src)
        if src not in self.images:
            self.images.append(src)
        alt = " ".join(node.attrs.get("alt", "").split())
        width = node.attrs.get("width", "")
        size = f"width:{int(width)}px;" if width.isdigit() else ""
        return (f'<img src="{html.escape(src)}" alt="{html.escape(alt)}" '
                f'style="{STYLES["img"]}{size}">')

    def link(self, node: _Element, ctx: _Context) -> str:
        href = node.attrs.get("href", "").strip()
        inner = self.inlines(node.children, ctx.inside(in_link=True))
        if not href or href.startswith("#") or ctx.in_link:
            return inner  # in-page anchors mean nothing in WeChat (doocs/md drops them too)
        url = urljoin(self.base_url, href)
        if _is_wechat_article(url):
            return f'<a href="{html.escape(url)}" style="{STYLES["a"]}">{inner}</a>'
        text = " ".join(_text_of(node).split())
        number = self.reference(url, text)
        mark = _tag("sup", "reference-mark", f"[{number}]")
        if text in (url, href, url.removeprefix("mailto:")):
            return inner + mark  # the URL is its own text: plain text, still referenced
        return (_tag("span", "link-text", inner) if inner else "") + mark

    def reference(self, url: str, text: str) -> int:
        if url not in self.references:
            self.references[url] = (len(self.references) + 1, text)
        return self.references[url][0]

    def references_html(self, title: str) -> str:
        if not self.references:
            return ""
        lines = []
        for url, (number, text) in self.references.items():
            label = "" if text in ("", url, url.removeprefix("mailto:")) else f" {html.escape(text, quote=False)}"
            lines.append(_tag("p", "reference",
                              _tag("span", "reference-number", f"[{number}]") + f"{label}: "
                              + _tag("em", "reference-url", html.escape(url, quote=False))))
        return _tag("h4", "references-title", html.escape(title)) + "".join(lines)


def _indent(depth: int) -> str:
    return f"{1 + 1.5 * depth:g}"


def _list_start(node: _Element) -> int:
    start = node.attrs.get("start", "1").strip()
    return int(start) if start.isdigit() else 1


def _is_wechat_article(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "") == WECHAT_ARTICLE_HOST
