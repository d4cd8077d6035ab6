"""The one parse of a post body (markdown-it-py: CommonMark + tables + strikethrough, and the
footnotes, task lists, definition lists, bare URLs and admonitions of markdown_plugins.py).

Raw HTML is sanitized here, once, so no channel ever sees script, style, iframe or on* handlers.
Renderers walk the returned `SyntaxTreeNode`; helpers below give them plain text and links.
"""
from __future__ import annotations

import html
import re
import threading

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from publisher.html_markdown import markdown_in_html
from publisher.markdown_dialects import read_as_written
from publisher.markdown_plugins import use_plugins

# Tags whose content is dropped with them (not merely unwrapped).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "noscript", "template"})
ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS) - DROPPED_WITH_CONTENT
_TAG = re.compile(r"^<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9-]*)")


_PARSERS = threading.local()  # one parser per thread: linkify's matcher keeps state between calls


def _parser() -> MarkdownIt:
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = use_plugins(MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(["table", "strikethrough"]))
        _PARSERS.parser = parser
    return parser


def sanitize_html(fragment: str) -> str:
    """Clean a raw HTML block: only safe tags/attributes, no script/style/iframe, no on* handlers."""
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        url_schemes={"http", "https", "mailto", "tg"},
        link_rel=None,
    )


def _sanitize_inline(children: list[Token]) -> list[Token]:
    """Keep allowed inline tags (attributes cleaned), drop others; drop text inside script/style."""
    out: list[Token] = []
    dropping: str | None = None
    for tok in children:
        if tok.type != "html_inline":
            if dropping is None:
                out.append(tok)
            continue
        m = _TAG.match(tok.content)
        if not m:  # comment, processing instruction, CDATA
            continue
        closing, name = m.group(1) == "/", m.group(2).lower()
        if dropping is not None:
            if closing and name == dropping:
                dropping = None
            continue
        if name in DROPPED_WITH_CONTENT:
            if not closing and not tok.content.rstrip().endswith("/>"):
                dropping = name
            continue
        if name not in ALLOWED_TAGS:
            continue
        if closing:
            tok.content = f"</{name}>"
        else:
            cleaned = sanitize_html(tok.content)
            end = cleaned.rfind("</")
            tok.content = cleaned[:end] if end > 0 else cleaned
        out.append(tok)
    return out


def parse_body(markdown: str) -> SyntaxTreeNode:
    """Parse a body once; raw HTML comes out sanitized."""
    tokens = _parser().parse(read_as_written(markdown))
    for tok in tokens:
        if tok.type == "html_block":
            tok.content = sanitize_html(markdown_in_html(tok.content))
        elif tok.type == "inline" and tok.children:
            tok.children = _sanitize_inline(tok.children)
    return SyntaxTreeNode(tokens)


def inline_text(node: SyntaxTreeNode) -> str:
    """Plain text of an inline subtree: no Markdown syntax, links as their text, breaks as spaces."""
    parts: list[str] = []
    for child in node.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n" if child.type == "hardbreak" else " ")
        elif child.type == "image":
            parts.append(inline_text(child))
        elif child.type == "html_inline":
            continue
        elif child.type == "inline" or child.children:
            parts.append(inline_text(child))
    return "".join(parts)


def block_text(node: SyntaxTreeNode) -> str:
    """Plain text of a block (paragraph, heading, ...): the text of its inline content."""
    if node.type == "inline":
        return inline_text(node)
    if node.type in ("fence", "code_block"):
        return node.content.rstrip("\n")
    if node.type == "html_block":
        return html_to_text(node.content)
    return "\n".join(block_text(c) for c in node.children)


_BLOCK_TAGS = re.compile(r"</?(p|div|br|li|ul|ol|h[1-6]|blockquote|tr|table|section|article|header|footer|hr)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"<[^>]+>")
_CELL_GAP = re.compile(r"</t[dh]\s*>\s*(?=<t[dh]\b)", re.I)


def html_to_text(fragment: str) -> str:
    """Readable text of a (sanitized) HTML fragment: block tags become line breaks, table cells of
    one row are parted by " · "."""
    text = _CELL_GAP.sub(" · ", fragment)  # cells of one row: "Tool · 120ms", not "Tool120ms"
    text = _BLOCK_TAGS.sub("\n", text)
    text = html.unescape(_ANY_TAG.sub("", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


_HREF = re.compile(r"""<a\b[^>]*\bhref\s*=\s*["']([^"']+)["'][^>]*>(.*?)</a>""", re.I | re.S)
_IMG = re.compile(r"""<img\b[^>]*\bsrc\s*=\s*["']([^"']+)["'][^>]*>""", re.I)


def html_links(fragment: str) -> list[tuple[str, str]]:
    """(text, href) of every link in a sanitized HTML fragment, in order."""
    return [(html_to_text(text), html.unescape(href)) for href, text in _HREF.findall(fragment)]


def html_images(fragment: str) -> list[str]:
    """Every image source in a sanitized HTML fragment, in order."""
    return [html.unescape(src) for src in _IMG.findall(fragment)]


def walk(node: SyntaxTreeNode):
    """Every node under `node`, depth first, in document order."""
    for child in node.children:
        yield child
        yield from walk(child)


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def is_mostly_cjk(text: str) -> bool:
    """True when CJK characters outnumber Latin letters: chooses 阅读原文 over 'Read more'."""
    cjk = len(_CJK.findall(text))
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return cjk > 0 and cjk * 2 >= latin
