"""Code highlighting for the channels that show colour (email, WeChat): Pygments' lexers, our own
compact palette, every colour an inline style because neither Gmail nor WeChat keeps classes.

Bounded: only a language the fence names is highlighted (no guessing, which runs every lexer); a
block longer than MAX_HIGHLIGHT_CHARS stays plain, and one render highlights at most
MAX_DOCUMENT_CHARS, in document order (so the same post always comes out the same). Lexers run at
a few µs per character: a 1 MB post of code costs well under a second, not seconds per channel."""
from __future__ import annotations

import html
import re
from functools import lru_cache

MAX_HIGHLIGHT_CHARS = 20_000
MAX_DOCUMENT_CHARS = 100_000

# Mid-tone colours, short hex: readable on the light code background and on the dark one that email
# clients' dark modes put behind <pre>, and cheap in WeChat's HTML (one style per coloured span).
_PALETTE = {
    "Comment": "#888",
    "Keyword": "#a3c",
    "Name.Builtin": "#c60",
    "Name.Function": "#27c",
    "Name.Class": "#27c",
    "Name.Decorator": "#27c",
    "Name.Tag": "#d33",
    "Name.Attribute": "#c60",
    "Name.Exception": "#c60",
    "Literal.String": "#393",
    "Literal.Number": "#c60",
    "Literal": "#c60",
    "Operator.Word": "#a3c",
    "Generic.Deleted": "#d33",
    "Generic.Inserted": "#393",
    "Generic.Heading": "#27c",
    "Generic.Subheading": "#27c",
    "Generic.Prompt": "#888",
}
_LANGUAGE = re.compile(r"[\w#+.-]+")

Segment = tuple[str, str]  # (colour or "", text)
Lines = tuple[tuple[Segment, ...], ...]


class HighlightBudget:
    """What one render may still highlight; blocks beyond it are shown plain."""

    def __init__(self, chars: int = MAX_DOCUMENT_CHARS):
        self.remaining = chars

    def lines(self, code: str, language: str) -> Lines | None:
        if len(code) > self.remaining:
            return None
        lines = highlight_lines(code, language)
        if lines is not None:
            self.remaining -= len(code)
        return lines


def code_language(info: str | None) -> str:
    """The language a fence names: the first word of its info string (```python title="x"``` → python),
    reduced to the characters a language name has; "" when none."""
    words = (info or "").split()
    match = _LANGUAGE.match(words[0].removeprefix("{").removeprefix(".")) if words else None
    return match.group(0).lower() if match else ""


def _colour(token_type) -> str:
    while token_type is not None:
        colour = _PALETTE.get(".".join(token_type))
        if colour:
            return colour
        token_type = token_type.parent
    return ""


@lru_cache(maxsize=32)  # email and WeChat, preview and checks render the same blocks
def highlight_lines(code: str, language: str) -> Lines | None:
    """`code` as lines of (colour, text) segments, neighbours of one colour merged; None when the
    language is unknown to Pygments or the code is too long to be worth it (the caller shows it plain)."""
    if not language or not code or len(code) > MAX_HIGHLIGHT_CHARS:
        return None
    from pygments.lexers import get_lexer_by_name  # imported on first use: start-up stays fast
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language, stripnl=False, stripall=False, ensurenl=False)
    except (ClassNotFound, ValueError):
        return None
    lines: list[list[Segment]] = [[]]
    for token_type, text in lexer.get_tokens(code):
        colour = _colour(token_type)
        for number, piece in enumerate(text.split("\n")):
            if number:
                lines.append([])
            if not piece:
                continue
            line = lines[-1]
            if line and (line[-1][0] == colour or piece.isspace()):
                line[-1] = (line[-1][0], line[-1][1] + piece)  # spaces take their neighbour's colour
            else:
                line.append((colour, piece))
    if "\n".join("".join(text for _, text in line) for line in lines) != code:
        return None  # a lexer that rewrote the text (tabs, newlines): plain is the honest choice
    return tuple(tuple(line) for line in lines)


def segments_html(line: tuple[Segment, ...], escape=None) -> str:
    """One line's segments as HTML: coloured ones in <span style="color:…">; `escape` turns a
    segment's text into HTML (default: html.escape)."""
    escape = escape or (lambda text: html.escape(text, quote=False))
    return "".join(f'<span style="color:{colour}">{escape(text)}</span>' if colour else escape(text)
                   for colour, text in line)
