"""X (Twitter): one post becomes a thread that reads naturally and fits X's weighted 280.

Rendering rules:
- summary mode: tweet 1 is the title plus the point that matters, with the cover image; then one
  tweet per summary point, or per section (heading + first sentence(s)) when there is no summary.
- full mode: the whole article as plain text (headings, paragraphs, lists, quotes, code, table rows,
  raw HTML as text), packed greedily: short paragraphs share a tweet, long ones are split.
- The canonical link appears once: in the last tweet (default), the first, or not at all.
- An over-long piece is split at sentence ends, then clauses, then whitespace, then between two CJK
  characters; never inside a URL, number, @mention, #hashtag or emoji. A word longer than a tweet is
  cut as a last resort and reported by `checks`.
- Numbering " k/N" is a suffix on its own line and counted in the 280.
- A hand-written thread (front matter `channels.x.thread`) is used as is, then checked.

Delivery (the last section, "Delivery: tweepy client and send"): the thread is posted as one reply
chain through tweepy, each tweet and each media upload a ledger part, reconciled against the
account's timeline after a crash or an uncertain answer.
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import html
import io
import json
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol
from urllib.parse import urlsplit

import requests
import tweepy
import urllib3
from markdown_it.tree import SyntaxTreeNode
from PIL import Image
from requests_oauthlib import OAuth1
from twitter_text import extract_emojis_with_indices, extract_urls_with_indices, parse_tweet

from channels.base import Channel, DeliveryError, PermanentError, Receipt, SendContext, TransientError, UncertainError
from publisher.config import Settings
from publisher.image_fetch import FetchedImage, fetch_image
from publisher.markdown import html_images, html_to_text, parse_body
from publisher.post import Post

if TYPE_CHECKING:
    from publisher.ledger import Ledger, LedgerEntry

MAX_WEIGHTED = 280  # twitter-text v3 maxWeightedTweetLength; PLATFORMS.md 1.7
MAX_MEDIA = 4  # at most 4 photos per post; PLATFORMS.md 1.1
# twitter-text v3 counting config (PLATFORMS.md 1.7): code points weigh 2 (CJK, full-width
# punctuation) except the Latin/general ranges below (1); every URL 23; every emoji 2.
TWITTER_TEXT_V3 = {
    "version": 3,
    "max_weighted_tweet_length": MAX_WEIGHTED,
    "scale": 100,
    "default_weight": 200,
    "emoji_parsing_enabled": True,
    "transformed_url_length": 23,
    "ranges": [
        {"start": 0, "end": 4351, "weight": 100},
        {"start": 8192, "end": 8205, "weight": 100},
        {"start": 8208, "end": 8223, "weight": 100},
        {"start": 8242, "end": 8247, "weight": 100},
    ],
}
MODES = ("summary", "full")
LINK_POSITIONS = ("first", "last", "none")
SECTION_TEASER_WEIGHT = 140  # a section tweet takes more sentences only while shorter than this
PARAGRAPH_SEP = "\n\n"
LINE_SEP = "\n"


def weighted_length(text: str) -> int:
    """X's weighted length of `text` (twitter-text v3: CJK 2, URL 23, emoji 2)."""
    return _parse(text).weightedLength


@functools.lru_cache(maxsize=16384)
def _parse(text: str):
    return parse_tweet(text, options=TWITTER_TEXT_V3)


@dataclass(frozen=True)
class Tweet:
    text: str
    media: tuple[str, ...] = ()  # image URLs


@dataclass(frozen=True)
class XThread:
    tweets: tuple[Tweet, ...]
    mode: str
    hand_written: bool
    problems: tuple[str, ...] = ()  # found while rendering (bad options, cut words); see checks()


# ---------------------------------------------------------------------------------------------
# Plain text of the Markdown tree

@dataclass(frozen=True)
class Block:
    """One piece of plain text that starts on its own line; `sep` joins it to the previous block."""
    text: str
    sep: str = PARAGRAPH_SEP
    images: tuple[str, ...] = ()
    lead: int = 0  # length of a list marker ("• ", "3. ") that must stay with the text after it
    kind: str = "text"  # text | heading | code | html


_CJK_CHARS = ("\u1100-\u11ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f"
              "\u31a0-\u31ff\u3200-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f"
              "\uff00-\uffef\U00020000-\U0003134f")
