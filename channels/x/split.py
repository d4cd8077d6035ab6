"""twitter-text weights, where a text may be cut (levels, coarsest first), and split_text."""
from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable

from channels.x.twitter_text_import import extract_emojis_with_indices, extract_urls_with_indices, parse_tweet

from channels.x.limits import MAX_WEIGHTED, TWITTER_TEXT_V3
from channels.x.text import _CJK


def weighted_length(text: str) -> int:
    """X's weighted length of `text` (twitter-text v3: CJK 2, URL 23, emoji 2)."""
    return _parse(text).weightedLength


@functools.lru_cache(maxsize=16384)
def _parse(text: str):
    return parse_tweet(text, options=TWITTER_TEXT_V3)


# ---------------------------------------------------------------------------------------------
# Where a text may be cut

_CLOSERS = "\"'”’」』）》】)\\]"
_SENTENCE_END = re.compile(f"[。！？]+[{_CLOSERS}]*|[.!?]+[{_CLOSERS}]*(?=\\s)")
_CLAUSE_END = re.compile(f"[，、；：]+[{_CLOSERS}]*|[,;:]+(?=\\s)|—+")
_WHITESPACE = re.compile(r"\s+")
_PROTECTED = re.compile(
    r"https?://[!-~]+"  # a URL, even where twitter-text would not see one
    r"|\d+(?:[.,:/]\d+)*%?"  # 1.5 · 20.258% · 2,000 · 10:30 · 2026/01/24
    r"|[@＠]\w+|[#＃]\w+"  # @mention, #hashtag
)
_GLUE_BEFORE = re.compile("[\u200d\ufe00-\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f\U000e0100-\U000e01ef]")
LEVELS = ("sentence", "clause", "space", "cjk", "grapheme", "anywhere")
# Estimates (below) may be off by a little (NFC, whitespace at the edges, URL context); anything
# estimated above this cannot fit and is not measured exactly, which keeps long texts fast.
ESTIMATE_CEILING = MAX_WEIGHTED + 40


def _char_weight(char: str) -> int:
    """Weight of one code point under TWITTER_TEXT_V3 (URLs and emoji are weighed as a whole)."""
    if unicodedata.combining(char):  # NFC usually folds it into the letter before
        return 0
    code = ord(char)
    for light in TWITTER_TEXT_V3["ranges"]:
        if light["start"] <= code <= light["end"]:
            return light["weight"] // TWITTER_TEXT_V3["scale"]
    return TWITTER_TEXT_V3["default_weight"] // TWITTER_TEXT_V3["scale"]


class _Cuts:
    """The positions where one text may be cut, finest level last."""

    def __init__(self, text: str, lead: int = 0):
        self.text = text
        self.blocked = bytearray(len(text) + 1)  # 1 = inside a URL, number, mention, hashtag, emoji
        urls = [tuple(u["indices"]) for u in extract_urls_with_indices(text)]
        emoji = [tuple(e["indices"]) for e in extract_emojis_with_indices(text)]
        spans = [(m.start(), m.end()) for m in _PROTECTED.finditer(text)] + urls + emoji
        spans.append((0, lead + 1 if lead else 0))  # a list marker stays with its first word
        for start, end in spans:
            for position in range(start + 1, end):
                self.blocked[position] = 1
        self.weight_before = self._weight_prefix(urls, emoji)
        self._cache: dict[str, list[int]] = {}

    def _weight_prefix(self, urls: list[tuple[int, int]], emoji: list[tuple[int, int]]) -> list[int]:
        """weight_before[i]: estimated weighted length of text[:i] (a URL counts 23 at its start)."""
        weights = [_char_weight(c) for c in self.text]
        for (start, end), weight in [(u, TWITTER_TEXT_V3["transformed_url_length"]) for u in urls] + \
                [(e, 2) for e in emoji]:
            weights[start:end] = [weight] + [0] * (end - start - 1)
        prefix = [0]
        for weight in weights:
            prefix.append(prefix[-1] + weight)
        return prefix

    def estimate(self, start: int, end: int) -> int:
        return self.weight_before[end] - self.weight_before[start]

    def level_of(self, position: int) -> str:
        """The coarsest level at which `position` is a cut."""
        for level in LEVELS:
            positions = self.at(level)
            index = bisect.bisect_left(positions, position)
            if index < len(positions) and positions[index] == position:
                return level
        return LEVELS[-1]

    def at(self, level: str) -> list[int]:
        if level not in self._cache:
            self._cache[level] = sorted(p for p in set(self._positions(level))
                                        if 0 < p < len(self.text) and self._allowed(p, level))
        return self._cache[level]

    def _allowed(self, position: int, level: str) -> bool:
        if level == "anywhere":
            return self._grapheme_boundary(position)
        return not self.blocked[position] and self._grapheme_boundary(position)

    def _grapheme_boundary(self, position: int) -> bool:
        after, before = self.text[position], self.text[position - 1]
        if before == "\u200d" or _GLUE_BEFORE.match(after):
            return False
        if unicodedata.category(after) in ("Mn", "Me", "Mc"):  # combining marks belong to the letter before
            return False
        return not (before == "\r" and after == "\n")

    def _positions(self, level: str) -> Iterable[int]:
        text = self.text
        if level == "sentence":
            yield from (m.end() for m in _SENTENCE_END.finditer(text))
            yield from (m.start() for m in re.finditer("\n", text))
        elif level == "clause":
            yield from (m.end() for m in _CLAUSE_END.finditer(text))
        elif level == "space":
            yield from (m.start() for m in _WHITESPACE.finditer(text))
        elif level == "cjk":
            yield from (i for i in range(1, len(text)) if _CJK.match(text[i - 1]) and _CJK.match(text[i]))
        else:
            yield from range(1, len(text))


