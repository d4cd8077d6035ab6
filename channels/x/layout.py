"""Laying blocks out into tweets: greedy packing, lead-ins kept with what they introduce, numbering,
images at most 4 per tweet.

A tweet stands alone: a heading (or the title) never ends a tweet while its text follows, nor does a
text ending on a colon ("Three things matter next:"); such a lead-in travels to the next tweet with
the start of what it introduces. A piece cut mid-sentence ends with "…".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from channels.x.limits import MAX_MEDIA, MAX_WEIGHTED, PARAGRAPH_SEP
from channels.x.payload import Tweet
from channels.x.split import (ELLIPSIS, ESTIMATE_CEILING, FORCED_LEVELS, LEVELS, _Cuts, split_text,
                              weighted_length)
from channels.x.text import Block


HEADING_KINDS = ("title", "heading")
_LEAD_IN = re.compile(r"[:：]\s*$")


def _sticky(kind: str, text: str) -> bool:
    """Whether this text must not end a tweet when more follows (a heading, a table's header row,
    or a lead-in)."""
    return kind in HEADING_KINDS or kind == "table-head" or bool(_LEAD_IN.search(text))


@dataclass
class _Draft:
    text: str = ""
    media: list[str] = field(default_factory=list)
    forced_cut: bool = False
    run_at: int | None = None  # where the trailing run of lead-ins (headings, "…:") begins in `text`
    run_media: int = 0  # where that run's images begin in `media`
    last_at: int = 0  # where the last block added begins in `text`
    last_kind: str = "text"
    last_lead: int = 0  # that block's list marker

    def add(self, sep: str, text: str, kind: str, images: Iterable[str], sticky: bool, lead: int = 0) -> None:
        joined = self.text + sep if self.text else ""
        if not sticky:
            self.run_at = None
        elif self.run_at is None:
            self.run_at, self.run_media = len(self.text), len(self.media)
        self.last_at, self.last_kind, self.last_lead = len(joined), kind, lead
        self.text = joined + text
        self.media.extend(images)

    def room_for(self, images: list[str]) -> bool:
        return len(_dedupe(self.media + images)) <= MAX_MEDIA


def _split_off_run(draft: _Draft) -> tuple[_Draft | None, _Draft | None]:
    """(the draft without its trailing lead-ins, those lead-ins): a lead-in goes with what follows."""
    at = draft.run_at
    if at is None:
        return draft, None
    if at == 0:
        return None, draft
    run_text = draft.text[at:]
    stripped = run_text.lstrip()
    run = _Draft(stripped, draft.media[draft.run_media:], run_at=0,
                 last_at=max(0, draft.last_at - at - (len(run_text) - len(stripped))), last_kind=draft.last_kind,
                 last_lead=draft.last_lead)
    head = _Draft(draft.text[:at], draft.media[:draft.run_media], draft.forced_cut)
    return head, run


class _Packer:
    """Packs the blocks of one group into drafts of weighted length <= limit."""

    def __init__(self, limit: int, cuts: dict[tuple[str, int, int], _Cuts] | None = None):
        self.limit = limit
        self.cuts = {} if cuts is None else cuts  # a block's cuts, kept while the thread is laid out
        self.drafts: list[_Draft] = []
        self.current: _Draft | None = None
        self.pending: list[str] = []  # images waiting for a tweet with room

    def fits(self, text: str) -> bool:
        return weighted_length(text) <= self.limit

    def add(self, block: Block) -> None:
        images, self.pending = self.pending + list(block.images), []
        text = block.text
        if not text.strip():  # images alone: into the tweet so far while it has room, the rest wait
            current = self.current
            for url in images:
                if current is not None and current.room_for([url]):
                    current.media.append(url)
                else:
                    self.pending.append(url)
            return
        kind = block.kind
        if kind in HEADING_KINDS and weighted_length(text) > self.limit // 2:
            kind = "text"  # a "heading" this long reads as a paragraph; it need not pull text along
        sticky = _sticky(kind, text)
        cuts = self.cuts.get((text, block.lead, block.tail))
        if cuts is None:
            cuts = self.cuts[text, block.lead, block.tail] = _Cuts(text, block.lead, block.tail)
        current = self.current
        small = cuts.estimate(0, len(text)) <= ESTIMATE_CEILING
        if current is not None and small and self.fits(current.text + block.sep + text) \
                and current.room_for(images):
            current.add(block.sep, text, kind, images, sticky, block.lead)
            return
        carry = None
        if current is not None:
            head, carry = _split_off_run(current)
            if head is not None:
                self.drafts.append(head)
        pieces, carry = self._pieces(block, cuts, carry)
        for index, (piece, cut) in enumerate(pieces):
            draft = carry if index == 0 and carry is not None else _Draft()
            share = images[MAX_MEDIA * index:MAX_MEDIA * (index + 1)] if index < len(pieces) - 1 \
                else images[MAX_MEDIA * index:]
            last = index == len(pieces) - 1
            draft.add(block.sep, piece, kind, share, sticky and last, block.lead if index == 0 else 0)
            draft.forced_cut = draft.forced_cut or cut in FORCED_LEVELS
            if last:
                self.current = draft
            else:
                self.drafts.append(draft)

    def _pieces(self, block: Block, cuts: _Cuts, carry: _Draft | None) -> tuple[list[tuple[str, str]], _Draft | None]:
        """The block cut into pieces; the first shares a tweet with `carry` when it can."""
        alone: list[tuple[str, str]] = []
        forced = LEVELS.index(FORCED_LEVELS[0])
        while carry is not None:
            prefix = carry.text + block.sep
            shared = split_text(block.text, self.fits, block.lead,
                                lambda piece, prefix=prefix: self.fits(prefix + piece), cuts, ELLIPSIS)
            # (a lead-in that fills the tweet leaves no room even for one character of what follows)
            room = self.fits(prefix + shared[0][0])
            if room and _cut_rank(shared[0][1]) < forced:
                return shared, carry
            alone = alone or split_text(block.text, self.fits, block.lead, None, cuts, ELLIPSIS)
            if room and _cut_rank(alone[0][1]) >= forced:  # the word is cut either way
                return shared, carry
            carry = self._shorten_run(carry)  # a long lead-in: only its end travels
        return alone or split_text(block.text, self.fits, block.lead, None, cuts, ELLIPSIS), None

    def _shorten_run(self, carry: _Draft) -> _Draft | None:
        """A lead-in too long to share a tweet with what it introduces: its last sentence (or clause,
        or words) travels, the rest stays behind in a tweet of its own. None when it cannot be cut."""
        start = carry.last_at
        if carry.last_kind in HEADING_KINDS or carry.last_kind == "table-head":
            self.drafts.append(carry)  # a heading is not cut; it goes alone (rare: see _Packer.add)
            return None
        tail_text = carry.text[start:]
        cuts = _Cuts(tail_text, carry.last_lead)
        for level in ("sentence", "clause", "space", "cjk"):
            positions = cuts.at(level)
            if not positions:
                continue
            cut = positions[-1]
            head_text = carry.text[:start + cut].rstrip()
            if cuts.mid_sentence(cut):
                head_text += ELLIPSIS
            if not self.fits(head_text):
                continue
            moved = tail_text[cut:].strip()
            self.drafts.append(_Draft(head_text, carry.media, carry.forced_cut))
            return _Draft(moved, [], run_at=0, last_kind=carry.last_kind)
        self.drafts.append(carry)
        return None

    def finish(self) -> list[_Draft]:
        current = self.current
        if current is not None:
            current.media.extend(self.pending)
            previous = self.drafts[-1] if self.drafts else None
            if current.run_at == 0 and previous is not None and not previous.text.endswith(ELLIPSIS) \
                    and self.fits(previous.text + PARAGRAPH_SEP + current.text) \
                    and previous.room_for(current.media):  # a lead-in with nothing after it ends the tweet before
                previous.text += PARAGRAPH_SEP + current.text
                previous.media.extend(current.media)
            else:
                self.drafts.append(current)
        elif self.pending and self.drafts:
            self.drafts[-1].media.extend(self.pending)
        return self.drafts


def _layout(groups: list[list[Block]], limit: int,
            cuts: dict[tuple[str, int, int], _Cuts] | None = None) -> list[_Draft]:
    """Pack each group's blocks greedily into drafts of weighted length <= limit."""
    drafts: list[_Draft] = []
    cuts = {} if cuts is None else cuts
    for group in groups:
        packer = _Packer(limit, cuts)
        for block in group:
            packer.add(block)
        drafts.extend(packer.finish())
    return drafts


