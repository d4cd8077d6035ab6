"""WeChat Official Account (公众号) article: rendering rules (PLATFORMS.md 3.3, 3.5).

Rendering is pure: `render_article(post)` builds a `WechatArticle` whose `content` is the HTML that
goes into draft/add. Body images keep their original URLs here (listed in `images`); `send`
uploads them through uploadimg and rewrites the `src` attributes (PLATFORMS.md 3.2).

How the content is made WeChat-safe (PLATFORMS.md 3.5, doocs/md's WeChat export):
- The post tree is rendered to plain HTML once, re-parsed with html.parser and re-emitted from a
  small tag vocabulary with every style inline: WeChat ignores class and <style> CSS.
- Links to external sites are not clickable in WeChat, so they become numbered references
  (`text<sup>[n]</sup>`) collected into a trailing 引用链接 / References section; only
  mp.weixin.qq.com links stay `<a>`.
- Nested lists are moved out of their `<li>` (WeChat mangles them) and every item carries a
  text marker, so order and numbering survive whatever WeChat does to list styles.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import html
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import requests
from urllib3.exceptions import NewConnectionError
from markdown_it import MarkdownIt
from markupsafe import Markup
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from channels.base import Channel, PermanentError, Receipt, SendContext, TransientError, UncertainError
from publisher.config import Settings
from publisher.image_fetch import fetch_image
from publisher.ledger import LedgerEntry
from publisher.store import LedgerRow
from publisher.markdown import block_text, inline_text
from publisher.post import Post
from templates import environment

# --- Limits: PLATFORMS.md 3.3 (draft/add). WeChat counts 字; we count Unicode code points. ---
TITLE_LIMIT = 32  # title ≤32 字, else 45003
AUTHOR_LIMIT = 16  # author ≤16 字
DIGEST_LIMIT = 128  # digest ≤128 字 (not 120), else 45004
CONTENT_CHAR_LIMIT = 20_000  # content "<20,000 chars", counted over the whole HTML string; else 45002
CONTENT_BYTE_LIMIT = 1_000_000  # content "<1 MB" (UTF-8); read conservatively as 10^6 bytes; else 45002
CONTENT_SOURCE_URL_BYTE_LIMIT = 1024  # content_source_url (阅读原文) ≤1 KB

# --- Images: PLATFORMS.md 3.2. ---
BODY_IMAGE_FORMATS = frozenset({"jpg", "jpeg", "png"})  # uploadimg takes jpg/png only, <1 MB
BODY_IMAGE_BYTE_LIMIT = 1_000_000  # uploadimg: <1 MB (checked at send time, from the bytes)
BODY_IMAGE_CONVERTIBLE_FORMATS = frozenset({"webp", "gif"})  # converted to png/jpg at send time
COVER_IMAGE_FORMATS = frozenset({"bmp", "png", "jpeg", "jpg", "gif"})  # add_material type=image
COVER_IMAGE_BYTE_LIMIT = 10_000_000  # add_material type=image ≤10 MB (older docs: 2 MB)
COVER_IMAGE_CONVERTIBLE_FORMATS = frozenset({"webp"})
KNOWN_IMAGE_EXTENSIONS = frozenset({
    "jpg", "jpeg", "png", "gif", "webp", "svg", "bmp", "avif", "heic", "heif", "tif", "tiff", "ico",
})
IMAGE_FORMAT_QUERY_KEYS = ("wx_fmt", "format", "fm")  # WeChat's own CDN, common image CDNs

# Links here stay clickable inside WeChat (PLATFORMS.md 3.5).
WECHAT_ARTICLE_HOST = "mp.weixin.qq.com"


@dataclass(frozen=True)
class WechatArticle:
    title: str
    author: str
    digest: str
    content: str  # HTML, every style inline; image src still the original URLs
    content_source_url: str  # 阅读原文
    thumb: str | None  # cover image URL (uploaded as thumb_media_id at send time)
    images: tuple[str, ...]  # body image URLs in order of appearance, de-duplicated


# ------------------------------------------------------------------------------------------------
# Theme: inline styles, modelled on doocs/md's default theme (PLATFORMS.md 3.5).

ACCENT_COLOR = "#0F4C81"
TEXT_COLOR = "#3f3f3f"
LINK_COLOR = "#576b95"  # WeChat's own link blue
FONT_STACK = ("-apple-system,BlinkMacSystemFont,Helvetica Neue,PingFang SC,Hiragino Sans GB,"
              "Microsoft YaHei UI,Microsoft YaHei,Arial,sans-serif")
MONO_STACK = "Menlo,Monaco,Consolas,Courier New,monospace"

STYLES = {
    "article": (f"font-family:{FONT_STACK};font-size:16px;line-height:1.75;color:{TEXT_COLOR};"
                "letter-spacing:0.05em;text-align:left;word-break:break-word;overflow-wrap:break-word;"),
    "h1": (f"margin:2em 8px 1em;padding-bottom:0.3em;border-bottom:2px solid {ACCENT_COLOR};"
           f"font-size:20px;font-weight:bold;line-height:1.4;text-align:center;color:{TEXT_COLOR};"),
    "h2": (f"margin:2.5em 8px 1em;padding:0.1em 0 0.1em 10px;border-left:4px solid {ACCENT_COLOR};"
           "font-size:18px;font-weight:bold;line-height:1.5;color:#1f1f1f;"),
    "h3": f"margin:2em 8px 0.75em;font-size:17px;font-weight:bold;line-height:1.5;color:{ACCENT_COLOR};",
    "h4": f"margin:1.5em 8px 0.5em;font-size:16px;font-weight:bold;line-height:1.5;color:{TEXT_COLOR};",
    "p": f"margin:1.5em 8px;color:{TEXT_COLOR};",
    "p/tight": f"margin:0.5em 0;color:{TEXT_COLOR};",
    "section": "margin:1em 8px;",
    "section/nested": "margin:0.5em 0;",
    "strong": f"font-weight:bold;color:{ACCENT_COLOR};",
    "em": "font-style:italic;",
    "del": "text-decoration:line-through;",
    "u": "text-decoration:underline;",
    "plain": "",
    "mark": "background:#fff5b1;",
    "small": "font-size:0.85em;",
    "sub": "font-size:0.75em;",
    "sup": "font-size:0.75em;",
    "code": (f"font-family:{MONO_STACK};font-size:90%;color:#d14;background:rgba(27,31,35,0.05);"
             "padding:3px 5px;border-radius:4px;white-space:pre-wrap;word-break:break-all;"),
    "pre": (f"margin:1em 8px;padding:1em;border-radius:8px;background:#f6f8fa;color:#24292e;"
            f"font-family:{MONO_STACK};font-size:13px;line-height:1.5;letter-spacing:0;"
            "overflow-x:auto;white-space:pre;text-align:left;"),
    "pre/code": (f"font-family:{MONO_STACK};font-size:13px;color:#24292e;background:none;"
                 "white-space:pre;letter-spacing:0;"),
    "blockquote": (f"margin:1.5em 8px;padding:0.75em 1em;border-left:4px solid {ACCENT_COLOR};"
                   "border-radius:6px;background:#f7f7f7;color:rgba(0,0,0,0.6);font-style:normal;"),
    "list": "margin:1em 8px;",
    "ul": "list-style:none;margin:0;padding:0 0 0 {indent}em;",
    "ol": "list-style:none;margin:0;padding:0 0 0 {indent}em;",
    "li": f"display:block;margin:0.3em 0;color:{TEXT_COLOR};",
    "list-block": "margin:0.5em 0 0.5em {indent}em;",
    "marker": f"color:{ACCENT_COLOR};",
    "hr": "margin:2em 0;border:0;border-top:1px solid rgba(0,0,0,0.1);height:0;",
    "img": "max-width:100%;height:auto;display:block;margin:0.5em auto;border-radius:4px;",
    "figure": "margin:1.5em 8px;",
    "figure/nested": "margin:1em 0;",
    "figcaption": "margin-top:0.3em;font-size:13px;color:#888;text-align:center;",
    "table-wrap": "margin:1.5em 8px;overflow-x:auto;",
    "table": "border-collapse:collapse;width:100%;font-size:14px;line-height:1.5;",
    "thead": "background:rgba(0,0,0,0.05);",
    "tbody": "",
    "tr": "",
    "th": "border:1px solid #dfdfdf;padding:0.4em 0.6em;font-weight:bold;{align}",
    "td": "border:1px solid #dfdfdf;padding:0.4em 0.6em;{align}",
    "caption": "font-size:13px;color:#888;padding:0.3em;",
    "a": f"color:{LINK_COLOR};text-decoration:none;",
    "link-text": f"color:{LINK_COLOR};",
    "reference-mark": f"font-size:0.75em;line-height:0;color:{ACCENT_COLOR};",
    "references-title": f"margin:2.5em 8px 0.5em;font-size:15px;font-weight:bold;color:{ACCENT_COLOR};",
    "reference": f"margin:0.3em 8px;font-size:12px;line-height:1.6;color:{TEXT_COLOR};word-break:break-all;",
    "reference-number": "opacity:0.6;",
    "reference-url": "font-style:italic;word-break:break-all;",
    "summary": "font-weight:bold;",
}

REFERENCES_TITLE = {"cjk": "引用链接", "latin": "References"}
BULLETS = ("•", "◦", "▪")

# Source tags → the tag we emit. Anything not listed (and not handled specially) is unwrapped.
BLOCK_CONTAINERS = {"div": "section", "section": "section", "article": "section", "aside": "section",
                    "header": "section", "footer": "section", "nav": "section", "main": "section",
                    "details": "section", "center": "section", "hgroup": "section", "dl": "section",
                    "address": "section"}
INLINE_TAGS = {  # source tag → (tag we emit, its style)
    "strong": ("strong", "strong"), "b": ("strong", "strong"), "em": ("em", "em"), "i": ("em", "em"),
    "cite": ("em", "em"), "dfn": ("em", "em"), "var": ("em", "em"), "del": ("del", "del"),
    "s": ("del", "del"), "strike": ("del", "del"), "ins": ("u", "u"), "u": ("u", "u"),
    "code": ("code", "code"), "kbd": ("code", "code"), "samp": ("code", "code"), "tt": ("code", "code"),
    "sub": ("sub", "sub"), "sup": ("sup", "sup"), "mark": ("span", "mark"), "small": ("span", "small"),
    "span": ("span", "plain"), "abbr": ("span", "plain"), "q": ("span", "plain"),
    "time": ("span", "plain"), "data": ("span", "plain"), "bdi": ("span", "plain"),
    "bdo": ("span", "plain"), "ruby": ("span", "plain"), "rt": ("span", "plain"),
    "rp": ("span", "plain"), "rtc": ("span", "plain"),
}
HEADINGS = {"h1": "h1", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h4", "h6": "h4"}
PARAGRAPH_LIKE = {"p": "p", "dt": "p", "dd": "p", "summary": "p", "figcaption": "figcaption"}
TABLE_PARTS = {"thead", "tbody", "tfoot", "tr", "th", "td", "caption"}
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "noscript",
                                  "template", "head", "title", "link", "meta", "svg", "math"})
VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                       "param", "source", "track", "wbr"})
BLOCK_SOURCE_TAGS = (set(BLOCK_CONTAINERS) | set(HEADINGS) | set(PARAGRAPH_LIKE) | TABLE_PARTS
                     | {"ul", "ol", "li", "pre", "blockquote", "table", "figure", "hr"})

_COLLAPSIBLE_SPACE = re.compile(r"[ \t\n\r\f]+")  # HTML whitespace only: keeps U+00A0 and U+3000
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_TEXT_ALIGN = re.compile(r"text-align\s*:\s*(left|center|right)")


# ------------------------------------------------------------------------------------------------
# Rendering: post → WechatArticle


def render_article(post: Post) -> WechatArticle:
    options = post.channel_options("wechat")
    cjk = is_mostly_cjk(post)
    content, images = render_content(post, cjk=cjk)
    return WechatArticle(
        title=_option_text(options, "title") or post.title,
        author=_option_text(options, "author") or post.author or "",
        digest=_option_text(options, "digest") or article_digest(post, cjk=cjk),
        content=content,
        content_source_url=post.url,
        thumb=post.cover_image,
        images=images,
    )


def _option_text(options, key: str) -> str:
    value = options.get(key)
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return " ".join(str(value).split())


def is_mostly_cjk(post: Post) -> bool:
    """True when the post reads as Chinese/Japanese/Korean; one CJK character ≈ a short word."""
    text = " ".join([post.title, *post.summary, block_text(post.tree)])
    return len(_CJK.findall(text)) * 3 >= len(_LATIN.findall(text)) and bool(_CJK.search(text))


def article_digest(post: Post, *, cjk: bool) -> str:
    """The summary points joined (or the first paragraph), cut to DIGEST_LIMIT at a natural boundary."""
    if post.summary:
        if cjk:
            text = "；".join(p.rstrip("；;，,、。") for p in post.summary)
        else:
            text = " ".join(p if p.endswith((".", "!", "?", "…")) else p.rstrip(";,") + "." for p in post.summary)
    else:
        text = next((" ".join(inline_text(node.children[0]).split()) for node in post.tree.children
                     if node.type == "paragraph" and node.children), "")
    return truncate_at_boundary(text, DIGEST_LIMIT)


_BOUNDARY = re.compile(r"[；;。！？!?，,、：:]|\.(?=\s)|\s")


def truncate_at_boundary(text: str, limit: int) -> str:
    """`text` if it fits; else its longest head ending at punctuation or a space, plus "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cuts = [m.start() for m in _BOUNDARY.finditer(text, 0, limit) if limit // 2 <= m.start() < limit]
    if cuts:
        head = text[: cuts[-1]]
    return head.rstrip(" ,;:，；：、-—") + "…"


