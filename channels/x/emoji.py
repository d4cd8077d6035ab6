"""The emoji X counts as one character (weight 2), found exactly as twitter-text finds them, without
compiling twitter-text's 2,500-branch emoji regular expression (~40 ms at import).

twitter-text (twitter_text/regexp/emoji.py) reads its copy of Unicode's emoji-test.txt, drops the
Component group (skin tones, hair), and matches, left to right without overlap, the entries of two
or more code points (longest first) or else one single-code-point entry. This module reads the same
file the same way and does the same with a dictionary: the first code point of an entry says which
entries may start there. tests/test_x_speed.py holds it equal to twitter-text's own extractor.
"""
from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

_HEX_ENTRY = re.compile(r"^[0-9A-F]{3,}")
# Where an entry of twitter-text's file may start, loosely: the few blocks its first code points
# fall in, and a keycap's "#", "*" or digit before U+FE0F or U+20E3 (tests/test_x_speed.py checks
# that every entry matches here). Latin, CJK and most punctuation are outside.
MAY_START = re.compile("[\u00a9\u00ae\u203c-\u2b55\u3030\u303d\u3297\u3299\U00010000-\U0010ffff]"
                       "|[#*0-9](?=[\ufe0f\u20e3])")
_HEADER_LINES = 32  # twitter-text skips the file's explanation; its first group starts after them


@dataclass(frozen=True)
class EmojiTable:
    singles: frozenset[str]  # entries of one code point
    sequences: dict[str, tuple[str, ...]]  # first code point -> entries of several, longest first
    starts: re.Pattern  # where an entry may start (and more)


def emoji_data_file() -> Path:
    """twitter-text's emoji-test.txt, found without importing the package."""
    spec = importlib.util.find_spec("twitter_text")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("twitter-text-parser is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "regexp" / "emoji-test.txt"


def parse_entries(text: str) -> list[str]:
    """The emoji of emoji-test.txt that twitter-text matches, in file order, as strings."""
    entries: list[str] = []
    group = ""
    for line in text.splitlines()[_HEADER_LINES:]:
        if line[:1] == "#":
            if line == "# Status Counts":
                break
            if "# group:" in line and "subtotal:" not in line:
                group = line.split(":")[-1].strip()
        elif group != "Component" and _HEX_ENTRY.match(line):
            entries.append("".join(chr(int(code, 16)) for code in line.split(";")[0].split()))
    return entries


def build_table(entries: list[str]) -> EmojiTable:
    singles = frozenset(e for e in entries if len(e) == 1)
    grouped: dict[str, list[str]] = {}
    for entry in entries:
        if len(entry) > 1:
            grouped.setdefault(entry[0], []).append(entry)
    # twitter-text tries the longer entries first; two entries of one length cannot both match
    sequences = {first: tuple(sorted(set(found), key=len, reverse=True)) for first, found in grouped.items()}
    # Where an entry may start (a superset: emoji_spans checks each): a single or first code point
    # of the BMP, or any code point past it (a class with one range there searches ~10x faster
    # than one listing the emoji ranges); a first code point that is no entry by itself ("#",
    # digits) only before a second code point of one of its entries.
    firsts = singles | set(sequences)
    lone_bmp = {first for first in sequences if first not in singles and ord(first) <= 0xFFFF}
    seconds = {entry[1] for first in lone_bmp for entry in sequences[first]}
    bmp = _char_class(c for c in firsts if ord(c) <= 0xFFFF)
    starts = re.compile(f"[{bmp}\U00010000-\U0010ffff]"
                        + (f"(?:(?<![{_char_class(lone_bmp)}])|(?=[{_char_class(seconds)}]))" if lone_bmp else ""))
    return EmojiTable(singles, sequences, starts)


def _char_class(chars: Iterable[str]) -> str:
    """The inside of a regex character class for `chars`, as ranges (a long list of single
    characters makes a slow class)."""
    ranges: list[list[int]] = []
    for code in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges)


@functools.cache  # built once, on the first text past ASCII (~5 ms)
def emoji_table() -> EmojiTable:
    return build_table(parse_entries(emoji_data_file().read_text(encoding="utf-8")))


def emoji_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every emoji in `text`, as twitter-text's extract_emojis_with_indices finds them."""
    if not MAY_START.search(text):  # most texts: the table is not even built
        return []
    table = emoji_table()
    spans: list[tuple[int, int]] = []
    position = 0
    search = table.starts.search
    while (found := search(text, position)) is not None:
        start = found.start()
        first = text[start]
        end = next((start + len(s) for s in table.sequences.get(first, ()) if text.startswith(s, start)), None)
        if end is None and first in table.singles:
            end = start + 1
        if end is None:
            position = start + 1
        else:
            spans.append((start, end))
            position = end
    return spans


def extract_emojis_with_indices(text: str) -> list[dict]:
    """twitter-text's extract_emojis_with_indices: [{"emoji": ..., "indices": [start, end]}, ...]."""
    return [{"emoji": text[start:end], "indices": [start, end]} for start, end in emoji_spans(text)]
