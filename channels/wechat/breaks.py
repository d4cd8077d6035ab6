"""Line breaks as WeChat's editor keeps them: exports (Substack, editors that type Enter twice)
write paragraphs as `text<br><br>text`, and WeChat shows each `<br><br>` as a blank line with no
paragraph spacing, and a paragraph of only `&nbsp;` as an empty gap. A paragraph's inner HTML is
split into paragraphs at runs of line breaks, loses breaks at its edges, and is dropped when it
shows nothing."""
from __future__ import annotations

import re

_SPACE = r"(?:\s|&nbsp;|&#160;|\xa0)*"
_BR_RUN = re.compile(_SPACE + r"(?:<br>" + _SPACE + r"){2,}")
_EDGES = re.compile(r"^" + _SPACE + r"(?:<br>" + _SPACE + r")*|" + _SPACE + r"(?:<br>" + _SPACE + r")*$")
_OPEN = re.compile(r"<([a-z][a-z0-9]*)\b[^>]*(?<!/)>", re.I)
_VOID = frozenset({"br", "img", "hr", "wbr"})


def _balanced(fragment: str) -> bool:
    opened = [m[1].lower() for m in _OPEN.finditer(fragment) if m[1].lower() not in _VOID]
    closed = re.findall(r"</([a-z][a-z0-9]*)\s*>", fragment, re.I)
    return sorted(opened) == sorted(c.lower() for c in closed)


def paragraph_parts(inner: str) -> list[str]:
    """The paragraphs `inner` (one paragraph's HTML) reads as; [] when it shows nothing."""
    parts = [_EDGES.sub("", part) for part in _BR_RUN.split(inner)]
    if len(parts) > 1 and not all(_balanced(p) for p in parts):  # a run inside <strong>…</strong>: one break
        parts = [_EDGES.sub("", _BR_RUN.sub("<br>", inner))]
    return [p for p in parts if "<img" in p or re.sub(r"<[^>]+>|&nbsp;|&#160;|\xa0", "", p).strip()]
