"""The plain-text part: the Markdown tree as text wrapped at TEXT_WIDTH by display width, breaking
between CJK characters with the kinsoku rules, never inside words."""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Iterable, NamedTuple

from markdown_it.tree import SyntaxTreeNode

from channels.email.html import _absolute, _Context, _meta_line, _site_name, _tagged
from channels.email.limits import TEXT_WIDTH
from channels.email.message import TO_EMAIL, UNSUBSCRIBE_URL
from publisher.config import Settings
from publisher.markdown import html_links, html_to_text, inline_text
from publisher.post import Post

_HARD_BREAK = "\u2028"  # marks a Markdown hard break inside a paragraph until wrapping
_CJK = re.compile(r"[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
                  r"\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]")
_WRAP_UNITS = re.compile(rf"\s+|{_CJK.pattern}|(?:(?!{_CJK.pattern})\S)+")
# Line-breaking rules (kinsoku): never start a line with closing punctuation, never end one on opening.
_NO_LINE_START = set("，。、；：！？）」』》】〕〉”’…‥・ー々〜,.;:!?)]}%")
_NO_LINE_END = set("（「『《【〔〈“‘([{")


def _has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def _display_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _wrap(text: str, width: int = TEXT_WIDTH) -> list[str]:
    """Greedy wrap by display width; breaks at spaces and between CJK characters, never inside words."""
    lines = []
    for hard_line in text.split(_HARD_BREAK):
        lines += _wrap_line(hard_line, max(width, 20))
    return lines


class _Unit(NamedTuple):
    text: str
    width: int
    spaced: bool  # a space separated it from the unit before
    breakable: bool  # a line may start with it


def _wrap_line(text: str, width: int) -> list[str]:
    # Most lines: nothing to break, only spaces to collapse (a text longer than the width in
    # characters is wider still: every character is at least one column).
    if len(text) <= width and _display_width(text) <= width:
        return [" ".join(text.split())]
    lines: list[str] = []
    current: list[_Unit] = []
    current_width = 0  # _units_width(current), kept as units come and go (wrapping stays linear)
    for unit in _wrap_units(text):
        current_width += unit.width + (1 if unit.spaced and current else 0)
        current.append(unit)
        if len(current) > 1 and current_width > width:
            # Break at the last opportunity; a closing mark that cannot start a line pulls the
            # character before it along (kinsoku oidashi) instead of hanging past the margin.
            cut = next((k for k in range(len(current) - 1, 0, -1) if current[k].breakable), 0)
            if cut:
                lines.append(_units_text(current[:cut]))
                current = current[cut:]
                current_width = _units_width(current)
    lines.append(_units_text(current))
    return lines


@functools.lru_cache(maxsize=8192)
def _piece(piece: str) -> tuple[int, bool, bool, bool]:
    """A unit's display width, whether it starts and ends with CJK, and whether it may start a line."""
    return _display_width(piece), _has_cjk(piece[0]), _has_cjk(piece[-1]), piece[0] not in _NO_LINE_START


def _wrap_units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    spaced, previous_cjk, previous_opens = False, False, False
    for piece in _WRAP_UNITS.findall(text):
        if piece.isspace():
            spaced = True
            continue
        width, starts_cjk, ends_cjk, may_start = _piece(piece)
        breakable = (spaced or starts_cjk or previous_cjk) and may_start and not previous_opens
        units.append(_Unit(piece, width, spaced, breakable))
        spaced, previous_cjk, previous_opens = False, ends_cjk, piece[-1] in _NO_LINE_END
    return units


def _units_width(units: list[_Unit]) -> int:
    return sum(u.width + (1 if u.spaced and i else 0) for i, u in enumerate(units))


def _units_text(units: list[_Unit]) -> str:
    return "".join((" " if u.spaced and i else "") + u.text for i, u in enumerate(units))


def _join_softbreaks(text: str) -> str:
    """A source line break between two CJK characters is no space at all; elsewhere it is one."""
    def joiner(match: re.Match) -> str:
        before, after = text[match.start() - 1:match.start()], text[match.end():match.end() + 1]
        return "" if _has_cjk(before) and _has_cjk(after) else " "

    return re.sub("\n", joiner, text)


def _render_text(post: Post, settings: Settings, labels: dict, context: _Context) -> str:
    blocks: list[list[str]] = [_underlined(post.title, "=")]
    meta = _meta_line(post, labels)
    if meta:
        blocks.append(_wrap(meta))
    if post.summary:
        points = [labels["in_this_issue"] + labels["colon"].rstrip()]
        if len(post.summary) == 1:  # a summary written as prose reads as prose, not as one bullet
            points += _wrap(post.summary[0])
        else:
            for point in post.summary:
                points += _hanging("- ", _wrap(point, TEXT_WIDTH - 2))
        blocks.append(points)
    read_on_web = [labels["read_on_web"] + labels["colon"] + _tagged(post.url, context)]
    blocks.append(read_on_web)
    blocks += _text_blocks(post.tree.children, TEXT_WIDTH, context)
    blocks.append(["-" * 24])
    blocks.append(read_on_web)
    blocks.append(_wrap(labels["footer"].format(site=_site_name(settings)))
                  + [labels["sent_to"] + labels["colon"] + TO_EMAIL,
                     labels["unsubscribe"] + labels["colon"] + UNSUBSCRIBE_URL])
    return "\n\n".join("\n".join(line.rstrip() for line in block) for block in blocks if block) + "\n"


def _underlined(text: str, mark: str) -> list[str]:
    lines = _wrap(text)
    return lines + [mark * max(_display_width(line) for line in lines)]


