"""Runs: visible text with the stack of Telegram tags around it, and their HTML.

Because the HTML of every message is built from its own runs, every message opens and closes its
own tags and no cut can fall inside a tag or an entity.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Tag:
    name: str
    attrs: str = ""  # already escaped, with a leading space: ' href="..."'

    @property
    def opening(self) -> str:
        return f"<{self.name}{self.attrs}>"

    @property
    def closing(self) -> str:
        return f"</{self.name}>"


BOLD, ITALIC, UNDERLINE, STRIKE = Tag("b"), Tag("i"), Tag("u"), Tag("s")
CODE, PRE, BLOCKQUOTE = Tag("code"), Tag("pre"), Tag("blockquote")


def link_tag(href: str) -> Tag:
    return Tag("a", f' href="{escape_attribute(href)}"')


def code_block_tag(language: str) -> Tag:
    return Tag("code", f' class="language-{escape_attribute(language)}"')


@dataclass(frozen=True)
class Run:
    text: str  # visible text, unescaped
    tags: tuple[Tag, ...] = ()  # outermost first


Block = tuple[Run, ...]


def escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(value: str) -> str:
    return escape_text(value).replace('"', "&quot;")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def runs_length(runs: Iterable[Run]) -> int:
    return sum(utf16_length(run.text) for run in runs)


def normalize_tags(tags: Iterable[Tag]) -> tuple[Tag, ...]:
    """Order and prune tags so Telegram's nesting rules hold (https://core.telegram.org/bots/api#html-style).

    One blockquote, outermost; one link; nothing inside code; code not inside a link (the
    link wins). Code blocks (pre) are built whole by `code_block_runs` and never come here.
    """
    tags = list(tags)
    quote = (BLOCKQUOTE,) if BLOCKQUOTE in tags else ()
    has_link = any(t.name == "a" for t in tags)
    has_code = CODE in tags and not has_link
    middle: list[Tag] = []
    for tag in tags:
        if tag.name in ("blockquote", "code") or tag in middle:
            continue
        if tag.name == "a" and any(t.name == "a" for t in middle):
            continue
        middle.append(tag)
    return quote + tuple(middle) + ((CODE,) if has_code else ())


def runs_to_html(runs: Iterable[Run]) -> str:
    """Telegram HTML of runs: tags open and close by diffing neighbouring tag stacks."""
    out: list[str] = []
    open_tags: tuple[Tag, ...] = ()
    for run in runs:
        if not run.text:
            continue
        common = 0
        while common < min(len(open_tags), len(run.tags)) and open_tags[common] == run.tags[common]:
            common += 1
        out.extend(tag.closing for tag in reversed(open_tags[common:]))
        out.extend(tag.opening for tag in run.tags[common:])
        out.append(escape_text(run.text))
        open_tags = run.tags
    out.extend(tag.closing for tag in reversed(open_tags))
    return "".join(out)
