"""The X channel's fast paths agree with the slow ones they replace: emoji and URL spans with
twitter-text's own extractors, weights with parse_tweet, a text's cuts with the character-by-character
reference below, and the items of an issue read once with the items read again."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from channels.x import emoji as x_emoji
from channels.x import issue
from channels.x.limits import TWITTER_TEXT_V3
from channels.x.split import COLONS, LEVELS, _PROTECTED, _char_weight, _Cuts, weighted_length
from channels.x.twitter_text_import import (TLD_FIRST_LETTERS, extract_urls_with_indices, load_twitter_text,
                                            may_hold_url)
from channels.x.weight import Parsed, parse
from publisher.config import load_settings
from publisher.post import parse_post

twitter_text = load_twitter_text()
ENTRIES = x_emoji.parse_entries(x_emoji.emoji_data_file().read_text(encoding="utf-8"))
SETTINGS = load_settings(env={})
FIXTURES = sorted((Path(__file__).parent / "golden" / "x").glob("*.md"))
FAST = hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of text chosen to sit on the edges: CJK and full-width punctuation (weight 2), the light
# ranges' ends, combining marks and NFC pairs, ZWJ, variation selectors, skin tones, keycaps, flags
# and tag sequences, URLs with and without a scheme, domains glued to CJK, \r\n, the characters X
# refuses, and the marks the cuts look at (colons, sentence ends, numbers, mentions).
PIECES = [
    "中文", "日本語のテキスト", "한국어", "。", "，", "：", "「引用」", "（注）", "！", "\u3000", "\u10ff", "\u1100",
    "\u2000", "\u200d", "\u200e", "\u2010", "\u201f", "\u2020", "\u2032", "\u2037", "\u2038", "\u00a9", "\u00ae",
    "e\u0301", "\u0301", "A\u030a", "\u1100\u1161", "\ufe0f", "\u20e3", "#\u20e3", "1\ufe0f\u20e3", "*\ufe0f",
    "\U0001f3fb", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1ef\U0001f1f5", "\U0001f1e6",
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "\U0001f44b\U0001f3fd", "\u2764\ufe0f",
    "\U00020000", "https://example.com/a?b=1", "http://x.co/y.", "example.com", "www.test.co.uk/path", "t.co/abc",
    "https://t.co/" + "a" * 45, "例子.中国", "a.b", "e.g.", "U.S.", "Dr.", "No. 5", "1.5", "2,000", "20.258%", "@bob",
    "#tag", "＃标签", "\r\n", "\r", "\n", "\n\n", " ", "  ", "\t", "\ufeff", "\ufffe", "\uffff", ":", ": ", "…", "—",
    "Hello", "world.", "It", "Mr", "x" * 30,
]
pieces_text = st.lists(st.one_of(st.sampled_from(PIECES), st.sampled_from(ENTRIES), st.text(max_size=4)),
                       max_size=40).map("".join)


# --- emoji ---------------------------------------------------------------------------------------

def test_emoji_entries_are_twitter_texts_own():
    from twitter_text.regexp import emoji as theirs

    assert ENTRIES == ["".join(chr(int(c, 16)) for c in e.codepoint.split()) for e in theirs.emoji_list]
    table = x_emoji.emoji_table()
    singles = {chr(c) for low, high in theirs.single_codepoint_emoji_ranges for c in range(low, high + 1)}
    assert table.singles == singles
    multi = {s.encode("ascii").decode("unicode_escape") for s in theirs.multi_codepoint_emoji_joined.split("|")}
    assert {s for found in table.sequences.values() for s in found} == multi


def test_every_emoji_is_found_as_twitter_text_finds_it():
    for entry in ENTRIES:
        assert x_emoji.MAY_START.match(entry), entry  # the loose check never skips an emoji
        for text in (entry, f"a{entry}b", entry * 2, f"中{entry}\u200d{entry}", entry[:-1], entry[1:]):
            assert x_emoji.extract_emojis_with_indices(text) == twitter_text.extract_emojis_with_indices(text)


@FAST
@given(pieces_text)
def test_emoji_spans_match_twitter_text(text):
    assert x_emoji.extract_emojis_with_indices(text) == twitter_text.extract_emojis_with_indices(text)


# --- URLs ----------------------------------------------------------------------------------------

def test_tld_first_letters_cover_twitter_texts_lists():
    """Every character twitter-text's TLD patterns can start with (matched ignoring case)."""
    from twitter_text.regexp.valid_cctld import valid_cctld
    from twitter_text.regexp.valid_gtld import valid_gtld

    firsts = {"x"}  # "xn--" punycode
    for pattern in (valid_gtld.pattern, valid_cctld.pattern):
        inner = pattern[len("(?:(?:"):pattern.index(")(?=")]
        firsts |= {alternative[0] for alternative in inner.split("|")}
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    accepted = set(re.findall("[" + "".join(map(re.escape, sorted(firsts))) + "]", everything, re.IGNORECASE))
    assert accepted <= set(TLD_FIRST_LETTERS)


@FAST
@given(pieces_text)
def test_url_pre_check_never_misses_a_url(text):
    found = twitter_text.extract_urls_with_indices(text)
    assert may_hold_url(text) or not found
    assert extract_urls_with_indices(text) == found


# --- weights -------------------------------------------------------------------------------------

@FAST
@given(pieces_text)
def test_parse_matches_parse_tweet(text):
    theirs = twitter_text.parse_tweet(text, options=TWITTER_TEXT_V3)
    assert parse(text) == Parsed(theirs.weightedLength, theirs.valid)


