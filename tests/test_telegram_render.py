"""Telegram renderer: golden payloads, HTML rules (https://core.telegram.org/bots/api#html-style),
splitting (https://core.telegram.org/bots/api#sendmessage) and properties."""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from channels.base import Channel
from channels.telegram.channel import CHANNEL, TelegramChannel
from channels.telegram.context import allowed_url
from channels.telegram.images import link_display, numbered, telling
from channels.telegram.limits import ALLOWED_TAGS, CAPTION_LIMIT, MESSAGE_LIMIT, TABLE_MAX_WIDTH
from channels.telegram.payload import BotCall, TelegramPayload
from channels.telegram.tables import display_width, label_separator
from channels.telegram.validate import is_balanced_telegram_html, visible_length
from publisher.config import load_settings
from publisher.errors import PostError
from publisher.language import words as channel_words
from publisher.markdown import html_to_text, inline_text, walk
from publisher.post import load_post, parse_post

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"
GOLDEN = Path(__file__).resolve().parent / "golden" / "telegram"
SETTINGS = load_settings({})

ENGLISH_POST = """---
title: "Weekly Notes: Rust, <HTML> & Friends"
date: 2026-02-01
coverImage: https://example.com/cover.png
summary:
  - Rust 1.90 ships with faster builds
  - A look at async cancellation
---
Welcome back! This week: **bold _nested italic_ text**, ~~struck~~, `inline <code>` and a
[relative link](/archive/2026) plus a [mailto link](mailto:me@example.com) and a very long URL
<https://example.com/a/very/long/path/that/goes/on/and/on?with=query&and=more#fragment>. 🎉👍🏽👨‍👩‍👧

## Code

```python
def greet(name: str) -> str:
    return f"<hello> & {name}"
```

## Lists

- First item with [a link](https://example.com/first)
- Second item
  - Nested one
    - Nested two
- Third item

3. three
4. four

> A wise quote with **bold** and a [link](https://example.com/q).
>
> Second quote paragraph.

![A diagram of the pipeline](https://example.com/diagram.png)

| Tool | Stars | 中文 |
|:-----|------:|:---:|
| ruff | 30000 | 快 |
| black | 38000 | 慢慢 |

---

<p>Raw HTML with <a href="https://example.com/raw">a raw link</a><script>alert(1)</script>.</p>

Inline raw: <b>bold raw</b> <a href="https://example.com/x">raw link</a><br>after <span onclick="x()">span</span>.
"""


def make_post(text: str, name: str = "post.md"):
    return parse_post(text, name=name, settings=SETTINGS, default_slug=Path(name).stem)


def with_mode(mode: str):
    return dataclasses.replace(SETTINGS, telegram_mode=mode)


def texts(payload: TelegramPayload, method: str = "sendMessage") -> list[str]:
    field = "text" if method == "sendMessage" else "caption"
    return [call.params[field] for call in payload.calls if call.method == method]


def all_texts(payload: TelegramPayload) -> list[str]:
    """The caption of the photo (if any) and every message, in sending order."""
    return [call.params.get("caption", call.params.get("text", "")) for call in payload.calls]


