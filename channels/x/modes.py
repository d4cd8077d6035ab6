"""The two modes: summary (a hook, then one tweet per point or section) and full (the whole article)."""
from __future__ import annotations

from publisher.language import words

from channels.x.limits import SECTION_TEASER_WEIGHT
from channels.x.split import sentences, weighted_length
from channels.x.text import Block, _blocks, _plain_inline_text, _TextContext, article_blocks
from publisher.post import Post


def link_line(post: Post) -> str:
    """The one line that carries the canonical link, labelled in the post's language."""
    return f"{_read_more_label(post)}{post.url}"


def _link_block(post: Post) -> Block:
    return Block(link_line(post))


def _read_more_label(post: Post) -> str:
    return words(post.language)["read_full"]


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
