"""Markdown as the parsers of other site generators read it, made CommonMark before the one parse
(fenced code is never touched):

- `<div class="note" markdown="1">` … `</div>` (kramdown, Python-Markdown's md_in_html, so Jekyll
  and Pelican): the block's inside is Markdown; the attribute is dropped and the tags are set
  apart by blank lines, so the parse reads the inside as Markdown;
- `##Heading` with no space (kramdown and Python-Markdown take it as a heading, CommonMark as text):
  the space is added, for two to six `#` (one `#` and a word is more often a hashtag);
- `**<!--anchor-->**`, bold around nothing but an HTML comment (Bitcoin Optech's anchors): dropped,
  as kramdown shows nothing for it; CommonMark would leave the asterisks.
"""
from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MARKDOWN_ATTRIBUTE = re.compile(r"""\s+markdown\s*=\s*(["']?)(?:1|block|span|true)\1(?=[\s/>])""", re.I)
_TIGHT_HEADING = re.compile(r"^( {0,3}#{2,6})([^\s#].*)$")
_EMPTY_BOLD = re.compile(r"(\*\*|__)\s*(?:<!--.*?-->\s*)+\1")
_OPENING = re.compile(r"^ {0,3}<([a-zA-Z][\w-]*)\b[^<>]*>\s*$")


def read_as_written(text: str) -> str:
    """The body with the constructs above made CommonMark."""
    if "markdown" not in text and "#" not in text and "<!--" not in text:
        return text
    out: list[str] = []
    fence = ""
    open_tags: list[str] = []
    for line in text.split("\n"):
        marker = _FENCE.match(line)
        if fence:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = ""
            out.append(line)
        elif marker:
            fence = marker.group(1)
            out.append(line)
        elif (heading := _TIGHT_HEADING.match(line)) is not None:
            out.append(f"{heading.group(1)} {heading.group(2)}")
        elif (opening := _OPENING.match(line)) and _MARKDOWN_ATTRIBUTE.search(line):
            out += [_MARKDOWN_ATTRIBUTE.sub("", line), ""]
            open_tags.append(opening.group(1).lower())
        elif open_tags and re.fullmatch(rf"\s*</{re.escape(open_tags[-1])}\s*>\s*", line, re.I):
            out += ["", line.strip()]
            open_tags.pop()
        else:
            out.append(_EMPTY_BOLD.sub("", line) if "<!--" in line else line)
    return "\n".join(out)