class _TextCollector(HTMLParser):
    """Independent of the module: what a parser sees as text, and every tag it meets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)


def parsed(html_text: str) -> tuple[str, list[str]]:
    collector = _TextCollector()
    collector.feed(html_text)
    collector.close()
    return "".join(collector.parts), collector.tags


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_MARKUP = re.compile(r'</?(?:b|i|u|s|a|code|pre|blockquote)(?: href="[^"<>]*"| class="language-[\w#+.-]+")?>')


def assert_valid_message(html_text: str, limit: int) -> None:
    assert is_balanced_telegram_html(html_text), html_text
    text, tags = parsed(html_text)
    assert set(tags) <= ALLOWED_TAGS
    assert text.strip(), "empty message"
    assert utf16(text) <= limit
    assert visible_length(html_text) == utf16(text)
    bare = _MARKUP.sub("", html_text)
    assert "<" not in bare and ">" not in bare, bare
    assert all(re.match(r"&(lt|gt|amp|quot);", bare[m.start():]) for m in re.finditer("&", bare))


def no_ws(text: str) -> str:
    return "".join(text.split())


# --- Golden files and the sample -------------------------------------------------------------

@pytest.mark.parametrize("mode", ["full", "summary"])
def test_sample_matches_golden_file(mode):
    post = load_post(SAMPLE, SETTINGS)
    files = CHANNEL.preview_files(CHANNEL.render(post, with_mode(mode)))
    assert list(files) == ["telegram.json"]
    golden = GOLDEN / f"{SAMPLE.stem}.{mode}.telegram.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(files["telegram.json"], encoding="utf-8")
    assert files["telegram.json"] == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("mode", ["full", "summary"])
def test_sample_passes_checks_and_every_call_is_valid(mode):
    payload = CHANNEL.render(load_post(SAMPLE, SETTINGS), with_mode(mode))
    assert CHANNEL.checks(payload, SETTINGS) == []
    assert payload.mode == mode
    assert payload.calls[0].method == "sendPhoto"
    assert payload.calls[0].params["photo"].startswith("https://ssl.aicode.cc/")
    assert_valid_message(payload.calls[0].params["caption"], CAPTION_LIMIT)
    for text in texts(payload):
        assert_valid_message(text, MESSAGE_LIMIT)
    for call in payload.calls:
        assert "chat_id" not in call.params
        assert call.params["parse_mode"] == "HTML"


def test_full_mode_has_every_section_heading_in_order_and_the_link():
    post = load_post(SAMPLE, SETTINGS)
    payload = CHANNEL.render(post, with_mode("full"))
    shown = "\n".join(parsed(t)[0] for t in all_texts(payload))
    positions = [shown.find(heading) for heading, _ in post.sections if heading]
    assert len(positions) == 10 and -1 not in positions
    assert positions == sorted(positions)
    caption = payload.calls[0].params["caption"]
    # The caption holds the title and the start of the post: the first section, heading and text.
    assert caption.startswith(f"<b>{post.title}</b>\n\n<b>{post.sections[0][0]}</b>\n\nOpenAI 正在全面推进")
    assert texts(payload)[-1].endswith(f'<a href="{post.url}">阅读原文</a>')
    assert '<a href="https://t.me/ai_news_plus">@ai_news_plus</a>' in "".join(texts(payload))
    for call in payload.calls[1:]:
        assert call.params["link_preview_options"] == {"is_disabled": True}


def test_summary_mode_is_cover_title_points_and_link():
    post = load_post(SAMPLE, SETTINGS)
    payload = CHANNEL.render(post, with_mode("summary"))
    assert [c.method for c in payload.calls] == ["sendPhoto"]
    caption, _ = parsed(payload.calls[0].params["caption"])
    assert caption.startswith(post.title + "\n\n")
    assert all(f"• {point}" in caption for point in post.summary)
    assert caption.endswith("阅读原文")


def test_preview_json_shape_and_determinism():
    post = load_post(SAMPLE, SETTINGS)
    first = CHANNEL.render(post, with_mode("full"))
    again = CHANNEL.render(load_post(SAMPLE, SETTINGS), with_mode("full"))
    assert CHANNEL.preview_files(first) == CHANNEL.preview_files(again)
    data = CHANNEL.preview_json(first)
    assert list(data) == ["calls"]
    assert [sorted(c) for c in data["calls"]] == [["method", "params"]] * len(first.calls)
    assert json.loads(CHANNEL.preview_files(first)["telegram.json"]) == data
    assert CHANNEL.preview_files(first)["telegram.json"].endswith("\n")
    assert isinstance(CHANNEL, Channel) and CHANNEL.name == "telegram"


# --- The English fixture ---------------------------------------------------------------------

def test_english_fixture_renders_each_construct_as_telegram_html():
    post = make_post(ENGLISH_POST, "en.md")
    payload = CHANNEL.render(post, with_mode("full"))
    assert CHANNEL.checks(payload, SETTINGS) == []
    assert [c.method for c in payload.calls] == ["sendPhoto"]  # the whole post fits in the caption
    assert payload.calls[0].params["caption"].startswith("<b>Weekly Notes: Rust, &lt;HTML&gt; &amp; Friends</b>\n\n")
    body = "".join(all_texts(payload))
    expected_fragments = [
        "<b>bold <i>nested italic</i> text</b>",
        "<s>struck</s>",
        "<code>inline &lt;code&gt;</code>",
        '<a href="https://example.com/archive/2026">relative link</a>',
        'plus a <a href="mailto:me@example.com">mailto link</a> and',
        "&amp;and=more#fragment</a>",
        "🎉👍🏽👨\u200d👩\u200d👧",
        "<b>Code</b>",
        '<pre><code class="language-python">def greet(name: str) -&gt; str:\n'
        '    return f"&lt;hello&gt; &amp; {name}"</code></pre>',
        '• First item with <a href="https://example.com/first">a link</a>\n• Second item\n'
        "   ◦ Nested one\n      ▪ Nested two\n• Third item",
        "3. three\n4. four",
        '<blockquote>A wise quote with <b>bold</b> and a <a href="https://example.com/q">link</a>.'
        "\n\nSecond quote paragraph.</blockquote>",
        '<a href="https://example.com/diagram.png">A diagram of the pipeline</a>',
        "<pre>Tool  │ Stars │ 中文\n──────┼───────┼─────\nruff  │ 30000 │  快\nblack │ 38000 │ 慢慢</pre>",
        "\n\n———\n\n",
        'Raw HTML with <a href="https://example.com/raw">a raw link</a>.',
        '<b>bold raw</b> <a href="https://example.com/x">raw link</a>\nafter span.',
        '<a href="https://example.com/en">Read on the web</a>',
    ]
    for fragment in expected_fragments:
        assert fragment in body, fragment
    assert "alert" not in body and "onclick" not in body


NO_IMAGE_POST = (ENGLISH_POST.replace("coverImage: https://example.com/cover.png\n", "")
                 .replace("![A diagram of the pipeline](https://example.com/diagram.png)\n", ""))


def test_without_cover_the_title_opens_the_first_message():
    post = make_post(NO_IMAGE_POST, "en.md")
    payload = CHANNEL.render(post, with_mode("full"))
    assert [c.method for c in payload.calls] == ["sendMessage"]
    assert texts(payload)[0].startswith("<b>Weekly Notes: Rust, &lt;HTML&gt; &amp; Friends</b>\n\nWelcome back!")


def test_summary_without_cover_is_one_message_that_previews_the_post():
    post = make_post(NO_IMAGE_POST, "en.md")
    payload = CHANNEL.render(post, with_mode("summary"))
    assert len(payload.calls) == 1
    assert payload.calls[0].params["text"] == (
        "<b>Weekly Notes: Rust, &lt;HTML&gt; &amp; Friends</b>\n\n• Rust 1.90 ships with faster builds\n"
        '• A look at async cancellation\n\n<a href="https://example.com/en">Read on the web</a>')
    assert "link_preview_options" not in payload.calls[0].params


def test_summary_points_that_overflow_the_caption_continue_in_a_message():
    points = "".join(f"  - Point {chr(65 + i)} " + "word " * 40 + "\n" for i in range(12))
    post = make_post(f"---\ntitle: Many points\ncoverImage: https://e.com/c.png\nsummary:\n{points}---\nBody.\n")
    payload = CHANNEL.render(post, with_mode("summary"))
    assert [c.method for c in payload.calls] == ["sendPhoto", "sendMessage"]
    caption = parsed(payload.calls[0].params["caption"])[0]
    message = parsed(payload.calls[1].params["text"])[0]
    assert visible_length(payload.calls[0].params["caption"]) <= CAPTION_LIMIT
    shown = [line[2:] for line in (caption + "\n" + message).splitlines() if line.startswith("• ")]
    assert shown == list(post.summary)
    assert caption.count("•") >= 4 and message.endswith("Read on the web")
    assert CHANNEL.checks(payload, SETTINGS) == []


def test_summary_without_summary_uses_the_first_paragraph():
    post = make_post("---\ntitle: No summary\n---\nFirst *paragraph* here.\n\nSecond.\n")
    payload = CHANNEL.render(post, with_mode("summary"))
    assert parsed(payload.calls[0].params["text"])[0] == (
        "No summary\n\n• First paragraph here.\n\nRead on the web")


def test_mode_from_front_matter_wins_and_bad_mode_is_a_clear_error():
    post = make_post("---\ntitle: T\nchannels:\n  telegram:\n    mode: summary\n---\nBody text.\n")
    assert CHANNEL.render(post, with_mode("full")).mode == "summary"
    bad = make_post("---\ntitle: T\nchannels:\n  telegram:\n    mode: thread\n---\nBody.\n")
    with pytest.raises(PostError, match=r"channels.telegram.mode.*expected full or summary"):
        CHANNEL.render(bad, SETTINGS)


def test_read_more_word_follows_the_language_of_the_post():
    english = CHANNEL.render(make_post("---\ntitle: Hello\n---\nAn English post about 中文.\n"), SETTINGS)
    chinese = CHANNEL.render(make_post("---\ntitle: 你好\n---\n一篇中文文章，讲 Python 和 Rust。\n"), SETTINGS)
    assert texts(english)[-1].endswith(">Read on the web</a>")
    assert texts(chinese)[-1].endswith(">阅读原文</a>")


# --- Splitting ---------------------------------------------------------------------------------

def test_long_post_splits_between_blocks():
    paragraphs = [f"Paragraph {i}: " + " ".join(f"word{i}x{j}" for j in range(60)) + "." for i in range(40)]
    post = make_post("---\ntitle: Long\n---\n" + "\n\n".join(paragraphs) + "\n")
    payload = CHANNEL.render(post, SETTINGS)
    messages = texts(payload)
    assert len(messages) >= 5
    for message in messages:
        assert_valid_message(message, MESSAGE_LIMIT)
    for paragraph in paragraphs:
        assert sum(paragraph in m for m in messages) == 1, "a paragraph was cut although it fits"
    assert all(visible_length(m) > MESSAGE_LIMIT // 2 for m in messages[:-1])


def test_one_huge_cjk_paragraph_splits_at_sentence_ends():
    sentence = "这是一个很长的句子，用来测试分段是否发生在句号之后。"
    post = make_post("---\ntitle: 长文\n---\n" + sentence * 400 + "\n")
    messages = texts(CHANNEL.render(post, SETTINGS))
    assert len(messages) >= 3
    for message in messages:
        assert_valid_message(message, MESSAGE_LIMIT)
    for message in messages[1:-1]:
        assert message.endswith("。") and message.startswith("这是")


def test_no_space_run_longer_than_the_limit_splits_by_characters_and_keeps_them_all():
    word = "x" * 9000
    post = make_post(f"---\ntitle: Word\n---\n**{word}**\n")
    messages = texts(CHANNEL.render(post, SETTINGS))
    assert len(messages) == 3
    for message in messages[:-1]:
        assert_valid_message(message, MESSAGE_LIMIT)
        assert message.startswith("<b>") and message.endswith("</b>")
    assert "".join(parsed(m)[0] for m in messages).count("x") == 9000


def test_astral_emoji_count_as_two_units_and_are_never_cut():
    emoji = "😀" * 5000 + "👨‍👩‍👧" * 300
    post = make_post(f"---\ntitle: Emoji\n---\n{emoji}\n")
    messages = texts(CHANNEL.render(post, SETTINGS))
    shown = [parsed(m)[0] for m in messages]
    for message in messages:
        assert_valid_message(message, MESSAGE_LIMIT)
        message.encode("utf-8")  # a lone surrogate would raise here
    assert "".join(shown).count("😀") == 5000
    assert "".join(shown).count("👨‍👩‍👧") == 300
    assert all(not s.startswith("\u200d") and not s.endswith("\u200d") for s in shown)
    assert visible_length("😀") == 2 and visible_length("<b>a&amp;b</b>") == 3


def test_split_code_block_and_link_and_quote_reopen_their_tags():
    code = "\n".join(f"line_{i} = '{'<&>' * 20}'" for i in range(200))
    long_link_text = "link text " * 600
    quote = "> " + "quoted words " * 700
    post = make_post(f"---\ntitle: Tags\n---\n```js\n{code}\n```\n\n[{long_link_text}](https://e.com/l)\n\n{quote}\n")
    messages = texts(CHANNEL.render(post, SETTINGS))
    for message in messages:
        assert_valid_message(message, MESSAGE_LIMIT)
    code_messages = [m for m in messages if "line_" in m]
    link_messages = [m for m in messages if "link text" in m]
    quote_messages = [m for m in messages if "quoted words" in m]
    assert len(code_messages) >= 3 and len(link_messages) >= 2 and len(quote_messages) >= 2
    code_parts = [re.search(r'<pre><code class="language-js">(.*?)</code></pre>', m, re.S) for m in code_messages]
    assert all(code_parts)
    assert "\n".join(parsed(part.group(1))[0] for part in code_parts) == code
    assert all(m.count('<a href="https://e.com/l">') == 1 for m in link_messages)
    assert all(re.search(r"<blockquote>(quoted words ?)+</blockquote>", m) for m in quote_messages)


# --- Safety --------------------------------------------------------------------------------------

def test_script_style_and_handlers_never_reach_telegram():
    post = make_post(
        "---\ntitle: XSS <script>alert(1)</script>\ncoverImage: https://e.com/c.png\n"
        "summary: '<script>alert(2)</script> point'\n---\n"
        "<script>alert(3)</script>\n\n<div onclick=\"evil()\">x<style>p{}</style><iframe src=x></iframe></div>\n\n"
        "Inline <script>alert(4)</script> and <img src=x onerror=alert(5)>.\n\n"
        "[click](javascript:alert(6)) <a href=\"javascript:alert(7)\">too</a>\n\n"
        "```html\n<script>alert(8)</script>\n```\n")
    for mode in ("full", "summary"):
        payload = CHANNEL.render(post, with_mode(mode))
        assert CHANNEL.checks(payload, SETTINGS) == []
        sent = json.dumps(CHANNEL.preview_json(payload), ensure_ascii=False).lower()
        sent_html = " ".join(str(p.get("text", p.get("caption"))) for p in (c.params for c in payload.calls)).lower()
        for needle in ("<script", "<style", "<iframe", "<img", "<div", "onclick", "onerror"):
            assert needle not in sent, needle
        assert 'href="javascript' not in sent_html
    full = "".join(all_texts(CHANNEL.render(post, with_mode("full"))))
    assert '<pre><code class="language-html">&lt;script&gt;alert(8)&lt;/script&gt;</code></pre>' in full


# --- Checks and the validator ---------------------------------------------------------------------

def payload_of(*calls: BotCall) -> TelegramPayload:
    return TelegramPayload(tuple(calls), "full")


def message(text: str) -> BotCall:
    return BotCall("sendMessage", {"text": text, "parse_mode": "HTML"})


@pytest.mark.parametrize("call, words", [
    (message("x" * 4097), "4,097 characters"),
    (message("<b>" + "😀" * 2049 + "</b>"), "4,098 characters"),
    (BotCall("sendPhoto", {"photo": "https://e.com/p.png", "caption": "<i>" + "y" * 1025 + "</i>"}), "caption"),
    (message("<b>open"), "never closed"),
    (message("<p>para</p>"), "unsupported tag <p>"),
    (message("a & b"), "bare &"),
    (message("a&nbsp;b"), "&nbsp;"),
    (message(" \n "), "empty"),
    (BotCall("sendPhoto", {"photo": "ftp://e.com/p.png", "caption": ""}), "http(s)"),
    (message('<a href="javascript:x">x</a>'), "not http(s), tg or mailto"),
    (BotCall("sendMessage", {"text": "x", "link_preview_options": {"url": "data:image/png;base64,AA"}}), "preview"),
])
def test_checks_report_each_problem_in_a_sentence(call, words):
    problems = CHANNEL.checks(payload_of(call), SETTINGS)
    assert len(problems) == 1 and words in problems[0], problems
    assert problems[0][0].isupper() and problems[0].endswith(".")


def test_checks_accept_exactly_the_limits():
    ok = payload_of(message("x" * MESSAGE_LIMIT),
                    BotCall("sendPhoto", {"photo": "https://e.com/p", "caption": "&amp;" * CAPTION_LIMIT}))
    assert CHANNEL.checks(ok, SETTINGS) == []


@pytest.mark.parametrize("html_text, valid", [
    ("<b>bold <i>both</i></b> &lt;&gt;&amp;&quot; &#128512; &#x1F600;", True),
    ('<pre><code class="language-python">x</code></pre>', True),
    ('<a href="tg://user?id=1">u</a> <tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">s</span>', True),
    ('<a href="mailto:ed@example.com">write</a>', True),
    ("<blockquote expandable>q</blockquote>", True),
    ("<b><code>x</code></b>", True),
    ("<b><i>x</b></i>", False),
    ("<blockquote><blockquote>q</blockquote></blockquote>", False),
    ("<code><b>x</b></code>", False),
    ('<a href="https://e.com"><code>x</code></a>', False),
    ('<a href="https://e.com"><a href="https://f.com">x</a></a>', False),
    ("<pre><b>x</b></pre>", False),
    ('<code class="language-py">x</code>', False),
    ("<br>", False),
    ("<b/>", False),
    ("x > y", False),
    ("x < y", False),
    ("&amp", False),
    ("&copy;", False),
    ("<!-- c -->", False),
    ("</b>", False),
    ('<b class="x">x</b>', False),
    ('<span class="other">x</span>', False),
    ("<script>alert(1)</script>", False),
])
def test_validator_is_strict(html_text, valid):
    assert is_balanced_telegram_html(html_text) is valid


# --- Properties ------------------------------------------------------------------------------------

DECORATIONS = "•◦▪—│─┼"
TEXT_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # no digits: ordered-list numbers are ours
    "中文字测试汉语，。！？、：「」"
    "😀👍🏽👨‍👩‍👧🇨🇳é\u0301"
    "<>&\"'*_`[]()#>!-|\\~:;.,/ \n"
)
WORD_ALPHABET = TEXT_ALPHABET.replace(" ", "").replace("\n", "")
TITLE = "Tést <&> 标题 😀"

words = st.text(WORD_ALPHABET, min_size=1, max_size=12)
line_text = st.lists(words, min_size=1, max_size=12).map(" ".join)
free_text = st.text(TEXT_ALPHABET, max_size=300)
long_word = st.tuples(words, st.integers(50, 900)).map(lambda t: t[0] * t[1])
url = st.text("abcdefghijklmnopqrstuvwxyz/-._~?=&%#", max_size=40).map(lambda p: "https://example.com/" + p)

blocks = st.one_of(
    free_text,
    long_word,
    line_text.map(lambda t: "## " + t),
    st.tuples(line_text, url).map(lambda t: f"[{t[0]}]({t[1]})"),
    st.tuples(line_text, url).map(lambda t: f"![{t[0]}]({t[1]})"),
    st.tuples(line_text, line_text).map(lambda t: f"**{t[0]} *{t[1]}* `{t[1]}`**"),
    st.lists(line_text, min_size=1, max_size=5).map(lambda items: "\n".join(f"- {i}\n  - {i}" for i in items)),
    st.tuples(st.integers(0, 10**6), st.lists(line_text, min_size=1, max_size=5)).map(
        lambda t: "\n".join(f"{t[0] + n}. {item}" for n, item in enumerate(t[1]))),
    st.lists(line_text, min_size=1, max_size=4).map(lambda lines: "\n>\n".join("> " + x for x in lines)),
    st.tuples(st.sampled_from(["", "python", "c++"]), st.lists(free_text, max_size=8)).map(
        lambda t: f"```{t[0]}\n" + "\n".join(x.replace("`", "'") for x in t[1]) + "\n```"),
    st.tuples(line_text, line_text, url, line_text).map(
        lambda t: f"<div><p>{escape(t[0])}</p>\n<p><a href=\"{t[2]}\">{escape(t[1])}</a> {escape(t[3])}"
                  "<script>gone()</script></p></div>"),
    st.lists(st.tuples(words, words), min_size=1, max_size=4).map(
        lambda rows: "| a | b |\n|---|--:|\n" + "\n".join(f"| {x.replace('|', '/')} | {y.replace('|', '/')} |"
                                                          for x, y in rows)),
)
documents = st.lists(blocks, min_size=1, max_size=8).map("\n\n".join)


def _image_texts(node) -> tuple[str, str]:
    return inline_text(node), str(node.attrs.get("title") or "")


def _only_images(node) -> bool:
    kids = node.children
    return any(k.type == "image" for k in kids) and all(
        k.type in ("image", "softbreak") or (k.type == "text" and not k.content.strip()) for k in kids)


def expected_visible_text(post) -> str:
    """Every piece of text the reader must see, from the parse tree, in document order: images by
    their alt text or "Image N", a link of images only as "alt (Image N)", a link without text by
    its address, a table too wide for monospace (or with links or images) as "Header: cell" rows."""
    language = post.language
    number = itertools.count(1)

    def visit(node, out: list[str]) -> None:
        kind = node.type
        href = allowed_url(str(node.attrs.get("href", "")), post.url) if kind == "link" else None
        if kind in ("text", "code_inline"):
            out.append(node.content)
        elif kind == "image":
            n = next(number)
            out.append(telling(_image_texts(node)) or numbered(n, language))
        elif href and _only_images(node):
            images = [k for k in node.children if k.type == "image"]
            numbers = [next(number) for _ in images]
            out.append(" ".join(filter(None, (telling(_image_texts(i)) for i in images))) or link_display(href))
            kept = [numbered(n, language) for n, i in zip(numbers, images) if allowed_url(i.attrs["src"], post.url)]
            out.append(f" ({', '.join(kept)})" if kept else "")
        elif href and not inline_text(node).strip() and not any(n.type == "image" for n in walk(node)):
            out.append(link_display(href))
        elif kind == "table":
            out.extend(table_text(node))
        elif kind in ("fence", "code_block"):
            out.append(node.content)
        elif kind == "html_block":
            out.append(html_to_text(node.content))
        else:
            for child in node.children:
                visit(child, out)

    def table_text(node) -> list[str]:
        rows = []
        for section in node.children:
            for row in section.children:
                cells = []
                for cell in row.children:
                    cell_out: list[str] = []
                    visit(cell, cell_out)
                    cells.append(" ".join("".join(cell_out).split()))
                rows.append((section.type == "thead", cells))
        columns = max(len(cells) for _, cells in rows)
        widths = [max((display_width(cells[c]) for _, cells in rows if c < len(cells)), default=0)
                  for c in range(columns)]
        media = any(n.type in ("link", "image") or (n.type == "html_inline" and re.match(r"<\s*(a|img)\b", n.content))
                    for n in walk(node))
        if not media and sum(widths) + 3 * (columns - 1) <= TABLE_MAX_WIDTH:
            return [text for _, cells in rows for text in cells]
        header = rows[0][1] if rows[0][0] else []
        body = [cells for is_header, cells in rows if not is_header]
        if not body:
            return header
        separator = label_separator(language)
        return [(header[c] + separator if c < len(header) and header[c] else "") + text
                for cells in body for c, text in enumerate(cells) if text]

    out: list[str] = []
    visit(post.tree, out)
    return "".join(out)


def comparable(text: str) -> str:
    """Text without whitespace and without "N." (digits occur only in ordered-list markers)."""
    return re.sub(r"\d+\.", "", no_ws(text))


def strip_decorations(shown: str) -> str:
    return "".join(ch for ch in shown if ch not in DECORATIONS)


def post_from(body: str, cover: bool):
    front = f'---\ntitle: "{TITLE}"\n' + ("coverImage: https://e.com/c.png\n" if cover else "") + "---\n"
    return make_post(front + "Start.\n\n" + body + "\n")


PROPERTY_SETTINGS = hypothesis_settings(max_examples=150, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY_SETTINGS
@given(body=documents, limit=st.sampled_from([40, 97, 300, MESSAGE_LIMIT]), cover=st.booleans())
def test_full_mode_messages_are_valid_and_lose_or_reorder_nothing(body, limit, cover):
    post = post_from(body, cover)
    channel = TelegramChannel(message_limit=limit)
    payload = channel.render(post, SETTINGS)
    for call in payload.calls:
        if call.method == "sendPhoto":
            assert_valid_message(call.params["caption"], min(limit, CAPTION_LIMIT))
        else:
            assert_valid_message(call.params["text"], limit)
    assert channel.checks(payload, SETTINGS) == []
    if cover:
        assert payload.calls[0].method == "sendPhoto" and payload.calls[0].params["photo"] == "https://e.com/c.png"

    shown = "\n".join(parsed(text)[0] for text in all_texts(payload))
    assert shown.startswith(TITLE)
    shown = shown[len(TITLE):]
    read_more = channel_words(post.language)["read_more"]
    assert shown.endswith(read_more)
    shown = shown[: -len(read_more)]
    assert comparable(strip_decorations(shown)) == comparable(expected_visible_text(post))


@PROPERTY_SETTINGS
@given(body=documents, points=st.lists(line_text, max_size=30), cover=st.booleans(),
       limit=st.sampled_from([60, 200, MESSAGE_LIMIT]))
def test_summary_mode_calls_are_valid(body, points, cover, limit):
    summary = "".join(f"  - '{p.replace(chr(39), chr(39) * 2)}'\n" for p in points)
    front = f'---\ntitle: "{TITLE}"\n' + ("coverImage: https://e.com/c.png\n" if cover else "")
    front += ("summary:\n" + summary if points else "") + "---\n"
    post = make_post(front + "Intro.\n\n" + body + "\n")
    channel = TelegramChannel(message_limit=limit, caption_limit=min(limit, CAPTION_LIMIT))
    payload = channel.render(post, with_mode("summary"))
    assert channel.checks(payload, SETTINGS) == []
    for call in payload.calls:
        if call.method == "sendPhoto":
            assert_valid_message(call.params["caption"], channel.caption_limit)
        else:
            assert_valid_message(call.params["text"], limit)
    shown = "".join(parsed(call.params.get("caption", call.params.get("text", "")))[0] for call in payload.calls)
    points = post.summary or ("Intro.",)
    expected = TITLE + "".join(points) + channel_words(post.language)["read_more"]
    assert no_ws(shown.replace("•", "")) == no_ws(expected)


@hypothesis_settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=400))
def test_any_text_in_a_paragraph_is_escaped_and_balanced(text):
    post = make_post("---\ntitle: Any\n---\nStart.\n\n" + text + "\n")
    for mode in ("full", "summary"):
        payload = TelegramChannel(message_limit=64).render(post, with_mode(mode))
        for call in payload.calls:
            body = call.params.get("text", call.params.get("caption"))
            assert is_balanced_telegram_html(body), body
            assert visible_length(body) <= 64
            assert "<script" not in body.lower()
