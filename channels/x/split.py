"""twitter-text weights, where a text may be cut (levels, coarsest first), split_text and shorten.

Sentence ends know English abbreviations ("Dr.", "e.g.", "U.S.", "No. 5", initials, decimals) and
CJK full stops with their closing quotes and brackets ("。」"); no piece ends on a colon, and one
that stops mid-sentence can be marked with ELLIPSIS.
"""
from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable

from channels.x.emoji import emoji_spans
from channels.x.limits import MAX_WEIGHTED, TWITTER_TEXT_V3
from channels.x.text import _CJK, _CJK_CHARS
from channels.x.twitter_text_import import extract_urls_with_indices
from channels.x.weight import CHAR_WEIGHTS, Parsed, char_weight, parse


def weighted_length(text: str) -> int:
    """X's weighted length of `text` (twitter-text v3: CJK 2, URL 23, emoji 2)."""
    return _parse(text).weightedLength


@functools.lru_cache(maxsize=16384)
def _parse(text: str) -> Parsed:
    """twitter-text's parse_tweet(text, TWITTER_TEXT_V3): weightedLength and valid."""
    return parse(text)


# ---------------------------------------------------------------------------------------------
# Where a text may be cut

_CLOSERS = "\"'”’」』）》】〕〉»)\\]"
_CJK_FULL_STOP = f"[。！？．｡]+[{_CLOSERS}]*"
_SENTENCE_END = re.compile(
    _CJK_FULL_STOP
    + f"|[!?]+[{_CLOSERS}]*(?=[{_CJK_CHARS}])"  # "好!然后": a Latin mark between CJK sentences
    + f"|[.!?…]+[{_CLOSERS}]*(?=\\s)")
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
ELLIPSIS = "…"  # marks a piece that stops mid-sentence
COLONS = ":："  # a piece never ends on one: a lead-in travels with what it introduces
# a colon and the whitespace after it: no cut from there up to the next character that is not a space
_AFTER_COLON = re.compile(f"[{COLONS}]\\s*")
_LEADING_SPACE = re.compile(r"\s*")

# English abbreviations whose period rarely ends a sentence ("Dr. Roe", "e.g. this", "64 vs. 33").
_NEVER_FINAL = frozenset("mr mrs ms mx dr prof sr jr st mt ft vs v e.g i.e cf approx ca gen gov sen rep rev hon "
                         "capt lt col sgt cmdr adm pres messrs mme mlle viz".split())
# ... nor before a number ("No. 5", "Fig. 3", "Jan. 24").
_BEFORE_NUMBER = frozenset("no nos nr vol vols p pp fig figs ch chap sec art para op ed ver "
                           "jan feb mar apr jun jul aug sep sept oct nov dec".split())
# ... and may end one only when a word that usually opens a sentence follows ("Acme Inc. The ...").
_AMBIGUOUS = frozenset("inc ltd co corp llc plc bros al dept univ est a.m p.m u.s u.k u.n e.u ph.d d.c n.y l.a".split())
_OPENERS = frozenset("""the a an this that these those it its he she we they i you in on at but and so yet or our
    their his her there here what when where why how if as for with after before meanwhile however also still then
    now my your one some many most both each all no not today yesterday tomorrow last next despite while although
    though because since by from to of who which more such other""".split())
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_WORD_AFTER = re.compile(r"(\s+)[\"'“‘(\[]*(\S*)")


def _ends_sentence(text: str, start: int, end: int) -> bool:
    """Whether the mark text[start:end] (".", "?!", "…", with closers) ends an English sentence."""
    mark = text[start:end]
    after = _WORD_AFTER.match(text, end)
    following = after.group(2) if after else ""
    if not following or "\n" in (after.group(1) if after else ""):
        return True
    if mark[0] in "!?" or mark[-1] in _CLOSERS:
        return True
    if following[0].islower() and not re.match(r"[a-z]+[A-Z]", following):  # "e.g. this"; not "... iPhone"
        return False
    if mark != ".":
        return True  # an ellipsis before a capital
    word = _WORD_BEFORE.search(text, max(0, start - 40), start)  # an abbreviation is short
    token = word.group(1).lower() if word else ""
    if token in _NEVER_FINAL:
        return False
    if token in _BEFORE_NUMBER and following[0].isdigit():
        return False
    initial = len(token) == 1 and text[start - 1].isupper()  # "J. K. Rowling"
    dotted = bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", token))  # "U.S", "a.m"
    if initial or dotted or token in _AMBIGUOUS:
        return re.sub(r"\W+$", "", following).lower() in _OPENERS
    return True


