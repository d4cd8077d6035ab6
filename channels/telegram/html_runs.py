"""Raw HTML in a post (already sanitized by nh3 at parse time) as runs: its text, its styles, every
link as <a> and every image as a link to it. Block tags become line breaks, like
publisher.markdown.html_to_text, so the text reads the same in every channel."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from channels.telegram.context import RenderContext, allowed_url
from channels.telegram.images import Image, empty_link_runs, image_runs, linked_images_runs
from channels.telegram.limits import BULLETS, HTML_CELL_SEPARATOR
from channels.telegram.runs import BLOCKQUOTE, BOLD, CODE, ITALIC, STRIKE, UNDERLINE, Run, Tag, link_tag, normalize_tags

STYLE = {"b": BOLD, "strong": BOLD, "i": ITALIC, "em": ITALIC, "u": UNDERLINE, "ins": UNDERLINE,
         "s": STRIKE, "strike": STRIKE, "del": STRIKE, "code": CODE, "kbd": CODE, "samp": CODE, "tt": CODE,
         "h1": BOLD, "h2": BOLD, "h3": BOLD, "h4": BOLD, "h5": BOLD, "h6": BOLD, "dt": BOLD}
# The tags publisher.markdown.html_to_text turns into line breaks, and a few more of the same kind.
BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr",
                   "table", "section", "article", "header", "footer", "hr", "figure", "figcaption", "pre", "dl",
                   "dt", "dd", "details", "summary", "caption", "nav", "aside", "hgroup", "center"})
VOID = frozenset({"br", "hr", "img", "wbr", "area", "col"})
_BREAK = "\n"  # a line break between blocks; whitespace inside text is collapsed to spaces


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list["Element | str"] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    """A forgiving tree of a fragment: a raw HTML block may open a tag another block closes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_fragment(fragment: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(fragment)
    builder.close()
    return builder.root


def tag_attributes(fragment: str) -> dict[str, str]:
    """The attributes of the first tag of a fragment like '<img src="x" alt="y">'."""
    root = parse_fragment(fragment)
    first = next((c for c in root.children if isinstance(c, Element)), None)
    return first.attrs if first else {}


def image_of(attrs: dict[str, str], caption: str = "") -> Image:
    return Image(attrs.get("src", ""), (attrs.get("alt", ""), attrs.get("title", ""), caption))


def text_of(node: Element | str) -> str:
    if isinstance(node, str):
        return node
    return "" if node.tag == "img" else "".join(text_of(c) for c in node.children)


def images_in(node: Element) -> list[Element]:
    found = []
    for child in node.children:
        if isinstance(child, Element):
            found += [child] if child.tag == "img" else images_in(child)
    return found


def has_link(node: Element) -> bool:
    return any(isinstance(c, Element) and (c.tag == "a" or has_link(c)) for c in node.children)


class _Writer:
    """Walks the tree into pieces: (text, tags) or _BREAK."""

    def __init__(self, ctx: RenderContext):
        self.ctx = ctx
        self.pieces: list[tuple[str, tuple[Tag, ...]] | str] = []

    def runs(self, runs: list[Run]) -> None:
        self.pieces += [(run.text, run.tags) for run in runs]

    def walk(self, node: Element, tags: tuple[Tag, ...]) -> None:
        children = node.children
        caption = self._figure_caption(node) if node.tag == "figure" else None
        cells = 0
        for child in children:
            if isinstance(child, str):
                self.pieces.append((child, normalize_tags(self.ctx.quote + tags)))
                continue
            if caption is not None and child.tag == "figcaption":
                continue  # it already labels the figure's image
            if child.tag in ("td", "th"):
                if cells:
                    self.pieces.append((HTML_CELL_SEPARATOR, normalize_tags(self.ctx.quote + tags)))
                cells += 1
            self.element(child, tags, caption or "")

    def element(self, node: Element, tags: tuple[Tag, ...], caption: str) -> None:
        tag = node.tag
        if tag == "img":
            self.runs(image_runs(image_of(node.attrs, caption), tags, self.ctx))
            return
        if tag == "a":
            self.link(node, tags)
            return
        block = tag in BLOCK
        if block:
            self.pieces.append(_BREAK)
        if tag == "li":
            self.pieces.append((f"{BULLETS[0]} ", normalize_tags(self.ctx.quote + tags)))
        inner = tags + ((STYLE[tag],) if tag in STYLE else ())
        if tag == "blockquote" and not self.ctx.quote:
            inner = (BLOCKQUOTE,) + inner
        self.walk(node, inner)
        if block:
            self.pieces.append(_BREAK)

    def link(self, node: Element, tags: tuple[Tag, ...]) -> None:
        href = allowed_url(html.unescape(node.attrs.get("href", "")), self.ctx.base_url)
        if href is None:
            self.walk(node, tags)
            return
        visible = text_of(node).strip()
        images = images_in(node)
        if not visible and images:
            self.runs(linked_images_runs(href, [image_of(i.attrs) for i in images], tags, self.ctx))
        elif not visible:
            self.runs(empty_link_runs(href, tags, self.ctx))
        else:
            self.walk(node, tags + (link_tag(href),))

    @staticmethod
    def _figure_caption(node: Element) -> str | None:
        """The caption of a figure of one image, when it is plain text (it then labels the image)."""
        captions = [c for c in node.children if isinstance(c, Element) and c.tag == "figcaption"]
        direct = [c for c in node.children if isinstance(c, Element) and c.tag == "img"]
        if len(captions) != 1 or len(direct) != 1 or len(images_in(node)) != 1 or has_link(captions[0]):
            return None
        text = " ".join(text_of(captions[0]).split())
        return text or None


def _space_tags(before: tuple[Tag, ...], after: tuple[Tag, ...]) -> tuple[Tag, ...]:
    common = 0
    while common < min(len(before), len(after)) and before[common] == after[common]:
        common += 1
    return before[:common]


def collapse(pieces: list[tuple[str, tuple[Tag, ...]] | str], quote: tuple[Tag, ...]) -> list[Run]:
    """Whitespace collapsed to single spaces, no space at a line's ends, no empty lines."""
    lines: list[list[Run]] = [[]]
    space = False
    for piece in pieces:
        if piece == _BREAK:
            lines.append([])
            space = False
            continue
        text, tags = piece  # type: ignore[misc]
        for token in re.split(r"(\s+)", text):
            if not token:
                continue
            if token.isspace():
                space = bool(lines[-1])
                continue
            if space:
                lines[-1].append(Run(" ", _space_tags(lines[-1][-1].tags, tags)))
                space = False
            lines[-1].append(Run(token, tags))
    out: list[Run] = []
    for line in filter(None, lines):
        out += ([Run("\n", quote)] if out else []) + line
    return out


def html_block_runs(fragment: str, ctx: RenderContext) -> list[Run]:
    """A sanitized raw HTML block as runs."""
    writer = _Writer(ctx)
    writer.walk(parse_fragment(fragment), ())
    return collapse(writer.pieces, ctx.quote)