def render_content(post: Post, *, cjk: bool) -> tuple[str, tuple[str, ...]]:
    """The article HTML and its body image URLs (ordered, unique)."""
    tree = _parse_html(_markdown_html(post))
    writer = _ArticleWriter(base_url=post.url)
    body = writer.blocks(tree.children, _Context())
    references = writer.references_html(REFERENCES_TITLE["cjk" if cjk else "latin"])
    return _tag("section", "article", body + references), tuple(writer.images)


_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _markdown_html(post: Post) -> str:
    # A copy: markdown-it's image rule writes the alt text into the token, and the tree is shared.
    tokens = copy.deepcopy(post.tree.to_tokens())
    return _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})


# --- A forgiving HTML tree (the input is markdown-it output plus nh3-sanitized fragments) ---


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    children: list  # of _Element | str


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = _Element("root", {}, [])
        self.stack = [self.root]
        self.skipping: str | None = None

    def handle_starttag(self, tag, attrs):
        if self.skipping:
            return
        if tag in DROPPED_WITH_CONTENT:
            if tag not in VOID_TAGS:
                self.skipping = tag
            return
        element = _Element(tag, {k: v or "" for k, v in attrs}, [])
        self.stack[-1].children.append(element)
        if tag not in VOID_TAGS:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and not self.skipping and self.stack[-1].tag == tag:
            self.stack.pop()
        elif self.skipping == tag:
            self.skipping = None

    def handle_endtag(self, tag):
        if self.skipping:
            if tag == self.skipping:
                self.skipping = None
            return
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        if not self.skipping:
            self.stack[-1].children.append(data)