@FAST
@given(st.lists(st.sampled_from(PIECES + ENTRIES[:200]), min_size=30, max_size=150).map(" ".join))
def test_parse_matches_parse_tweet_past_the_limit(text):
    theirs = twitter_text.parse_tweet(text, options=TWITTER_TEXT_V3)
    assert parse(text) == Parsed(theirs.weightedLength, theirs.valid)
    assert weighted_length(text) == theirs.weightedLength


def reference_char_weight(char: str) -> int:
    """The weight of one code point, range by range (the code the table lookup replaced)."""
    if unicodedata.combining(char):
        return 0
    for light in TWITTER_TEXT_V3["ranges"]:
        if light["start"] <= ord(char) <= light["end"]:
            return light["weight"] // TWITTER_TEXT_V3["scale"]
    return TWITTER_TEXT_V3["default_weight"] // TWITTER_TEXT_V3["scale"]


def test_char_weight_matches_the_ranges_for_every_code_point_of_the_bmp_and_the_edges():
    edges = {e + d for r in TWITTER_TEXT_V3["ranges"] for e in (r["start"], r["end"]) for d in (-1, 0, 1)}
    codes = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF] + [0x1F600, 0x20000, 0xE0067, 0x10FFFF]
    for code in sorted(set(codes) | {e for e in edges if e >= 0}):
        assert _char_weight(chr(code)) == reference_char_weight(chr(code)), hex(code)


# --- cuts ----------------------------------------------------------------------------------------

class ReferenceCuts(_Cuts):
    """_Cuts as first written: twitter-text's extractors, then one position at a time."""

    def __init__(self, text: str, lead: int = 0, tail: int = 0):
        self.text = text
        self.blocked = bytearray(len(text) + 1)
        urls = [tuple(u["indices"]) for u in twitter_text.extract_urls_with_indices(text)]
        emoji = [tuple(e["indices"]) for e in twitter_text.extract_emojis_with_indices(text)]
        spans = [(m.start(), m.end()) for m in _PROTECTED.finditer(text)] + urls + emoji
        spans.append((0, lead + 1 if lead else 0))
        if tail:
            spans.append((len(text) - tail - 2, len(text)))
        for start, end in spans:
            for position in range(start + 1, end):
                self.blocked[position] = 1
        last = ""
        for position, char in enumerate(text):
            if last in COLONS:
                self.blocked[position] = 1
            if not char.isspace():
                last = char
        weights = [reference_char_weight(c) for c in text]
        for (start, end), weight in [(u, 23) for u in urls] + [(e, 2) for e in emoji]:
            weights[start:end] = [weight] + [0] * (end - start - 1)
        self.weight_before = [0]
        for weight in weights:
            self.weight_before.append(self.weight_before[-1] + weight)
        self._cache = {}


@FAST
@given(pieces_text, st.integers(0, 6), st.integers(0, 6))
def test_cuts_match_the_reference(text, lead, tail):
    lead, tail = min(lead, len(text)), min(tail, max(0, len(text) - 1))
    fast, slow = _Cuts(text, lead, tail), ReferenceCuts(text, lead, tail)
    assert fast.blocked == slow.blocked
    assert fast.weight_before == slow.weight_before
    for level in LEVELS:
        assert fast.at(level) == slow.at(level), level
    for position in range(0, len(text) + 1, 3):
        assert fast.level_of(position) == slow.level_of(position)
    assert [p for p in range(len(text) + 1) if fast.mid_sentence(p)] == \
        [p for p in range(len(text) + 1) if slow.mid_sentence(p)]


# --- issues --------------------------------------------------------------------------------------

def post_of(text: str):
    return parse_post(text, name="speed.md", settings=SETTINGS, default_slug="speed")


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_items_are_the_same_with_used_lines_they_never_looked_at(path):
    post = post_of(path.read_text(encoding="utf-8"))
    items, asked = issue.issue_items_asked(post, set())
    assert items == issue.issue_items(post, set())
    assert asked or not items  # an issue's lines were looked up
    for key in sorted(asked)[:6]:
        # a line they looked at: read again, and the answer may differ; one they did not: the same
        again, _ = issue.issue_items_asked(post, {key})
        assert issue.issue_items(post, {key, "nothing-like-any-line"}) == again
    assert issue.issue_items(post, {"nothing-like-any-line", "另一句话"} - asked) == items


ITEM_LINES = ["## Heading {n}", "### [Story {n}](https://example.com/{n})", "- [Link {n}](https://ex.com/{n}) — a line",
              "**[Bold {n}](/rel/{n})**: what it says about it", "Plain paragraph number {n} says enough words here.",
              '<p><a href="https://html.example/{n}">Read more</a></p>', "- item {n} without any link at all",
              "> quoted {n}", "[Read more](https://example.com/more/{n})", "---"]


@FAST
@given(st.lists(st.tuples(st.sampled_from(ITEM_LINES), st.integers(1, 9)), min_size=1, max_size=14))
def test_a_post_with_no_link_under_its_blocks_is_no_issue(lines):
    post = post_of("---\ntitle: Items\n---\n" + "\n\n".join(line.format(n=n) for line, n in lines) + "\n")
    reader = issue._Reader(post, set())
    full = issue._read_items(issue._Reader(post, set()), post)
    assert issue.issue_items(post, set()) == full
    if not reader.links(post.tree.children):
        assert full == []
