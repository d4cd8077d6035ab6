"""WeChat article renderer: golden file, an independent HTML audit, checks, determinism, properties."""
from __future__ import annotations

import dataclasses
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from channels.wechat.article import WechatArticle, truncate_at_boundary
from channels.wechat.channel import CHANNEL
from channels.wechat.checks import image_format, visible_text
from channels.wechat.limits import CONTENT_CHAR_LIMIT, DIGEST_LIMIT, TITLE_LIMIT
from publisher.config import load_settings
from publisher.markdown import html_links, inline_text, walk
from publisher.post import load_post, parse_post

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"
GOLDEN = Path(__file__).parent / "golden" / "wechat"
SETTINGS = load_settings({})

ENGLISH_POST = """---
title: "Weekly Rust & Python digest"
author: Jane Doe
date: 2026-02-01
coverImage: https://cdn.example.com/covers/week5.webp
summary:
  - Tokio 2.0 lands with a new scheduler
  - uv replaces pip for most of our builds
url: https://blog.example.com/weekly-5
---
Intro with a [link to Tokio](https://tokio.rs/blog/tokio-2 "Tokio") and the same
[Tokio post](https://tokio.rs/blog/tokio-2) again, a bare
<https://example.org/a/very/long/url/that/goes/on/and/on/and/on?with=query&and=more#fragment>,
a [WeChat article](https://mp.weixin.qq.com/s/abc123), an [anchor](#packaging), a
[relative page](/about) and 🎉🚀 & "quoted" <b>bold</b> text.

## Async runtimes

1. First point
2. Second point with nested:
   - nested **bold** item
   - nested item with `code`
     1. deep one
3. Third point

   With a second paragraph.

> A quote with *emphasis* and a [link](https://quote.example.com).
>
> Second quote paragraph.

### Code sample

```python
def hello(name):
    if name:
        print(f"hi  {name} <&>")
```

Inline `a < b && c` code.

## Packaging

| Tool | Speed | Notes |
|:-----|------:|:-----:|
| pip  | 1x    | classic |
| uv   | 10x   | [fast](https://github.com/astral-sh/uv) |

![A diagram of the build](https://cdn.example.com/img/build.png)

![vector logo](https://cdn.example.com/img/logo.svg)

Text with ![icon](https://cdn.example.com/img/icon.png) inline and ~~struck~~ text.

---

<div class="cta" id="join" style="color:red"><p>Join us on <a href="https://t.me/example" class="btn">Telegram</a></p>
<ul><li>one<ul><li>two</li></ul></li><li>three</li></ul>
<img src="https://cdn.example.com/img/build.png" alt="again"></div>
"""

CHINESE_POST = """---
title: 测试文章：链接与列表
coverImage: https://cdn.example.com/cover.jpg
summary: "- 第一点：模型发布，性能提升明显，业界关注度很高，讨论热烈持续\\n- 第二点：开源社区繁荣，衍生模型数量创新高，下载量突破十亿次大关\\n- 第三点：芯片企业上市，资本市场热情高涨，估值接近两百亿元人民币\\n- 第四点：监管政策落地，全球首部综合法案正式施行，企业合规压力增加\\n- 第五点：机器人量产元年"
---
## 第一节

详见[官方博客](https://openai.com/blog)以及 https://example.com/plain 的说明。

## 第二节

- 要点一
- 要点二
"""


def render(text: str, name: str = "post.md") -> tuple[WechatArticle, object]:
    post = parse_post(text, name=name, settings=SETTINGS)
    return CHANNEL.render(post, SETTINGS), post


@pytest.fixture(scope="module")
def sample():
    post = load_post(SAMPLE, SETTINGS)
    return CHANNEL.render(post, SETTINGS), post


# ---------------------------------------------------------------------------------------------
# An independent audit of the article HTML: what WeChat keeps and what the reader gets.

