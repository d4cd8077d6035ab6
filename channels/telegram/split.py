"""Splitting: runs packed into messages of at most a limit of UTF-16 units, cut at the best boundary
(paragraph, line, sentence, space), never inside a glyph or right after a list marker, and never
right after a heading: a heading travels with the block after it (a *group*)."""
from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_right
from typing import Collection, Iterator

from channels.telegram.limits import MIN_FILL
from channels.telegram.runs import PRE, Block, Run, runs_length, utf16_length


_SENTENCE_END = frozenset("。！？!?；;…")
_CLOSERS = frozenset("\"'”’」』）)]》")


def _is_glue(ch: str) -> bool:
    """Characters that belong to the character before them (a cut there would break a glyph)."""
    code = ord(ch)
    return (unicodedata.combining(ch) != 0 or code == 0x200D or 0xFE00 <= code <= 0xFE0F
            or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F or 0xE0100 <= code <= 0xE01EF
            or unicodedata.category(ch) in ("Mn", "Me"))


def _safe_char_cut(text: str, cut: int, lowest: int) -> int:
    """Move a forced cut left so it does not split a combining sequence, ZWJ emoji or flag."""
    for candidate in range(cut, max(lowest, cut - 32), -1):
        before, after = text[candidate - 1], text[candidate] if candidate < len(text) else ""
        if not after:
            return candidate
        if _is_glue(after) or ord(before) == 0x200D or _after_list_marker(text, candidate):
            continue
        if _is_regional(before) and _is_regional(after) and _regional_run(text, candidate) % 2 == 1:
            continue
        return candidate
    return cut


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _regional_run(text: str, end: int) -> int:
    count = 0
    while end - count - 1 >= 0 and _is_regional(text[end - count - 1]):
        count += 1
    return count


_LIST_MARKER_LINE = re.compile(r"[ \t]*(?:[•◦▪] ?|\d+(?:\. ?)?)")


def _after_list_marker(text: str, cut: int) -> bool:
    """A cut in or right after "• " or "12. " would leave a bare marker at the end of a message."""
    line_start = text.rfind("\n", 0, cut) + 1
    return _LIST_MARKER_LINE.fullmatch(text, line_start, cut) is not None


def _boundaries(text: str, start: int, end: int, lowest: int) -> Iterator[tuple[int, int]]:
    """Candidate (cut, resume) pairs in text[lowest:end], best kind first, latest first."""
    span = range(end, lowest - 1, -1)
    for i in span:  # paragraph break
        if i < end and text.startswith("\n\n", i):
            yield i, i + 2
    for i in span:  # line break
        if i < end and text[i] == "\n":
            yield i, i + 1
    for i in span:  # sentence end (CJK needs no space after it)
        if i <= start or _after_list_marker(text, i):
            continue
        if text[i - 1] in _SENTENCE_END and (i == len(text) or text[i] not in _CLOSERS):
            yield i, i
        if i > start + 1 and text[i - 1] in _CLOSERS and text[i - 2] in _SENTENCE_END:
            yield i, i
        if i < len(text) and text[i - 1] == "." and text[i].isspace():
            yield i, i + 1
    for i in span:  # whitespace
        if i < end and text[i].isspace() and not _after_list_marker(text, i):
            yield i, i + 1


def split_text_spans(text: str, limit: int, first_limit: int | None = None, keep: int = 0) -> list[tuple[int, int]]:
    """Cut text into (start, end) spans, each at most `limit` UTF-16 units, at the best boundary.

    The first span may be given a smaller limit (the room left in a message already started).
    No span ends within the first `keep` characters (headings and the break after them) unless
    they are longer than a span: a cut falls after the start of the block they introduce.
    """
    units = [0, *itertools.accumulate(utf16_length(ch) for ch in text)]
    spans: list[tuple[int, int]] = []
    start = 0
    full_limit, limit = limit, first_limit or limit
    while start < len(text):
        if spans:
            limit = full_limit
        end = bisect_right(units, units[start] + limit) - 1
        if end >= len(text):
            spans.append((start, len(text)))
            break
        if end <= start:  # one character wider than the limit (only if limit < 2): take it anyway
            end = start + 1
        lowest = max(start + 1, bisect_right(units, units[start] + int(limit * MIN_FILL)) - 1)
        if start < keep < end:
            lowest = max(lowest, keep + 1)
        elif start < keep:  # the headings alone fill the span: cut between them, so the last one
            between = _between_headings(text, units, start, min(end, keep - 2), limit)  # goes on with its block
            if between is not None:
                spans.append((start, between))
                start = between + 2
                continue
        cut, resume = next(_boundaries(text, start, end, lowest), (None, None))
        if cut is None or cut <= start:
            cut = resume = _safe_char_cut(text, end, start + 1)
        spans.append((start, cut))
        start = resume
    return [(a, b) for a, b in spans if b > a]


