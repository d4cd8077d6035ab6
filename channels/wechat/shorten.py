"""An issue longer than one WeChat article may be (limits.CONTENT_CHAR_LIMIT, CONTENT_BYTE_LIMIT)
is published as its head, cut between two top-level blocks (before a heading when one is near), and
a closing line that sends the reader to 阅读原文, the full post on the site (content_source_url,
https://developers.weixin.qq.com/doc/offiaccount/Draft_Box/Add_draft.html). Refusing instead would
stop the whole press for a long link roundup that every other channel carries; the preview and the
desk show what was left out (WechatChannel.notes)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from channels.wechat.checks import visible_text
from channels.wechat.limits import CONTENT_BYTE_LIMIT, CONTENT_CHAR_LIMIT

# Room below the limits: WeChat's own count may differ from ours by a little (code points vs 字).
TEXT_BUDGET = CONTENT_CHAR_LIMIT - 500
BYTE_BUDGET = CONTENT_BYTE_LIMIT - 50_000
# A cut moves back to the start of a section when that keeps at least this share of what fits.
SECTION_SHARE = 0.75
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True)
class Shortened:
    """What the published article holds of the post: visible characters, and top-level blocks."""
    kept_chars: int
    full_chars: int
    kept_blocks: int
    full_blocks: int


def fits(content: str) -> bool:
    if len(content.encode("utf-8")) >= BYTE_BUDGET:
        return False
    # The text is never longer than the markup it is read from: a short article needs no parse.
    return len(content) < TEXT_BUDGET or len(visible_text(content)) < TEXT_BUDGET


def longest_fitting_head(nodes: Sequence, write_head: Callable[[int], str],
                         is_block: Callable[[object], bool]) -> int | None:
    """How many of `nodes` the article keeps: the largest cut (before a block node) whose
    `write_head(cut)` fits, moved back to before a heading if one starts a section late enough;
    None when not even the first block fits."""
    cuts = [i for i, node in enumerate(nodes) if i > 0 and is_block(node)]
    # The head grows with the cut. Doubling from the start first keeps every trial head near the
    # size that fits (a megabyte post is never written whole again), then halving finds the cut.
    low, high, best, step = 0, len(cuts) - 1, None, 1
    while step - 1 <= high and fits(write_head(cuts[step - 1])):
        best, low, step = step - 1, step, step * 2
    high = min(high, step - 2)
    while low <= high:
        middle = (low + high) // 2
        if fits(write_head(cuts[middle])):
            best, low = middle, middle + 1
        else:
            high = middle - 1
    if best is None:
        return None
    cut = cuts[best]
    sections = [c for c in cuts[: best + 1] if getattr(nodes[c], "tag", None) in HEADINGS]
    if sections and sections[-1] >= SECTION_SHARE * cut:
        return sections[-1]
    return cut


_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(/?)>")
_VOID = frozenset({"img", "br", "hr", "wbr", "input", "meta", "link", "source", "col", "area", "embed"})
# Room for the closing line and the wrapping section's end tag beyond the blocks kept.
MARKUP_MARGIN = 200


def within_markup(content: str, limit: int, closing: str) -> str | None:
    """The article cut between two of its top-level blocks so that its HTML, `closing` (a block
    of our own) appended, is shorter than `limit` characters: for a draft/add that counts its
    20,000 on the markup (answering 45002) where our checks count the text. None when not even the
    first block fits."""
    depth, best = 0, None
    for match in _TAG.finditer(content):
        closing_tag, name = match.group(1) == "/", match.group(2).lower()
        if name in _VOID or match.group(3):
            continue
        depth += -1 if closing_tag else 1
        if closing_tag and depth == 1:  # a block inside the article's one <section> ends here
            if match.end() + len(closing) + MARKUP_MARGIN >= limit:
                break
            best = match.end()
    if best is None:
        return None
    return content[:best] + closing + "</section>"