_CJK = re.compile(f"[{_CJK_CHARS}]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SOFT_BREAK = None  # stands for a soft line break among inline parts until its neighbours are known


class _TextContext:
    """What plain-text conversion of one post needs: the post URL, and URLs already shown."""

    def __init__(self, post_url: str):
        self.shown_urls = {_same_url_key(post_url)}

    def link_suffix(self, label: str, href: str) -> str:
        """The " (url)" to put after a link's text when the URL adds information, else ""."""
        href = href.strip()
        if not href.startswith(("http://", "https://")):
            return ""
        key = _same_url_key(href)
        label_key = _same_url_key(label.strip())
        if key in self.shown_urls or not label.strip() or label_key == key or href in label:
            return ""
        self.shown_urls.add(key)
        return f" ({href})"


def _same_url_key(url: str) -> str:
    return re.sub(r"^https?://", "", url.strip()).rstrip("/").lower()


def _inline_plain(node: SyntaxTreeNode, ctx: _TextContext, images: list[str]) -> str:
    return _join_parts(_inline_parts(node, ctx, images))


def _join_parts(parts: list[str | None]) -> str:
    """Join inline parts; a soft break is a space, or nothing between two CJK characters."""
    out: list[str] = []
    for index, part in enumerate(parts):
        if part is not _SOFT_BREAK:
            out.append(part)
            continue
        before = next((p for p in reversed(out) if p), "")[-1:]
        after = next((p for p in parts[index + 1:] if p), "")[:1]
        out.append("" if _CJK.match(before) and _CJK.match(after) else " ")
    return "".join(out)


def _inline_parts(node: SyntaxTreeNode, ctx: _TextContext, images: list[str]) -> list[str | None]:
    parts: list[str | None] = []
    for child in node.children:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind == "softbreak":
            parts.append(_SOFT_BREAK)
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "image":
            src = str(child.attrs.get("src", ""))
            if src.startswith(("http://", "https://")):
                images.append(src)
            parts.append(child.content or "")
        elif kind == "link":
            label = _inline_parts(child, ctx, images)
            parts.extend(label)
            parts.append(ctx.link_suffix(_join_parts(label), str(child.attrs.get("href", ""))))
        elif kind == "html_inline":
            continue
        elif child.children:
            parts.extend(_inline_parts(child, ctx, images))
    return parts


def _text_block(inline: SyntaxTreeNode, ctx: _TextContext, kind: str = "text") -> Block:
    images: list[str] = []
    text = _inline_plain(inline, ctx, images).strip()
    return Block(text, images=tuple(images), kind=kind)


def article_blocks(post: Post) -> list[Block]:
    """The body of `post` as plain-text blocks, in order, with no Markdown syntax left."""
    return _blocks(post.tree.children, _TextContext(post.url))


def _blocks(nodes: Iterable[SyntaxTreeNode], ctx: _TextContext, depth: int = 0) -> list[Block]:
    out: list[Block] = []
    for node in nodes:
        kind = node.type
        if kind == "paragraph":
            out.append(_text_block(node.children[0], ctx))
        elif kind == "heading":
            out.append(_text_block(node.children[0], ctx, kind="heading"))
        elif kind in ("bullet_list", "ordered_list"):
            out.extend(_list_blocks(node, ctx, depth))
        elif kind == "blockquote":
            out.extend(_quoted(_blocks(node.children, ctx, depth)))
        elif kind in ("fence", "code_block"):
            out.append(Block(node.content.strip("\n"), kind="code"))
        elif kind == "table":
            out.extend(_table_blocks(node, ctx))
        elif kind == "html_block":
            out.extend(_html_blocks(node.content, ctx))
        elif kind == "hr":
            continue
        elif node.children:
            out.extend(_blocks(node.children, ctx, depth))
    return [b for b in out if b.text.strip() or b.images]


def _list_blocks(node: SyntaxTreeNode, ctx: _TextContext, depth: int) -> list[Block]:
    out: list[Block] = []
    start = int(node.attrs.get("start", 1) or 1)
    for index, item in enumerate(node.children):
        if node.type == "ordered_list":
            marker = f"{start + index}{item.markup or '.'} "
        else:
            marker = "• " if depth == 0 else "◦ "
        inner = _blocks(item.children, ctx, depth + 1)
        if not inner or inner[0].lead:  # an item that opens with a nested list still shows its marker
            inner.insert(0, Block(""))
        first = inner[0]
        inner[0] = Block(marker + first.text, images=first.images, lead=len(marker), kind=first.kind)
        out.extend(Block(b.text, LINE_SEP, b.images, b.lead, b.kind) for b in inner)
    if out:
        out[0] = Block(out[0].text, PARAGRAPH_SEP if depth == 0 else LINE_SEP, out[0].images,
                       out[0].lead, out[0].kind)
    return out


def _quoted(blocks: list[Block]) -> list[Block]:
    return [Block(f"“{b.text}”" if b.text else "", b.sep, b.images, b.lead, b.kind) for b in blocks]


def _table_blocks(node: SyntaxTreeNode, ctx: _TextContext) -> list[Block]:
    out: list[Block] = []
    for section in node.children:
        for row in section.children:
            images: list[str] = []
            cells = [_inline_plain(cell.children[0], ctx, images).strip() if cell.children else ""
                     for cell in row.children]
            out.append(Block(" · ".join(cells).strip(), PARAGRAPH_SEP if not out else LINE_SEP,
                             tuple(images)))
    return out


_HTML_LINK = re.compile(r"""<a\b[^>]*\bhref\s*=\s*["']([^"']+)["'][^>]*>(.*?)</a>""", re.I | re.S)


def _html_blocks(fragment: str, ctx: _TextContext) -> list[Block]:
    """A (sanitized) raw HTML block as text lines; a link keeps its text and, if new, its URL."""
    def with_url(match: re.Match) -> str:
        label = html_to_text(match.group(2))
        suffix = ctx.link_suffix(label, html.unescape(match.group(1)))
        return match.group(2) + html.escape(suffix)

    text = html_to_text(_HTML_LINK.sub(with_url, fragment))
    images = tuple(src for src in html_images(fragment) if src.startswith(("http://", "https://")))
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return [Block("", images=images, kind="html")] if images else []
    return [Block(line, PARAGRAPH_SEP if i == 0 else LINE_SEP, images if i == 0 else (), kind="html")
            for i, line in enumerate(lines)]


def _plain_inline_text(markdown: str, ctx: _TextContext) -> str:
    """Plain text of a short Markdown snippet (a summary point written with **bold** or links)."""
    text = " ".join(b.text for b in _blocks(parse_body(markdown).children, ctx))
    return " ".join(text.split()) or " ".join(markdown.split())


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


# ---------------------------------------------------------------------------------------------
# Laying blocks out into tweets

HEADING_KINDS = ("title", "heading")


@dataclass
class _Draft:
    text: str
    media: list[str] = field(default_factory=list)
    forced_cut: bool = False
    heading_run_at: int | None = None  # where the trailing run of headings begins in `text`

    @classmethod
    def start(cls, text: str, kind: str, media: list[str], forced: bool = False) -> _Draft:
        return cls(text, list(media), forced, 0 if kind in HEADING_KINDS else None)

    def add(self, block: Block, images: list[str]) -> None:
        if block.kind not in HEADING_KINDS:
            self.heading_run_at = None
        elif self.heading_run_at is None:
            self.heading_run_at = len(self.text)
        self.text += block.sep + block.text
        self.media.extend(images)


def _split_off_headings(draft: _Draft) -> tuple[_Draft | None, _Draft | None]:
    """(the draft without its trailing headings, those headings): a heading goes with its text."""
    at = draft.heading_run_at
    if at is None:
        return draft, None
    if at == 0:
        return None, draft
    headings = _Draft(draft.text[at:].lstrip(), heading_run_at=0)
    draft.text, draft.heading_run_at = draft.text[:at], None
    return draft, headings


def _layout(groups: list[list[Block]], limit: int) -> list[_Draft]:
    """Pack each group's blocks greedily into drafts of weighted length <= limit.

    A heading never ends a tweet while text follows it: the text starts in the heading's tweet.
    """
    def fits(text: str) -> bool:
        return weighted_length(text) <= limit

    drafts: list[_Draft] = []
    for group in groups:
        current: _Draft | None = None
        pending_images: list[str] = []
        for block in group:
            images, pending_images = pending_images + list(block.images), []
            if not block.text.strip():
                if current is None:
                    pending_images = images
                else:
                    current.media.extend(images)
                continue
            cuts = _Cuts(block.text, block.lead)
            small = cuts.estimate(0, len(block.text)) <= ESTIMATE_CEILING
            if current is not None and small and fits(current.text + block.sep + block.text):
                current.add(block, images)
                continue
            heading = None
            if current is not None:
                current, heading = _split_off_headings(current)
                if current is not None:
                    drafts.append(current)
            if heading is not None and weighted_length(heading.text) > limit // 2:
                drafts.append(heading)  # too long to share a tweet with the text after it
                heading = None
            pieces = split_text(block.text, fits, block.lead, None, cuts)
            if heading is not None:
                prefix = heading.text + block.sep
                shared = split_text(block.text, fits, block.lead, lambda piece: fits(prefix + piece), cuts)
                if _cut_rank(shared[0][1]) <= max(_cut_rank(pieces[0][1]), _cut_rank("sentence")):
                    pieces = shared
                else:  # sharing would cut mid-sentence where a tweet of its own would not
                    drafts.append(heading)
                    heading = None
            for index, (piece, cut) in enumerate(pieces):
                forced = cut in FORCED_LEVELS
                if index == 0 and heading is not None:
                    draft = heading
                    draft.add(Block(piece, block.sep, kind=block.kind), images)
                    draft.forced_cut = forced
                else:
                    draft = _Draft.start(piece, block.kind, images if index == 0 else [], forced)
                if index < len(pieces) - 1:
                    drafts.append(draft)
                else:
                    current = draft
        if current is not None:
            current.media.extend(pending_images)
            drafts.append(current)
        elif pending_images and drafts:
            drafts[-1].media.extend(pending_images)
    return drafts


def _cut_rank(level: str) -> int:
    """How fine a cut is: -1 for no cut, then the index in LEVELS."""
    return LEVELS.index(level) if level else -1


def numbering(k: int, n: int) -> str:
    """The suffix of tweet k of n (nothing on a single tweet)."""
    return f"{PARAGRAPH_SEP}{k}/{n}" if n > 1 else ""


def thread_from_groups(groups: list[list[Block]]) -> tuple[list[Tweet], list[str]]:
    """Lay out groups into numbered tweets; a tweet never spans two groups."""
    digits = 1
    while True:
        reserve = weighted_length(numbering(10 ** digits - 1, 10 ** digits - 1))
        drafts = _layout(groups, MAX_WEIGHTED - reserve)
        if len(str(len(drafts))) <= digits:
            break
        digits = len(str(len(drafts)))
    total = len(drafts)
    tweets = [Tweet(d.text + numbering(k, total), tuple(_dedupe(d.media)))
              for k, d in enumerate(drafts, 1)]
    cut = [str(k) for k, d in enumerate(drafts, 1) if d.forced_cut]
    problems = [f"tweet{'s' if len(cut) > 1 else ''} {', '.join(cut)} end{'' if len(cut) > 1 else 's'} in the "
                "middle of a word longer than a tweet; shorten that word or write the thread by hand"] if cut else []
    tweets, left_out = _spread_media(tweets)
    if left_out:
        problems.append(f"{len(left_out)} image(s) did not fit on the thread (X allows {MAX_MEDIA} per post) "
                        f"and are left out: {', '.join(left_out)}")
    return tweets, problems


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _spread_media(tweets: list[Tweet]) -> tuple[list[Tweet], list[str]]:
    """At most MAX_MEDIA images per tweet; extra images move on to the next tweets.

    Returns the tweets and the images that found no room at the end of the thread.
    """
    out: list[Tweet] = []
    carried: list[str] = []
    for tweet in tweets:
        media = carried + list(tweet.media)
        out.append(Tweet(tweet.text, tuple(media[:MAX_MEDIA])))
        carried = media[MAX_MEDIA:]
    return out, carried


# ---------------------------------------------------------------------------------------------
# The two modes

def link_line(post: Post) -> str:
    """The one line that carries the canonical link, labelled in the post's language."""
    return f"{_read_more_label(post)}{post.url}"


def _link_block(post: Post) -> Block:
    return Block(link_line(post))


def _read_more_label(post: Post) -> str:
    sample = " ".join([post.title, *post.summary, post.body[:2000]])
    cjk, latin = len(_CJK.findall(sample)), len(_LATIN_LETTER.findall(sample))
    return "阅读全文：" if cjk * 3 > latin else "Read the full post: "


def _hook_blocks(post: Post, point: str, link: str) -> list[Block]:
    """Title (+ the point that matters) with the cover image, and the link when it goes first."""
    cover = (post.cover_image,) if post.cover_image else ()
    blocks = [Block(post.title, images=cover, kind="title")] + ([Block(point)] if point else [])
    return blocks + ([_link_block(post)] if link == "first" else [])


def _with_last_link(groups: list[list[Block]], post: Post, link: str) -> list[list[Block]]:
    if link == "last":
        groups[-1] = groups[-1] + [_link_block(post)]
    return groups


def summary_groups(post: Post, link: str) -> list[list[Block]]:
    """Tweet 1 hooks (title + the point that matters); then one group per point or section."""
    ctx = _TextContext(post.url)
    points = [p for p in (_plain_inline_text(point, ctx) for point in post.summary) if p]
    if points:
        groups = [_hook_blocks(post, points[0], link), *([Block(p)] for p in points[1:])]
        return _with_last_link(groups, post, link)
    sections = [(heading, _blocks(nodes, ctx)) for heading, nodes in post.sections]
    prose = [(i, b) for i, (_, blocks) in enumerate(sections) for b in blocks
             if b.kind == "text" and b.text[b.lead:].strip()]
    hook = sentences(prose[0][1].text[prose[0][1].lead:])[0] if prose else ""
    groups = [_hook_blocks(post, hook, link)]
    for index, (heading, blocks) in enumerate(sections):
        if not heading:
            continue
        skip = 1 if prose and prose[0][0] == index else 0
        teaser = _teaser(blocks, skip)
        groups.append([Block(heading, kind="heading")] + ([Block(teaser)] if teaser else []))
    return _with_last_link(groups, post, link)


def _teaser(blocks: list[Block], skip_sentences: int) -> str:
    """The first sentence(s) of a section's first prose block."""
    first = next((b for b in blocks if b.kind == "text" and b.text[b.lead:].strip()), None)
    if first is None:
        return ""
    chosen: list[str] = []
    for sentence in sentences(first.text[first.lead:])[skip_sentences:]:
        if chosen and weighted_length(" ".join(chosen)) >= SECTION_TEASER_WEIGHT:
            break
        chosen.append(sentence)
    return " ".join(chosen)


def full_groups(post: Post, link: str) -> list[list[Block]]:
    """The whole article as one group: title, then every block of the body."""
    return _with_last_link([_hook_blocks(post, "", link) + article_blocks(post)], post, link)


# ---------------------------------------------------------------------------------------------
# Hand-written threads

def hand_written_tweets(raw: object) -> tuple[list[Tweet], list[str]]:
    """Tweets of `channels.x.thread` (text, or {text, media}) as written, and what is wrong with it."""
    where = "channels.x.thread"
    if not isinstance(raw, list):
        return [], [f"{where} should be a list of tweets (text, or text + media); got {_kind(raw)}"]
    if not raw:
        return [], [f"{where} is empty; write at least one tweet or remove it"]
    tweets: list[Tweet] = []
    problems: list[str] = []
    for number, item in enumerate(raw, 1):
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            tweets.append(Tweet(str(item)))
            continue
        if not isinstance(item, Mapping):
            problems.append(f"{where} item {number} should be text or {{text, media}}; got {_kind(item)}")
            continue
        unknown = sorted(str(k) for k in item if k not in ("text", "media"))
        if unknown:
            problems.append(f"{where} item {number} has unknown key(s) {', '.join(unknown)}; "
                            "expected text and media")
        text = item.get("text")
        if text is None:  # an image-only post is allowed
            text = ""
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            problems.append(f"{where} item {number}: text should be text; got {_kind(text)}")
            text = ""
        media = item.get("media") or []
        if isinstance(media, str):
            media = [media]
        if not isinstance(media, list) or not all(isinstance(m, str) for m in media):
            problems.append(f"{where} item {number}: media should be a list of image URLs")
            media = []
        tweets.append(Tweet(str(text), tuple(media)))
    return tweets, problems


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)


