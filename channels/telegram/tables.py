"""Markdown tables in Telegram, which has none (https://core.telegram.org/bots/api#html-style).

A narrow table of plain text stays an aligned monospace block. Any other table (too wide for a
phone, or holding links or images, which a <pre> block cannot carry) becomes one bullet line per
row, "• Header1: cell — Header2: cell", its links and images kept as <a>.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

from markdown_it.tree import SyntaxTreeNode

from channels.telegram.context import RenderContext
from channels.telegram.limits import (
    BULLETS, TABLE_CELL_SEPARATOR, TABLE_COLUMN_SEPARATOR, TABLE_LABEL_SEPARATOR, TABLE_MAX_WIDTH, TABLE_RULE,
    TABLE_RULE_CROSSING,
)
from channels.telegram.runs import PRE, Run
from publisher.language import is_cjk
from publisher.markdown import walk

Cell = tuple[list[Run], str]  # the cell's runs and its alignment style
_MEDIA_HTML = re.compile(r"<\s*(?:a|img)\b", re.I)


def table_rows(node: SyntaxTreeNode, cell_runs: Callable[[SyntaxTreeNode], list[Run]]) -> list[tuple[bool, list[Cell]]]:
    """(is header row, cells) of every row; each cell is rendered once (images are numbered)."""
    return [(section.type == "thead", [(cell_runs(cell), str(cell.attrs.get("style", ""))) for cell in row.children])
            for section in node.children for row in section.children]


def has_media(node: SyntaxTreeNode) -> bool:
    """True when the table holds a link or an image anywhere (Markdown or raw HTML)."""
    return any(n.type in ("link", "image") or (n.type == "html_inline" and _MEDIA_HTML.match(n.content))
               for n in walk(node))


def plain(runs: list[Run]) -> str:
    return " ".join("".join(run.text for run in runs).split())


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad_cell(text: str, width: int, style: str) -> str:
    gap = width - display_width(text)
    if "right" in style:
        return " " * gap + text
    if "center" in style:
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def _grid(rows: list[tuple[bool, list[Cell]]]) -> tuple[list[list[tuple[str, str]]], list[int]]:
    texts = [[(plain(runs), style) for runs, style in cells] for _, cells in rows]
    columns = max((len(r) for r in texts), default=0)
    texts = [r + [("", "")] * (columns - len(r)) for r in texts]
    widths = [max(display_width(r[c][0]) for r in texts) for c in range(columns)]
    return texts, widths


def monospace_width(rows: list[tuple[bool, list[Cell]]]) -> int:
    _, widths = _grid(rows)
    return sum(widths) + display_width(TABLE_COLUMN_SEPARATOR) * max(len(widths) - 1, 0)


def fits_monospace(node: SyntaxTreeNode, rows: list[tuple[bool, list[Cell]]]) -> bool:
    return not has_media(node) and monospace_width(rows) <= TABLE_MAX_WIDTH


def monospace_text(rows: list[tuple[bool, list[Cell]]]) -> str:
    """The table as aligned monospace text, a rule under the header row."""
    texts, widths = _grid(rows)
    if not texts:
        return ""
    lines = [TABLE_COLUMN_SEPARATOR.join(pad_cell(text, widths[c], style) for c, (text, style)
                                         in enumerate(row)).rstrip() for row in texts]
    if rows[0][0]:
        lines.insert(1, TABLE_RULE_CROSSING.join(TABLE_RULE * w for w in widths))
    return "\n".join(lines)


def label_separator(language: str) -> str:
    """"Header: cell", or "表头：内容" with the full-width colon CJK text uses."""
    return "：" if is_cjk(language) else TABLE_LABEL_SEPARATOR


def _one_line(runs: list[Run]) -> list[Run]:
    return [Run(" ".join(run.text.split("\n")), run.tags) for run in runs if run.text]


def row_lines(rows: list[tuple[bool, list[Cell]]], ctx: RenderContext) -> list[Run]:
    """One bullet line per body row, each cell labelled by its column's header."""
    header = rows[0][1] if rows and rows[0][0] else []
    body = [cells for is_header, cells in rows if not is_header] or ([header] if header else [])
    if body and body[0] is header:
        header = []
    separator = label_separator(ctx.language)
    lines: list[list[Run]] = []
    for cells in body:
        parts: list[list[Run]] = []
        for column, (runs, _) in enumerate(cells):
            if not plain(runs):
                continue
            label = _one_line(header[column][0]) if column < len(header) and plain(header[column][0]) else []
            parts.append(label + ([Run(separator, ctx.quote)] if label else []) + _one_line(runs))
        if parts:
            line = [Run(f"{BULLETS[0]} ", ctx.quote)]
            for index, part in enumerate(parts):
                line += ([Run(TABLE_CELL_SEPARATOR, ctx.quote)] if index else []) + part
            lines.append(line)
    out: list[Run] = []
    for line in lines:
        out += ([Run("\n", ctx.quote)] if out else []) + line
    return out


def table_runs(node: SyntaxTreeNode, ctx: RenderContext, cell_runs: Callable[[SyntaxTreeNode], list[Run]]) -> list[Run]:
    rows = table_rows(node, cell_runs)
    if not rows:
        return []
    if fits_monospace(node, rows):
        text = monospace_text(rows)
        return [Run(text, ctx.quote + (PRE,))] if text.strip() else []
    return row_lines(rows, ctx)
