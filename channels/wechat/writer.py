"""Emitting WeChat HTML from the parsed post: a small tag vocabulary, every style inline.

- Links to external sites are not clickable in WeChat, so they become numbered references
  (`text<sup>[n]</sup>`) collected into a trailing 引用链接 / References section; only
  mp.weixin.qq.com links stay `<a>`.
- Nested lists are moved out of their `<li>` (WeChat mangles them) and every item carries a
  text marker, so order and numbering survive whatever WeChat does to list styles.
- Wide tables scroll sideways in their wrapper: the table gets a min-width from its columns'
  text, so a 375 px phone never squeezes a column to a word or a character per line.
- Styles are inherited from the article's wrapping <section> wherever CSS allows (theme.py).
"""
from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urljoin, urlsplit

from channels.wechat.breaks import paragraph_parts
from channels.wechat.checks import image_format
from channels.wechat.limits import BODY_IMAGE_CONVERTIBLE_FORMATS, BODY_IMAGE_FORMATS, WECHAT_ARTICLE_HOST
from channels.wechat.theme import (
    BLOCK_CONTAINERS,
    BLOCK_SOURCE_TAGS,
    BULLETS,
    HEADINGS,
    INLINE_TAGS,
    PARAGRAPH_LIKE,
    STYLES,
)
from channels.wechat.code import code_line
from channels.wechat.tree import PHONE_TABLE_EM, _Element, _is_blank, _text_of, keeps_one_line, table_width_em
from publisher.highlight import HighlightBudget
from publisher.markdown_plugins import admonition_colours
from publisher.utm import LinkTag

_COLLAPSIBLE_SPACE = re.compile(r"[ \t\n\r\f]+")  # HTML whitespace only: keeps U+00A0 and U+3000
_TEXT_ALIGN = re.compile(r"text-align\s*:\s*(left|center|right)")
_FOOTNOTE_REF = re.compile(r"\[(\d+)\]")
_CODE_LANGUAGE = re.compile(r"\blanguage-([\w#+.-]+)")

def _style(key: str, **fill: str) -> str:
    """An inline style from theme.STYLES, its trailing ";" dropped: it is repeated on every element."""
    return (STYLES[key].format(**fill) if fill else STYLES[key]).rstrip(";")


def _tag(name: str, style_key: str, inner: str, attrs: str = "", **fill: str) -> str:
    style = _style(style_key, **fill)
    style_attr = f' style="{html.escape(style)}"' if style else ""
    return f"<{name}{attrs}{style_attr}>{inner}</{name}>"


@dataclass(frozen=True)
class _Context:
    inline: bool = False  # inside a paragraph-like element: block tags are unwrapped
    in_link: bool = False
    in_section: bool = False  # inside a container that already has the page margins
    tight: bool = False  # inside blockquote / list / table cell: smaller paragraph margins
    in_cell: bool = False  # inside a table cell: images are thumbnails

    def inside(self, **changes) -> "_Context":
        return dataclasses.replace(self, **changes)


def _is_block(node) -> bool:
    return isinstance(node, _Element) and node.tag in BLOCK_SOURCE_TAGS