def _between_headings(text: str, units: list[int], start: int, stop: int, limit: int) -> int | None:
    """The last break between two headings before `stop` that follows a heading long enough to end
    a message as a paragraph would (a short one there would be stranded), or None: then the cut
    falls inside the next heading instead, which keeps the short one with what follows it."""
    at = stop
    while (at := text.rfind("\n\n", start + 1, at)) > start:
        opening = text.rfind("\n\n", start, at)
        opening = start if opening < 0 else opening + 2
        if units[at] - units[opening] > limit // 4:
            return at
    return None


def slice_runs(runs: Block, start: int, end: int) -> list[Run]:
    out, offset = [], 0
    for run in runs:
        a, b = max(start, offset), min(end, offset + len(run.text))
        if a < b:
            out.append(Run(run.text[a - offset:b - offset], run.tags))
        offset += len(run.text)
    return out


def split_block(block: Block, limit: int, first_limit: int | None = None, keep: int = 0) -> list[list[Run]]:
    text = "".join(run.text for run in block)
    return [slice_runs(block, a, b) for a, b in split_text_spans(text, limit, first_limit, keep)]


def split_first(block: Block, limit: int, keep: int = 0) -> tuple[list[Run], Block, int]:
    """The first piece of a block that fits `limit`, the rest of the block and the rest's `keep`."""
    text = "".join(run.text for run in block)
    spans = split_text_spans(text, limit, keep=keep)
    if len(spans) < 2:
        return list(block), (), 0
    resume = spans[1][0]
    return slice_runs(block, *spans[0]), tuple(slice_runs(block, resume, len(text))), max(keep - resume, 0)


Group = tuple[Block, int]  # blocks joined as one, and how many first characters no cut may end in
_BREAK = "\n\n"


def group_blocks(blocks: list[Block], headings: Collection[int] = ()) -> list[Group]:
    """Each heading (index in `headings`) joined with the blocks after it up to the first that is
    not a heading, so no message ends with a heading."""
    groups: list[Group] = []
    pending: list[Run] = []
    for index, block in enumerate(blocks):
        joined = pending + [Run(_BREAK)] + list(block) if pending else list(block)
        if index in headings:
            pending = joined
            continue
        keep = len("".join(run.text for run in pending)) + len(_BREAK) if pending else 0
        groups.append((tuple(joined), keep))
        pending = []
    if pending:
        groups.append((tuple(pending), 0))
    return groups


def trim_runs(runs: list[Run]) -> list[Run]:
    """Drop whitespace at both ends of a message (Telegram would, and it counts)."""
    runs = [r for r in runs if r.text]
    while runs and not runs[0].text.strip():
        runs.pop(0)
    while runs and not runs[-1].text.strip():
        runs.pop()
    if runs:
        first = runs[0]
        runs[0] = Run(first.text.lstrip("\n") if PRE in first.tags else first.text.lstrip(), first.tags)
        runs[-1] = Run(runs[-1].text.rstrip(), runs[-1].tags)
    return runs


def pack_blocks(blocks: list[Block], limit: int, headings: Collection[int] = ()) -> list[list[Run]]:
    """Blocks into messages of at most `limit` units; blocks at the indices in `headings` travel
    with the block after them."""
    return pack_groups(group_blocks(blocks, headings), limit)


def pack_groups(groups: list[Group], limit: int) -> list[list[Run]]:
    """Groups into messages of at most `limit` units, cutting between groups where possible.

    A group too long for any message is cut inside; its first piece fills the current message
    when at least MIN_FILL of it is still free and, for a group that opens with headings, when
    the headings leave half of that for the block they introduce.
    """
    messages: list[list[Run]] = []
    current: list[Run] = []
    for block, keep in groups:
        size = runs_length(block)
        separator = [Run(_BREAK)] if current else []
        room = limit - runs_length(current + separator)
        if size <= room:
            current += separator + list(block)
            continue
        keep_units = utf16_length("".join(run.text for run in block)[:keep])
        fill = room >= limit * MIN_FILL and room - keep_units >= limit * MIN_FILL / 2
        if size <= limit or not fill:
            if current:
                messages.append(current)
            current, separator, room = [], [], limit
            if size <= limit:
                current = list(block)
                continue
        first, *rest = split_block(block, limit, first_limit=room, keep=keep)
        pieces = [current + separator + first, *rest]
        messages.extend(pieces[:-1])
        current = pieces[-1]
    if current:
        messages.append(current)
    return [m for m in (trim_runs(m) for m in messages) if m]