def sentences(text: str) -> list[str]:
    """The sentences of `text`, as written (stripped), never cut inside a number or URL."""
    bounds = [0, *_Cuts(text).at("sentence"), len(text)]
    return [s for s in (text[a:b].strip() for a, b in zip(bounds, bounds[1:])) if s]


# ---------------------------------------------------------------------------------------------
# Splitting one text into pieces that fit

Fits = Callable[[int, str], bool]  # (where the piece starts in the text, piece) -> fits in a tweet


@dataclass
class _Piece:
    start: int
    end: int


FORCED_LEVELS = ("grapheme", "anywhere")  # cuts inside a word


def split_text(text: str, fits: Callable[[str], bool], lead: int = 0,
               first_fits: Callable[[str], bool] | None = None,
               cuts: _Cuts | None = None) -> list[tuple[str, str]]:
    """Cut `text` into pieces that each fit, at the coarsest level possible.

    Returns (piece, level of the cut after it: one of LEVELS, "" for the last piece).

    `first_fits` judges the first piece instead of `fits` (it shares a tweet with a heading).
    """
    def fits_at(start: int, piece: str) -> bool:
        return (first_fits if first_fits is not None and start == 0 else fits)(piece)

    cuts = cuts or _Cuts(text, lead)
    if cuts.estimate(0, len(text)) <= ESTIMATE_CEILING and fits_at(0, text.strip()):
        return [(text.strip(), "")] if text.strip() else []
    pieces = [p for p in _split_span(cuts, 0, len(text), 0, fits_at) if text[p.start:p.end].strip()]
    return [(text[p.start:p.end].strip(), cuts.level_of(p.end) if i < len(pieces) - 1 else "")
            for i, p in enumerate(pieces)]


def _split_span(cuts: _Cuts, start: int, end: int, level: int, fits: Fits) -> list[_Piece]:
    text = cuts.text
    positions = cuts.at(LEVELS[level])
    bounds = positions[bisect.bisect_right(positions, start):bisect.bisect_left(positions, end)] + [end]
    pieces: list[_Piece] = []
    position = start
    while text[position:end].strip():
        if cuts.estimate(position, end) <= ESTIMATE_CEILING and fits(position, text[position:end].strip()):
            pieces.append(_Piece(position, end))
            break
        candidates = bounds[bisect.bisect_right(bounds, position):]
        reach = _furthest_fitting(cuts, position, candidates, fits)
        if reach is not None:
            pieces.append(_Piece(position, reach))
            position = reach
            continue
        if level + 1 < len(LEVELS):
            finer = _split_span(cuts, position, candidates[0], level + 1, fits)
        else:  # one grapheme longer than a tweet cannot happen with a 280 limit; keep it whole
            finer = [_Piece(position, candidates[0])]
        if len(finer) == 1:
            pieces.extend(finer)
            position = finer[0].end
        else:  # the last finer piece may still take more pieces of this level
            pieces.extend(finer[:-1])
            position = finer[-1].start
    return pieces


def _furthest_fitting(cuts: _Cuts, start: int, candidates: list[int], fits: Fits) -> int | None:
    """The furthest candidate end whose piece fits (binary search: length grows with the end).

    Only candidates estimated under the ceiling are measured exactly; the first always is.
    """
    text = cuts.text
    if not candidates or not fits(start, text[start:candidates[0]].strip()):
        return None
    ceiling = cuts.weight_before[start] + ESTIMATE_CEILING
    low = 0
    high = max(0, bisect.bisect_right(candidates, ceiling, key=lambda end: cuts.weight_before[end]) - 1)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(start, text[start:candidates[middle]].strip()):
            low = middle
        else:
            high = middle - 1
    return candidates[low]
