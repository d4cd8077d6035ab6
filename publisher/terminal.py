"""User text on the terminal: escaped for Rich markup (a title "[/]" is text, not a tag) and
stripped of control sequences (ANSI/OSC escapes in a post must not drive the editor's terminal)."""
from __future__ import annotations

import re

from rich.markup import escape

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain(text: object) -> str:
    """The text without control characters (newlines and tabs kept)."""
    return _CONTROLS.sub("", str(text))


def safe(text: object) -> str:
    """The text as Rich should print it: no control characters, no markup."""
    return escape(plain(text))