def _option(options: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str,
            problems: list[str]) -> str:
    value = options.get(key)
    if value is None:
        return default
    if value is False and "none" in allowed:
        return "none"
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    problems.append(f"channels.x.{key} is {value!r}; expected one of {', '.join(allowed)} "
                    f"(using {default!r})")
    return default


# ---------------------------------------------------------------------------------------------
# The channel

class XChannel(Channel):
    name = "x"

    def __init__(self, timeout: tuple[float, float] | None = None, media_api: str | None = None):
        # Delivery knobs (see "Delivery" below); tests use short timeouts and both upload APIs.
        self.timeout = timeout or (CONNECT_TIMEOUT, READ_TIMEOUT)
        self.media_api = media_api or MEDIA_UPLOAD_API
        if self.media_api not in MEDIA_UPLOADERS:
            raise ValueError(f"media_api must be one of {sorted(MEDIA_UPLOADERS)}, got {self.media_api!r}")

    def render(self, post: Post, settings: Settings) -> XThread:
        options = post.channel_options("x")
        problems: list[str] = []
        mode = _option(options, "mode", MODES, settings.x_mode, problems)
        link = _option(options, "link", LINK_POSITIONS, settings.x_link_position, problems)
        if "thread" in options:
            tweets, thread_problems = hand_written_tweets(options["thread"])
            problems += thread_problems
            if tweets:
                return XThread(tuple(tweets), mode, True, tuple(problems))
            problems.append("the hand-written thread could not be used; this is the generated one")
        groups = summary_groups(post, link) if mode == "summary" else full_groups(post, link)
        tweets, cut_problems = thread_from_groups(groups)
        return XThread(tuple(tweets), mode, False, tuple(problems + cut_problems))

    def checks(self, payload: XThread, settings: Settings) -> list[str]:
        problems = list(payload.problems)
        if not payload.tweets:
            problems.append("the thread has no tweets")
        for k, tweet in enumerate(payload.tweets, 1):
            problems.extend(_tweet_problems(k, tweet))
        if len(payload.tweets) > settings.x_daily_budget:
            problems.append(f"the thread has {len(payload.tweets)} posts but the daily X budget is "
                            f"{settings.x_daily_budget} (PUBLISHER_X_DAILY_BUDGET); use summary mode, "
                            "shorten it, or raise the budget")
        return problems

    def preview_json(self, payload: XThread) -> dict:
        return {"tweets": [{"text": t.text, "media": list(t.media)} for t in payload.tweets]}

    def preview_files(self, payload: XThread) -> dict[str, str]:
        return {"x_thread.json": json.dumps(self.preview_json(payload), ensure_ascii=False, indent=2) + "\n"}

    def configured(self, settings: Settings) -> bool:
        return is_configured(settings)

    def send(self, payload: XThread, ctx: SendContext) -> Receipt:
        return send_thread(payload, ctx, timeout=ctx.settings.timeouts(self.timeout), media_api=self.media_api)