def _sentence_ends(text: str) -> Iterable[int]:
    for match in _SENTENCE_END.finditer(text):
        if re.match(_CJK_FULL_STOP, match.group()) or _ends_sentence(text, match.start(), match.end()):
            yield match.end()


def ends_sentence(text: str) -> bool:
    """Whether `text` stops at the end of a sentence (so a cut there needs no ELLIPSIS)."""
    text = text.rstrip()
    return bool(re.search(f"(?:[。！？．｡.!?…]+[{_CLOSERS}]*|{ELLIPSIS})$", text)) or not text


_char_weight = char_weight  # weight of one code point under TWITTER_TEXT_V3


class _Cuts:
    """The positions where one text may be cut, finest level last.

    `lead` characters at the start (a list marker) stay with the word after them; `tail`
    characters at the end (a quote's attribution line) stay with the word before them. No cut
    falls right after a colon (a lead-in ends no tweet).
    """

    def __init__(self, text: str, lead: int = 0, tail: int = 0, measure: bool = True):
        self.text = text
        size = len(text) + 1
        self.blocked = bytearray(size)  # 1 = inside a URL, number, mention, hashtag, emoji
        # Without `measure` (sentence ends only, which never fall inside an emoji) URL and emoji
        # extraction is skipped; estimate() is then unavailable.
        urls = [tuple(u["indices"]) for u in extract_urls_with_indices(text)] if measure else []
        emoji = emoji_spans(text) if measure else []
        spans = [(m.start(), m.end()) for m in _PROTECTED.finditer(text)] + urls + emoji
        spans.append((0, lead + 1 if lead else 0))  # a list marker stays with its first word
        if tail:  # nor between the text and its tail
            spans.append((len(text) - tail - 2, len(text)))
        blocked = self.blocked
        for start, end in spans:
            if 0 <= start and end <= size:
                if end - start > 1:
                    blocked[start + 1:end] = b"\x01" * (end - start - 1)
            else:  # out of range: index one by one, as negative indices count from the end
                for position in range(start + 1, end):
                    blocked[position] = 1
        # no cut after a colon (it would end the piece), nor before the first character that is not a space
        last = len(text) - 1
        runs = [(0, _LEADING_SPACE.match(text).end())] + [(m.start() + 1, m.end()) for m in _AFTER_COLON.finditer(text)]
        for start, end in runs:
            end = min(end, last) + 1
            if end > start:
                blocked[start:end] = b"\x01" * (end - start)
        self.weight_before = self._weight_prefix(urls, emoji) if measure else []
        self._cache: dict[str, list[int]] = {}

    def _weight_prefix(self, urls: list[tuple[int, int]], emoji: list[tuple[int, int]]) -> list[int]:
        """weight_before[i]: estimated weighted length of text[:i] (a URL counts 23 at its start)."""
        weights = list(map(CHAR_WEIGHTS.__getitem__, self.text))
        for (start, end), weight in [(u, TWITTER_TEXT_V3["transformed_url_length"]) for u in urls] + \
                [(e, 2) for e in emoji]:
            weights[start:end] = [weight] + [0] * (end - start - 1)
        return list(itertools.accumulate(weights, initial=0))

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

    def mid_sentence(self, position: int) -> bool:
        """Whether a cut at `position` stops a sentence midway (the piece then ends with ELLIPSIS)."""
        if position >= len(self.text):
            return False
        ends = self.at("sentence")
        index = bisect.bisect_left(ends, position)
        return not (index < len(ends) and ends[index] == position) and not ends_sentence(self.text[:position])

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
            yield from _sentence_ends(text)
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
    """The sentences of `text`, as written (stripped), never cut inside a number or URL, after an
    abbreviation ("Dr.", "e.g.", "U.S.", "No. 5", initials) or after a colon."""
    bounds = [0, *_Cuts(text, measure=False).at("sentence"), len(text)]
    spans: list[tuple[int, int]] = []
    for a, b in zip(bounds, bounds[1:]):
        piece = text[a:b].strip()
        if spans and piece and not any(c.isalnum() for c in piece):
            spans[-1] = (spans[-1][0], b)  # "リリースされました！🎉🎉" : emoji after the mark end nothing
        elif piece:
            spans.append((a, b))
    return [text[a:b].strip() for a, b in spans]


# ---------------------------------------------------------------------------------------------
# Splitting one text into pieces that fit