# Tags whose browser defaults are their style (the text's font, size and colour come from the
# article's wrapping <section>); every other tag must carry its own inline style.
ALLOWED_UNSTYLED = {"br", "tbody", "tr", "span", "strong", "em", "del", "u", "sub", "sup", "li"}
FORBIDDEN_TAGS = {"style", "script", "link", "iframe", "object", "embed", "meta", "form", "input"}
VOID = {"br", "hr", "img"}
REFERENCE_MARK = re.compile(r"^\[\d+\]$")
REFERENCE_LINE = re.compile(r"^\[(\d+)\](?: (.*))?: (\S+)$")


class Audit(HTMLParser):
    def __init__(self, content: str):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.anchors: list[str] = []
        self.images: list[str] = []
        self.headings: list[str] = []
        self.text_parts: list[str] = []
        self.blocks: list[str] = []  # text of each p / li / heading, marks removed
        self.block_lines: list[list[str]] = []  # the same, split at <br>
        self.stack: list[str] = []
        self.sup_buffer: list[str] | None = None
        self.block_buffer: list[str] | None = None
        self.feed(content)
        self.close()
        self.text = "".join(self.text_parts)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"forbidden tag <{tag}>")
        for name in attrs:
            if name in ("class", "id") or name.startswith("on"):
                self.problems.append(f"<{tag}> has attribute {name}")
        if tag not in ALLOWED_UNSTYLED and not (attrs.get("style") or "").strip():
            self.problems.append(f"<{tag}> has no inline style")
        if tag == "a":
            self.anchors.append(attrs.get("href", ""))
        if tag == "img":
            self.images.append(attrs.get("src", ""))
            self.text_parts.append(attrs.get("alt", ""))
        if tag == "sup":
            self.sup_buffer = []
        if tag == "br" and self.block_buffer is not None:
            self.block_buffer.append("\x00")
        if tag in ("p", "li", "h1", "h2", "h3", "h4", "figcaption"):
            self.block_buffer = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "sup" and self.sup_buffer is not None:
            text = "".join(self.sup_buffer)
            if not REFERENCE_MARK.match(text):
                self._text(text)
            self.sup_buffer = None
        if tag in ("p", "li", "h1", "h2", "h3", "h4", "figcaption") and self.block_buffer is not None:
            raw = "".join(self.block_buffer)
            text = " ".join(raw.replace("\x00", " ").split())
            self.blocks.append(text)
            self.block_lines.append([" ".join(line.split()) for line in raw.split("\x00")])
            if tag.startswith("h"):
                self.headings.append(text)
            self.block_buffer = None

    def handle_data(self, data):
        if self.sup_buffer is not None:
            self.sup_buffer.append(data)
        else:
            self._text(data)

    def _text(self, data):
        self.text_parts.append(data)
        if self.block_buffer is not None:
            self.block_buffer.append(data)

    def references(self, title: str) -> dict[str, tuple[int, str]]:
        """url → (number, text) from the lines after the references heading."""
        if title not in self.headings:
            return {}
        after = [line for lines in self.block_lines[self.blocks.index(title) + 1:] for line in lines]
        out = {}
        for line in after:
            match = REFERENCE_LINE.match(line)
            assert match, f"not a reference line: {line!r}"
            out[match.group(3)] = (int(match.group(1)), match.group(2) or "")
        return out


def squash(text: str) -> str:
    return "".join(text.split())


def paragraph_text(inline) -> str:
    """inline_text, except an image counts by its alt text as rendered (inline_text gives the raw
    Markdown label, with backslash escapes and emphasis markers still in it)."""
    parts = []
    for child in inline.children:
        if child.type == "image":
            parts.append(paragraph_text(child))
        elif child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.children:
            parts.append(paragraph_text(child))
    return "".join(parts)


def post_links(post) -> list[str]:
    """Every link of the post, from Markdown and from raw HTML, resolved against the post URL."""
    links = []
    for node in walk(post.tree):
        if node.type == "link":
            links.append(node.attrs["href"])
        elif node.type == "html_block":
            links.extend(href for _, href in html_links(node.content))
    return [urljoin(post.url, href) for href in links if not href.startswith("#")]


