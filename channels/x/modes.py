"""The two modes: summary (a hook, then one tweet per item, point or section) and full (the article).

Summary mode, as a person would post it:
- tweet 1: the title and a hook (the description, else the first summary point, else the first
  substantive sentence of the body), with the cover image (else the body's first image);
- then one tweet per item of an issue (title, one line, its link, its images), else per summary
  point, else per section (heading and its first sentence(s));
- 5 to 15 tweets (never more than the daily budget); the last one links to the post.
Every summary tweet is fitted before layout, so one group is one tweet.
"""
from __future__ import annotations

import dataclasses

from channels.x.hook import body_hook, clean, lead_in, pick_line, usable, used_key
from channels.x.issue import BACK_MATTER, MAX_ITEM_IMAGES, Unit, issue_items, issue_items_asked, item_title
from channels.x.layout import numbering
from channels.x.limits import MAX_WEIGHTED, PARAGRAPH_SEP
from channels.x.split import ends_sentence, sentences, shorten, weighted_length
from channels.x.text import Block, _blocks, _plain_inline_text, _TextContext, article_blocks
from publisher.language import words
from publisher.post import Post

SUMMARY_MAX_TWEETS = 15
SUMMARY_MIN_TWEETS = 5  # a long post without items or sections gets this many, from its paragraphs
# room in one summary tweet: the 280 less a two-digit " k/N" (a summary never has 100 tweets)
_ROOM = MAX_WEIGHTED - weighted_length(numbering(99, 99))


def link_line(post: Post) -> str:
    """The one line that carries the canonical link, labelled in the post's language."""
    return f"{_read_more_label(post)}{post.url}"


def _link_block(post: Post) -> Block:
    return Block(link_line(post), kind="link")


def _read_more_label(post: Post) -> str:
    return words(post.language)["read_full"]


def cover_image(post: Post) -> str | None:
    """The image of tweet 1: the front matter's cover, else the body's first image."""
    return post.cover_image or post.first_image


def _hook_blocks(post: Post, point: str, link: str) -> list[Block]:
    """Title (+ the point that matters) with the cover image, and the link when it goes first."""
    cover = cover_image(post)
    blocks = [Block(post.title, images=(cover,) if cover else (), kind="title")] + ([Block(point)] if point else [])
    return blocks + ([_link_block(post)] if link == "first" else [])


def _text(group: list[Block]) -> str:
    return PARAGRAPH_SEP.join(b.text for b in group)


def _fits(group: list[Block]) -> bool:
    return weighted_length(_text(group)) <= _ROOM


