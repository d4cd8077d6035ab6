"""The reader checks of issue 9: what a reader of each channel gets, judged from the rendered
payloads alone (pure functions, no network). Each function returns the problems found, one short
line each naming the check ("x.hook: ..."), so a corpus run says which post failed which check.

- X: tweet 1 has the title and a hook that is not a colon-ended lead-in; no empty, heading-only or
  colon-ended tweet; a summary thread has 5-15 tweets (fewer only when the post has fewer things
  to say); in full mode no tweet stops mid-sentence without "…".
- Telegram: no link or image URL of the source lost; no message ends with a heading; no link or
  label that is only "Image"/"图片"; no run of empty lines outside code.
- WeChat: publishable (its checks empty) except a title the editor must shorten; a digest; a cover
  when the post has any image; no empty paragraph or <br><br> run.
- X: also no tweet that is only a link.
- Email: every <img> has a pixel width ≤ 600, or is named as of unknown size.
- Every channel: no site syntax ({%, {{, {:, {#, import … from, :::, Pelican {filename}) and no
  **emphasis** left as asterisks, outside code the post shows.
"""
from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from publisher.markdown import html_images, html_links, inline_text, walk

_TAG = re.compile(r"<[^>]+>")
_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*["']([^"']*)["']""", re.I)
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)
_WIDTH = re.compile(r"""\bwidth\s*=\s*["']?(\d+)""", re.I)
_SRC = re.compile(r"""\bsrc\s*=\s*["']([^"']*)["']""", re.I)
_CODE = re.compile(r"<(pre|code)\b[^>]*>.*?</\1>", re.I | re.S)
_URL = re.compile(r"https?://[^\s)\]>）」』，。]+")
_NUMBERING = re.compile(r"\s*(?:\(?\d{1,3}/\d{1,3}\)?|🧵)\s*$")
_LEAK = re.compile(r"\{%|\{\{|\{:|\{#|^\s*import\s+\S.*\sfrom\s+['\"]|:::|"
                   r"[{|](?:filename|static|attach)[}|]|%7B(?:filename|static|attach)%7D|"
                   r"\*\*(?=[^\s*])[^*\n]{1,80}?(?<=[^\s*])\*\*", re.M | re.I)  # ... and emphasis left as **asterisks**
_EMPTY_P = re.compile(r"<p\b[^>]*>(?:\s|&nbsp;|<br\s*/?>)*</p>", re.I)
_BR_RUN = re.compile(r"<br\s*/?>\s*(?:<[^>]+>\s*)?<br\s*/?>", re.I)
_SENTENCE_END = re.compile(r"""[.!?。！？…)\]）」』"'”’»*`]$|\.{3}$""")
_BARE_LABELS = frozenset({"image", "images", "图片", "图像", "画像", "photo", "picture", "img", "🖼", "🖼️"})
MIN_SUMMARY, MAX_SUMMARY = 5, 15


