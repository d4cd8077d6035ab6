"""Syntax of the site a post was written for, taken out of its body before the one Markdown parse:
things the site's generator would have processed and readers of an email must never see.

- heading attributes `## Title {#id .class}` and attribute lines `{.class}` (Hugo, Pandoc);
- kramdown IALs `{: .class}`, `{:.no_toc}`, and the `* TOC` + `{:toc}` pair (Jekyll);
- MDX `import`/`export` lines, `{/* comments */}` and capitalised JSX tags such as `<Tabs>`,
  `<TabItem value="x">` or `<Foo />`, whose inner text is kept (Docusaurus);
- Liquid and Hugo tags `{{ x }}`, `{% x %}`, `{{< x >}}`, `{{% x %}}`: reported by line and left out,
  except media tags (figure, youtube, tweet...: publisher.site_media) made Markdown readers can follow
  and cross-references (`[a]({{< ref x >}})`, Pelican `{filename}`) that leave their text unlinked;
  `<iframe>` players become a link to the video, `<ruby>` base（reading）;
  `{% highlight py %}` ... `{% endhighlight %}` (and Hugo's highlight) become fenced code,
  `{% raw %}` keeps its content as written, `{% comment %}` drops it.
Fenced, indented and <pre> code, inline code and HTML comments are never touched.
"""
from __future__ import annotations

import bisect
import html
import itertools
import re
from dataclasses import dataclass

from publisher.markdown import ALLOWED_TAGS, DROPPED_WITH_CONTENT
from publisher.site_media import (callout_fence, iframe_link, is_cross_reference, jsx_image, literal_url,
                                  media_markdown, page_value)

HTML_TAGS = frozenset(ALLOWED_TAGS | DROPPED_WITH_CONTENT | {"html", "head", "body", "link", "meta", "font",
                                                             "center", "video", "audio", "source", "form"})
MAX_TAG_CHARS = 2000  # a Liquid/Hugo tag longer than this is not one

_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_HIGHLIGHT_OPEN = re.compile(r"^\s{0,3}(?:\{%-?\s*highlight\s+([\w+#.-]+)[^%]*%\}|"
                             r"\{\{<\s*highlight\s+\"?([\w+#.-]+)\"?[^>]*>\}\})\s*$")
_HIGHLIGHT_CLOSE = re.compile(r"^\s{0,3}(?:\{%-?\s*endhighlight\s*-?%\}|\{\{<\s*/\s*highlight\s*>\}\})\s*$")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_ESM = re.compile(r"(?:import\s+(?:[\w$*{][^\n]*?\bfrom\s*['\"]|['\"]|\{|\*\s+as\b)|"
                  r"export\s+(?:const|let|var|function|async|class|default|\{|\*))")
_TOC_IAL = re.compile(r"^\s*\{:\s*toc\s*\}\s*$")
_TOC_MARKER = re.compile(r"^[ \t]*(?:\[\[toc\]\]|\[toc\]|\$\{toc\})[ \t]*$", re.M | re.I)  # VitePress, Typora
_PRE_OPEN = re.compile(r"^ {0,3}<pre\b", re.I)
_JSX = re.compile(r"<(/?)([A-Z][\w.]*)(?=[\s/>])((?:[^<>{}\"']|\"[^\"]{0,500}\"|'[^']{0,500}'|"
                  r"\{(?:[^{}]|\{[^{}]{0,200}\}){0,500}\}){0,1000})>")