def _tweet(title: str, line: str, link: str = "", images: tuple[str, ...] = (), title_kind: str = "heading",
           after: list[Block] | None = None, before: list[Block] | None = None) -> list[Block]:
    """One tweet's blocks: `before`, title, line, link, then `after`; the line (then the title) is
    shortened until they fit. The images go on the first block. [] when nothing is left to say."""
    before, after = before or [], after or []
    if title and not clean(title):
        title = ""  # a bare URL as a title: the link line says it
    tail = ([Block(link, kind="link")] if link else []) + after
    crowded = line and weighted_length(title) > _ROOM // 2 and not _fits(before + [Block(title), Block(line)] + tail)
    if title and (crowded or not _fits(before + [Block(title)] + tail)):  # a long title leaves the line room
        title = shorten(title, lambda t: weighted_length(t) <= _ROOM // 2 and _fits(before + [Block(t)] + tail))
    head = before + ([Block(title, kind=title_kind)] if title else [])
    if link and line and link in line:  # the line shows the link itself: no link line repeating it
        inline = shorten(line, lambda text: _fits(head + [Block(text)] + after))
        if link in inline:
            tail, line = after, inline
    line = shorten(line, lambda text: _fits(head + [Block(text)] + tail)) if line else ""
    group = head + ([Block(line)] if line else []) + tail
    if not group or not (line or link or after or title_kind == "title" or before):
        return []
    group[0] = Block(group[0].text, images=images[:MAX_ITEM_IMAGES], kind=group[0].kind)
    return group


def summary_groups(post: Post, link: str, budget: int = SUMMARY_MAX_TWEETS) -> list[list[Block]]:
    """Tweet 1 hooks (title + the point that matters); then one group per item, point or section."""
    ctx = _TextContext(post.url)
    points = [p for p in (_plain_inline_text(point, ctx) for point in post.summary) if p]
    blocks = _blocks(post.tree.children, _TextContext(post.url, show_urls=False))
    items, asked = issue_items_asked(post, set())
    hook, from_point = _hook(post, points, blocks)
    first = None
    if hook and not from_point and hook != post.description and items and (
            used_key(hook) == used_key(items[0].title) or used_key(items[0].line).startswith(used_key(hook))):
        first, hook = items[0], ""  # the body opens with its first item: that item opens the thread
    used = {used_key(hook)} if hook else set()
    # the items again, unless no line they looked at is one the hook said (then they are the same)
    units = (issue_items(post, used) if used & asked else items)[1 if first else 0:] if items else []
    rest = [p for p in points if used_key(p) not in used]
    if not units and not first and rest:
        units = [Unit(line=p) for p in rest if not lead_in(p)]
    elif not units and not first:
        units = _section_units(blocks, used, post.title)
    if not hook and not first and units:
        first = units.pop(0)  # nothing hooks: the first item or section opens the thread
    if not hook and not first:
        hook = body_hook(blocks, post.title, strict=False)  # a short post: its first words will do
    cover = cover_image(post)
    images = tuple(dict.fromkeys(((cover,) if cover else ()) + (first.images if first else ())))
    after = [_link_block(post)] if link == "first" else []
    if first is not None:
        title = shorten(post.title, lambda t: weighted_length(t) <= _ROOM // 2)
        opening = _tweet(first.title, first.line, first.link, images, after=after,
                         before=[Block(title, kind="title")])
    else:
        opening = _tweet(post.title, hook, "", images, "title", after)
    body = [g for g in (_tweet(u.title, u.line, u.link, tuple(i for i in u.images if i != cover))
                        for u in units) if g]
    groups = [opening] + body
    while len(groups) > 1 and _count(groups, post, link) > max(1, budget):
        groups.pop()
    if link == "last":
        if _fits(groups[-1] + [_link_block(post)]):
            groups[-1] = groups[-1] + [_link_block(post)]
        else:
            groups.append([_link_block(post)])
    return groups


def _count(groups: list[list[Block]], post: Post, link: str) -> int:
    """Tweets these groups make, with the link line (which takes a tweet of its own when the last
    tweet has no room for it)."""
    alone = link == "last" and not _fits(groups[-1] + [_link_block(post)])
    return len(groups) + alone


def _hook(post: Post, points: list[str], blocks: list[Block]) -> tuple[str, bool]:
    """(the hook, whether it is the first summary point)."""
    if post.description and usable(post.description, post.title):
        return post.description, False
    if points and usable(points[0], post.title):
        return points[0], True
    return body_hook(blocks, post.title), False


def _section_starts(blocks: list[Block], top: int) -> list[int]:
    """The headings that start a section: those at the top level, and under a top heading that has
    no text of its own (`## Highlights` straight over `### New renderer`), the headings one level
    down: that heading names a group, its subsections are the things to tell."""
    starts, grouping = [], False
    for i, block in enumerate(blocks):
        if block.kind != "heading":
            continue
        if block.level <= top:
            starts.append(i)
            following = blocks[i + 1] if i + 1 < len(blocks) else None
            grouping = following is not None and following.kind == "heading" and following.level > block.level
        elif grouping and block.level == top + 1:
            starts.append(i)
    return starts


def _told(sentence: str, taken: set[str]) -> bool:
    """Whether a line already in the thread says `sentence` (alone, or among the sentences it holds)."""
    key = used_key(sentence)
    return key in taken or any(key in told for told in taken)


def _section_units(blocks: list[Block], used: set[str], title: str) -> list[Unit]:
    """One unit per section (its heading and first sentence(s)); a long post with few sections also
    gets the first sentences of paragraphs spread over it, then sentences from inside them, up to
    SUMMARY_MIN_TWEETS."""
    levels = [b.level for b in blocks if b.kind == "heading"]
    top = min(levels) if levels else 0
    found: list[tuple[int, Unit]] = []
    taken = set(used)
    starts = _section_starts(blocks, top)
    for start, end in zip(starts, starts[1:] + [len(blocks)]):
        content = blocks[start + 1:end]
        heading = item_title(blocks[start].text)
        line = "" if BACK_MATTER.match(heading) else pick_line(content, taken, heading)
        if line:
            taken.add(used_key(line))
            images = tuple(dict.fromkeys(i for b in content for i in b.images))
            found.append((start, Unit(heading, line, "", images)))
    need = SUMMARY_MIN_TWEETS - 1 - len(found)
    enough = SUMMARY_MIN_TWEETS * MAX_WEIGHTED  # weighing stops there: a 600 KB paragraph costs no more
    if need > 0 and sum(weighted_length(b.text[:enough]) for b in blocks) >= enough:
        opening = [(i, sentences(b.text)) for i, b in enumerate(blocks) if b.kind == "text" and not b.lead]
        spare = [(i, line) for i, said in opening if said and usable(said[0], title) and not _told(said[0], taken)
                 for line in [pick_line([blocks[i]], taken, title)] if line]  # a paragraph's opening sentence(s)
        step = max(1.0, len(spare) / need)
        for k in range(min(need, len(spare))):
            index, line = spare[int(k * step)]
            taken.add(used_key(line))
            found.append((index, Unit("", line, "", blocks[index].images)))
        need -= min(need, len(spare))
        if need > 0:  # few, long paragraphs (an essay in one breath): sentences from inside them, spread
            inner = [(i, said) for i, b in enumerate(blocks) if b.kind == "text" and not b.lead
                     for said in map(clean, sentences(b.text[:enough])[1:])
                     if usable(said, title) and not _told(said, taken)]
            step = max(1.0, len(inner) / need)
            for k in range(min(need, len(inner))):
                index, line = inner[int(k * step)]
                taken.add(used_key(line))
                found.append((index, Unit("", line, "", ())))
    return [unit for _, unit in sorted(found, key=lambda pair: pair[0])]


# A full thread lays out at most this much text (~100 posts); a longer article is cut there with a
# problem saying so: nobody posts a 2,000-post thread, and laying it out would take minutes.
FULL_MODE_MAX_CHARS = 100 * MAX_WEIGHTED


_TITLE_LINE_MAX = 120  # characters: a first line this short, with no sentence end, titles the lines after it


def _titled(block: Block) -> list[Block]:
    """"[Title](url)⏎text" (a title line, a hard break, its text) as a heading and its text, so the
    title never ends a tweet without them."""
    first, _, rest = block.text.partition("\n")
    if block.kind != "text" or block.lead or not rest.strip() or len(first) > _TITLE_LINE_MAX \
            or ends_sentence(first) or not first.strip():
        return [block]
    return [Block(first, sep=block.sep, images=block.images, kind="heading"), Block(rest, sep="\n", tail=block.tail)]


def full_groups(post: Post, link: str, problems: list[str] | None = None) -> list[list[Block]]:
    """The whole article as one group: title, then every block of the body (up to FULL_MODE_MAX_CHARS)."""
    blocks, room = [], FULL_MODE_MAX_CHARS
    for block in article_blocks(post):
        if len(block.text) > room:
            cut = block.text.rfind(" ", 0, room)
            if room > MAX_WEIGHTED:  # the part that fits still goes out, ended as a cut sentence is
                blocks.append(dataclasses.replace(block, text=block.text[:cut if cut > 0 else room].rstrip() + "…"))
            if problems is not None:
                problems.append(f"the article is too long for a full thread (over {FULL_MODE_MAX_CHARS:,} "
                                "characters); the thread stops there: use summary mode")
            break
        room -= len(block.text)
        blocks += _titled(block)
    groups = [_hook_blocks(post, "", link) + blocks]
    if link == "last":
        groups[-1] = groups[-1] + [_link_block(post)]
    return groups
