"""A highlighted code line (publisher.highlight) as WeChat HTML: coloured spans, and the spaces
WeChat's editor would drop (leading ones, runs of two or more; doocs/md does the same) as &nbsp;."""
from __future__ import annotations

import html
import re

from publisher.highlight import Segment

_DROPPED_SPACES = re.compile(r"^ +| {2,}")


def code_line(segments: tuple[Segment, ...]) -> str:
    """One highlighted line; the spaces WeChat's editor would drop (leading ones, runs) as &nbsp;."""
    line = "".join(text for _, text in segments)
    kept = {i for m in _DROPPED_SPACES.finditer(line) for i in range(m.start(), m.end())}
    out, position = [], 0
    for colour, text in segments:
        piece = "".join("&nbsp;" if position + i in kept else html.escape(ch, quote=False) for i, ch in enumerate(text))
        position += len(text)
        out.append(f'<span style="color:{colour}">{piece}</span>' if colour else piece)
    return "".join(out)