def _tweet_problems(k: int, tweet: Tweet) -> list[str]:
    problems: list[str] = []
    if not tweet.text.strip():
        if not tweet.media:
            problems.append(f"tweet {k} is empty")
    else:
        parsed = _parse(tweet.text)
        if parsed.weightedLength > MAX_WEIGHTED:
            problems.append(f"tweet {k} is {parsed.weightedLength} weighted characters; X allows {MAX_WEIGHTED}")
        elif not parsed.valid:
            problems.append(f"tweet {k} contains a character X refuses (U+FFFE, U+FEFF or U+FFFF)")
    if len(tweet.media) > MAX_MEDIA:
        problems.append(f"tweet {k} has {len(tweet.media)} images; X allows {MAX_MEDIA} per post")
    for url in tweet.media:
        if not url.startswith(("http://", "https://")):
            problems.append(f"tweet {k} has an image that is not an http(s) URL: {url!r}")
    return problems


# =============================================================================================
# Delivery: tweepy client and send
#
# Everything below does I/O; rendering above never calls it. The thread is posted in order as one
# reply chain (PLATFORMS.md 1.1): tweet k replies to tweet k-1. Ledger parts, in sending order:
# "media-<k>-<n>" (image n of tweet k, uploaded just before tweet k) and "tweet-<k>". A tweet left
# "sending" by a killed worker, or "uncertain" after a timeout or 5xx, is looked up on the
# account's timeline (GET /2/users/me, then GET /2/users/:id/tweets, matched by text and parent)
# before anything else happens to it; it is posted again only when it is not there.