def _parse_html(source: str) -> _Element:
    builder = _TreeBuilder()
    builder.feed(source)
    builder.close()
    return builder.root


def _text_of(node) -> str:
    if isinstance(node, str):
        return node
    if node.tag == "img":
        return node.attrs.get("alt", "")
    return "".join(_text_of(child) for child in node.children)


def _is_blank(node) -> bool:
    return isinstance(node, str) and not node.strip(" \t\n\r\f")


# --- Emitting WeChat HTML ---


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


# ------------------------------------------------------------------------------------------------
# Checks: what draft/add would refuse (PLATFORMS.md 3.2, 3.3)


def image_format(url: str) -> str | None:
    """The image format named by a URL (extension, or a CDN's format parameter); None if unknown."""
    parts = urlsplit(url)
    extension = PurePosixPath(unquote(parts.path)).suffix.lower().lstrip(".")
    if extension in KNOWN_IMAGE_EXTENSIONS:
        return "jpg" if extension == "jpeg" else extension
    query = parse_qs(parts.query)
    for key in IMAGE_FORMAT_QUERY_KEYS:
        value = (query.get(key) or [""])[0].lower()
        if value in KNOWN_IMAGE_EXTENSIONS:
            return "jpg" if value == "jpeg" else value
    return None


def article_problems(article: WechatArticle) -> list[str]:
    problems = []
    if len(article.title) > TITLE_LIMIT:
        problems.append(f"The title is {len(article.title)} characters; WeChat allows at most {TITLE_LIMIT} "
                        "(draft/add answers 45003). Shorten it or set channels.wechat.title.")
    if len(article.author) > AUTHOR_LIMIT:
        problems.append(f"The author is {len(article.author)} characters; WeChat allows at most "
                        f"{AUTHOR_LIMIT}. Shorten it or set channels.wechat.author.")
    if len(article.digest) > DIGEST_LIMIT:
        problems.append(f"The digest is {len(article.digest)} characters; WeChat allows at most "
                        f"{DIGEST_LIMIT} (draft/add answers 45004). Shorten channels.wechat.digest.")
    chars, size = len(article.content), len(article.content.encode("utf-8"))
    if chars >= CONTENT_CHAR_LIMIT:
        problems.append(f"The article HTML is {chars:,} characters; WeChat takes fewer than "
                        f"{CONTENT_CHAR_LIMIT:,} (draft/add answers 45002). Shorten the post.")
    if size >= CONTENT_BYTE_LIMIT:
        problems.append(f"The article HTML is {size:,} bytes; WeChat takes less than "
                        f"{CONTENT_BYTE_LIMIT:,} (draft/add answers 45002). Shorten the post.")
    if not article.thumb:
        problems.append("There is no cover image; WeChat requires one for a news article "
                        "(thumb_media_id). Set coverImage in the front matter.")
    else:
        problems.extend(_cover_problems(article.thumb))
    for url in article.images:
        problems.extend(_body_image_problems(url))
    url_size = len(article.content_source_url.encode("utf-8"))
    if url_size > CONTENT_SOURCE_URL_BYTE_LIMIT:
        problems.append(f"The 阅读原文 link (content_source_url) is {url_size:,} bytes; WeChat allows at "
                        f"most {CONTENT_SOURCE_URL_BYTE_LIMIT:,}.")
    return problems


def _body_image_problems(url: str) -> list[str]:
    if urlsplit(url).scheme not in ("http", "https"):
        return [f"Body image {_short(url)} is not an http(s) URL, so it cannot be fetched and uploaded "
                "to WeChat."]
    fmt = image_format(url)
    if fmt in BODY_IMAGE_FORMATS or fmt in BODY_IMAGE_CONVERTIBLE_FORMATS:
        return []
    named = f"is {fmt.upper()}" if fmt else "has no recognisable image format in its URL"
    return [f"Body image {_short(url)} {named}; WeChat's uploadimg takes only JPG or PNG under 1 MB "
            "(WebP and GIF are converted). Use a .jpg or .png image."]