class _ArticleWriter:
    def __init__(self, base_url: str, tag_link: LinkTag | None = None):
        self.base_url = base_url
        self.tag_link = tag_link  # UTM tags for the references to the site (publisher.utm)
        self.images: list[str] = []
        self.highlight = HighlightBudget()
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
            return self.image(node, ctx)
        if tag in INLINE_TAGS:
            return self.inline_element(node, ctx)
        if ctx.inline:
            return self.inlines(node.children, ctx)  # a block inside a paragraph, or unknown: keep text
        if tag in HEADINGS:
            inner = self.inlines(node.children, ctx.inside(inline=True))
            return _tag(HEADINGS[tag], HEADINGS[tag], inner) if inner else ""
        if tag in PARAGRAPH_LIKE:
            return self.paragraph(node, ctx)
        if tag == "div" and node.attrs.get("class", "").startswith("admonition "):
            return self.callout(node, ctx)
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
            return f'<hr style="{_style("hr")}">'
        return self.blocks(node.children, ctx)  # li outside a list, stray table parts: keep content

    def inline_element(self, node: _Element, ctx: _Context) -> str:
        if INLINE_TAGS[node.tag] is None:  # <span>, <abbr>, <time>...: nothing to say in WeChat
            return self.inlines(node.children, ctx)
        name, style = INLINE_TAGS[node.tag]
        if name == "sup" and (note := _FOOTNOTE_REF.fullmatch(_text_of(node).strip())):
            # a footnote's [n] would read as one of our link references [n]: a bare superscript number
            return _tag("sup", "plain", note.group(1))
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
            inner = _tag("strong", "plain", inner)
        style = "p/tight" if ctx.tight or ctx.in_section else "p"
        return "".join(_tag("p", style, part) for part in paragraph_parts(inner))

    def section(self, node: _Element, ctx: _Context) -> str:
        meaningful = [c for c in node.children if not _is_blank(c)]
        if len(meaningful) == 1 and isinstance(meaningful[0], _Element) and meaningful[0].tag == "img":
            return self.figure(meaningful[0], ctx)
        inner = self.blocks(meaningful, ctx.inside(in_section=True))
        if not inner or ctx.in_section:
            return inner  # a <div> in a <div>: the outer section's margins are enough
        return _tag("section", "section/nested" if ctx.in_section or ctx.tight else "section", inner)

    def figure_element(self, node: _Element, ctx: _Context) -> str:
        parts = []
        for child in node.children:
            if isinstance(child, _Element) and child.tag == "img":
                parts.append(self.image(child, ctx))
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
                groups.append((run_key, "".join(run)))
                run = []
            if kind == "item":
                run.append(body)
                run_key = key
            elif kind == "block":
                groups.append((None, _tag("section", "list-block", body, indent=_indent(depth, False)[0])))
        if len(groups) == 1 and groups[0][0] is not None:  # a flat list: the list is its own block
            (depth, ordered), items = groups[0]
            return _list_tag(ordered, "list", items, depth)
        inner = "".join(body if key is None else _list_tag(key[1], "ol" if key[1] else "ul", body, key[0])
                        for key, body in groups)
        return _tag("section", "list/group", inner) if inner else ""

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
                        yield "item", depth, ordered, f"<li>{text}</li>"
                else:
                    yield "block", depth, ordered, self.node(child, block_ctx)
                continue
            if child.tag in ("ul", "ol"):  # malformed: a list directly inside a list
                yield from self.list_entries(child, depth + 1, ctx)
                continue
            marker = f"{number}." if ordered else BULLETS[min(depth, len(BULLETS) - 1)]
            if not ordered and child.attrs.get("class") == "task-list-item":
                marker = None  # its ☐/☑ is the marker
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
                label = html.escape(marker) + " " if marker else ""
                yield "item", depth, ordered, f"<li>{label}{text}</li>"
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

    def callout(self, node: _Element, ctx: _Context) -> str:
        """A Docusaurus admonition: its title and body in a tinted box with a coloured rule."""
        kind = node.attrs.get("class", "").split()[-1].removeprefix("admonition-")
        border, background = admonition_colours(kind)
        inner = self.blocks(node.children, ctx.inside(in_section=True, tight=True))
        return _tag("section", "callout", inner, border=border, background=background) if inner else ""

    def code_block(self, node: _Element) -> str:
        code = next((c for c in node.children if isinstance(c, _Element) and c.tag == "code"), None)
        language = _CODE_LANGUAGE.search(code.attrs.get("class", "")) if code is not None else None
        lines = self.highlight.lines(_text_of(node).expandtabs(4).rstrip("\n"), language.group(1)) if language else None
        if lines is not None:  # coloured spans, compact: one short colour per run of a colour
            return _tag("pre", "pre", _tag("code", "pre/code", "<br>".join(code_line(line) for line in lines)))
        text = _text_of(node).expandtabs(4).rstrip("\n")
        # WeChat's editor drops leading and repeated spaces and bare newlines (doocs/md does the same)
        lines = [re.sub(r"^ +| {2,}", lambda m: "&nbsp;" * len(m.group()), html.escape(line, quote=False))
                 for line in text.split("\n")]
        return _tag("pre", "pre", _tag("code", "pre/code", "<br>".join(lines)))

    def table(self, node: _Element, ctx: _Context) -> str:
        inner = self.table_part(node, ctx.inside(tight=True, in_cell=True))
        if not inner:
            return ""
        wanted = table_width_em(node)
        width = f"width:100%;min-width:{wanted:g}em;" if wanted > PHONE_TABLE_EM else "width:100%;"
        return _tag("section", "table-wrap", _tag("table", "table", inner, width=width))

    def table_part(self, node: _Element, ctx: _Context) -> str:
        out = []
        for child in node.children:
            if _is_blank(child) or isinstance(child, str):
                continue
            tag = "tbody" if child.tag == "tfoot" else child.tag
            if tag in ("thead", "tbody", "tr"):
                out.append(_tag(tag, "plain" if tag != "thead" else tag, self.table_part(child, ctx)))
            elif tag in ("th", "td"):
                match = _TEXT_ALIGN.search(child.attrs.get("style", "") + ";" + child.attrs.get("align", ""))
                # a <td> is left-aligned already; a <th> is centred unless told
                align = f"text-align:{match.group(1)};" if match and (tag == "th" or match.group(1) != "left") else ""
                wrap = "white-space:nowrap;" if keeps_one_line(child) else ""
                span = "".join(f' {a}="{int(child.attrs[a])}"' for a in ("colspan", "rowspan")
                               if child.attrs.get(a, "").isdigit())
                out.append(_tag(tag, tag, self.cell(child, ctx), span, align=align, wrap=wrap))
            elif tag == "caption":
                out.append(_tag("caption", "caption", self.inlines(child.children, ctx.inside(inline=True))))
        return "".join(out)

    def cell(self, node: _Element, ctx: _Context) -> str:
        if any(_is_block(c) for c in node.children):
            return self.blocks(node.children, ctx.inside(in_section=True))
        return self.inlines(node.children, ctx.inside(inline=True))

    def figure(self, img: _Element, ctx: _Context) -> str:
        caption = " ".join(img.attrs.get("alt", "").split())
        inner = self.image(img, ctx)
        if caption:
            inner += _tag("figcaption", "figcaption", html.escape(caption, quote=False))
        return _tag("figure", "figure/nested" if ctx.in_section or ctx.tight else "figure", inner)

    def image(self, node: _Element, ctx: _Context) -> str:
        src = (node.attrs.get("src") or node.attrs.get("data-src") or "").strip()
        if not src:
            return ""
        src = urljoin(self.base_url, src)
        alt = " ".join(node.attrs.get("alt", "").split())
        if not _uploadable(src):  # an SVG badge: WeChat can neither take nor convert it; its name stays
            return _tag("span", "link-text", html.escape(alt or "SVG", quote=False)
                        + f"<sup>[{self.reference(src, alt)}]</sup>")
        if src not in self.images:
            self.images.append(src)
        width = node.attrs.get("width", "")
        size = f";width:{int(width)}px" if width.isdigit() else ""
        return (f'<img src="{html.escape(src)}" alt="{html.escape(alt)}" '
                f'style="{_style("img/cell" if ctx.in_cell else "img")}{size}">')

    def link(self, node: _Element, ctx: _Context) -> str:
        href = node.attrs.get("href", "").strip()
        inner = self.inlines(node.children, ctx.inside(in_link=True))
        if not href or href.startswith("#") or ctx.in_link:
            return inner  # in-page anchors mean nothing in WeChat (doocs/md drops them too)
        url = urljoin(self.base_url, href)
        if _is_wechat_article(url):
            return f'<a href="{html.escape(url)}" style="{_style("a")}">{inner}</a>'
        text = " ".join(_text_of(node).split())
        number = self.reference(url, text)
        mark = f"<sup>[{number}]</sup>"
        if text in (url, href, url.removeprefix("mailto:")) or not inner:
            return inner + mark  # the URL is its own text: plain text, still referenced
        return _tag("span", "link-text", inner + mark)

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
            shown = self.tag_link(url) if self.tag_link else url
            lines.append(f"[{number}]{label}: <em>{html.escape(shown, quote=False)}</em>")
        # one paragraph, a line per reference: a link-list issue has dozens of them
        return _tag("h4", "references-title", html.escape(title)) + _tag("p", "references", "<br>".join(lines))


def _indent(depth: int, ordered: bool) -> tuple[str, str]:
    """(where an item's text starts, how far its marker hangs left of it), in em. The marker is
    text, so a wrapped line lines up under the text, not under the marker."""
    hang = 1.5 if ordered else 1
    return f"{1 + 1.5 * depth + hang:g}", f"{hang:g}"


def _list_tag(ordered: bool, style: str, items: str, depth: int) -> str:
    pad, hang = _indent(depth, ordered)
    return _tag("ol" if ordered else "ul", style, items, pad=pad, hang=hang)


def _list_start(node: _Element) -> int:
    start = node.attrs.get("start", "1").strip()
    return int(start) if start.isdigit() else 1


def _is_wechat_article(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "") == WECHAT_ARTICLE_HOST


def _uploadable(src: str) -> bool:
    """An http(s) image whose format uploadimg takes or the sender converts (or cannot tell)."""
    fmt = image_format(src)
    return fmt is None or fmt in BODY_IMAGE_FORMATS or fmt in BODY_IMAGE_CONVERTIBLE_FORMATS