# Connect timeout: a request that never connected is safely retried (TransientError).
CONNECT_TIMEOUT = 5.0
# Read timeout: after it the tweet may or may not be posted (UncertainError).
READ_TIMEOUT = 30.0
# A "sending" tweet claimed less than this after the claim may still be in flight in another
# worker (the claim is made right before the request): it is left alone until then.
IN_FLIGHT_MARGIN = 5.0
# tweepy hard-codes these hosts (PLATFORMS.md 1.2 [XT1][XT3]); X's docs now name the x.com ones (1.1, 1.4).
X_API_HOSTS = ("https://api.twitter.com", "https://api.x.com")
X_UPLOAD_HOSTS = ("https://upload.twitter.com", "https://upload.x.com")
# "v1.1": tweepy.API.media_upload; "v2": POST /2/media/upload with requests (tweepy has no v2
# upload). X deprecated v1.1 upload for self-serve tiers; whether it still answers is unverified
# (PLATFORMS.md 1.4), so the switch is one constant (or XChannel(media_api=...)).
MEDIA_UPLOAD_API = "v1.1"
# Media ids expire after expires_after_secs = 86400 (1.4); an older stored id is uploaded again
# rather than risking "Your media IDs are invalid" on a thread resumed the next day.
MEDIA_REUSE_MAX_AGE = timedelta(hours=20)
# Image formats X accepts for photos (1.4); anything else Pillow reads is converted to PNG.
UPLOAD_FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "GIF": ("gif", "image/gif"),
                  "WEBP": ("webp", "image/webp")}
# GET /2/users/:id/tweets takes max_results 5..100 (1.8); a few pages cover any realistic gap.
TIMELINE_PAGE_SIZE = 100
TIMELINE_MAX_PAGES = 3
TIMELINE_FIELDS = ["referenced_tweets", "created_at", "conversation_id"]
# Posts older than the publication (less this allowance for clock differences) cannot be ours.
CLOCK_SKEW = timedelta(minutes=10)
TWEET_URL = "https://x.com/{username}/status/{tweet_id}"
# 403 detail of a repeated text: "You are not allowed to create a Tweet with duplicate content." (1.5)
DUPLICATE_MARK = "duplicate content"
CREDENTIAL_VARIABLES = ("PUBLISHER_X_CONSUMER_KEY, PUBLISHER_X_CONSUMER_SECRET, PUBLISHER_X_ACCESS_TOKEN "
                        "and PUBLISHER_X_ACCESS_TOKEN_SECRET")


def is_configured(settings: Settings) -> bool:
    return all((settings.x_consumer_key, settings.x_consumer_secret, settings.x_access_token,
                settings.x_access_token_secret))


def credentials(settings: Settings) -> tuple[str, str, str, str]:
    return (settings.x_consumer_key, settings.x_consumer_secret, settings.x_access_token,
            settings.x_access_token_secret)


# --- reaching the configured hosts ---

class BaseUrlAdapter(requests.adapters.HTTPAdapter):
    """Sends requests meant for an X host to `base_url` (a proxy, or the sandbox), with the URL the
    client signed in `X-Original-URL`: OAuth 1.0a signs the original https URL (PLATFORMS.md 1.2).
    Also applies `timeout` when the client sets none (tweepy.Client never does)."""

    def __init__(self, base_url: str, timeout: float | tuple[float, float] | None = None):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        original = request.url or ""
        parts = urlsplit(original)
        target = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        if target != original:
            request.headers["X-Original-URL"] = original
            request.url = target
        return super().send(request, **kwargs)


def route_x_hosts(session: requests.Session, settings: Settings, timeout: tuple[float, float]) -> None:
    """Point the API hosts at settings.x_api_base and the upload hosts at settings.x_upload_base."""
    for hosts, base in ((X_API_HOSTS, settings.x_api_base), (X_UPLOAD_HOSTS, settings.x_upload_base)):
        for host in hosts:
            session.mount(host, BaseUrlAdapter(base, timeout))


# --- media upload ---

class MediaUploader(Protocol):
    def upload(self, image: FetchedImage) -> str:
        """Upload one image; its media id. Raises tweepy.HTTPException or a requests error."""

    def close(self) -> None: ...


def upload_file(image: FetchedImage) -> tuple[str, bytes, str]:
    """(file name, bytes, MIME type) of `image` in a format X accepts."""
    if image.format in UPLOAD_FORMATS:
        extension, mime = UPLOAD_FORMATS[image.format]
        return f"media.{extension}", image.data, mime
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(image.data)) as picture:
        picture.convert("RGBA").save(buffer, "PNG")
    return "media.png", buffer.getvalue(), "image/png"


def media_category(mime: str) -> str:
    return "tweet_gif" if mime == "image/gif" else "tweet_image"  # 1.4 media_category values


class V1MediaUploader:
    """tweepy.API.media_upload: POST https://upload.twitter.com/1.1/media/upload.json (1.4)."""

    def __init__(self, settings: Settings, timeout: tuple[float, float]):
        self.api = tweepy.API(tweepy.OAuth1UserHandler(*credentials(settings)), timeout=timeout)
        route_x_hosts(self.api.session, settings, timeout)

    def upload(self, image: FetchedImage) -> str:
        name, data, mime = upload_file(image)
        media = self.api.media_upload(name, file=io.BytesIO(data), media_category=media_category(mime))
        return str(media.media_id_string)

    def close(self) -> None:
        self.api.session.close()


class V2MediaUploader:
    """POST {x_upload_base}/2/media/upload, multipart `media` + media_category, OAuth 1.0a (1.4)."""

    def __init__(self, settings: Settings, timeout: tuple[float, float]):
        self.url = settings.x_upload_base.rstrip("/") + "/2/media/upload"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = OAuth1(*credentials(settings))
        route_x_hosts(self.session, settings, timeout)

    def upload(self, image: FetchedImage) -> str:
        name, data, mime = upload_file(image)
        response = self.session.post(self.url, data={"media_category": media_category(mime)},
                                     files={"media": (name, data, mime)}, timeout=self.timeout)
        body = _json_object(response)
        media_id = (body.get("data") or {}).get("id") if isinstance(body.get("data"), dict) else None
        if not 200 <= response.status_code < 300 or not media_id:
            # tweepy's exception reads X's problem JSON the same way for both APIs.
            raise tweepy.HTTPException(response, response_json=body)
        return str(media_id)

    def close(self) -> None:
        self.session.close()


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


MEDIA_UPLOADERS: dict[str, Callable[[Settings, tuple[float, float]], MediaUploader]] = {
    "v1.1": V1MediaUploader,
    "v2": V2MediaUploader,
}


# --- the error table ---

# Outcomes of one request.
TRANSIENT = "transient"      # not accepted, try later (TransientError; part failed retryably)
PERMANENT = "permanent"      # refused for good (PermanentError; part failed)
CREDENTIALS = "credentials"  # 401: X refused the keys (PermanentError naming the settings)
DUPLICATE = "duplicate"      # 403 duplicate content: maybe ours from an earlier attempt; look it up
UNCERTAIN = "uncertain"      # may have been accepted (UncertainError; part uncertain)


@dataclass(frozen=True)
class XFailure:
    """Everything known about a request that did not succeed."""

    status: int | None  # HTTP status; None when no answer arrived
    message: str  # X's own words ("detail" / errors[].message), or the transport error
    exception: BaseException  # tweepy's HTTPException, or the requests error
    headers: Mapping[str, str]


