"""A forgiving HTML tree (the input is markdown-it output plus nh3-sanitized fragments): unclosed
and stray tags are tolerated, dropped elements lose their content."""
from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from channels.wechat.theme import DROPPED_WITH_CONTENT, VOID_TAGS


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