def assert_wechat_safe(article: WechatArticle, post, references_title: str) -> Audit:
    audit = Audit(article.content)
    assert audit.problems == []
    assert not audit.stack, f"unclosed elements: {audit.stack}"
    assert all(urlsplit(href).hostname == "mp.weixin.qq.com" for href in audit.anchors)
    references = audit.references(references_title)
    for url in post_links(post):
        if urlsplit(url).hostname != "mp.weixin.qq.com":
            assert url in references, f"{url} missing from the references"
    assert sorted(n for n, _ in references.values()) == list(range(1, len(references) + 1))
    section_headings = [inline_text(node.children[0]) for node in walk(post.tree) if node.type == "heading"]
    found = [h for h in audit.headings if h != references_title]
    assert [" ".join(h.split()) for h in section_headings] == found
    assert audit.images == [img for img in audit.images if img in article.images]
    assert list(dict.fromkeys(audit.images)) == list(article.images)
    return audit


# ---------------------------------------------------------------------------------------------
# The reference post


def test_sample_matches_golden_file(sample):
    article, _ = sample
    produced = CHANNEL.preview_files(article)["wechat.json"]
    golden = GOLDEN / "2026-01-24-ai-daily.wechat.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(produced, encoding="utf-8")
    assert produced == golden.read_text(encoding="utf-8")


def test_sample_is_wechat_safe_and_complete(sample):
    article, post = sample
    audit = assert_wechat_safe(article, post, "引用链接")
    assert audit.references("引用链接") == {"https://t.me/ai_news_plus": (1, "@ai_news_plus")}
    assert article.images == ("https://ssl.aicode.cc/mweb/20251226/17667324077992.jpg",)
    assert len(article.content) < CONTENT_CHAR_LIMIT
    assert 0 < len(article.digest) <= DIGEST_LIMIT
    assert [h for h, _ in post.sections if h] == [h for h in audit.headings if h != "引用链接"]
    for node in walk(post.tree):
        if node.type == "paragraph":
            assert squash(paragraph_text(node.children[0])) in squash(audit.text)
    assert "想第一时间获取最新内容？" in audit.text
    assert CHANNEL.checks(article, SETTINGS) == []


def test_sample_fields(sample):
    article, post = sample
    assert article.title == post.title
    assert article.author == ""
    assert article.content_source_url == post.url
    assert article.thumb == post.cover_image
    # summary points joined with the CJK separator, cut after a whole point
    assert article.digest.startswith(post.summary[0] + "；" + post.summary[1])
    assert article.digest.endswith("…")
    assert article.content.startswith("<section style=") and article.content.endswith("</section>")
    assert "line-height:1.75" in article.content and "#3f3f3f" in article.content


def test_render_is_deterministic():
    first = CHANNEL.preview_files(CHANNEL.render(load_post(SAMPLE, SETTINGS), SETTINGS))
    second = CHANNEL.preview_files(CHANNEL.render(load_post(SAMPLE, SETTINGS), SETTINGS))
    assert first == second
    english = [CHANNEL.preview_files(render(ENGLISH_POST)[0]) for _ in range(2)]
    assert english[0] == english[1]


def test_render_leaves_the_shared_post_tree_alone():
    post = parse_post(ENGLISH_POST, name="post.md", settings=SETTINGS)
    before = [(n.type, dict(n.attrs), n.content) for n in walk(post.tree)]
    CHANNEL.render(post, SETTINGS)
    assert [(n.type, dict(n.attrs), n.content) for n in walk(post.tree)] == before