def _hanging(marker: str, lines: list[str]) -> list[str]:
    pad = " " * len(marker)
    return [(marker if i == 0 else pad if line else "") + line for i, line in enumerate(lines)]


def _text_blocks(nodes: Iterable[SyntaxTreeNode], width: int, context: _Context) -> list[list[str]]:
    return [lines for node in nodes if (lines := _text_block(node, width, context))]


def _flatten(blocks: list[list[str]], tight: bool) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if out and not tight:
            out.append("")
        out += block
    return out


def _text_block(node: SyntaxTreeNode, width: int, context: _Context) -> list[str]:
    kind = node.type
    if kind == "paragraph":  # breaks at a paragraph's ends (an exported 'text<br>') add no blank lines
        text = _text_inline(node.children[0], context).strip(" \n" + _HARD_BREAK)
        return _wrap(re.sub(f"(?:[ ]*{re.escape(_HARD_BREAK)}[ ]*){{3,}}", _HARD_BREAK * 2, text), width)
    if kind == "heading":
        level = int(node.tag[1]) + context.heading_shift
        text = _text_inline(node.children[0], context).replace(_HARD_BREAK, " ")
        return _underlined(text, "-" if level <= 2 else "~") if level <= 3 else _wrap(text, width)
    if kind in ("bullet_list", "ordered_list"):
        return _text_list(node, width, context)
    if kind == "blockquote":
        inner = _flatten(_text_blocks(node.children, width - 2, context), tight=False)
        return [f"> {line}" if line else ">" for line in inner]
    if kind in ("fence", "code_block"):
        return [f"    {line}" if line.strip() else "" for line in node.content.rstrip("\n").split("\n")]
    if kind == "hr":
        return ["-" * 24]
    if kind == "html_block":
        return _text_raw_html(node.content, width, context)
    if kind == "table":
        return _text_table(node, context)
    if kind == "admonition":  # its title, then its body, set off by a bar like the HTML part's callout
        inner = _flatten(_text_blocks(node.children, width - 2, context), tight=False)
        return [f"| {line}" if line else "|" for line in inner]
    if kind == "dl":  # a term, its definitions indented under it; a blank line before the next term
        out: list[str] = []
        for child in node.children:
            out += ([""] if out and child.type == "dt" else []) + _text_block(child, width, context)
        return out
    if kind == "dd":
        inner = _flatten(_text_blocks(node.children, width - 4, context), tight=False)
        return [f"    {line}" if line else "" for line in inner]
    return _flatten(_text_blocks(node.children, width, context), tight=False)


def _text_list(node: SyntaxTreeNode, width: int, context: _Context) -> list[str]:
    start = int(node.attrs.get("start") or 1)
    tight = any(child.hidden for item in node.children for child in item.children if child.type == "paragraph")
    out: list[str] = []
    for number, item in enumerate(node.children, start):
        marker = f"{number}. " if node.type == "ordered_list" else "- "
        inner = _flatten(_text_blocks(item.children, width - len(marker), context), tight=tight)
        if out and not tight:
            out.append("")
        out += _hanging(marker, inner or [""])
    return out


def _text_raw_html(fragment: str, width: int, context: _Context) -> list[str]:
    lines = [wrapped for line in html_to_text(fragment).splitlines() for wrapped in _wrap(line, width)]
    seen = set()
    for text, href in html_links(fragment):
        if href in seen:
            continue
        seen.add(href)
        lines.append(f"{text} ({_tagged(href, context)})" if text and text != href else _tagged(href, context))
    return lines


def _text_table(node: SyntaxTreeNode, context: _Context) -> list[str]:
    rows = [[_text_inline(cell.children[0], context).replace(_HARD_BREAK, " ") if cell.children else ""
             for cell in row.children] for row in _table_rows(node)]
    if not rows:
        return []
    columns = max(len(r) for r in rows)
    rows = [r + [""] * (columns - len(r)) for r in rows]
    widths = [max(_display_width(r[i]) for r in rows) for i in range(columns)]

    def line(cells: list[str]) -> str:
        return " | ".join(c + " " * (w - _display_width(c)) for c, w in zip(cells, widths)).rstrip()

    has_head = any(part.type == "thead" for part in node.children)
    out = [line(r) for r in rows]
    if has_head:
        out.insert(1, "-+-".join("-" * w for w in widths))
    return out


def _table_rows(node: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    return [row for part in node.children for row in part.children if row.type == "tr"]


def _text_inline(node: SyntaxTreeNode, context: _Context) -> str:
    out = []
    for child in node.children:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(child.content)
        elif kind == "softbreak":
            out.append("\n")
        elif kind == "hardbreak":
            out.append(_HARD_BREAK)
        elif kind == "s":
            out.append(f"~~{_text_inline(child, context)}~~")  # struck text must not read as current
        elif kind == "link":
            href = _absolute(str(child.attrs.get("href", "")), context)
            label = _text_inline(child, context)
            shown = href.removeprefix("mailto:")
            tagged = _tagged(shown, context)
            out.append(tagged if label in (href, shown, "") else f"{label} ({tagged})")
        elif kind == "image":
            src = _absolute(str(child.attrs.get("src", "")), context)
            alt = inline_text(child) or context.labels["image"]
            out.append(f"[{alt}] ({src})")
        elif kind == "html_inline":
            if re.match(r"<br\s*/?>", child.content, re.I):
                out.append(_HARD_BREAK)
        else:
            out.append(_text_inline(child, context))
    return _join_softbreaks("".join(out)) if node.type == "inline" else "".join(out)