@dataclass(frozen=True)
class ErrorRule:
    matches_what: str  # for people reading the table
    outcome: str
    matches: Callable[[XFailure], bool]


def failure_of(exc: BaseException) -> XFailure | None:
    """The failure `exc` reports, or None for an exception that is not about the request (a bug)."""
    if isinstance(exc, tweepy.HTTPException):
        response = exc.response
        words = [str(m) for m in exc.api_messages] or [f"{response.status_code} {response.reason}"]
        return XFailure(response.status_code, "; ".join(words), exc, response.headers)
    transport = _transport_error(exc)
    if transport is None:
        return None
    return XFailure(None, f"{type(transport).__name__}: {transport}", transport, {})


def _transport_error(exc: BaseException | None) -> requests.RequestException | None:
    # tweepy.API wraps requests' errors in TweepyException("Failed to send request: ...") raised
    # inside the except block, so the original is its __context__; tweepy.Client does not wrap.
    while exc is not None:
        if isinstance(exc, requests.RequestException):
            return exc
        exc = exc.__context__ if isinstance(exc, tweepy.TweepyException) else None
    return None


def _never_left(exc: BaseException) -> bool:
    """True when the request cannot have reached X: connect timeout, refused, DNS failure.

    requests raises the same ConnectionError class for a refused connection and for one dropped
    after the request was sent, so the cause is read from urllib3's chain, not from the class.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.ConnectTimeoutError):  # NewConnectionError included
            return True
        pending += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                                *current.args) if isinstance(e, BaseException)]
    return False


# PLATFORMS.md 1.5: the first matching row decides. tweepy raises one class per status (400
# BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 429 TooManyRequests, >=500
# TwitterServerError); the rows read the status itself rather than rely on class ancestry.
# Anything no row matches (a 3xx, a 2xx without an id) did reach X: UNCERTAIN.
ERROR_TABLE: tuple[ErrorRule, ...] = (
    ErrorRule("connect timeout, connection refused, DNS failure: the request never left",
              TRANSIENT, lambda f: f.status is None and _never_left(f.exception)),
    ErrorRule("a base URL requests cannot use (a configuration mistake)", PERMANENT,
              lambda f: isinstance(f.exception, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                                                 requests.exceptions.InvalidSchema))),
    ErrorRule("read timeout, dropped connection, broken answer: sent, outcome unknown", UNCERTAIN,
              lambda f: f.status is None),
    ErrorRule("429 Too Many Requests (x-rate-limit-reset)", TRANSIENT, lambda f: f.status == 429),
    ErrorRule("401 Unauthorized: the keys or tokens are wrong or revoked", CREDENTIALS, lambda f: f.status == 401),
    ErrorRule("403 duplicate content: the same text is already on the account", DUPLICATE,
              lambda f: f.status == 403 and DUPLICATE_MARK in f.message.lower()),
    ErrorRule("other 4xx: 400 invalid request or media, 403 not allowed / too long, 404", PERMANENT,
              lambda f: f.status is not None and 400 <= f.status < 500),
    ErrorRule("5xx: X may have accepted the request", UNCERTAIN, lambda f: f.status is not None and f.status >= 500),
)


def classify_failure(failure: XFailure) -> str:
    return next((rule.outcome for rule in ERROR_TABLE if rule.matches(failure)), UNCERTAIN)


def failure_text(failure: XFailure) -> str:
    return failure.message if failure.status is None else f"{failure.message} (HTTP {failure.status})"


def retry_after_of(failure: XFailure, now: float) -> float | None:
    """Seconds until x-rate-limit-reset (unix seconds; tweepy reads only this header, 1.5), at least 1."""
    reset = failure.headers.get("x-rate-limit-reset")
    try:
        return max(1.0, float(reset) - now) if reset is not None else None
    except ValueError:
        return None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without any credential (none is expected in X's answers; this makes sure)."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "<secret>")
    return text


# --- the client ---

@dataclass(frozen=True)
class XAccount:
    id: str
    username: str


class XApi:
    """tweepy.Client (v2, OAuth 1.0a user context) and the media uploader, routed to the
    configured hosts. Methods raise tweepy's or requests' exceptions; send() classifies them."""

    def __init__(self, settings: Settings, timeout: tuple[float, float], media_api: str):
        key, secret, token, token_secret = credentials(settings)
        self.secrets = (secret, token_secret, token, key)
        self.client = tweepy.Client(consumer_key=key, consumer_secret=secret, access_token=token,
                                    access_token_secret=token_secret, wait_on_rate_limit=False)
        route_x_hosts(self.client.session, settings, timeout)
        self.uploader = MEDIA_UPLOADERS[media_api](settings, timeout)

    def close(self) -> None:
        self.client.session.close()
        self.uploader.close()

    def me(self) -> XAccount:
        user = self.client.get_me(user_auth=True).data
        return XAccount(str(user.id), str(user.username))

    def create_tweet(self, text: str, reply_to: str | None, media_ids: list[str]) -> str | None:
        """The new post's id (None if X answered without one)."""
        response = self.client.create_tweet(text=text or None, in_reply_to_tweet_id=reply_to,
                                            media_ids=media_ids or None, user_auth=True)
        data = response.data if isinstance(response.data, Mapping) else {}
        return str(data["id"]) if data.get("id") else None

    def recent_posts(self, user_id: str, since: datetime | None) -> Iterable[tweepy.Tweet]:
        """The account's posts, newest first, back to `since` (or TIMELINE_MAX_PAGES pages)."""
        token = None
        for _ in range(TIMELINE_MAX_PAGES):
            page = self.client.get_users_tweets(user_id, max_results=TIMELINE_PAGE_SIZE, tweet_fields=TIMELINE_FIELDS,
                                                pagination_token=token, user_auth=True)
            for post in page.data or []:
                if since is not None and post.created_at is not None and post.created_at < since:
                    return
                yield post
            token = (page.meta or {}).get("next_token")
            if not token:
                return


# --- matching posts on the timeline ---