def test_preview_json_and_page(sample):
    article, _ = sample
    data = CHANNEL.preview_json(article)
    assert set(data) == {"title", "author", "digest", "content", "content_source_url", "thumb", "images"}
    files = CHANNEL.preview_files(article)
    assert set(files) == {"wechat.json", "wechat.html"}
    assert json.loads(files["wechat.json"]) == data
    assert "\\u" not in files["wechat.json"]  # raw UTF-8, as WeChat wants it
    page = files["wechat.html"]
    assert article.content in page
    assert "<h1 class=\"rich_media_title\">AI商业化加速与人形机器人量产元年开启</h1>" in page
    assert re.search(r"max-width:\s*3[7-9]\d|max-width:\s*4[01]\d", page)
    assert "阅读原文" in page and article.content_source_url in page
    assert "No cover image" not in page
    assert f"{len(visible_text(article.content)):,} characters of text (WeChat takes fewer than 20,000)" in page


def test_preview_page_without_cover_or_author_says_so():
    article, _ = render("---\ntitle: <Tag> & co\n---\nbody\n")
    page = CHANNEL.preview_files(article)["wechat.html"]
    assert "A plain cover in the theme colour" in page and "&lt;Tag&gt; &amp; co" in page and "<Tag>" not in page
    assert 'class="author"' not in page


# ---------------------------------------------------------------------------------------------
# An English post with every construct


def test_english_post_is_wechat_safe():
    article, post = render(ENGLISH_POST)
    audit = assert_wechat_safe(article, post, "References")
    references = audit.references("References")
    assert references["https://tokio.rs/blog/tokio-2"] == (1, "link to Tokio")  # de-duplicated by URL
    long_url = "https://example.org/a/very/long/url/that/goes/on/and/on/and/on?with=query&and=more#fragment"
    assert references[long_url][1] == ""  # text equal to the URL: `[n]: url`
    assert long_url in audit.text  # and shown as plain text
    assert references["https://blog.example.com/about"][1] == "relative page"
    assert audit.anchors == ["https://mp.weixin.qq.com/s/abc123"]
    assert "https://mp.weixin.qq.com/s/abc123" not in references
    assert "anchor" in audit.text
    assert "引用链接" not in audit.headings
    # an SVG WeChat can neither take nor convert: its alt text, referenced, instead of a broken image
    assert article.images == ("https://cdn.example.com/img/build.png", "https://cdn.example.com/img/icon.png")
    assert "https://cdn.example.com/img/logo.svg" in references and "vector logo" in audit.text
    assert article.digest == "Tokio 2.0 lands with a new scheduler. uv replaces pip for most of our builds."
    assert article.author == "Jane Doe"


def test_lists_keep_order_and_move_nested_lists_out_of_items():
    article, _ = render(ENGLISH_POST)
    audit = Audit(article.content)
    items = [b for b in audit.blocks if b[:1] in "123•◦▪"]
    assert items[:6] == ["1. First point", "2. Second point with nested:", "◦ nested bold item",
                         "◦ nested item with code", "1. deep one", "3. Third point With a second paragraph."]
    assert items[6:] == ["• one", "◦ two", "• three"]
    assert not re.search(r"<li[^>]*>(?:(?!</li>).)*<(ul|ol)\b", article.content)


def test_code_blocks_keep_whitespace_and_escape():
    article, _ = render(ENGLISH_POST)
    pre = re.search(r"<pre style=\"([^\"]*)\">(.*?)</pre>", article.content).groups()
    assert "white-space:pre" in pre[0] and "overflow-x:auto" in pre[0] and "monospace" in pre[0]
    code = re.sub(r"<span[^>]*>|</span>", "", pre[1])  # a python fence is highlighted: its text, uncoloured
    assert "&nbsp;" * 8 + 'print(f"hi&nbsp;&nbsp;{name} &lt;&amp;&gt;")' in code and '<span style="color:#' in pre[1]
    assert "<code style=" in article.content and "a &lt; b &amp;&amp; c" in article.content


def test_tables_blockquotes_and_raw_html_are_styled_inline():
    article, _ = render(ENGLISH_POST)
    assert re.search(r'<th style="[^"]*border:1px solid[^"]*text-align:right;?">Speed</th>', article.content)
    assert re.search(r'<blockquote style="[^"]*border-left:4px solid', article.content)
    assert "cta" not in article.content and "join" not in article.content and "color:red" not in article.content