def _cover_problems(url: str) -> list[str]:
    fmt = image_format(url)
    if fmt in COVER_IMAGE_FORMATS or fmt in COVER_IMAGE_CONVERTIBLE_FORMATS:
        return []
    named = f"is {fmt.upper()}" if fmt else "has no recognisable image format in its URL"
    return [f"The cover image {_short(url)} {named}; WeChat covers must be JPG, PNG, GIF or BMP up to "
            "10 MB. Use a .jpg or .png cover."]


def _short(url: str, limit: int = 80) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"


# ------------------------------------------------------------------------------------------------
# Preview


def article_json(article: WechatArticle) -> dict:
    return {
        "title": article.title,
        "author": article.author,
        "digest": article.digest,
        "content": article.content,
        "content_source_url": article.content_source_url,
        "thumb": article.thumb,
        "images": list(article.images),
    }


def article_page(article: WechatArticle) -> str:
    """A browser page showing the article at phone width, as WeChat would."""
    template = environment().get_template("wechat_page.html")
    return template.render(
        title=article.title,
        author=article.author,
        digest=article.digest,
        thumb=article.thumb,
        content=Markup(article.content),  # already escaped and styled by render_content
        content_source_url=article.content_source_url,
    )


class WechatChannel(Channel):
    name = "wechat"

    def __init__(self, timeouts: tuple[float, float] | None = None):
        # (connect, read) seconds for every HTTP call; None: the module defaults (see send section)
        self.timeouts = timeouts

    def configured(self, settings: Settings) -> bool:
        return wechat_configured(settings)

    def send(self, payload: WechatArticle, ctx: SendContext) -> Receipt:
        return send_article(payload, ctx, timeouts=ctx.settings.timeouts(self.timeouts or DEFAULT_TIMEOUTS))

    def render(self, post: Post, settings: Settings) -> WechatArticle:
        return render_article(post)

    def checks(self, payload: WechatArticle, settings: Settings) -> list[str]:
        return article_problems(payload)

    def preview_json(self, payload: WechatArticle) -> dict:
        return article_json(payload)

    def preview_files(self, payload: WechatArticle) -> dict[str, str]:
        return {
            "wechat.json": json.dumps(article_json(payload), ensure_ascii=False, indent=2) + "\n",
            "wechat.html": article_page(payload),
        }


CHANNEL = WechatChannel()


# ================================================================================================
# Delivery: the API client and send (PLATFORMS.md 3.1-3.4)
#
# Parts of one delivery, in this order (ledger part names, stable across runs):
#   image:<sha256 of the source URL>  a body image → uploadimg URL (remote_url)
#   cover | cover:<sha16>             the cover → add_material type=image media_id (remote_id); a
#                                     changed cover URL on a re-run gets its own part
#   draft                             draft/add → the draft's media_id (remote_id)
#   draft-update:<sha16>:<n>          draft/update after the post was edited (same media_id)
#   publish                           only when wechat_publish = "publish": freepublish/submit →
#                                     publish_id (remote_id), then freepublish/get until it has
#                                     the article URL (remote_url)
#
# Reconciling parts found "uncertain" (timeout / 5xx) or "sending" (a killed worker):
# - uploads are simply uploaded again: uploadimg and add_material publish nothing a reader sees,
#   an extra copy in the media library is harmless, and the upload cache (store.upload_*, keyed
#   by the bytes' sha256) makes every later use of the same image a cache hit.
# - draft: draft/batchget; a draft with our title, content_source_url and thumb_media_id that no
#   other publication recorded is ours (sent); none → not sent, draft/add again.
# - draft-update: done again; updating a draft to the same content twice changes nothing.
# - publish: a published draft leaves the draft box (3.3), so draft/get; gone → our article is
#   looked up in freepublish/batchget. Still in the box, or not found: we cannot tell whether a
#   submission is running, so the part stays uncertain for a person to settle: a second submit
#   could publish the article twice.
# A permanent refusal is final for the publication (ledger rule); fix the post and publish again.

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
DEFAULT_TIMEOUTS = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)

# 3.1: the platform rotates a stable token 5 minutes before it expires; we stop using it then.
TOKEN_EXPIRY_MARGIN_SECONDS = 300
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})  # 3.1: refresh the token and retry once
MINUTE_QUOTA_RETRY_SECONDS = 60  # 3.1 45011: "retry next minute"
BEIJING = timezone(timedelta(hours=8))  # 3.1 45009: daily quotas reset at midnight Beijing time
MIN_DAILY_QUOTA_RETRY_SECONDS = 60

BATCHGET_PAGE_SIZE = 20  # 3.3 draft/batchget, freepublish/batchget: count 1..20
RECONCILE_PAGES = 3  # the newest 60 drafts/articles are searched for an uncertain part
PUBLISH_POLL_SECONDS = 5.0  # 3.4: freepublish/get is polled; the job usually ends in seconds
PUBLISH_MAX_POLLS = 12  # then TransientError: the next send() resumes polling, never resubmits
PUBLISH_FAILURES = {  # 3.4 publish_status
    2: "the original-content claim failed (publish_status 2)",
    3: "publishing failed; WeChat gives no reason (publish_status 3)",
    4: "rejected by WeChat's review (publish_status 4)",
    5: "published, then deleted by the account (publish_status 5)",
    6: "published, then blocked by WeChat (publish_status 6)",
}

JPEG_QUALITIES = (90, 82, 74, 66, 58)  # tried in order before an image is made smaller
SHRINK_FACTOR = 0.8  # each side, per step, when no quality fits the byte limit
MAX_SHRINK_STEPS = 12
UPLOAD_FORMATS = frozenset({"JPEG", "PNG"})  # 3.2: uploadimg takes jpg/png; covers converted alike

# One table for every errcode answer (3.1, 3.2, 3.3, 3.4; [WX8][WX9]). "token": refresh once and
# retry, permanent if it comes back. Codes not listed are permanent, with the platform's errmsg.
ERRCODE_OUTCOMES: dict[int, str] = {
    -1: "transient",  # system busy
    45011: "transient",  # api minute-quota reach limit
    45009: "transient",  # reach max api daily quota limit: retried after midnight Beijing time
    40001: "token",  # invalid credential / access_token not latest
    40014: "token",  # invalid access_token
    42001: "token",  # access_token expired
    40013: "permanent",  # invalid appid
    40125: "permanent",  # invalid appsecret
    40164: "permanent",  # caller IP not in the account's whitelist
    48001: "permanent",  # api unauthorized (e.g. freepublish for unverified accounts since 2025-07)
    40005: "permanent",  # invalid file type
    40009: "permanent",  # invalid image size
    40007: "permanent",  # invalid media_id
    40033: "permanent",  # \uXXXX escapes in the body
    45002: "permanent",  # content size out of limit
    45003: "permanent",  # title size out of limit
    45004: "permanent",  # description (digest) size out of limit
    45110: "permanent",  # author size out of limit
    45166: "permanent",  # invalid content
}