_CODE_SPAN_LINE = re.compile(r"(`+)[^`\n]*?\1")
_IAL = re.compile(r"[ \t]*\{:[^{}\n]*\}")
_HEADING_ATTRS = re.compile(r"^ {0,3}#{1,6}[ \t][^\n]*?([ \t]*\{[#.][^{}\n]*\})[ \t]*$", re.M)
_ATTR_LINE = re.compile(r"^[ \t]*\{[#.][\w \t.#=\"'-]*\}[ \t]*$", re.M)
_PELICAN_STATIC = re.compile(r"(?:(?<=\]\()|(?<=src=[\"'])|(?<=href=[\"']))[{|](?:static|attach)[}|]")
_PELICAN_FILENAME = re.compile(r"\]\([{|]filename[}|][^()\s]*\)")  # another post: its URL is Pelican's to make
_IFRAME = re.compile(r"<iframe\b([^<>]{0,2000})>\s*(?:</iframe\s*>)?", re.I)
_ATTR = re.compile(r"""\b(src|title)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_RUBY = re.compile(r"<ruby\b[^<>]{0,200}>((?:(?!</?ruby\b).){1,500}?)</ruby\s*>", re.I | re.S)
_TEMPLATE_OPEN = re.compile(r"\{\{|\{%")
_RAW = re.compile(r"\{%-?\s*raw\s*-?%\}")
_ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")
_COMMENT = re.compile(r"\{%-?\s*comment\s*-?%\}")
_ENDCOMMENT = re.compile(r"\{%-?\s*endcomment\s*-?%\}")


@dataclass(frozen=True)
class Cleaned:
    text: str
    notes: tuple[str, ...] = ()  # "line 12: Liquid/Hugo tag {% include x.html %} would reach readers; ..."
    components: tuple[str, ...] = ()  # names of the MDX components left out, in order


def clean(text: str, first_line: int = 1, meta: dict | None = None) -> Cleaned:
    """`text` (a post body starting on line `first_line` of its file) without source-site syntax;
    `{{ page.key }}` (Jekyll) and `{{ .Params.key }}` (Hugo) take the text of `meta[key]`."""
    if not any(mark in text for mark in ("{", "<", "import", "export", "[[", "[TOC]", "[toc]")):
        return Cleaned(text)
    state = _State(meta or {})
    rows = _lines(text.split("\n"), first_line)
    out: list[str] = []
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and not rows[j][1]:
            j += 1
        if j > i:
            out.extend(_prose([r[0] for r in rows[i:j]], [r[2] for r in rows[i:j]], state))
        while j < len(rows) and rows[j][1]:
            out.append(rows[j][0])
            j += 1
        i = j
    return Cleaned("\n".join(out), tuple(state.notes), tuple(state.components))


class _State:
    def __init__(self, meta: dict):
        self.meta = meta
        self.notes: list[str] = []
        self.components: list[str] = []
        self.raw = False  # inside {% raw %}


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))


def _is_component(name: str) -> bool:
    return not (name.isupper() and name.lower() in HTML_TAGS)


def _lines(lines: list[str], first_line: int) -> list[tuple[str, bool, int]]:
    """(line, is code, file line number) for the lines kept: code found, highlight blocks made
    fences, MDX import/export blocks and TOC pairs dropped, lines inside JSX components dedented."""
    rows: list[tuple[str, bool, int]] = []
    stack: list[list] = []  # open JSX components: [name, indent of their content or None]
    fence: tuple[str, int] | None = None
    pre = in_list = in_indented = False
    prev_blank = True
    i = 0
    while i < len(lines):
        line, number = lines[i], first_line + i
        i += 1
        visible = _CODE_SPAN_LINE.sub("", line)
        tags = [m for m in _JSX.finditer(visible) if _is_component(m[2])] if "<" in visible else []
        only_tags = bool(tags) and not _JSX.sub("", visible).strip()
        if stack and not fence and line.strip() and not only_tags and stack[-1][1] is None:
            stack[-1][1] = _indent(line)
        if stack and stack[-1][1]:
            expanded = line.expandtabs(4)
            line = expanded[min(stack[-1][1], _indent(expanded)):]
        if fence:
            rows.append((line, True, number))
            close = _FENCE.match(line)
            if close and close[2][0] == fence[0] and len(close[2]) >= fence[1] and not close[3].strip():
                fence = None
            continue
        if pre:
            rows.append((line, True, number))
            pre = "</pre" not in line.lower()
            continue
        if not line.strip():
            rows.append((line, False, number))
            prev_blank = True
            continue
        indent = _indent(line)
        if indent >= 4 and not stack and (in_indented or (prev_blank and not in_list)):
            rows.append((line, True, number))
            in_indented, prev_blank = True, False
            continue
        in_indented = False
        opened = _FENCE.match(line)
        if opened and (opened[2][0] == "~" or "`" not in opened[3]):
            fence = (opened[2][0], len(opened[2]))
            rows.append((line, True, number))
            prev_blank = False
            continue
        highlight = _HIGHLIGHT_OPEN.match(line)
        if highlight:
            end = next((k for k in range(i, len(lines)) if _HIGHLIGHT_CLOSE.match(lines[k])), None)
            if end is not None:
                body = lines[i:end]
                ticks = max([3] + [len(m[0]) + 1 for m in (re.match(r"\s*(`+)", b) for b in body) if m])
                rows.append(("`" * ticks + (highlight[1] or highlight[2]), True, number))
                rows.extend((b, True, first_line + i + k) for k, b in enumerate(body))
                rows.append(("`" * ticks, True, first_line + end))
                i, prev_blank = end + 1, False
                continue
        if _PRE_OPEN.match(line):
            rows.append((line, True, number))
            pre = "</pre" not in line.lower()
            prev_blank = False
            continue
        if not stack and prev_blank and indent == 0 and _ESM.match(line):
            while i < len(lines) and lines[i].strip():
                i += 1
            continue
        if _TOC_IAL.match(line) and rows and not rows[-1][1] and _LIST_ITEM.match(rows[-1][0]):
            rows.pop()
            continue
        for tag in tags if only_tags else ():  # block components stand on lines of their own
            if tag[1]:
                names = [entry[0] for entry in stack]
                if tag[2] in names:
                    del stack[len(names) - 1 - names[::-1].index(tag[2]):]
            elif not tag[3].rstrip().endswith("/"):
                stack.append([tag[2], None])
        if _LIST_ITEM.match(line):
            in_list = True
        elif indent == 0 and prev_blank:
            in_list = False
        rows.append((line, False, number))
        prev_blank = False
    return rows


def _prose(lines: list[str], numbers: list[int], state: _State) -> list[str]:
    """Prose lines with the site syntax cut out; lines left empty by a cut are dropped (a JSX tag's
    line stays as a blank line: it separated blocks)."""
    chunk = "\n".join(lines)
    masked = _mask(chunk)
    starts = [0]
    for k, line in enumerate(lines[:-1]):
        starts.append(starts[k] + len(line) + 1)

    def line_of(pos: int) -> int:
        return numbers[bisect.bisect_right(starts, pos) - 1]

    cuts: list[tuple[int, int, str, bool]] = []  # start, end, replacement, leaves a blank line
    jsx = [m for m in _JSX.finditer(masked) if _is_component(m[2])]
    _templates(chunk, _blank_out(masked, [m.span() for m in jsx]), cuts, state, line_of)
    for m in jsx:
        image = jsx_image(m[0], m[2])  # an image component becomes the image; any other goes
        cuts.append((m.start(), m.end(), image or "", True))
        if not image and m[2] not in state.components:
            state.components.append(m[2])
            state.notes.append(f"line {line_of(m.start())}: MDX component <{m[2]}> left out; its text is kept")
    for m in _PELICAN_FILENAME.finditer(masked):
        if (opening := _link_text_start(masked, m.start() + 2, m.end() - 1)) is not None:
            cuts.extend([(opening, opening + 1, "", False), (m.start(), m.end(), "", False)])
    for m in _IFRAME.finditer(masked):
        attrs = {a[1].lower(): a[2] if a[2] is not None else a[3] for a in _ATTR.finditer(m[1])}
        if (link := iframe_link(html.unescape(attrs.get("src", "")), html.unescape(attrs.get("title", "")))):
            cuts.append((m.start(), m.end(), link, False))
    for m in _RUBY.finditer(masked):
        cuts.append((m.start(), m.end(), _ruby_text(chunk[m.start(1):m.end(1)]), False))
    for pattern in (_IAL, _ATTR_LINE, _PELICAN_STATIC, _TOC_MARKER):
        cuts.extend((m.start(), m.end(), "", False) for m in pattern.finditer(masked))
    cuts.extend((m.start(1), m.end(1), "", False) for m in _HEADING_ATTRS.finditer(masked))
    start = masked.find("{/*")
    while start >= 0:
        end = masked.find("*/}", start + 3)
        if end < 0:
            break
        cuts.append((start, end + 3, "", False))
        start = masked.find("{/*", end + 3)
    if not cuts:
        return lines
    drop, blank = itertools.islice((c for c in map(chr, range(0xE000, 0xF900)) if c not in chunk), 2)
    pieces, pos = [], 0
    for start, end, replacement, leaves_blank in sorted(cuts):
        if start < pos:
            continue  # overlaps a cut already made
        if (not replacement and start > pos and chunk[start - 1] in " \t"
                and chunk[end:end + 1] in ("", " ", "\t", "\n", ".", ",", ")")):
            start -= 1  # "a {{ x }} b" reads "a b"
        pieces += [chunk[pos:start], replacement or (blank if leaves_blank else drop)]
        pos = end
    pieces.append(chunk[pos:])
    out: list[str] = []
    cut_since = False  # a line was cut away since the last line kept
    for line in "".join(pieces).split("\n"):
        if drop in line or blank in line:
            kept = line.replace(drop, "").replace(blank, "")
            if not kept.strip():
                cut_since = True
                if blank in line and out and out[-1].strip():
                    out.append("")
                continue
            line = kept
        if not line.strip() and cut_since and out and not out[-1].strip():
            continue  # one blank line where a cut line stood between two
        out.append(line)
        cut_since = False
    return out


def _ruby_text(inner: str) -> str:
    """`<ruby>漢字<rt>かんじ</rt></ruby>` as text every client shows: 漢字（かんじ）. Outlook and most
    plain readers have no ruby layout and would run base and reading together."""
    inner = re.sub(r"<rp\b[^>]*>.*?</rp\s*>", "", inner, flags=re.I | re.S)
    inner = re.sub(r"<rt\b[^>]*>(.*?)(?:</rt\s*>|(?=<rt\b)|$)", lambda m: f"（{m[1].strip()}）", inner, flags=re.I | re.S)
    return re.sub(r"</?rb\b[^>]*>", "", inner, flags=re.I)


def _blank_out(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the sorted `spans` replaced by NULs (positions unchanged)."""
    if not spans:
        return text
    pieces, pos = [], 0
    for start, end in spans:
        start = max(start, pos)
        if end > start:
            pieces += [text[pos:start], "\0" * (end - start)]
            pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _mask(chunk: str) -> str:
    """`chunk` with inline code, <code> elements and HTML comments blanked out (same length)."""
    spans: list[tuple[int, int]] = []
    runs = [(m.start(), m.end()) for m in re.finditer(r"`+", chunk)]
    breaks = [m.start() for m in re.finditer(r"\n[ \t]*\n", chunk)]
    following: dict[int, int] = {}
    nxt: list[int | None] = [None] * len(runs)
    for k in range(len(runs) - 1, -1, -1):
        size = runs[k][1] - runs[k][0]
        nxt[k] = following.get(size)
        following[size] = k
    k = 0
    while k < len(runs):
        j = nxt[k]
        if j is not None and bisect.bisect_left(breaks, runs[k][1]) == bisect.bisect_left(breaks, runs[j][0]):
            spans.append((runs[k][0], runs[j][1]))
            k = j + 1
        else:
            k += 1
    lower = chunk.lower()
    for opening, closing in (("<!--", "-->"), ("<code", "</code>")):
        start = lower.find(opening)
        while start >= 0:
            end = lower.find(closing, start + len(opening))
            if end < 0:
                break
            spans.append((start, end + len(closing)))
            start = lower.find(opening, end + len(closing))
    return _blank_out(chunk, sorted(spans))


def _templates(chunk: str, masked: str, cuts: list, state: _State, line_of) -> None:
    """Liquid and Hugo tags: each reported and cut; raw/comment blocks and Hugo's `{{</* x */>}}`
    (a shortcode shown as written) handled as the generator would."""
    closers: dict[str, int] = {}
    pos = 0
    while True:
        if state.raw:
            end = _ENDRAW.search(masked, pos)
            if end is None:
                return
            cuts.append((end.start(), end.end(), "", False))
            state.raw, pos = False, end.end()
        m = _TEMPLATE_OPEN.search(masked, pos)
        if m is None:
            return
        start = m.start()
        opener = masked[start:start + 3]
        closer = {"{{<": ">}}", "{{%": "%}}"}.get(opener) or ("}}" if opener.startswith("{{") else "%}")
        body_from = start + (3 if len(closer) == 3 else 2)
        found = closers.get(closer, -2)
        if found != -1 and found < body_from:
            found = masked.find(closer, body_from)
            closers[closer] = found
        if found < 0 or found - start > MAX_TAG_CHARS or "\n\n" in masked[start:found]:
            pos = start + 2
            continue
        end = found + len(closer)
        tag = masked[start:end]
        pos = end
        if _RAW.fullmatch(tag):
            cuts.append((start, end, "", False))
            state.raw = True
        elif _ENDRAW.fullmatch(tag):
            cuts.append((start, end, "", False))
        elif _COMMENT.fullmatch(tag) and (close := _ENDCOMMENT.search(masked, end)):
            cuts.append((start, close.end(), "", False))
            pos = close.end()
        elif re.fullmatch(r"\{\{([<%])/\*.*\*/([>%])\}\}", tag, re.S):
            cuts.append((start, end, "{{" + opener[2] + chunk[start + 5:end - 5] + closer[0] + "}}", False))
        elif (value := page_value(chunk[start:end], state.meta)) is not None:
            cuts.append((start, end, value, False))
        elif (path := literal_url(chunk[start:end])) is not None:
            cuts.append((start, end, path.replace(" ", "%20"), False))
        elif (markdown := media_markdown(chunk[start:end]) or callout_fence(chunk, start, end)) is not None:
            cuts.append((start, end, markdown, False))
        elif is_cross_reference(chunk[start:end]) and (opening := _link_text_start(masked, start, end)) is not None:
            cuts.extend([(opening, opening + 1, "", False), (start - 2, end + 1, "", False)])  # text, unlinked
        else:
            shown = " ".join(chunk[start:end].split())
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            cuts.append((start, end, "", False))
            state.notes.append(f"line {line_of(start)}: Liquid/Hugo tag {shown} would reach readers; it is left out")


def _link_text_start(masked: str, start: int, end: int) -> int | None:
    """Where `[` opens the link text of `[text](TAG)` when the tag at start:end is the whole target."""
    if masked[start - 2:start] != "](" or masked[end:end + 1] != ")":
        return None
    depth = 0
    for k in range(start - 3, max(-1, start - 3 - MAX_TAG_CHARS), -1):
        if masked[k] == "\n" and masked[k - 1:k] == "\n":
            return None
        if masked[k] == "]":
            depth += 1
        elif masked[k] == "[":
            if depth == 0:
                return k
            depth -= 1
    return None