def test_chinese_post_references_and_digest():
    article, post = render(CHINESE_POST)
    audit = assert_wechat_safe(article, post, "引用链接")
    # the bare URL is a link too (linkify), referenced after the written one
    assert audit.references("引用链接") == {"https://openai.com/blog": (1, "官方博客"), "https://example.com/plain": (2, "")}
    assert len(article.digest) <= DIGEST_LIMIT and article.digest.endswith("…")
    joined = "；".join(post.summary)
    head = article.digest[:-1]
    assert joined.startswith(head) and joined[len(head)] in "；，"


def test_channel_overrides_for_title_author_digest():
    text = CHINESE_POST.replace("---\n## 第一节", "channels:\n  wechat:\n    title: 短标题\n"
                                "    author: 编辑部\n    digest: 自定义摘要\n---\n## 第一节")
    article, _ = render(text)
    assert (article.title, article.author, article.digest) == ("短标题", "编辑部", "自定义摘要")


# ---------------------------------------------------------------------------------------------
# Checks


def test_the_english_post_is_publishable_as_written():
    article, _ = render(ENGLISH_POST)
    assert CHANNEL.checks(article, SETTINGS) == []  # a webp cover is converted at send time; the SVG is a reference


def test_checks_report_every_refusal():
    long_title = "A title that is far too long for a WeChat Official Account article"
    text = (f"---\ntitle: {long_title}\n"
            "url: https://example.com/p?" + "q" * 1100 + "\nchannels:\n  wechat:\n    author: An author name longer than "
            "sixteen\n    digest: " + "d" * 200
            + "\n---\n![svg](https://x.example/a.svg) ![dyn](https://x.example/render?id=1) "
            "![data](data:image/png;base64,AAAA) ![ok](https://x.example/a.jpg) ![wx](https://x.example/i?wx_fmt=png)\n")
    article, _ = render(text)
    problems = "\n".join(CHANNEL.checks(article, SETTINGS))
    assert f"{len(long_title)} characters; WeChat allows at most {TITLE_LIMIT}" in problems and "45003" in problems
    assert "author is 34 characters; WeChat allows at most 16" in problems
    assert "digest is 200 characters; WeChat allows at most 128" in problems and "45004" in problems
    assert "cover" not in problems  # the first body image a cover can be made from stands in
    assert article.thumb == "https://x.example/render?id=1"
    assert "a.svg" not in problems  # shown as its alt text and a reference
    assert "render?id=1" not in problems  # no format in the URL: the sender reads it from the bytes
    assert "a.jpg" not in problems and "wx_fmt" not in problems
    assert "data:image/png;base64,AAAA is not an http(s) URL" in problems
    assert "content_source_url) is 1,122 bytes; WeChat allows at most 1,024" in problems


def test_checks_flag_content_over_the_limits():
    article, _ = render("---\ntitle: 长文\ncoverImage: https://x.example/c.png\n---\nbody\n")
    body = "".join(f"<p>第 {i} 段：" + "很长的内容" * 40 + "</p>" for i in range(200))
    problems = CHANNEL.checks(dataclasses.replace(article, content=body), SETTINGS)
    assert len(problems) == 1 and f"text is {len(visible_text(body)):,} characters" in problems[0]
    assert "45002" in problems[0] and "20,000" in problems[0]


def test_checks_flag_a_bad_cover():
    article, _ = render("---\ntitle: t\ncoverImage: https://x.example/c.svg\n---\nbody\n")
    assert CHANNEL.checks(article, SETTINGS) == [
        "The cover image https://x.example/c.svg is SVG; WeChat covers must be JPG, PNG, GIF or BMP up to "
        "10 MB. Use a .jpg or .png cover."]