def comparable_text(text: str) -> str:
    """Text as X's timeline gives it back and ours compare equal: X answers with &amp; &lt; &gt;
    escaped, every link replaced by a t.co one, and a t.co link to attached media appended; so
    entities are decoded, links removed and whitespace collapsed."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    for url in sorted(extract_urls_with_indices(text), key=lambda u: u["indices"][0], reverse=True):
        start, end = url["indices"]
        text = text[:start] + " " + text[end:]
    return " ".join(text.split())


def replied_to(post: tweepy.Tweet) -> str | None:
    return next((str(ref.id) for ref in post.referenced_tweets or [] if ref.type == "replied_to"), None)


# --- ledger parts ---

@dataclass(frozen=True)
class MediaStep:
    part: str
    sha: str
    url: str


@dataclass(frozen=True)
class TweetStep:
    number: int  # 1-based, as in "tweet 3"
    tweet: Tweet
    part: str
    sha: str
    media: tuple[MediaStep, ...]


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def thread_steps(payload: XThread) -> list[TweetStep]:
    return [TweetStep(number, tweet, f"tweet-{number}", _sha({"text": tweet.text, "media": list(tweet.media)}),
                      tuple(MediaStep(f"media-{number}-{n}", _sha({"url": url}), url)
                            for n, url in enumerate(tweet.media, 1)))
            for number, tweet in enumerate(payload.tweets, 1)]


def ledger_parts(steps: list[TweetStep]) -> list[tuple[str, str]]:
    """(part, content sha256) in sending order: a tweet's images, then the tweet."""
    return [pair for step in steps for pair in [*((m.part, m.sha) for m in step.media), (step.part, step.sha)]]


# --- send ---

@dataclass
class ThreadRun:
    """One send(): the context, the client and what this run learned."""

    ctx: SendContext
    api: XApi
    timeout: tuple[float, float]
    since: datetime | None  # posts older than this are not ours
    notes: list[str] = field(default_factory=list)
    posted: bool = False
    account: XAccount | None = None

    @property
    def ledger(self) -> Ledger:
        return self.ctx.ledger

    def scrub(self, text: str) -> str:
        return scrub(text, self.api.secrets)

    def me(self) -> XAccount:
        if self.account is None:
            self.account = self.read("GET /2/users/me", self.api.me)
        return self.account

    def tweet_url(self, tweet_id: str) -> str:
        return TWEET_URL.format(username=self.me().username, tweet_id=tweet_id)

    def pace(self) -> None:
        """X's pause between two posts of one thread (settings.x_pause_seconds)."""
        pause = self.ctx.settings.x_pause_seconds
        if self.ctx.pace is not None:  # one post per pause per account, across all workers
            self.ctx.pace(f"x:{self.ctx.settings.x_access_token.split('-', 1)[0]}", pause)
        elif self.posted and pause > 0:
            self.ctx.sleep(pause)
        self.posted = True

    def read(self, what: str, call: Callable[[], Any]) -> Any:
        """A read changes nothing on X, so any failure but a refusal is simply transient."""
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified by the error table; anything else re-raised
            failure = failure_of(exc)
            if failure is None:
                raise
            outcome, text = classify_failure(failure), self.scrub(failure_text(failure))
        if outcome == CREDENTIALS:
            raise PermanentError(credentials_refused(text))
        if outcome in (PERMANENT, DUPLICATE):
            raise PermanentError(f"x: {what} refused by X: {text}")
        retry_after = retry_after_of(failure, time.time()) if outcome == TRANSIENT else None
        raise TransientError(f"x: {what} failed, try again later: {text}", retry_after=retry_after)

    def settle_failure(self, part: str, what: str, exc: BaseException) -> None:
        """Record a failed write right after it and raise its delivery error (re-raise a bug)."""
        failure = failure_of(exc)
        if failure is None:
            raise exc  # not about the request; the part stays "sending" and is reconciled next time
        outcome, text = classify_failure(failure), self.scrub(failure_text(failure))
        if outcome == TRANSIENT:
            self.ledger.mark_failed(part, text, retryable=True)
            raise TransientError(f"{what} not sent, try again later: {text}",
                                 retry_after=retry_after_of(failure, time.time())) from None
        if outcome == UNCERTAIN:
            self.ledger.mark_uncertain(part, text)
            raise UncertainError(f"{what} may or may not have been accepted: {text}") from None
        self.ledger.mark_failed(part, text, retryable=False)
        if outcome == CREDENTIALS:
            raise PermanentError(credentials_refused(text)) from None
        raise PermanentError(f"{what} refused by X: {text}") from None


def credentials_refused(text: str) -> str:
    return f"x: X refused the credentials: {text}; check {CREDENTIAL_VARIABLES}"


def send_thread(payload: XThread, ctx: SendContext, timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
                media_api: str = MEDIA_UPLOAD_API) -> Receipt:
    if not is_configured(ctx.settings):
        raise PermanentError(f"x: not configured: set {CREDENTIAL_VARIABLES}")
    steps = thread_steps(payload)
    if not steps:
        raise PermanentError("x: the thread has no tweets")
    ctx.ledger.plan(ledger_parts(steps))
    refuse_changed(ctx.ledger, steps)
    run = ThreadRun(ctx, XApi(ctx.settings, timeout, media_api), timeout, earliest_own_post(ctx))
    try:
        parent_id: str | None = None
        for step in steps:
            parent_id = finish_tweet(run, step, parent_id)
            ctx.progress(step.number, len(steps))
    finally:
        run.api.close()
    return thread_receipt(ctx.ledger, steps, run.notes)


def refuse_changed(ledger: Ledger, steps: list[TweetStep]) -> None:
    """A tweet whose text or images changed after it left this machine cannot be resumed."""
    entries = {entry.part: entry for entry in ledger.entries()}
    for step in steps:
        entry = entries[step.part]
        if entry.content_sha256 != step.sha and entry.state in ("sent", "sending", "uncertain"):
            raise PermanentError(f"x: tweet {step.number} changed after it was posted; publish again as a new "
                                 "publication to post the new version")


def earliest_own_post(ctx: SendContext) -> datetime | None:
    publication = ctx.store.publication(ctx.publication_id)
    return None if publication is None else publication.created_at - CLOCK_SKEW


def finish_tweet(run: ThreadRun, step: TweetStep, parent_id: str | None) -> str:
    """Make sure tweet `step` is on X as a reply to `parent_id`; its id."""
    entry = run.ledger.entry(step.part)
    assert entry is not None
    if entry.state in ("sending", "uncertain"):
        entry = reconcile_tweet(run, step, entry, parent_id)
    if entry.state == "sent":
        return sent_tweet_id(run, step, entry)
    if not entry.claimable:
        raise PermanentError(f"x: tweet {step.number} was refused earlier: {entry.last_error}")
    run.pace()
    media_ids = [media_id_for(run, step, media) for media in step.media]
    return post_tweet(run, step, parent_id, media_ids)