def _cut_rank(level: str) -> int:
    """How fine a cut is: -1 for no cut, then the index in LEVELS."""
    return LEVELS.index(level) if level else -1


def numbering(k: int, n: int) -> str:
    """The suffix of tweet k of n (nothing on a single tweet)."""
    return f"{PARAGRAPH_SEP}{k}/{n}" if n > 1 else ""


def thread_from_groups(groups: list[list[Block]], images_label: str = "") -> tuple[list[Tweet], list[str]]:
    """Lay out groups into numbered tweets; a tweet never spans two groups.

    Images that find no room on the thread (X allows MAX_MEDIA per post) get tweets of their own,
    with `images_label` as their text; without a label they are left out and reported.
    """
    digits = 1
    cuts: dict[tuple[str, int, int], _Cuts] = {}  # laid out again with more digits: the same blocks
    while True:
        reserve = weighted_length(numbering(10 ** digits - 1, 10 ** digits - 1))
        drafts = _layout(groups, MAX_WEIGHTED - reserve, cuts)
        seen: set[str] = set()
        for draft in drafts:  # an image is shown once, first where it is
            draft.media = [url for url in _dedupe(draft.media) if url not in seen]
            seen.update(draft.media)
        media, left_out = _spread_media([d.media for d in drafts])
        for draft, own in zip(drafts, media):
            draft.media = own
        if images_label:
            drafts += [_Draft(images_label, left_out[i:i + MAX_MEDIA]) for i in range(0, len(left_out), MAX_MEDIA)]
            left_out = []
        if len(str(len(drafts))) <= digits:
            break
        digits = len(str(len(drafts)))
    total = len(drafts)
    tweets = [Tweet(d.text + numbering(k, total), tuple(d.media)) for k, d in enumerate(drafts, 1)]
    cut = [str(k) for k, d in enumerate(drafts, 1) if d.forced_cut]
    problems = [(f"tweet{'s' if len(cut) > 1 else ''} {', '.join(cut)} end{'' if len(cut) > 1 else 's'} in the "
                 "middle of a word longer than a tweet; shorten that word or write the thread by hand")] if cut else []
    if left_out:
        problems.append(f"{len(left_out)} image(s) did not fit on the thread (X allows {MAX_MEDIA} per post) "
                        f"and are left out: {', '.join(left_out)}")
    return tweets, problems


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _spread_media(media: list[list[str]]) -> tuple[list[list[str]], list[str]]:
    """At most MAX_MEDIA images per tweet; extra images move on to the next tweets, and what is left
    at the end goes back to the nearest earlier tweet with room.

    Returns each tweet's images and the images that found no room anywhere.
    """
    media = [list(own) for own in media]
    carried: list[str] = []
    for own in media:
        own[:0] = carried
        carried, own[MAX_MEDIA:] = own[MAX_MEDIA:], []
    for own in reversed(media):
        while carried and len(own) < MAX_MEDIA:
            own.append(carried.pop(0))
    return media, carried