@pytest.mark.parametrize("url, expected", [
    ("https://a.example/x.JPEG", "jpg"), ("https://a.example/x.png?v=2", "png"),
    ("https://mmbiz.qpic.cn/abc/640?wx_fmt=webp", "webp"), ("https://a.example/x", None),
    ("https://a.example/x.php?id=1", None), ("https://a.example/%E5%9B%BE.gif", "gif"),
    ("https://img.shields.io/github/stars/example/app", "svg"),  # a badge: SVG without an extension
])
def test_image_format_from_url(url, expected):
    assert image_format(url) == expected


def test_truncate_at_boundary():
    assert truncate_at_boundary("short", 10) == "short"
    text = "alpha beta gamma delta epsilon"
    cut = truncate_at_boundary(text, 20)
    assert cut == "alpha beta gamma…" and len(cut) <= 20
    assert truncate_at_boundary("x" * 50, 20) == "x" * 19 + "…"


# ---------------------------------------------------------------------------------------------
# Properties: for any Markdown-ish text nothing forbidden comes out and all text survives

WORD_ALPHABET = ("abcXYZ019 中文字测试テスト한글éß🎉<>&\"'*_`[]()!#-~|\\/.:;，。")
words = st.text(alphabet=WORD_ALPHABET, min_size=1, max_size=12).filter(lambda w: w.strip())
inline_piece = st.one_of(
    words,
    words.map(lambda w: f"**{w}**"),
    words.map(lambda w: f"*{w}*"),
    words.map(lambda w: f"`{w}`"),
    st.tuples(words, st.sampled_from(["https://a.example/x", "https://mp.weixin.qq.com/s/1", "/rel",
                                      "#frag", "mailto:a@b.example"])).map(lambda t: f"[{t[0]}]({t[1]})"),
    words.map(lambda w: f"![{w}](https://img.example/{len(w)}.png)"),
    st.just("<https://auto.example/path?q=1&r=2>"),
    st.just("<span class=\"x\" style=\"color:red\">styled</span>"),
)
line = st.lists(inline_piece, min_size=1, max_size=6).map(" ".join)
block = st.one_of(
    line,
    line.map(lambda t: f"## {t}"),
    line.map(lambda t: f"### {t}"),
    st.lists(line, min_size=1, max_size=3).map(lambda items: "\n".join(f"- {i}" for i in items)),
    st.tuples(line, line).map(lambda t: f"1. {t[0]}\n   - {t[1]}\n2. after"),
    line.map(lambda t: f"> {t}"),
    line.map(lambda t: f"```\n{t}\n  indented\n```"),
    line.map(lambda t: f"<div class=\"c\" id=\"i\"><p>{t}</p></div>"),
    st.just("| a | b |\n|---|---|\n| 1 | [x](https://t.example) |"),
    st.just("---"),
)
summaries = st.lists(st.text(alphabet=WORD_ALPHABET, min_size=1, max_size=60).filter(lambda s: s.strip()),
                     max_size=8)


def in_order(needle: str, haystack: str) -> bool:
    """Every character of needle appears in haystack, in the same order."""
    rest = iter(haystack)
    return all(ch in rest for ch in needle)


@hypothesis_settings(max_examples=150, deadline=None)
@given(blocks=st.lists(block, min_size=1, max_size=8), summary=summaries)
def test_any_markdown_renders_safely_and_keeps_its_text(blocks, summary):
    body = "Intro.\n\n" + "\n\n".join(blocks)
    text = f"---\ntitle: T\nsummary: {json.dumps(summary, ensure_ascii=False)}\n---\n{body}\n"
    article, post = render(text)
    audit = Audit(article.content)
    assert audit.problems == []
    assert not audit.stack
    assert all(urlsplit(href).hostname == "mp.weixin.qq.com" for href in audit.anchors)
    content_text = squash(audit.text)
    for node in walk(post.tree):
        if node.type == "paragraph":
            wanted = squash(paragraph_text(node.children[0]))
            if any(child.type == "image" for child in node.children[0].children):
                assert in_order(wanted, content_text)  # an image's alt shows twice: alt and caption
            else:
                assert wanted in content_text
    assert len(article.digest) <= DIGEST_LIMIT
    assert CHANNEL.render(post, SETTINGS) == article
