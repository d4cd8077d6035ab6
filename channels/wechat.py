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
import html
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Iterator
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

from markdown_it import MarkdownIt
from markupsafe import Markup

from channels.base import Channel
from publisher.config import Settings
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
