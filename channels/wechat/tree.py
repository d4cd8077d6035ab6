"""A forgiving HTML tree (the input is markdown-it output plus nh3-sanitized fragments): unclosed
and stray tags are tolerated, dropped elements lose their content. And what its tables need to be
read on a phone: their text's width, measured once here so writer.py only writes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Iterator

from channels.wechat.theme import DROPPED_WITH_CONTENT, VOID_TAGS
from publisher.language import CJK


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


def _text_of(node, alt: bool = True) -> str:
    """The text of a node; an image counts as its alt text unless `alt` is False."""
    if isinstance(node, str):
        return node
    if node.tag == "img":
        return node.attrs.get("alt", "") if alt else ""
    return "".join(_text_of(child, alt) for child in node.children)


def _is_blank(node) -> bool:
    return isinstance(node, str) and not node.strip(" \t\n\r\f")


# --- Table widths, in em of the table's 14px text. ---
# A 375 px phone shows about 22em of it, WeChat's page padding and ours taken off. Latin text in a
# cell wraps at spaces only (the table resets the article's break-word), so its words stay whole;
# CJK text may break between any two characters, so a short CJK cell (up to ONE_LINE_EM) is kept on
# one line (white-space:nowrap) and a column of longer CJK text must not get too narrow. Browsers
# share a table's width among auto columns by interpolating every column alike between its
# narrowest (min-content) and its one-line (max-content) width
# (https://www.w3.org/TR/css-tables-3/#width-distribution-algorithm), so the table's min-width is
# the width at which every wrapping column gets at least WRAPPED_MIN_EM; a table needing more than
# the phone gets it and scrolls in its wrapper instead of squeezing words.
PHONE_TABLE_EM = 22
ONE_LINE_EM = 8
WRAPPED_MIN_EM = 5
TABLE_MAX_EM = 60  # beyond this a table is a spreadsheet: let its widest columns wrap more
TABLE_IMAGE_EM = 6  # an image in a cell is a thumbnail (theme "img/cell")
CELL_PADDING_EM = 1.3  # 8px each side and the border
LATIN_CHAR_EM = 0.6  # an average Latin letter or digit, letter-spacing included
CJK_CHAR_EM = 1.1
_WORD = re.compile(r"[^\s]+")


def _cell_em(cell: _Element) -> tuple[float, float]:
    """(narrowest, one-line) width of a cell's content."""
    text = " ".join(_text_of(cell, alt=False).split())
    cjk = len(CJK.findall(text))
    images = _count(cell, "img")
    line = cjk * CJK_CHAR_EM + (len(text) - cjk) * LATIN_CHAR_EM + images * TABLE_IMAGE_EM
    if cjk and line <= ONE_LINE_EM:
        return line, line  # kept on one line
    words = [len(w) * LATIN_CHAR_EM for w in _WORD.findall(CJK.sub(" ", text))]
    return max([*words, CJK_CHAR_EM if cjk else 0.0, TABLE_IMAGE_EM if images else 0.0]), line


def keeps_one_line(cell: _Element) -> bool:
    """A short CJK cell, which the table keeps from breaking between its characters."""
    text = _text_of(cell, alt=False)
    return bool(CJK.search(text)) and _cell_em(cell)[1] <= ONE_LINE_EM


def table_width_em(table: _Element) -> float:
    """The min-width that gives every wrapping column WRAPPED_MIN_EM (or its whole text); cells
    spanning columns count for nothing."""
    columns: dict[int, tuple[float, float]] = {}
    for row in _rows(table):
        column = 0
        for cell in row:
            span = int(cell.attrs["colspan"]) if cell.attrs.get("colspan", "").isdigit() else 1
            if span == 1:
                low, high = _cell_em(cell)
                known = columns.get(column, (0.0, 0.0))
                columns[column] = (max(known[0], low), max(known[1], high))
            column += max(span, 1)
    share = max([(min(high, WRAPPED_MIN_EM) - low) / (high - low)
                 for low, high in columns.values() if high > low and low < WRAPPED_MIN_EM] or [0.0])
    width = sum(low + share * (high - low) + CELL_PADDING_EM for low, high in columns.values())
    return min(round(width * 2) / 2, TABLE_MAX_EM)


def _rows(node: _Element) -> Iterator[list[_Element]]:
    for child in node.children:
        if isinstance(child, _Element) and child.tag == "tr":
            yield [c for c in child.children if isinstance(c, _Element) and c.tag in ("th", "td")]
        elif isinstance(child, _Element) and child.tag in ("thead", "tbody", "tfoot"):
            yield from _rows(child)


def _count(node, tag: str) -> int:
    if isinstance(node, str):
        return 0
    return (node.tag == tag) + sum(_count(child, tag) for child in node.children)
