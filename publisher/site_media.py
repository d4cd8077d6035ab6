"""Site tags that stand for something readers can follow or read, as Markdown: media (Hugo's
`{{< figure src=… >}}`, `{{< youtube ID >}}`, `{{< tweet user=… id=… >}}`, `{{< vimeo >}}`, `{{< gist >}}`,
`{{< instagram >}}`; Jekyll's `{% include figure.html src=… %}`, `{% youtube ID %}`, `{% twitter URL %}`;
Zola's `{{ youtube(id="…") }}`; MDX image components), callouts (`callout_fence`), front matter
values (`{{ page.x }}`, `page_value`) and Hexo's `{% post_link %}`. Any other tag gives None
(publisher.site_syntax reports and drops it). Cross-references (`{{< ref >}}`, `{% post_url %}`,
`{% link %}`) are named by `is_cross_reference`: the site would compute their URL, we cannot."""
from __future__ import annotations

import html
import re
from urllib.parse import quote

_ARG = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'),]+))|"([^"]*)"|'([^']*)'|([^\s"'=,()]+)""")
_HUGO = re.compile(r"\{\{[<%]-?\s*([\w/-]+)(.*?)\s*/?\s*-?[>%]\}\}\Z", re.S)
_LIQUID = re.compile(r"\{%-?\s*(\w+)\s+(.*?)\s*-?%\}\Z", re.S)
_ZOLA = re.compile(r"\{\{-?\s*(\w+)\s*\((.*?)\)\s*-?\}\}\Z", re.S)
_ID = re.compile(r"[\w-]{1,64}")
_NUMBER = re.compile(r"\d{1,25}")
_FIGURE_INCLUDES = re.compile(r"(?:figure|image|img|picture|photo)[\w-]*\.html?", re.I)
_VIDEO_INCLUDES = re.compile(r"(?:youtube|video)[\w-]*\.html?", re.I)
_CROSS_REFS = frozenset({"ref", "relref", "post_url", "link"})


def _args(text: str) -> tuple[dict[str, str], list[str]]:
    named: dict[str, str] = {}
    positional: list[str] = []
    for m in _ARG.finditer(text):
        if m[1]:
            named[m[1].lower()] = next(v for v in (m[2], m[3], m[4]) if v is not None)
        else:
            positional.append(next(v for v in (m[5], m[6], m[7]) if v is not None))
    return named, positional


def _parse(tag: str) -> tuple[str, dict[str, str], list[str]] | None:
    for pattern in (_HUGO, _ZOLA, _LIQUID):
        m = pattern.match(tag.strip())
        if m:
            named, positional = _args(m[2])
            name = m[1].lower()
            if name == "include" and positional:  # {% include figure.html src=… %}
                name, positional = positional[0], positional[1:]
            return name, named, positional
    return None


def _label(text: str) -> str:
    return re.sub(r"([\[\]\\])", r"\\\1", " ".join(text.split()))[:200]


def _target(url: str) -> str:
    return quote(url.strip(), safe=":/?#&=%@+~.,;!$'*-_")


def is_cross_reference(tag: str) -> bool:
    parsed = _parse(tag)
    return bool(parsed and parsed[0] in _CROSS_REFS)


def media_markdown(tag: str) -> str | None:
    """Markdown for a media tag, or None when `tag` is not one (or lacks what it needs)."""
    parsed = _parse(tag)
    if parsed is None:
        return None
    name, named, positional = parsed
    first = positional[0] if positional else ""
    if name in ("figure", "img", "image") or _FIGURE_INCLUDES.fullmatch(name):
        src = next((named[k] for k in ("src", "image", "image_path", "url", "file", "path") if named.get(k)), first)
        if not src or src.lower().startswith(("javascript:", "data:")):
            return None
        alt = named.get("alt") or named.get("caption") or named.get("title") or ""
        image = f"![{_label(alt)}]({_target(src)})"
        return f"[{image}]({_target(named['link'])})" if named.get("link") else image
    if name in ("youtube", "youtube_video") or _VIDEO_INCLUDES.fullmatch(name):
        video = named.get("id") or named.get("youtube_id") or first
        if not _ID.fullmatch(video):
            return None
        return f"[▶ {_label(named.get('title') or 'YouTube')}](https://www.youtube.com/watch?v={video})"
    if name == "vimeo":
        video = named.get("id") or first
        return f"[▶ {_label(named.get('title') or 'Vimeo')}](https://vimeo.com/{video})" if _NUMBER.fullmatch(video) else None
    if name in ("tweet", "twitter", "x"):
        if first.startswith(("https://twitter.com/", "https://x.com/")):
            return f"<{_target(first)}>"
        status = named.get("id") or (positional[-1] if positional else "")
        user = named.get("user") or (positional[0] if len(positional) == 2 else "i")
        if _NUMBER.fullmatch(status) and _ID.fullmatch(user):
            return f"<https://x.com/{user}/status/{status}>"
        return None
    if name == "post_link" and positional:  # Hexo: {% post_link slug [title] %}; the site makes the URL, we cannot
        return _label(positional[1] if len(positional) > 1 else positional[0])
    if name == "instagram":
        return f"<https://www.instagram.com/p/{first}/>" if _ID.fullmatch(first) else None
    if name == "gist":
        parts = [p for p in positional[:2] if _ID.fullmatch(p)]
        return f"<https://gist.github.com/{'/'.join(parts)}>" if parts and len(parts) == len(positional[:2]) else None
    return None


_YOUTUBE_EMBED = re.compile(r"https?://(?:www\.)?youtube(?:-nocookie)?\.com/embed/([\w-]{1,64})", re.I)
_VIMEO_EMBED = re.compile(r"https?://player\.vimeo\.com/video/(\d{1,25})", re.I)
_BILIBILI_EMBED = re.compile(r"(?:https?:)?//player\.bilibili\.com/player\.html\?(?:[^\s\"'<>]*?&)?bvid=(BV\w{1,20})", re.I)


def iframe_link(src: str, title: str = "") -> str | None:
    """An HTML link to the video's own page for a known player's `<iframe src=…>` (YouTube, Vimeo,
    bilibili), which no mail client, Telegram or WeChat shows; None for any other frame (left out
    by the sanitizer with its address)."""
    src = src.strip()
    if m := _YOUTUBE_EMBED.match(src):
        url, label = f"https://www.youtube.com/watch?v={m[1]}", "YouTube"
    elif m := _VIMEO_EMBED.match(src):
        url, label = f"https://vimeo.com/{m[1]}", "Vimeo"
    elif m := _BILIBILI_EMBED.match(src):
        url, label = f"https://www.bilibili.com/video/{m[1]}", "bilibili"
    else:
        return None
    shown = " ".join(title.split())[:200] or label
    return f'<a href="{html.escape(url)}">▶ {html.escape(shown, quote=False)}</a>'


_URL_FILTERS = r"(?:relative_url|absolute_url|relURL|absURL|relLangURL|absLangURL|url|prepend:\s*site\.baseurl)"
_LITERAL_URL = re.compile(r"\{\{-?\s*(?:\"([^\"{}]{1,500})\"|'([^'{}]{1,500})')\s*(?:\|\s*" + _URL_FILTERS + r"\s*)+-?\}\}\Z")


def literal_url(tag: str) -> str | None:
    """The path of a Jekyll/Hugo output tag that only makes a literal into a site URL:
    `{{ "/assets/a.png" | relative_url }}` is /assets/a.png (resolved against the post's URL later)."""
    m = _LITERAL_URL.match(tag.strip())
    return (m[1] if m[1] is not None else m[2]).strip() if m else None


# Callout shortcodes and tags, as the admonitions the channels render: Docsy's `{{% alert title="…"
# color="warning" %}}`, hugo-notice's `{{< notice warning >}}`, hugo-book's `{{< hint info >}}`,
# Hextra's `{{< callout type="warning" >}}`, LoveIt's `{{< admonition tip "Title" >}}`, Hexo NexT's
# `{% note warning %}` … `{% endnote %}`.
_CALLOUTS = frozenset({"alert", "notice", "hint", "callout", "admonition", "note", "tip", "warning", "info",
                       "caution", "danger", "important"})
_KINDS = {"note": "note", "tip": "tip", "info": "info", "warning": "warning", "caution": "caution",
          "danger": "danger", "important": "important", "success": "tip", "error": "danger", "primary": "info",
          "secondary": "note", "question": "info", "example": "note", "abstract": "note", "bug": "danger",
          "failure": "danger", "quote": "note"}


def callout_fence(chunk: str, start: int, end: int) -> str | None:
    """`:::kind Title` for a callout tag standing alone on its line, `:::` for its closing tag;
    None for any other tag (or one sharing its line with text, which a fence would swallow)."""
    line_start, line_end = chunk.rfind("\n", 0, start) + 1, chunk.find("\n", end)
    if chunk[line_start:start].strip() or chunk[end:len(chunk) if line_end < 0 else line_end].strip():
        return None
    parsed = _parse(chunk[start:end])
    if parsed is None:
        return None
    name, named, positional = parsed
    if name.lstrip("/").removeprefix("end") in _CALLOUTS and (name.startswith("/") or name.startswith("end")):
        return ":::"
    if name not in _CALLOUTS or not re.search(rf"\{{\{{[<%]-?\s*/\s*{name}\b|\{{%-?\s*end{name}\b", chunk[end:]):
        return None  # not a callout, or one never closed (a fence would swallow the rest of the post)
    word = (named.get("type") or named.get("color") or (positional[0] if positional else "") or name).lower()
    kind = _KINDS.get(word, "note")
    title = named.get("title") or (positional[1] if len(positional) > 1 and name == "admonition" else "")
    return f":::{kind} {_label(title)}".rstrip()


# Docusaurus/MDX image components: `<Image src={require('./img/a.png')} alt="…" />`, `<img>`-like
# components given a plain src, `<ThemedImage sources={{light: …}} />`.
_JSX_SOURCE = re.compile(r"""\b(?:src|light)\s*[=:]\s*(?:\{\s*require\(\s*(["'])([^"'{}]+)\1\s*\)(?:\.default)?\s*\}|"""
                         r"""(["'])([^"'{}]+)\3)""")
_JSX_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|\{\s*["']([^"']*)["']\s*\})""")


def jsx_image(tag: str, name: str) -> str | None:
    """Markdown for an MDX image component, or None when `tag` is not one (its text is kept)."""
    if not re.search(r"image|img|figure|screenshot|picture", name, re.I):
        return None
    source = _JSX_SOURCE.search(tag)
    if source is None:
        return None
    src = source.group(2) or source.group(4)
    if src.lower().startswith(("javascript:", "data:")):
        return None
    alt = _JSX_ALT.search(tag)
    label = next((a for a in alt.groups() if a), "") if alt else ""
    return f"![{_label(label)}]({_target(src)})"


_PAGE_VARIABLE = re.compile(r"\{\{-?\s*(?:page|\.Params|\$\.Params)\.([\w-]+(?:\.[\w-]+){0,3})\s*-?\}\}")


def page_value(tag: str, meta: dict) -> str | None:
    """The front matter's text for `{{ page.image }}`, `{{ page.author.name }}`, `{{ .Params.x }}`;
    None for anything else (a list, a mapping, a key not there)."""
    m = _PAGE_VARIABLE.fullmatch(tag.strip())
    if not m:
        return None
    value: object = meta
    for key in m[1].split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = " ".join(str(value).split())
    return text[:500] if text else None
