"""Plain text of the Markdown tree: the post body as blocks of text with no Markdown syntax left."""
from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urljoin

from markdown_it.tree import SyntaxTreeNode

from channels.x.limits import LINE_SEP, PARAGRAPH_SEP
from publisher.markdown import html_images, html_to_text, parse_body
from publisher.post import Post


@dataclass(frozen=True)
class Block:
    """One piece of plain text that starts on its own line; `sep` joins it to the previous block."""
    text: str
    sep: str = PARAGRAPH_SEP
    images: tuple[str, ...] = ()
    lead: int = 0  # length of a list marker ("• ", "3. ") that must stay with the text after it
    kind: str = "text"  # text | title | heading | code | html | quote | table(-head) | image | link
    tail: int = 0  # length of an ending that must stay with the text before it (a quote's attribution)
    level: int = 0  # a heading's level (2 for ##)


_CJK_CHARS = ("\u1100-\u11ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f"
              "\u31a0-\u31ff\u3200-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f"
              "\uff00-\uffef\U00020000-\U0003134f")
_CJK = re.compile(f"[{_CJK_CHARS}]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SOFT_BREAK = None  # stands for a soft line break among inline parts until its neighbours are known
_KEPT_BREAK = "\x00"  # a soft break kept as a mark (a quote's attribution line starts after one)
# "— Alan Kay", "-- A reader", "——鲁迅": the short line that names who said a quote
ATTRIBUTION = re.compile(r"^\s*(?:[—―–~]+|-{2,})\s*[^—―–\-~\s].{0,80}$", re.S)
# a quote written with its own marks is not quoted again
_OPENING_QUOTES = "“\"「『«‘'„"


def absolute_url(ref: str, base: str) -> str | None:
    """An http(s) URL for a link or image reference, relative ones resolved against the post URL;
    None for anchors, mail and other schemes."""
    ref = ref.strip()
    if ref.startswith(("http://", "https://")):
        return ref
    if not ref or ref.startswith("#") or re.match(r"[a-z][a-z0-9+.-]*:", ref, re.I):
        return None
    try:
        url = urljoin(base, ref.replace(" ", "%20"))
    except ValueError:  # "//[broken"
        return None
    return url if re.match(r"https?://[^\s/]+", url) else None


class _TextContext:
    """What plain-text conversion of one post needs: the post URL, and URLs already shown.

    With `show_urls` off, links are their text alone (summary lines, where the item's own link
    has a line of its own)."""

    def __init__(self, post_url: str, show_urls: bool = True):
        self.base = post_url
        self.show_urls = show_urls
        self.shown_urls = {_same_url_key(post_url)}

    def link_suffix(self, label: str, href: str) -> str:
        """The " (url)" to put after a link's text when the URL adds information, else ""."""
        url = absolute_url(href, self.base)
        if url is None or not self.show_urls:
            return ""
        key = _same_url_key(url)
        label_key = _same_url_key(label.strip())
        if key in self.shown_urls or not label.strip() or label_key == key or url in label:
            return ""
        self.shown_urls.add(key)
        return f" ({url})"

    def image(self, src: str) -> str | None:
        return absolute_url(src, self.base)


def _same_url_key(url: str) -> str:
    return re.sub(r"^https?://", "", url.strip()).rstrip("/").lower()


def _inline_plain(node: SyntaxTreeNode, ctx: _TextContext, images: list[str]) -> str:
    return _join_parts(_inline_parts(node, ctx, images))


def _join_parts(parts: list[str | None], keep_breaks: bool = False) -> str:
    """Join inline parts; a soft break is a space, or nothing between two CJK characters
    (or _KEPT_BREAK with `keep_breaks`)."""
    out: list[str] = []
    for index, part in enumerate(parts):
        if part is not _SOFT_BREAK:
            out.append(part)
            continue
        if keep_breaks:
            out.append(_KEPT_BREAK)
            continue
        before = next((p for p in reversed(out) if p), "")[-1:]
        after = next((p for p in parts[index + 1:] if p), "")[:1]
        out.append("" if _CJK.match(before) and _CJK.match(after) else " ")
    return "".join(out)


def join_lines(lines: Iterable[str]) -> str:
    """Lines of one paragraph as one line: a space between them, nothing between CJK characters."""
    out = ""
    for line in (line.strip() for line in lines):
        if out and line:
            out += "" if _CJK.match(out[-1]) and _CJK.match(line[0]) else " "
        out += line
    return out


def _inline_parts(node: SyntaxTreeNode, ctx: _TextContext, images: list[str]) -> list[str | None]:
    return children_parts(node.children, ctx, images)


def children_parts(children: Iterable[SyntaxTreeNode], ctx: _TextContext, images: list[str]) -> list[str | None]:
    """Plain-text parts of inline nodes (soft breaks as _SOFT_BREAK); images are collected."""
    parts: list[str | None] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind == "softbreak":
            parts.append(_SOFT_BREAK)
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "image":
            src = ctx.image(str(child.attrs.get("src", "")))
            if src:
                images.append(src)
            parts.append(child.content or "")
        elif kind == "link":
            label = _inline_parts(child, ctx, images)
            parts.extend(label)
            parts.append(ctx.link_suffix(_join_parts(label), str(child.attrs.get("href", ""))))
        elif kind == "html_inline":
            continue
        elif child.children:
            parts.extend(_inline_parts(child, ctx, images))
    return parts


def plain_children(children: Iterable[SyntaxTreeNode], ctx: _TextContext, images: list[str]) -> str:
    return _join_parts(children_parts(children, ctx, images)).strip()


def _text_block(inline: SyntaxTreeNode, ctx: _TextContext, kind: str = "text", level: int = 0) -> Block:
    images: list[str] = []
    text = _inline_plain(inline, ctx, images).strip()
    if kind == "text" and images and all(c.type in ("image", "softbreak", "hardbreak") or
                                         (c.type == "text" and not c.content.strip()) for c in inline.children):
        return Block("", images=tuple(images), kind="image")  # the images show; their alt text is no caption
    return Block(text, images=tuple(images), kind=kind, level=level)


def article_blocks(post: Post) -> list[Block]:
    """The body of `post` as plain-text blocks, in order, with no Markdown syntax left."""
    return _blocks(post.tree.children, _TextContext(post.url))


def _blocks(nodes: Iterable[SyntaxTreeNode], ctx: _TextContext, depth: int = 0) -> list[Block]:
    out: list[Block] = []
    nodes = list(nodes)
    skip = set()
    for index, node in enumerate(nodes):
        kind = node.type
        if index in skip:
            continue
        if kind == "paragraph":
            out.append(_text_block(node.children[0], ctx))
        elif kind == "heading":
            out.append(_text_block(node.children[0], ctx, kind="heading", level=int(node.tag[1:] or 0)))
        elif kind in ("bullet_list", "ordered_list"):
            out.extend(_list_blocks(node, ctx, depth))
        elif kind == "blockquote":
            after = nodes[index + 1] if index + 1 < len(nodes) else None
            quiet = _TextContext(ctx.base, show_urls=False)  # looking ahead shows no URL yet
            signed = after is not None and after.type == "paragraph" and \
                ATTRIBUTION.match(_inline_plain(after.children[0], quiet, []))
            if signed:  # "——鲁迅" written under the quote is its attribution
                skip.add(index + 1)
            out.extend(_quote_blocks(node, ctx, depth, after if signed else None))
        elif kind in ("fence", "code_block"):
            out.append(Block(node.content.strip("\n"), kind="code"))
        elif kind == "table":
            out.extend(_table_blocks(node, ctx))
        elif kind == "html_block":
            out.extend(_html_blocks(node.content, ctx))
        elif kind == "hr":
            continue
        elif kind == "admonition" and node.children:  # "Note: its text", never the title alone
            out.extend(_titled(node.children[0], _blocks(node.children[1:], ctx, depth), ctx))
        elif kind == "dl":  # "Term: its definition"
            for term, definition in zip(node.children[::2], node.children[1::2]):
                out.extend(_titled(term.children[0], _blocks(definition.children, ctx, depth), ctx)
                           if term.type == "dt" and term.children else _blocks([term, definition], ctx, depth))
            if len(node.children) % 2:
                out.extend(_blocks(node.children[-1:], ctx, depth))
        elif node.children:
            out.extend(_blocks(node.children, ctx, depth))
    return [b for b in out if b.text.strip() or b.images]


def _titled(title: SyntaxTreeNode, body: list[Block], ctx: _TextContext) -> list[Block]:
    """A title paragraph leading the first block of its body ("Tip: …", "提示：…")."""
    label = _text_block(title.children[0], ctx) if title.children else Block("")
    first = body[0] if body else None
    if first is None or first.kind != "text" or not first.text or not label.text:
        return [label, *body]
    colon = " " if label.text[-1] in ":：" else "：" if _CJK.match(label.text[-1]) else ": "
    merged = dataclasses.replace(first, text=label.text + colon + first.text, images=label.images + first.images)
    return [merged, *body[1:]]


def _list_blocks(node: SyntaxTreeNode, ctx: _TextContext, depth: int) -> list[Block]:
    out: list[Block] = []
    start = int(node.attrs.get("start", 1) or 1)
    for index, item in enumerate(node.children):
        if node.type == "ordered_list":
            marker = f"{start + index}{item.markup or '.'} "
        else:
            marker = "• " if depth == 0 else "◦ "
        inner = _blocks(item.children, ctx, depth + 1)
        if not inner or inner[0].lead:  # an item that opens with a nested list still shows its marker
            inner.insert(0, Block(""))
        first = inner[0]
        inner[0] = Block(marker + first.text, images=first.images, lead=len(marker), kind=first.kind)
        out.extend(Block(b.text, LINE_SEP, b.images, b.lead, b.kind) for b in inner)
    if out:
        out[0] = Block(out[0].text, PARAGRAPH_SEP if depth == 0 else LINE_SEP, out[0].images,
                       out[0].lead, out[0].kind)
    return out


def _quote_blocks(node: SyntaxTreeNode, ctx: _TextContext, depth: int,
                  signature: SyntaxTreeNode | None) -> list[Block]:
    """A blockquote as one block: its text in quote marks (unless written with them), then its
    attribution line ("— Alan Kay"), which stays with the end of the quote."""
    paragraphs = [c for c in node.children if c.type == "paragraph"]
    if len(paragraphs) != len(node.children):  # lists, code...: quote each block as it is
        return _quoted(_blocks(node.children, ctx, depth))
    images: list[str] = []
    written = paragraphs + ([signature] if signature is not None else [])
    body: list[str] = []
    said = ""
    for index, paragraph in enumerate(written):
        lines = _join_parts(_inline_parts(paragraph.children[0], ctx, images), keep_breaks=True).split(_KEPT_BREAK)
        # only the last paragraph may end with who said it, and never as the quote's first line
        first = 0 if index else 1
        signed = next((k for k in range(first, len(lines)) if index == len(written) - 1
                       and ATTRIBUTION.match(join_lines(lines[k:]))), None)
        if signed is None:
            body.append(join_lines(lines))
            continue
        body.append(join_lines(lines[:signed]))
        said = join_lines(lines[signed:])
    text = _quote("\n".join(p for p in body if p))
    if said:
        text = f"{text}{LINE_SEP}{said}" if text else said
    if not text:
        return [Block("", images=tuple(images), kind="quote")] if images else []
    return [Block(text, images=tuple(images), kind="quote", tail=len(said) if text != said else 0)]


def _quote(text: str) -> str:
    """`text` in quote marks, unless it already opens with one (no doubled marks)."""
    if not text or text.lstrip()[0] in _OPENING_QUOTES:
        return text
    return f"“{text}”"


def _quoted(blocks: list[Block]) -> list[Block]:
    return [Block(_quote(b.text) if b.text and b.kind != "code" else b.text, b.sep, b.images, b.lead, b.kind)
            for b in blocks]


def _table_blocks(node: SyntaxTreeNode, ctx: _TextContext) -> list[Block]:
    out: list[Block] = []
    for section in node.children:
        for row in section.children:
            images: list[str] = []
            cells = [_inline_plain(cell.children[0], ctx, images).strip() if cell.children else ""
                     for cell in row.children]
            head = section.type == "thead"  # the header row travels with the rows under it
            out.append(Block(" · ".join(cells).strip(), PARAGRAPH_SEP if not out else LINE_SEP,
                             tuple(images), kind="table-head" if head else "table"))
    return out


_HTML_LINK = re.compile(r"""<a\b[^>]*\bhref\s*=\s*["']([^"']+)["'][^>]*>(.*?)</a>""", re.I | re.S)


def _html_blocks(fragment: str, ctx: _TextContext) -> list[Block]:
    """A (sanitized) raw HTML block as text lines; a link keeps its text and, if new, its URL."""
    def with_url(match: re.Match) -> str:
        label = html_to_text(match.group(2))
        suffix = ctx.link_suffix(label, html.unescape(match.group(1)))
        return match.group(2) + html.escape(suffix)

    text = html_to_text(_HTML_LINK.sub(with_url, fragment))
    images = tuple(dict.fromkeys(url for url in map(ctx.image, html_images(fragment)) if url))
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return [Block("", images=images, kind="html")] if images else []
    return [Block(line, PARAGRAPH_SEP if i == 0 else LINE_SEP, images if i == 0 else (), kind="html")
            for i, line in enumerate(lines)]


def _plain_inline_text(markdown: str, ctx: _TextContext) -> str:
    """Plain text of a short Markdown snippet (a summary point written with **bold** or links)."""
    text = " ".join(b.text for b in _blocks(parse_body(markdown).children, ctx))
    return " ".join(text.split()) or " ".join(markdown.split())