_ACCESS_TOKEN_IN_TEXT = re.compile(r"(access_token=)[^&\s'\"]+")
# json.dumps writes these as \u00XX even with ensure_ascii=False, and WeChat refuses \u escapes
# with 40033 (3.1); lone surrogates cannot be encoded as UTF-8 at all.
_UNSENDABLE_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")
_IMG_SRC = re.compile(r'(<img\b[^>]*?\ssrc=")([^"]*)(")', re.IGNORECASE)


def wechat_configured(settings: Settings) -> bool:
    return bool(settings.wechat_app_id and settings.wechat_app_secret)


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def sendable_text(value: Any) -> Any:
    """`value` with every string stripped of the characters JSON would send as \\u escapes."""
    if isinstance(value, str):
        return _UNSENDABLE_CHARACTERS.sub("", value)
    if isinstance(value, dict):
        return {key: sendable_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [sendable_text(item) for item in value]
    return value


def json_body_bytes(body: dict) -> bytes:
    """Raw UTF-8 JSON, never \\uXXXX escapes (3.1: requests' json= would make WeChat answer 40033)."""
    return json.dumps(sendable_text(body), ensure_ascii=False).encode("utf-8")


def _seconds_to_beijing_midnight() -> float:
    now = datetime.now(BEIJING)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(MIN_DAILY_QUOTA_RETRY_SECONDS, (midnight - now).total_seconds())


# --- the API client ------------------------------------------------------------------------------


def _reached_server(exc: requests.RequestException) -> bool:
    """False when the request certainly never reached the server (refused, unresolvable, connect
    timeout); True when it may have been read (a read timeout, a connection dropped mid-answer)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if not isinstance(exc, requests.ConnectionError):
        return True
    cause: BaseException | None = exc
    for _ in range(MAX_CAUSE_DEPTH):
        if cause is None:
            break
        if isinstance(cause, (NewConnectionError, ConnectionRefusedError)):
            return False
        cause = _wrapped(cause)
    return True


def _wrapped(exc: BaseException) -> BaseException | None:
    """The exception inside a requests / urllib3 wrapper (MaxRetryError.reason, args, __cause__)."""
    for candidate in (getattr(exc, "reason", None), *exc.args, exc.__cause__, exc.__context__):
        if isinstance(candidate, BaseException):
            return candidate
    return None


class WechatClient:
    """requests against settings.wechat_api_base: the access token shared through the store,
    raw UTF-8 JSON, and every failure turned into TransientError / PermanentError / UncertainError
    by one table, with the token and the app secret scrubbed from every message."""

    def __init__(self, settings: Settings, store: Any, timeouts: tuple[float, float] = DEFAULT_TIMEOUTS):
        self.settings = settings
        self.base = settings.wechat_api_base.rstrip("/")
        self.app_id = settings.wechat_app_id
        self._secret = settings.wechat_app_secret
        self.store = store
        self.timeouts = timeouts
        self.token_key = f"wechat:{self.app_id}"
        self._known_tokens: set[str] = set()
        self.session = requests.Session()

    # messages

    def scrub(self, text: str) -> str:
        text = _ACCESS_TOKEN_IN_TEXT.sub(r"\1***", text)
        for secret in (self._secret, *self._known_tokens):
            if secret:
                text = text.replace(secret, "***")
        return text

    # the platform's calls

    def call(self, path: str, body: dict | None = None, *, params: dict | None = None,
             files: dict | None = None, accept: frozenset[int] = frozenset()) -> dict:
        """One API call with the shared access token. On a token errcode the token is evicted, a
        fresh one fetched once and the call repeated once. Errcodes in `accept` are returned."""
        token = self.access_token()
        answer = self._post(path, token, body, params, files)
        if _errcode(answer) in TOKEN_ERRCODES:
            self.store.token_delete(self.token_key)
            token = self._refresh_token(rejected=token)
            answer = self._post(path, token, body, params, files)
        code = _errcode(answer)
        if code and code not in accept:
            raise self._refusal(path, answer)
        return answer

    def access_token(self) -> str:
        token = self.store.token_get(self.token_key)
        if token:
            self._known_tokens.add(token)
            return token
        return self._refresh_token(rejected=None)

    def _refresh_token(self, rejected: str | None) -> str:
        """stable_token in normal mode first (3.1: another process may already have a newer one);
        force_refresh only when the platform hands back the very token it just refused."""
        token, expires_in = self._fetch_token(force_refresh=False)
        if rejected is not None and token == rejected:
            token, expires_in = self._fetch_token(force_refresh=True)
        margin = min(TOKEN_EXPIRY_MARGIN_SECONDS, expires_in / 2)
        self.store.token_put(self.token_key, token, ttl_seconds=max(0.0, expires_in - margin))
        return token

    def _fetch_token(self, force_refresh: bool) -> tuple[str, int]:
        path = "/cgi-bin/stable_token"
        body = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret,
                "force_refresh": force_refresh}
        try:
            answer = self._exchange(path, data=json_body_bytes(body), headers=_JSON_HEADERS)
        except UncertainError as exc:
            # Asking for a token changes nothing we could duplicate: just try again later.
            raise TransientError(str(exc)) from None
        if _errcode(answer) or not isinstance(answer.get("access_token"), str):
            raise self._refusal(path, answer)
        self._known_tokens.add(answer["access_token"])
        return answer["access_token"], int(answer.get("expires_in") or 0)

    def _post(self, path: str, token: str, body: dict | None, params: dict | None, files: dict | None) -> dict:
        query = {**(params or {}), "access_token": token}
        if files is not None:
            return self._exchange(path, params=query, files=files)
        return self._exchange(path, params=query, data=json_body_bytes(body or {}), headers=_JSON_HEADERS)

    def _exchange(self, path: str, **request: Any) -> dict:
        """POST and read the JSON answer; transport failures and HTTP statuses mapped here."""
        try:
            response = self.session.post(self.base + path, timeout=self.timeouts, **request)
        except _BAD_URL_ERRORS as exc:
            raise PermanentError(self.scrub(f"WeChat {path}: bad wechat_api_base: {exc}")) from None
        except requests.RequestException as exc:
            if _reached_server(exc):
                raise UncertainError(self.scrub(
                    f"WeChat {path}: no answer ({type(exc).__name__}: {exc}); the request may have "
                    "been accepted")) from None
            raise TransientError(self.scrub(f"WeChat {path}: could not connect ({exc})")) from None
        if response.status_code == 429:
            raise TransientError(f"WeChat {path}: HTTP 429 too many requests",
                                 retry_after=_retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 500:
            raise UncertainError(f"WeChat {path}: HTTP {response.status_code} from the gateway; the "
                                 "request may have been accepted")
        if response.status_code != 200:
            raise PermanentError(self.scrub(f"WeChat {path}: HTTP {response.status_code}: {response.text[:300]}"))
        try:
            answer = response.json()
        except ValueError:
            raise UncertainError(f"WeChat {path}: the answer is not JSON; the request may have been "
                                 "accepted") from None
        if not isinstance(answer, dict):
            raise UncertainError(f"WeChat {path}: unexpected answer {str(answer)[:200]!r}")
        return answer

    def _refusal(self, path: str, answer: dict) -> Exception:
        code = _errcode(answer)
        errmsg = str(answer.get("errmsg", "")) if code else f"unexpected answer {str(answer)[:200]}"
        message = self.scrub(f"WeChat {path} refused: errcode {code} {errmsg}".rstrip())
        outcome = ERRCODE_OUTCOMES.get(code, "permanent")
        if outcome == "transient":
            if code == 45011:
                return TransientError(message, retry_after=MINUTE_QUOTA_RETRY_SECONDS)
            if code == 45009:
                return TransientError(message, retry_after=_seconds_to_beijing_midnight())
            return TransientError(message)
        if outcome == "token":
            return PermanentError(message + " (again after a fresh access token)")
        return PermanentError(message)

    def close(self) -> None:
        self.session.close()


_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
_BAD_URL_ERRORS = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                   requests.exceptions.InvalidSchema)
MAX_CAUSE_DEPTH = 8  # how deep requests' wrapped exceptions are searched for "never connected"


def _errcode(answer: dict) -> int:
    code = answer.get("errcode", 0)
    return code if isinstance(code, int) else -1


def _retry_after(header: str | None) -> float | None:
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


# --- images: fetched from the post's URLs, made acceptable to WeChat (3.2) -----------------------


def upload_ready_image(data: bytes, byte_limit: int, name: str) -> tuple[bytes, str]:
    """(bytes, "JPEG"|"PNG") under `byte_limit`: JPEG and PNG that fit are kept as they are; other
    formats (WebP, GIF, BMP...) become PNG when they have transparency, else JPEG; then quality
    and size step down until the file fits."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format in UPLOAD_FORMATS and len(data) < byte_limit:
                return data, image.format
            image.seek(0)  # an animation keeps its first frame
            picture = ImageOps.exif_transpose(image)
            alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            picture = picture.convert("RGBA" if alpha else "RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise PermanentError(f"{name} is not an image that can be converted ({exc})") from None
    return _encode_within(picture, "PNG" if alpha else "JPEG", byte_limit, name)


def _encode_within(picture: Image.Image, image_format: str, byte_limit: int, name: str) -> tuple[bytes, str]:
    for _ in range(MAX_SHRINK_STEPS):
        options = [{"optimize": True}] if image_format == "PNG" else [
            {"quality": quality, "optimize": True} for quality in JPEG_QUALITIES]
        for option in options:
            buffer = io.BytesIO()
            picture.save(buffer, image_format, **option)
            if buffer.tell() < byte_limit:
                return buffer.getvalue(), image_format
        width, height = picture.size
        picture = picture.resize((max(1, int(width * SHRINK_FACTOR)), max(1, int(height * SHRINK_FACTOR))),
                                 Image.LANCZOS)
    raise PermanentError(f"{name} could not be made smaller than {byte_limit:,} bytes")


def _multipart(data: bytes, image_format: str) -> dict:
    extension, mime = ("png", "image/png") if image_format == "PNG" else ("jpg", "image/jpeg")
    return {"media": (f"{_sha256(data)[:16]}.{extension}", data, mime)}


# --- the article as draft/add takes it (3.3) -----------------------------------------------------


def article_sha256(article: WechatArticle) -> str:
    """Identifies the article's content: an edit of the post changes it."""
    return _sha256(json.dumps(article_json(article), ensure_ascii=False, sort_keys=True))


def rewrite_image_sources(content: str, uploaded: dict[str, str]) -> str:
    """Every <img src> replaced by its uploadimg URL (3.2: WeChat filters any other source)."""
    def swap(match: re.Match[str]) -> str:
        original = html.unescape(match.group(2))
        if original not in uploaded:
            raise PermanentError(f"body image {_short(original)} has no uploaded copy")
        return match.group(1) + html.escape(uploaded[original]) + match.group(3)

    return _IMG_SRC.sub(swap, content)


def draft_article(article: WechatArticle, thumb_media_id: str, uploaded: dict[str, str]) -> dict:
    """One entry of draft/add's `articles` (and draft/update's `articles`)."""
    return sendable_text({
        "title": article.title,
        "author": article.author,
        "digest": article.digest,
        "content": rewrite_image_sources(article.content, uploaded),
        "content_source_url": article.content_source_url,
        "thumb_media_id": thumb_media_id,
        "need_open_comment": 0,
        "only_fans_can_comment": 0,
    })


# --- send ----------------------------------------------------------------------------------------


def image_part(url: str) -> str:
    return f"image:{_sha256(url)}"


def planned_parts(article: WechatArticle, settings: Settings) -> list[tuple[str, str]]:
    """The (part, content sha256) pairs planned before anything is sent; revisions (a changed
    cover, a draft update) are added by send() once it has read the ledger."""
    draft_sha = article_sha256(article)
    parts = [(image_part(url), _sha256(url)) for url in article.images]
    parts.append(("cover", _sha256(article.thumb or "")))
    parts.append(("draft", draft_sha))
    if settings.wechat_publish == "publish":
        parts.append(("publish", draft_sha))
    return parts


class _Delivery:
    """One send(): the article, the client, the ledger, and the parts used in this run."""

    def __init__(self, article: WechatArticle, ctx: SendContext, client: WechatClient):
        self.article = article
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.client = client
        self.namespace = ctx.settings.wechat_app_id
        self.draft_sha = article_sha256(article)
        self.parts: list[str] = []  # in order, as counted for progress and the receipt
        self.done = 0

    # bookkeeping

    def finished(self) -> None:
        self.done += 1
        self.ctx.progress(self.done, len(self.parts))

    def settle(self, part: str, action: Callable[[], tuple[str | None, str | None]]) -> LedgerEntry:
        """The part's entry once sent: skipped when sent already, else claimed (intent committed),
        sent by `action`, and its outcome recorded right after."""
        entry = self.ledger.entry(part)
        if entry is not None and entry.state == "sent":
            return entry
        if self.ledger.claim(part) is None:
            entry = self.ledger.entry(part)
            if entry is not None and entry.state == "sent":
                return entry
            raise _unclaimable(entry, part)
        try:
            remote_id, remote_url = action()
        except TransientError as exc:
            self.ledger.mark_failed(part, str(exc), retryable=True)
            raise
        except UncertainError as exc:
            self.ledger.mark_uncertain(part, str(exc))
            raise
        except PermanentError as exc:
            self.ledger.mark_failed(part, str(exc), retryable=False)
            raise
        self.ledger.mark_sent(part, remote_id=remote_id, remote_url=remote_url)
        return self.ledger.entry(part)

    # reconciliation of leftovers

    def reconcile(self) -> None:
        for entry in self.ledger.entries():
            if entry.state not in ("sending", "uncertain"):
                continue
            if entry.part.startswith(("image:", "cover", "draft-update:")):
                self.ledger.resolve_uncertain(entry.part, None, sent=False)
            elif entry.part == "draft":
                found = self.find_draft()
                self.ledger.resolve_uncertain("draft", found, sent=found is not None)
            elif entry.part == "publish":
                self.reconcile_publish(entry)

    def find_draft(self) -> str | None:
        """The media_id of a draft in the draft box that is this article and no other
        publication's: same title, 阅读原文 link and cover."""
        known = self.recorded_elsewhere("draft")
        wanted = sendable_text({"title": self.article.title, "content_source_url": self.article.content_source_url})
        thumb = self.cover_media_id()
        for item in self.batchget("/cgi-bin/draft/batchget"):
            news = (item.get("content") or {}).get("news_item") or []
            if item.get("media_id") in known or not news:
                continue
            first = news[0]
            if (first.get("title") == wanted["title"]
                    and first.get("content_source_url") == wanted["content_source_url"]
                    and (thumb is None or first.get("thumb_media_id") in (thumb, None))):
                return item["media_id"]
        return None

    def reconcile_publish(self, entry: LedgerEntry) -> None:
        draft = self.ledger.entry("draft")
        media_id = draft.remote_id if draft is not None else None
        if media_id:
            answer = self.client.call("/cgi-bin/draft/get", {"media_id": media_id}, accept=frozenset({40007}))
            if _errcode(answer) == 0:
                raise UncertainError(
                    f"WeChat publish of draft {media_id} is unconfirmed ({entry.last_error or 'a worker stopped'}) "
                    "and the draft is still in the draft box: it may be publishing now or may never have been "
                    "submitted. Check 发表记录 on mp.weixin.qq.com; it is not submitted again on a guess.")
        known = self.recorded_elsewhere("publish")
        for item in self.batchget("/cgi-bin/freepublish/batchget"):
            for news in (item.get("content") or {}).get("news_item") or []:
                if (news.get("title") == sendable_text(self.article.title)
                        and news.get("content_source_url") == self.article.content_source_url
                        and news.get("url") not in known and item.get("article_id") not in known):
                    self.ledger.resolve_uncertain("publish", item.get("article_id"), sent=True,
                                                  remote_url=news.get("url"))
                    return
        raise UncertainError(f"WeChat publish of draft {media_id} is unconfirmed: the draft left the draft box "
                             "but no published article matches it; settle it on mp.weixin.qq.com.")

    def batchget(self, path: str) -> Iterator[dict]:
        for page in range(RECONCILE_PAGES):
            answer = self.client.call(path, {"offset": page * BATCHGET_PAGE_SIZE, "count": BATCHGET_PAGE_SIZE,
                                             "no_content": 1})
            items = answer.get("item") or []
            yield from items
            if len(items) < BATCHGET_PAGE_SIZE:
                return

    def recorded_elsewhere(self, part: str) -> set[str]:
        """Remote ids and URLs other publications recorded for `part`: a draft or an article of an
        earlier generation of the same post looks just like ours."""
        query = select(LedgerRow.remote_id, LedgerRow.remote_url).where(
            LedgerRow.channel == self.ledger.channel, LedgerRow.part == part, LedgerRow.state == "sent",
            LedgerRow.publication_id != self.ledger.publication_id)
        with self.ctx.store.read_session() as session:
            return {value for row in session.execute(query) for value in row if value}

    # revisions

    def cover_part(self) -> str:
        """"cover", or a part of its own when the post's cover URL changed since "cover" was planned."""
        sha = _sha256(self.article.thumb or "")
        entry = self.ledger.entry("cover")
        if entry is None or entry.content_sha256 == sha:
            return "cover"
        part = f"cover:{sha[:16]}"
        self.ledger.plan([(part, sha)])
        return part

    def cover_media_id(self) -> str | None:
        entry = self.ledger.entry(self.cover_part())
        return entry.remote_id if entry is not None and entry.state == "sent" else None

    def sent_drafts(self) -> list[LedgerEntry]:
        return [e for e in self.ledger.entries()
                if e.state == "sent" and (e.part == "draft" or e.part.startswith("draft-update:"))]

    def draft_is_stale(self) -> bool:
        """True when the draft on the platform holds other content than this article (the post was
        edited since): the last sent draft/add or draft/update tells what it holds."""
        drafts = self.sent_drafts()
        return bool(drafts) and max(drafts, key=lambda e: e.updated_at).content_sha256 != self.draft_sha

    def draft_update_part(self) -> str | None:
        """A draft-update part when the draft is stale, unless the article was published already
        (a published article left the draft box and cannot be edited through draft/update)."""
        if not self.draft_is_stale() or self.published_entry() is not None:
            return None
        for revision in range(1, len(self.sent_drafts()) + 2):
            part = f"draft-update:{self.draft_sha[:16]}:{revision}"
            entry = self.ledger.entry(part)
            if entry is None or entry.state != "sent":
                self.ledger.plan([(part, self.draft_sha)])
                return part
        raise AssertionError("unreachable: one revision number is always free")

    def published_entry(self) -> LedgerEntry | None:
        entry = self.ledger.entry("publish")
        return entry if entry is not None and entry.state == "sent" else None

    # the steps

    def upload_body_image(self, url: str) -> tuple[str, str]:
        data, image_format = upload_ready_image(fetch_image(url, self.client.settings).data, BODY_IMAGE_BYTE_LIMIT,
                                                f"body image {_short(url)}")
        sha = _sha256(data)
        cached = self.ctx.store.upload_get(self.namespace, sha, "uploadimg")
        if cached is not None and cached.url:
            return sha, cached.url
        answer = self.client.call("/cgi-bin/media/uploadimg", files=_multipart(data, image_format))
        uploaded = answer.get("url")
        if not isinstance(uploaded, str) or not uploaded:
            raise PermanentError(f"WeChat uploadimg answered without a url: {str(answer)[:200]}")
        self.ctx.store.upload_put(self.namespace, sha, "uploadimg", media_id=uploaded, url=uploaded)
        return sha, uploaded

    def upload_cover(self) -> tuple[str, str | None]:
        url = self.article.thumb or ""
        data, image_format = upload_ready_image(fetch_image(url, self.client.settings).data, COVER_IMAGE_BYTE_LIMIT,
                                                f"cover image {_short(url)}")
        sha = _sha256(data)
        cached = self.ctx.store.upload_get(self.namespace, sha, "cover")
        if cached is not None:
            return cached.media_id, cached.url
        answer = self.client.call("/cgi-bin/material/add_material", params={"type": "image"},
                                  files=_multipart(data, image_format))
        media_id = answer.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise PermanentError(f"WeChat add_material answered without a media_id: {str(answer)[:200]}")
        self.ctx.store.upload_put(self.namespace, sha, "cover", media_id=media_id, url=answer.get("url"))
        return media_id, answer.get("url")

    def add_draft(self, body: dict) -> tuple[str, None]:
        answer = self.client.call("/cgi-bin/draft/add", {"articles": [body]})
        media_id = answer.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise PermanentError(f"WeChat draft/add answered without a media_id: {str(answer)[:200]}")
        return media_id, None

    def update_draft(self, media_id: str, body: dict) -> tuple[str, None]:
        self.client.call("/cgi-bin/draft/update", {"media_id": media_id, "index": 0, "articles": body})
        return media_id, None

    def submit(self, media_id: str) -> tuple[str, None]:
        answer = self.client.call("/cgi-bin/freepublish/submit", {"media_id": media_id})
        publish_id = answer.get("publish_id")
        if publish_id in (None, ""):
            raise PermanentError(f"WeChat freepublish/submit answered without a publish_id: {str(answer)[:200]}")
        return str(publish_id), None

    def poll_publish(self, publish_id: str) -> str:
        """The article URL once the publish job succeeded; failures are permanent with the reason."""
        for poll in range(PUBLISH_MAX_POLLS):
            if poll:
                self.ctx.sleep(PUBLISH_POLL_SECONDS)
            try:
                answer = self.client.call("/cgi-bin/freepublish/get", {"publish_id": publish_id})
            except UncertainError as exc:  # a status query changes nothing: retry it later
                raise TransientError(str(exc)) from None
            status = answer.get("publish_status")
            if status == 0:
                items = (answer.get("article_detail") or {}).get("item") or []
                return str(items[0].get("article_url") or "") if items else ""
            if status in PUBLISH_FAILURES:
                failed = answer.get("fail_idx") or []
                raise PermanentError(f"WeChat publish job {publish_id}: {PUBLISH_FAILURES[status]}"
                                     + (f"; failed articles {failed}" if failed else ""))
            if status != 1:
                raise PermanentError(f"WeChat publish job {publish_id}: unknown publish_status {status!r}")
        raise TransientError(f"WeChat publish job {publish_id} is still publishing after {PUBLISH_MAX_POLLS} "
                             "polls; polling resumes on the next attempt",
                             retry_after=PUBLISH_POLL_SECONDS * PUBLISH_MAX_POLLS)

    def run(self) -> Receipt:
        self.ledger.plan(planned_parts(self.article, self.ctx.settings))
        self.reconcile()
        image_parts = [image_part(url) for url in self.article.images]
        cover = self.cover_part()
        update = self.draft_update_part()
        publishing = self.ctx.settings.wechat_publish == "publish" or self.published_entry() is not None
        self.parts = [*image_parts, cover, "draft", *([update] if update else []),
                      *(["publish"] if publishing else [])]

        uploaded = {}
        for url, part in zip(self.article.images, image_parts):
            entry = self.settle(part, lambda url=url: self.upload_body_image(url))
            uploaded[url] = entry.remote_url
            self.finished()
        thumb_media_id = self.settle(cover, self.upload_cover).remote_id
        self.finished()
        body = draft_article(self.article, thumb_media_id, uploaded)
        draft_id = self.settle("draft", lambda: self.add_draft(body)).remote_id
        self.finished()
        if update:
            self.settle(update, lambda: self.update_draft(draft_id, body))
            self.finished()
        if not publishing:
            return Receipt("sent", self.done, len(self.parts), detail=f"draft {draft_id} is in the WeChat draft box",
                           remote_ids=(draft_id,))
        return self.publish(draft_id)

    def publish(self, draft_id: str) -> Receipt:
        stale = self.draft_is_stale()  # only possible here when published before the edit
        entry = self.settle("publish", lambda: self.submit(draft_id))
        url = entry.remote_url
        if not url:
            url = self.poll_publish(entry.remote_id) or None
            self.ledger.mark_sent("publish", remote_id=entry.remote_id, remote_url=url)
        self.finished()
        detail = f"published: {url}"
        if stale:
            detail += " (published before the post was last edited; publish again to send the edit)"
        return Receipt("sent", self.done, len(self.parts), detail=detail, remote_ids=(draft_id, entry.remote_id),
                       url=url)


def _unclaimable(entry: LedgerEntry | None, part: str) -> Exception:
    if entry is not None and entry.state == "failed" and not entry.retryable:
        return PermanentError(entry.last_error or f"WeChat part {part} failed")
    state = entry.state if entry is not None else "missing"
    return TransientError(f"WeChat part {part} is {state} in another attempt; trying again later")


def send_article(article: WechatArticle, ctx: SendContext,
                 timeouts: tuple[float, float] = DEFAULT_TIMEOUTS) -> Receipt:
    """Deliver the article as a draft (and publish it when wechat_publish = "publish"), resuming
    from the ledger: finished parts are never repeated, leftovers are reconciled first."""
    if not wechat_configured(ctx.settings):
        raise PermanentError("WeChat is not configured: set PUBLISHER_WECHAT_APP_ID and PUBLISHER_WECHAT_APP_SECRET")
    if not article.thumb:
        raise PermanentError("WeChat needs a cover image for a news article (thumb_media_id); set coverImage")
    client = WechatClient(ctx.settings, ctx.store, timeouts)
    try:
        return _Delivery(article, ctx, client).run()
    finally:
        client.close()
