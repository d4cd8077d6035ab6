"""Laying blocks out into tweets: greedy packing, headings kept with their text, numbering, media."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from channels.x.limits import MAX_MEDIA, MAX_WEIGHTED, PARAGRAPH_SEP
from channels.x.payload import Tweet
from channels.x.split import ESTIMATE_CEILING, FORCED_LEVELS, LEVELS, _Cuts, split_text, weighted_length
from channels.x.text import Block


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