def sent_tweet_id(run: ThreadRun, step: TweetStep, entry: LedgerEntry) -> str:
    if not entry.remote_id:
        raise PermanentError(f"x: tweet {step.number} is recorded as sent without its id, so the thread cannot "
                             "continue as replies to it")
    for media in step.media:  # a posted tweet carried its images: their uploads are finished too
        media_entry = run.ledger.entry(media.part)
        if media_entry is not None and media_entry.state != "sent":
            run.ledger.mark_sent(media.part, remote_id=media_entry.remote_id)
    return entry.remote_id


def reconcile_tweet(run: ThreadRun, step: TweetStep, entry: LedgerEntry, parent_id: str | None) -> LedgerEntry:
    """Settle a tweet that may have been posted: found on the timeline -> sent with its id;
    not there -> failed retryably, so it is posted now. Never posted again on a guess."""
    if entry.state == "sending":
        in_flight = sum(run.timeout) + IN_FLIGHT_MARGIN
        age = (datetime.now(timezone.utc) - entry.updated_at).total_seconds()
        if not entry.abandoned(in_flight):
            raise TransientError(f"x: tweet {step.number} is being sent by another worker",
                                 retry_after=max(1.0, in_flight - age))
    found = find_own_post(run, step.tweet, parent_id)
    if found is None:
        run.ledger.resolve_uncertain(step.part, None, sent=False)
    else:
        run.ledger.resolve_uncertain(step.part, found, sent=True, remote_url=run.tweet_url(found))
        run.notes.append(f"tweet {step.number} was found on the account (posted by an earlier attempt)")
    current = run.ledger.entry(step.part)
    assert current is not None
    return current


def find_own_post(run: ThreadRun, tweet: Tweet, parent_id: str | None) -> str | None:
    """The id of our post with this text replying to `parent_id` (none: not a reply), if any."""
    account = run.me()
    wanted = comparable_text(tweet.text)

    def search() -> str | None:
        for post in run.api.recent_posts(account.id, run.since):
            if replied_to(post) == parent_id and comparable_text(post.text) == wanted:
                return str(post.id)
        return None

    return run.read(f"GET /2/users/{account.id}/tweets", search)


def media_id_for(run: ThreadRun, step: TweetStep, media: MediaStep) -> str:
    """A usable media id for one image of `step`: the stored one while fresh, else a new upload."""
    entry = run.ledger.entry(media.part)
    assert entry is not None
    if entry.state == "sent" and entry.remote_id and entry.content_sha256 == media.sha and \
            datetime.now(timezone.utc) - entry.updated_at < MEDIA_REUSE_MAX_AGE:
        return entry.remote_id
    if entry.state == "failed" and not entry.retryable:
        raise PermanentError(f"x: tweet {step.number}: image {media.url} was refused earlier: {entry.last_error}")
    what = f"x: tweet {step.number}: image {media.url}"
    try:
        image = fetch_image(media.url, run.ctx.settings)
    except (TransientError, PermanentError) as exc:
        run.ledger.mark_failed(media.part, str(exc), retryable=isinstance(exc, TransientError))
        raise type(exc)(f"x: tweet {step.number}: {exc}", **_retry_kwargs(exc)) from None
    if entry.state in ("sending", "uncertain"):
        # An upload no post uses is invisible and expires (1.4): uploading again is the reconciliation.
        run.ledger.resolve_uncertain(media.part, None, sent=False)
    # A "sent" id that expired is replaced without a claim ("sent" is never claimed again).
    if entry.state != "sent" and run.ledger.claim(media.part) is None:
        raise TransientError(f"{what} is being uploaded by another worker")
    try:
        media_id = run.api.uploader.upload(image)
    except Exception as exc:  # noqa: BLE001 - settle_failure classifies it, or re-raises a bug
        run.settle_failure(media.part, what, exc)
        raise  # unreachable: settle_failure always raises
    run.ledger.mark_sent(media.part, remote_id=media_id)
    return media_id


def _retry_kwargs(exc: DeliveryError) -> dict[str, Any]:
    return {"retry_after": exc.retry_after} if isinstance(exc, TransientError) else {}


def post_tweet(run: ThreadRun, step: TweetStep, parent_id: str | None, media_ids: list[str]) -> str:
    """Claim, post and record one tweet; raises unless it ends "sent"."""
    run.me()  # the account name for the post's URL, known before anything is posted
    what = f"x: tweet {step.number}"
    if run.ledger.claim(step.part) is None:
        current = run.ledger.entry(step.part)
        if current is not None and current.state == "sent" and current.remote_id:
            return current.remote_id
        raise TransientError(f"{what} is being sent by another worker")
    try:
        tweet_id = run.api.create_tweet(step.tweet.text, parent_id, media_ids)
    except Exception as exc:  # noqa: BLE001 - classified below, or re-raised as a bug
        failure = failure_of(exc)
        if failure is not None and classify_failure(failure) == DUPLICATE:
            return adopt_duplicate(run, step, parent_id, failure)
        run.settle_failure(step.part, what, exc)
        raise  # unreachable: settle_failure always raises
    if tweet_id is None:
        run.ledger.mark_uncertain(step.part, "X answered without the post's id")
        raise UncertainError(f"{what} may or may not have been posted: X answered without the post's id")
    run.ledger.mark_sent(step.part, remote_id=tweet_id, remote_url=run.tweet_url(tweet_id))
    return tweet_id


def adopt_duplicate(run: ThreadRun, step: TweetStep, parent_id: str | None, failure: XFailure) -> str:
    """X refused the text as a duplicate: if the post is ours (an earlier attempt that we could not
    confirm), it is this tweet; otherwise the text really is taken and the tweet is refused."""
    text = run.scrub(failure_text(failure))
    run.ledger.mark_uncertain(step.part, f"{text}; looking for it on the account")
    found = find_own_post(run, step.tweet, parent_id)
    if found is None:
        run.ledger.mark_failed(step.part, text, retryable=False)
        raise PermanentError(f"x: tweet {step.number} refused by X: {text} (no post of this thread has this text)")
    run.ledger.resolve_uncertain(step.part, found, sent=True, remote_url=run.tweet_url(found))
    run.notes.append(f"tweet {step.number} was already on the account (posted by an earlier attempt)")
    return found


def thread_receipt(ledger: Ledger, steps: list[TweetStep], notes: list[str]) -> Receipt:
    entries = {entry.part: entry for entry in ledger.entries()}
    tweets = [entries[step.part] for step in steps]
    return Receipt(state="sent", sent=len(tweets), total=len(tweets), detail="; ".join(notes),
                   remote_ids=tuple(e.remote_id for e in tweets if e.remote_id), url=tweets[0].remote_url)


CHANNEL = XChannel()
