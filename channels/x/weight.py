"""X's weighted length (twitter-text v3), computed as twitter-text's parse_tweet computes it, without
its per-character Python loop and without loading twitter-text for a text that holds no URL.

parse_tweet: NFC, line endings as "\\n", then left to right: a URL weighs
transformed_url_length, an emoji default_weight, any other code point the weight of its range
(default_weight outside the ranges). A tweet is valid when no character it reads is U+FFFE, U+FEFF
or U+FFFF and its weight is 1 to max_weighted_tweet_length. tests/test_x_speed.py holds `parse`
equal to twitter-text's parse_tweet.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from typing import NamedTuple

from channels.x.emoji import emoji_spans
from channels.x.limits import TWITTER_TEXT_V3
from channels.x.twitter_text_import import extract_urls_with_indices

_SCALE = TWITTER_TEXT_V3["scale"]
_DEFAULT = TWITTER_TEXT_V3["default_weight"]
_RANGES = sorted((r["start"], r["end"], r["weight"]) for r in TWITTER_TEXT_V3["ranges"])
# code points of the default weight: everything outside the ranges (the ranges all weigh the same)
assert len({weight for _, _, weight in _RANGES}) == 1
_LIGHT = _RANGES[0][2]
_HEAVY = re.compile("[^" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b, _ in _RANGES) + "]")
_INVALID = re.compile("[\ufffe\ufeff\uffff]")  # twitter-text regexp/invalid_chars_group.py
_LINE_ENDING = re.compile(r"\r\n|\r|\n")
# [start, end + 1, start, end + 1, ...]: an odd bisect index is inside a range
_BOUNDS = [edge for start, end, _ in _RANGES for edge in (start, end + 1)]


class Parsed(NamedTuple):
    """What X's checks read of parse_tweet's result."""
    weightedLength: int  # noqa: N815 - twitter-text's name
    valid: bool


def code_point_weight(code: int) -> int:
    """twitter-text's get_character_weight (unscaled: 100 or 200 under v3)."""
    return _LIGHT if bisect.bisect_right(_BOUNDS, code) % 2 else _DEFAULT


def _plain_weight(text: str, start: int, end: int) -> int:
    """Scaled weight of text[start:end] read character by character."""
    if start >= end:
        return 0
    heavy = len(_HEAVY.findall(text, start, end))
    return (end - start - heavy) * _LIGHT + heavy * _DEFAULT


def parse(text: str) -> Parsed:
    """parse_tweet(text, TWITTER_TEXT_V3)'s weightedLength and valid."""
    normalized = unicodedata.normalize("NFC", text)
    if "\r" in normalized:
        normalized = _LINE_ENDING.sub("\n", normalized)
    # twitter-text keys its entities by where they start (a later one replaces an earlier one)
    entities = {found["indices"][0]: (len(found["url"]), TWITTER_TEXT_V3["transformed_url_length"] * _SCALE)
                for found in extract_urls_with_indices(normalized)}
    for start, end in emoji_spans(normalized):
        entities.setdefault(start, (end - start, _DEFAULT if TWITTER_TEXT_V3["emoji_parsing_enabled"] else None))
    total = 0
    position = 0
    skipped: list[tuple[int, int]] = []  # characters inside an entity, which are never read
    for start in sorted(entities):
        length, weight = entities[start]
        if start < position or weight is None:
            continue
        total += _plain_weight(normalized, position, start) + weight
        position = start + length
        skipped.append((start + 1, position))
    total += _plain_weight(normalized, position, len(normalized))
    read_invalid = any(not any(a <= found.start() < b for a, b in skipped) for found in _INVALID.finditer(normalized))
    weighted = int(total / _SCALE)
    return Parsed(weighted, not read_invalid and 0 < weighted <= TWITTER_TEXT_V3["max_weighted_tweet_length"])


def char_weight(char: str) -> int:
    """Weight of one code point (URLs and emoji are weighed as a whole); a combining mark weighs 0,
    as NFC usually folds it into the letter before."""
    if unicodedata.combining(char):
        return 0
    return code_point_weight(ord(char)) // _SCALE


class _WeightCache(dict):
    def __missing__(self, char: str) -> int:
        weight = char_weight(char)
        if len(self) < 65536:  # bounded: a hostile text cannot grow it without limit
            self[char] = weight
        return weight


CHAR_WEIGHTS = _WeightCache()
