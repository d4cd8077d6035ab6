"""Markdown that a post writes inside raw HTML, read as the site's generator reads it. CommonMark
keeps an HTML block's text as written, so without this readers would get the asterisks:

- `<div class="note" markdown="1">` … `</div>` (kramdown, Python-Markdown's md_in_html, so Jekyll
  and Pelican): the block's inside is Markdown; the attribute is dropped and the tags are set
  apart by blank lines, so the one parse reads the inside as Markdown;
- `**bold**` and `` `code` `` inside other raw HTML (`<summary>**Case 1**</summary>`, which MDX
  renders as Markdown): the tags they mean, outside <pre>/<code>.
"""
from __future__ import annotations

import re

_RAW_TAG = re.compile(r"(<[^>]*>)")
_RAW_STRONG = re.compile(r"\*\*(?=\S)([^*<>\n]{1,200}?)(?<=\S)\*\*")
_RAW_CODE = re.compile(r"`([^`<>\n]{1,200})`")
_LITERAL_TAGS = re.compile(r"<(/?)(pre|code|kbd|samp|textarea)\b", re.I)


def markdown_in_html(fragment: str) -> str:
    """`**bold**` and `` `code` `` written inside a raw HTML block (`<summary>**Case 1**</summary>`,
    which MDX renders as Markdown) as the tags they mean, outside <pre>/<code>; CommonMark would
    show the asterisks."""
    if "**" not in fragment and "`" not in fragment:
        return fragment
    out, literal = [], 0
    for piece in _RAW_TAG.split(fragment):
        tag = _LITERAL_TAGS.match(piece)
        if tag:
            literal = max(0, literal + (-1 if tag.group(1) else 1))
        elif literal == 0 and not piece.startswith("<"):
            piece = _RAW_CODE.sub(r"<code>\1</code>", _RAW_STRONG.sub(r"<strong>\1</strong>", piece))
        out.append(piece)
    return "".join(out)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MARKDOWN_ATTRIBUTE = re.compile(r"""\s+markdown\s*=\s*(["']?)(?:1|block|span|true)\1(?=[\s/>])""", re.I)
_OPENING = re.compile(r"^ {0,3}<([a-zA-Z][\w-]*)\b[^<>]*>\s*$")


def open_markdown_blocks(text: str) -> str:
    """The body with every `markdown="1"` block opened up (see the module's docstring)."""
    if "markdown" not in text:
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
        elif (opening := _OPENING.match(line)) and _MARKDOWN_ATTRIBUTE.search(line):
            out += [_MARKDOWN_ATTRIBUTE.sub("", line), ""]
            open_tags.append(opening.group(1).lower())
        elif open_tags and re.fullmatch(rf"\s*</{re.escape(open_tags[-1])}\s*>\s*", line, re.I):
            out += ["", line.strip()]
            open_tags.pop()
        else:
            out.append(line)
    return "\n".join(out)