Fits = Callable[[int, int], bool]  # (where the piece starts, where it ends) -> fits in a tweet


@dataclass
class _Piece:
    start: int
    end: int


FORCED_LEVELS = ("grapheme", "anywhere")  # cuts inside a word


def split_text(text: str, fits: Callable[[str], bool], lead: int = 0,
               first_fits: Callable[[str], bool] | None = None,
               cuts: _Cuts | None = None, mark: str = "") -> list[tuple[str, str]]:
    """Cut `text` into pieces that each fit, at the coarsest level possible.

    Returns (piece, level of the cut after it: one of LEVELS, "" for the last piece).

    `first_fits` judges the first piece instead of `fits` (it shares a tweet with a heading).
    `mark` (ELLIPSIS) ends every piece cut mid-sentence, and is counted when judging it.
    """
    cuts = cuts or _Cuts(text, lead)

    def fits_at(start: int, end: int) -> bool:
        piece = text[start:end].strip()
        if mark and cuts.mid_sentence(end):
            piece += mark
        return (first_fits if first_fits is not None and start == 0 else fits)(piece)

    if cuts.estimate(0, len(text)) <= ESTIMATE_CEILING and fits_at(0, len(text)):
        return [(text.strip(), "")] if text.strip() else []
    pieces = [p for p in _split_span(cuts, 0, len(text), 0, fits_at) if text[p.start:p.end].strip()]
    out = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        words = text[piece.start:piece.end].strip()
        if mark and not last and cuts.mid_sentence(piece.end) and not words.endswith(mark):
            words += mark
        out.append((words, "" if last else cuts.level_of(piece.end)))
    return out


def _split_span(cuts: _Cuts, start: int, end: int, level: int, fits: Fits) -> list[_Piece]:
    text = cuts.text
    positions = cuts.at(LEVELS[level])
    bounds = positions[bisect.bisect_right(positions, start):bisect.bisect_left(positions, end)] + [end]
    pieces: list[_Piece] = []
    position = start
    while text[position:end].strip():
        if cuts.estimate(position, end) <= ESTIMATE_CEILING and fits(position, end):
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
    if not candidates or not fits(start, candidates[0]):
        return None
    ceiling = cuts.weight_before[start] + ESTIMATE_CEILING
    low = 0
    high = max(0, bisect.bisect_right(candidates, ceiling, key=lambda end: cuts.weight_before[end]) - 1)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(start, candidates[middle]):
            low = middle
        else:
            high = middle - 1
    return candidates[low]


# Characters of a text worth weighing when only its beginning can fit one tweet: 280 weighted is at
# most 280 characters but for links (23 each, whatever their length).
SHORTEN_WINDOW = 4000


_CLOSING_QUOTE = {"“": "”", "「": "」", "『": "』", "«": "»"}


def shorten(text: str, fits: Callable[[str], bool]) -> str:
    """`text`, or its longest beginning that fits: whole sentences if one fits, else cut at a clause,
    a space or between CJK characters and ended with ELLIPSIS. "" when not even a word fits."""
    text = text.strip()
    if len(text) > SHORTEN_WINDOW:  # no tweet holds more: weigh a window, not a 600 KB paragraph
        cut = text.rfind(" ", 0, SHORTEN_WINDOW)
        text = text[:cut if cut > SHORTEN_WINDOW // 2 else SHORTEN_WINDOW] + " …"
    if not text or fits(text):
        return text
    cuts = _Cuts(text)
    opening = text[:1]
    closing = _CLOSING_QUOTE.get(opening)

    def candidate(position: int) -> str:
        head = text[:position].rstrip()
        if cuts.mid_sentence(position):
            head = head.rstrip("，、；,;—–-· ") + ELLIPSIS
        if closing and head.count(opening) > head.count(closing):
            head += closing  # a quote cut short is still closed: “First sentence.”
        return head

    found: list[str] = []  # the longest beginning at each level, coarsest first
    for level in ("sentence", "clause", "space", "cjk", "grapheme"):
        positions = cuts.at(level)
        low, high = 0, len(positions) - 1
        if high < 0 or not fits(candidate(positions[0])):
            continue
        while low < high:
            middle = (low + high + 1) // 2
            if fits(candidate(positions[middle])):
                low = middle
            else:
                high = middle - 1
        found.append(candidate(positions[low]))
    if not found:
        return ""
    longest = max(weighted_length(f) for f in found)
    # a coarser cut wins unless it keeps less than half of what a finer one keeps
    return next(f for f in found if 2 * weighted_length(f) >= longest)