def visible(markup: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", markup.replace("<br>", "\n"))).split())


def norm(text: str) -> str:
    """Text compared loosely: NFKC, no emoji or symbols, no markup characters, spaces collapsed."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = "".join(c for c in text if unicodedata.category(c)[0] in "LN" or c.isspace())
    return " ".join(text.split()).casefold()


def canonical(url: str) -> str:
    """A URL as compared: no utm_* parameters, entities decoded, no trailing slash difference."""
    url = html.unescape(url.strip())
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("utm_")])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/") or "/", query,
                       parts.fragment)) if parts.scheme in ("http", "https") else url


# --- what the source holds ------------------------------------------------------------------

def source_urls(post) -> tuple[set[str], set[str]]:
    """(link URLs, image URLs) of the post body, absolute (relative ones resolved against the post's
    URL, as readers elsewhere need them); mailto: links kept; in-page #anchors left out; an empty
    target as about:empty-target, which no channel can show (it counts as lost)."""
    links: set[str] = set()
    images: set[str] = set()

    def add(target: set[str], ref: str) -> None:
        ref = (ref or "").strip()
        if not ref:  # an image or link whose target the cleaning left empty (a site tag cut out of it)
            target.add("about:empty-target")
            return
        if ref.startswith("#") or ref.lower().startswith(("javascript:", "data:", "tel:")):
            return
        if ref.lower().startswith("mailto:"):
            target.add(ref)
            return
        try:
            url = urljoin(post.url, ref)
        except ValueError:
            return
        if url.startswith(("http://", "https://")):
            target.add(url)

    for node in walk(post.tree):
        if node.type == "link":
            add(links, str(node.attrs.get("href") or ""))
        elif node.type == "image":
            add(images, str(node.attrs.get("src") or ""))
        elif node.type in ("html_block", "html_inline"):
            for _text, href in html_links(node.content):
                add(links, href)
            for src in html_images(node.content):
                add(images, src)
    return links, images


def embeds(post) -> set[str]:
    """The addresses of embedded video players (<iframe src>: YouTube, Vimeo) in the post's raw HTML."""
    return {src for node in walk(post.tree) if node.type in ("html_block", "html_inline")
            for src in re.findall(r"""<iframe\b[^>]*?\bsrc\s*=\s*["'](https?://(?:www\.youtube(?:-nocookie)?\.com/embed|"""
                                  r"""player\.vimeo\.com/video)/[^"']+)["']""", node.content, re.I)}


def headings(post) -> set[str]:
    return {norm(inline_text(node.children[0])) for node in walk(post.tree)
            if node.type == "heading" and node.children} - {""}


def code_texts(post) -> list[str]:
    return [str(node.content) for node in walk(post.tree) if node.type in ("fence", "code_block", "code_inline")]


def site_syntax_leaks(channel: str, output: str, post, is_html: bool) -> list[str]:
    """Site syntax in `output`, except where the post itself shows it as code."""
    text = _CODE.sub(" ", output) if is_html else output
    text = html.unescape(_TAG.sub(" ", text)) if is_html else text
    codes = code_texts(post)
    problems = []
    for match in _LEAK.finditer(text):
        around = match.group(0).strip()[:6]
        if any(around in code for code in codes):
            continue
        line = text[max(0, match.start() - 20): match.end() + 30].replace("\n", " ")
        problems.append(f"{channel}.site-syntax: {line.strip()!r}")
    return problems[:3]


# --- X ----------------------------------------------------------------------------------------

def _tweet_body(text: str) -> str:
    return _NUMBERING.sub("", text).strip()


def x_problems(post, summary, full) -> list[str]:
    problems = []
    tweets = [t.text for t in summary.tweets]
    if not tweets:
        return ["x.empty: the summary thread has no tweets"]
    first = _tweet_body(tweets[0])
    title = norm(post.title)
    if title[:40] not in norm(first):
        problems.append(f"x.title: tweet 1 lacks the title: {first[:80]!r}")
    hook = norm(_URL.sub("", first)).replace(title, "", 1).strip()
    first_lines = [ln.strip() for ln in first.splitlines() if ln.strip()]
    if len(hook) < 8:
        problems.append(f"x.hook: tweet 1 has no hook: {first[:100]!r}")
    elif any(re.search(r"[:：]$", ln) and not (k + 1 < len(first_lines) and _URL.match(first_lines[k + 1]))
             for k, ln in enumerate(first_lines)):
        problems.append(f"x.hook: tweet 1 has a colon-ended lead-in: {first[:120]!r}")
    for mode, thread in (("summary", summary), ("full", full)):
        heads = headings(post)
        for k, tweet in enumerate(thread.tweets, 1):
            body = _tweet_body(tweet.text)
            if not body and not tweet.media:
                problems.append(f"x.{mode}.empty: tweet {k} is empty")
                continue
            if re.search(r"[:：]$", _URL.sub("", body).strip()) and not _URL.search(body.splitlines()[-1]):
                problems.append(f"x.{mode}.colon: tweet {k} ends on a colon: {body[-60:]!r}")
            words = norm(_URL.sub("", body))
            if not words and _URL.search(body) and not tweet.media and k > 1:
                problems.append(f"x.{mode}.url-only: tweet {k} is only a link: {body[:80]!r}")
            if words and (words in heads or (len(words) <= 12 and "\n" not in body.strip() and not _URL.search(body)
                                             and k > 1 and not re.search(r"[.!?。！？]$", body))):
                problems.append(f"x.{mode}.heading-only: tweet {k} is only {body!r}")
    if not summary.hand_written:
        material = _material(post)
        n = len(tweets)
        if n > MAX_SUMMARY or n < min(MIN_SUMMARY, material):
            problems.append(f"x.summary.length: {n} tweets (at least {min(MIN_SUMMARY, material)}, at most {MAX_SUMMARY})")
    for k, tweet in enumerate(full.tweets[:-1], 1):
        last = _tweet_body(tweet.text).splitlines()[-1].strip() if _tweet_body(tweet.text) else ""
        if last and not _ends_cleanly(last, post):
            problems.append(f"x.full.mid-sentence: tweet {k} stops at {last[-50:]!r}")
    return problems


def _material(post) -> int:
    """The fewest tweets a summary owes: 5, or 1 for a post shorter than five tweets' worth of text
    (1,400 weighted characters; CJK weighs 2), which one tweet and its link tell."""
    text = " ".join(inline_text(n) for n in walk(post.tree) if n.type == "inline")
    weight = len(text) + sum(1 for c in text if ord(c) > 0x2FFF)
    return MIN_SUMMARY if weight > 5 * 280 else 1


_LIST_MARKER = re.compile(r"^(?:[-*•]|\d{1,3}[.)])\s+")
_URL_IN_PARENS = re.compile(r"\s*[(（]https?://[^\s)）]*[)）]")


def _ends_cleanly(line: str, post) -> bool:
    line = _LIST_MARKER.sub("", _URL.sub("", _URL_IN_PARENS.sub("", line)).strip())
    if not line or _SENTENCE_END.search(line) or line.endswith("…"):
        return True
    tail = norm(line)[-16:]
    if not tail or norm(post.title).endswith(tail):  # the title, which has no closing punctuation
        return True
    for node in walk(post.tree):  # the end of a block that has no closing punctuation (a heading, an item)
        if node.type == "inline" and norm(_URL.sub("", inline_text(node))).endswith(tail):
            return True
        if node.type == "tr" and norm(" ".join(inline_text(c) for cell in node.children for c in cell.children)).endswith(
                norm(line.replace("·", " "))[-16:]):
            return True
        if node.type in ("fence", "code_block", "html_block") and any(  # code keeps its <T>: not a tag
                norm(_URL.sub("", visible(ln) if node.type == "html_block" else ln)).endswith(tail)
                for ln in str(node.content).splitlines()):
            return True
    return False


# --- Telegram ---------------------------------------------------------------------------------

def telegram_texts(payload) -> list[str]:
    return [str(call.params.get("text") or call.params.get("caption") or "") for call in payload.calls]


def telegram_problems(post, payload) -> list[str]:
    problems = []
    texts = telegram_texts(payload)
    found: set[str] = set()
    for call in payload.calls:
        for key in ("photo",):
            if call.params.get(key):
                found.add(canonical(str(call.params[key])))
        preview = call.params.get("link_preview_options") or {}
        if preview.get("url"):
            found.add(canonical(str(preview["url"])))
    for text in texts:
        found.update(canonical(h) for h in _HREF.findall(text))
        found.update(canonical(u) for u in _URL.findall(html.unescape(_TAG.sub(" ", text))))
    links, images = source_urls(post)
    lost_links = sorted(u for u in links if canonical(u) not in found)
    lost_links += sorted(u for u in embeds(post) if not any(u.rstrip("/").rsplit("/", 1)[-1] in f for f in found))
    lost_images = sorted(u for u in images if canonical(u) not in found)
    if lost_links:
        problems.append(f"telegram.links: {len(lost_links)} lost, e.g. {lost_links[0]}")
    if lost_images:
        problems.append(f"telegram.images: {len(lost_images)} lost, e.g. {lost_images[0]}")
    heads = headings(post)
    raw_heads = {inline_text(node.children[0]).strip() for node in walk(post.tree) if node.type == "heading" and node.children}
    for k, text in enumerate(texts, 1):
        blocks = [b for b in text.strip().split("\n\n") if b.strip()]
        if k == len(texts) and len(blocks) > 1 and re.fullmatch(r"<a\b[^>]*>[^<]*</a>", blocks[-1].strip()) \
                and {canonical(h) for h in _HREF.findall(blocks[-1])} == {canonical(post.url)}:
            blocks = blocks[:-1]  # the closing "Read on the web" link is not the post's last block
        last = visible(blocks[-1]).strip() if blocks else ""
        if last and (norm(last) in heads or last in raw_heads) and (k < len(texts) or len(blocks) > 1):
            problems.append(f"telegram.heading: message {k} ends with the heading {visible(blocks[-1])!r}")
        prose = re.sub(r"<pre\b.*?</pre>", "[code]", text, flags=re.S)
        if re.search(r"\n[ \t]*\n[ \t]*\n|\n[ \t]+\n", prose):
            problems.append(f"telegram.blank-lines: message {k} has a run of empty lines")
        for label in re.findall(r"<a\b[^>]*>(.*?)</a>", text, re.S):
            if visible(label).strip(" []()").casefold() in _BARE_LABELS:
                problems.append(f"telegram.label: message {k} has a bare {visible(label)!r} link")
                break
    return problems


# --- WeChat -----------------------------------------------------------------------------------

def wechat_problems(post, article, checks: list[str]) -> list[str]:
    problems = [f"wechat.check: {c[:100]}" for c in checks if not c.startswith("The title is")]
    if not article.digest.strip():
        problems.append("wechat.digest: empty")
    content = _CODE.sub("(code)", article.content)  # a paragraph of code only is not empty
    if _EMPTY_P.search(content):
        problems.append(f"wechat.empty-paragraph: {_EMPTY_P.search(content)[0][:80]!r}")
    if _BR_RUN.search(content):
        problems.append("wechat.br-run: two line breaks in a row make a blank line WeChat's editor keeps")
    if (post.cover_image or post.first_image or source_urls(post)[1]) and not article.thumb:
        problems.append("wechat.cover: the post has images but no cover")
    return problems


# --- Email ------------------------------------------------------------------------------------

def email_problems(post, payload) -> list[str]:
    problems = []
    unsized = set(payload.unsized_images)
    for tag in _IMG_TAG.findall(payload.html):
        src = html.unescape((_SRC.search(tag) or [None, ""])[1])
        width = _WIDTH.search(tag)
        if width and 0 < int(width.group(1)) <= 600:
            continue
        if not width and src in unsized:
            continue
        problems.append(f"email.width: <img> {src[:70]} has {'width ' + width.group(1) if width else 'no width'}")
        break
    return problems


def leak_problems(post, outputs: dict[str, tuple[str, bool]]) -> dict[str, list[str]]:
    """{channel: leaks} over each channel's outputs {name: (text, is_html)}."""
    out: dict[str, list[str]] = {}
    for name, (text, is_html) in outputs.items():
        channel = name.split(".")[0]
        out.setdefault(channel, []).extend(site_syntax_leaks(name, text, post, is_html))
    return out
