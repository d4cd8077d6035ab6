"""`**bold**` and `` `code` `` written inside raw HTML (`<summary>**Case 1**</summary>`, which MDX
renders as Markdown), as the tags they mean, outside <pre>/<code>: CommonMark keeps an HTML block's
text as written, so without this readers would get the asterisks. (`markdown="1"` blocks:
publisher.markdown_dialects.)
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
