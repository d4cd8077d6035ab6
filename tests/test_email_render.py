"""Email renderer: golden files for the sample, MIME structure parsed back, escaping, personalisation.

Regenerate the golden files with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_email_render.py`.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import string
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from channels.email.channel import CHANNEL
from channels.email.limits import GMAIL_CLIP_BYTES, TEXT_WIDTH
from channels.email.message import EmailPayload
from publisher.config import load_settings
from publisher.errors import PostError
from publisher.post import load_post, parse_post

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"
GOLDEN = Path(__file__).resolve().parent / "golden" / "email"
UNSUB = "https://example.com/unsubscribe/tok-123"

ENGLISH = """---
title: "Weekly Notes: Rust, RAG & <Tables>"
date: 2026-02-03T09:30:00+01:00
category: Engineering
author: Jane Doe
summary:
  - Why we moved the parser to Rust
  - A tiny RAG benchmark 🚀
channels:
  email:
    subject: "Weekly Notes #12 — Rust & RAG"
    preheader: "Rust, retrieval and a table of numbers"
---
Intro paragraph with a [relative link](/archive "Archive") and an autolink <https://example.org/a?b=1&c=2>.
Second line with **bold words**, *italic words*, ~~struck words~~ and `inline <code>`.

## Parser in Rust

![Benchmark chart](https://cdn.example.org/chart.png "Chart")

1. First step
2. Second step
   - nested bullet with a very long URL https://example.org/this/is/a/very/long/path/that/should/never/be/broken/across/lines?with=query&and=more
   - another nested bullet
3. Third step

> A quote that says something profound about software,
> spanning two lines.

```python
def hello(name: str) -> str:
    return f"Hello {name} <b>"
```

## Numbers & Tables

| Tool | Speed |
|:-----|------:|
| old  | 1x    |
| new  | 12x 🚀 |

---

Final words with a hard break  
after it, and an image ![tiny](img/tiny.png) with a relative source.

<p>Raw <b>HTML</b> with <a href="https://example.org/raw">a raw link</a></p>
"""

HOSTILE = """---
title: Hostile
date: 2026-03-01
---
Hello <span onclick="steal()">there</span> <script>alert('inline')</script> friend.

<style>.evilcss { color: red }</style>

<iframe src="https://evil.example/frame"></iframe>

<div onmouseover="alert('div')"><img src="https://example.org/x.png" onerror="alert('img')"> text</div>

<a href="javascript:alert('href')">raw js link</a>

[markdown js link](javascript:alert('md'))

<script>
document.write("block script")
</script>
"""


SAMPLE_SIZES = {  # what learn_image_sizes would have measured for the sample's two images
    "https://ssl.aicode.cc/n8n/2026/01-23/23-32-57-OKxQrA9I.png": [1280, 720],
    "https://ssl.aicode.cc/mweb/20251226/17667324077992.jpg": [258, 258],
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    home = tmp_path_factory.mktemp("email-render")
    (home / "image-sizes.json").write_text(json.dumps(SAMPLE_SIZES), encoding="utf-8")
    return load_settings({"PUBLISHER_OUTBOX_DIR": str(home / "outbox")})


@pytest.fixture(scope="module")
def sample_post(settings):
    return load_post(SAMPLE, settings)


@pytest.fixture(scope="module")
def sample(sample_post, settings) -> EmailPayload:
    return CHANNEL.render(sample_post, settings)


@pytest.fixture(scope="module")
def english_settings(settings):
    return load_settings({
        "PUBLISHER_OUTBOX_DIR": settings.outbox_dir,
        "PUBLISHER_EMAIL_FROM": "编辑部 <news@example.com>",
        "PUBLISHER_EMAIL_UNSUBSCRIBE_MAILTO": "unsubscribe@example.com",
        "PUBLISHER_EMAIL_LIST_ID": "Weekly Notes <weekly.example.com>",
        "PUBLISHER_EMAIL_REPLY_TO": "Jane <jane@example.com>",
    })


@pytest.fixture(scope="module")
def english(english_settings) -> EmailPayload:
    return CHANNEL.render(parse_post(ENGLISH, name="en.md", settings=english_settings), english_settings)


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def parts_of(message):
    plain, rich = list(message.iter_parts())
    return plain.get_content().replace("\r\n", "\n"), rich.get_content().replace("\r\n", "\n")


class _Hrefs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.hrefs += [value for name, value in attrs if name == "href"]


def hrefs_of(document: str) -> list[str]:
    collector = _Hrefs()
    collector.feed(document)
    return collector.hrefs


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
        return
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert actual == path.read_bytes().decode("utf-8"), f"{name} differs from its golden file"


# --- the sample ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, attribute", [("subject.txt", "subject"), ("text.txt", "text"),
                                             ("html.html", "html")])
def test_sample_matches_golden_files(sample, name, attribute):
    value = getattr(sample, attribute)
    check_golden(name, value + "\n" if name == "subject.txt" else value)


def test_sample_full_message_matches_golden_file(sample):
    check_golden("message.eml", CHANNEL.preview_files(sample)["email.eml"])


def test_personalized_message_parses_back_with_every_header(sample, sample_post):
    raw = sample.personalize(to_email="li.lei@example.org", to_name="李雷", unsubscribe_url=UNSUB)
    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    for part in message.iter_parts():
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "base64"  # Chinese: base64 is the shorter
        assert not part.defects
    assert not message.defects
    assert message["From"].addresses[0].addr_spec == "newsletter@example.com"
    assert message["To"].addresses[0].addr_spec == "li.lei@example.org"
    assert message["To"].addresses[0].display_name == "李雷"
    assert str(message["Subject"]) == sample_post.title
    assert message["Date"].datetime == sample_post.date
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", message["Message-ID"])
    assert message["MIME-Version"] == "1.0"
    assert message["List-Unsubscribe"] == f"<{UNSUB}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Precedence"] == "bulk"
    assert message["Reply-To"] is None and message["List-Id"] is None
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        assert not message[name].defects, name
    text, rich = parts_of(message)
    assert f"退订：{UNSUB}" in text and "li.lei@example.org" in text
    assert UNSUB in hrefs_of(rich) and sample_post.url in hrefs_of(rich)


def test_message_is_seven_bit_with_crlf_and_short_lines(sample):
    raw = sample.personalize(to_email="a@example.com", to_name="A" * 200, unsubscribe_url=UNSUB + "x" * 500)
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    head, body = raw.split(b"\r\n\r\n", 1)
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # quoted-printable and base64 limit
    assert UNSUB + "x" * 500 in parts_of(parse(raw))[0]


def test_chinese_subject_is_rfc2047_encoded(sample, sample_post):
    raw = sample.personalize(to_email="a@example.com", unsubscribe_url=UNSUB)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    subject_lines = re.search(r"^Subject: .*?(?=\r\n\S)", head, re.M | re.S).group(0)
    assert "=?utf-8?b?" in subject_lines
    assert all(len(line) <= 78 for line in subject_lines.split("\r\n"))
    assert str(parse(raw)["Subject"]) == sample_post.title


def test_every_section_heading_is_in_html_and_text(sample, sample_post):
    headings = [heading for heading, _ in sample_post.sections if heading]
    assert len(headings) == 10
    for heading in headings:
        assert html.escape(heading, quote=False) in sample.html
        assert f"{heading}\n-" in sample.text


def test_summary_title_and_raw_html_block_are_in_both_parts(sample, sample_post):
    for point in sample_post.summary:
        assert "<li" in sample.html and point in sample.html
        assert f"- {point}" in sample.text
    assert '<div class="raw-html"' in sample.html
    assert 'src="https://ssl.aicode.cc/mweb/20251226/17667324077992.jpg"' in sample.html
    assert "@ai_news_plus (https://t.me/ai_news_plus)" in sample.text
    assert sample_post.cover_image in sample.html


def test_sample_html_is_under_gmail_clip_and_passes_checks(sample, settings):
    assert sample.html_part_bytes < GMAIL_CLIP_BYTES
    raw = sample.personalize(to_email="a@example.com", unsubscribe_url=UNSUB)
    html_part = raw.split(b'Content-Type: text/html; charset="utf-8"')[1]
    assert len(html_part) < GMAIL_CLIP_BYTES
    assert CHANNEL.checks(sample, settings) == []


def test_render_is_deterministic(settings):
    first = CHANNEL.render(load_post(SAMPLE, settings), settings)
    second = CHANNEL.render(load_post(SAMPLE, settings), settings)
    assert first == second
    assert first.template == second.template
    kwargs = dict(to_email="a@example.com", to_name="甲", unsubscribe_url=UNSUB)
    assert first.personalize(**kwargs) == second.personalize(**kwargs)


def test_responsive_and_dark_mode_rules_survive_inlining(sample):
    style = re.findall(r"<style[^>]*>(.*?)</style>", sample.html, re.S)
    assert len(style) == 1
    assert "@media only screen and (max-width: 620px)" in style[0]
    assert "prefers-color-scheme: dark" in style[0] and "!important" in style[0]
    assert re.search(r'<p style="margin:0 0 16px 0">', sample.html)  # CSS was inlined
    assert 'class="preheader"' in sample.html and sample.preheader[:20] in sample.html


# --- escaping and sanitising --------------------------------------------------------------------
def test_post_scripts_styles_iframes_and_handlers_never_reach_the_message(settings):
    payload = CHANNEL.render(parse_post(HOSTILE, name="hostile.md", settings=settings), settings)
    for part in (payload.html, payload.text):
        for handler_code in ("alert('inline')", "alert('div')", "alert('img')", "alert('href')"):
            assert handler_code not in part
        assert "document.write" not in part and "steal()" not in part
        assert "evilcss" not in part and "<iframe" not in part.lower() and "evil.example" not in part
        assert "<script" not in part.lower()
    assert not re.search(r"\son[a-z]+\s*=", payload.html, re.I)
    assert not [href for href in hrefs_of(payload.html) if not href.startswith(("http", "mailto:", "%%PUB:"))]
    assert "[markdown js link](javascript:alert('md'))" in payload.html  # inert, escaped text
    assert len(re.findall(r"<style", payload.html)) == 1  # the template's own @media sheet only
    assert "friend." in payload.html and "there" in payload.html


def test_text_is_escaped_in_html(english):
    assert "Weekly Notes: Rust, RAG &amp; &lt;Tables&gt;" in english.html
    assert "<code" in english.html and "inline &lt;code&gt;</code>" in english.html
    assert "&lt;Tables&gt;" not in english.text and "<Tables>" in english.text


def test_reserved_placeholder_text_in_a_post_is_refused(settings):
    post = parse_post("# T\n\nSee %%PUB:UNSUBSCRIBE_URL%% here.", name="r.md", settings=settings)
    with pytest.raises(PostError, match="reserved"):
        CHANNEL.render(post, settings)


# --- an English post with every block kind ------------------------------------------------------
def test_english_html_has_every_block_kind(english):
    page = english.html
    assert "<ol" in page and re.search(r"<li[^>]*>Second step\s*<ul", page)
    code = re.sub(r"<span[^>]*>|</span>", "", page)  # a python fence is highlighted: its text, uncoloured
    assert "<blockquote" in page and "<pre" in page and "def hello(name: str) -&gt; str:" in code
    assert "<table" in page and 'align="right"' in page and "<hr" in page
    assert "<strong>bold words</strong>" in page and "<em>italic words</em>" in page
    assert "<s>struck words</s>" in page
    assert 'href="https://example.com/archive"' in page  # relative links resolve against the post URL
    assert 'src="https://example.com/img/tiny.png"' in page
    assert 'src="https://cdn.example.org/chart.png"' in page and 'alt="Benchmark chart"' in page
    assert "<br>" in page and "🚀" in page
    assert english.subject == "Weekly Notes #12 — Rust & RAG"
    assert english.preheader == "Rust, retrieval and a table of numbers"


def test_english_text_part_reads_well(english):
    text = english.text
    assert text.startswith("Weekly Notes: Rust, RAG & <Tables>\n==================================\n")
    assert "In this issue:\n- Why we moved the parser to Rust\n- A tiny RAG benchmark 🚀" in text
    assert "relative link (https://example.com/archive)" in text
    assert "autolink https://example.org/a?b=1&c=2." in text
    assert "1. First step\n2. Second step\n   - nested bullet with a very long URL\n" in text
    assert "\n     https://example.org/this/is/a/very/long/path/that/should/never/be/broken/across/" \
           "lines?with=query&and=more\n" in text
    assert "   - another nested bullet\n3. Third step" in text
    assert "> A quote that says something profound about software, spanning two\n> lines." in text
    assert '    def hello(name: str) -> str:\n        return f"Hello {name} <b>"' in text
    assert "[Benchmark chart] (https://cdn.example.org/chart.png)" in text
    assert "Tool | Speed\n-----+-------\nold  | 1x\nnew  | 12x 🚀" in text
    assert "Numbers & Tables\n----------------" in text
    assert "hard break\nafter it" in text
    assert "~~struck words~~" in text
    assert "a raw link (https://example.org/raw)" in text
    assert "Unsubscribe: %%PUB:UNSUBSCRIBE_URL%%" in text


def test_english_headers_follow_settings(english):
    raw = english.personalize(to_email="reader@example.net", unsubscribe_url=UNSUB)
    lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert (f"List-Unsubscribe: <{UNSUB}>, <mailto:unsubscribe@example.com?subject=unsubscribe>".encode()
            in lines)  # one line: no folding for a relay to re-fold under DKIM
    message = parse(raw)
    assert message["List-Id"] == "Weekly Notes <weekly.example.com>"
    assert message["Reply-To"].addresses[0].addr_spec == "jane@example.com"
    assert message["From"].addresses[0].display_name == "编辑部"
    assert b"From: =?utf-8?b?" in raw
    assert message["Date"].datetime == dt.datetime(2026, 2, 3, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert message["To"].addresses[0].addr_spec == "reader@example.net"


def test_latin_text_wraps_at_72_and_cjk_never_starts_a_line_with_closing_punctuation(english, sample):
    for line in english.text.splitlines():
        if len(line) > TEXT_WIDTH:
            assert " " not in line.strip().lstrip("-> ").strip(), line  # only unbreakable words overflow
    closing = tuple("，。、；：！？）」』》")
    for line in sample.text.splitlines():
        assert not line.startswith(closing), line
        if "http" not in line:
            width = sum(2 if ord(c) > 0x2E7F else 1 for c in line)
            assert width <= TEXT_WIDTH, line


# --- personalisation ----------------------------------------------------------------------------
def test_long_chinese_display_name_is_split_into_valid_encoded_words(sample):
    name = "欧阳" + "长名字测试" * 8
    raw = sample.personalize(to_email="ouyang@example.com", to_name=name, unsubscribe_url=UNSUB)
    to_value = message_from_bytes(raw, policy=policy.compat32)["To"]
    words = re.findall(r"=\?utf-8\?b\?[A-Za-z0-9+/=]*\?=", to_value)
    assert len(words) > 1 and all(len(w) <= 75 for w in words)  # RFC 2047 section 2
    head = raw.split(b"\r\n\r\n", 1)[0]
    to_lines = re.search(rb"^To: .*?(?=\r\n\S)", head, re.M | re.S).group(0).split(b"\r\n")
    assert all(len(line) <= 76 for line in to_lines)
    phrase = to_value.rsplit("<", 1)[0]
    assert str(make_header(decode_header(phrase))) == name  # RFC decoders join adjacent words


@pytest.mark.parametrize("name", ['Doe, "Jim" \\ Jr.', "O'Brien", "Ann (work)", "=?utf-8?q?fake?=", "Zoë"])
def test_awkward_display_names_round_trip(sample, name):
    message = parse(sample.personalize(to_email="x@example.com", to_name=name, unsubscribe_url=UNSUB))
    assert message["To"].addresses[0].display_name == name
    assert not message["To"].defects


def test_header_injection_is_impossible(sample):
    message = parse(sample.personalize(to_email="x@example.com", to_name="Eve\r\nBcc: all@example.com",
                                       unsubscribe_url=UNSUB))
    assert message["Bcc"] is None and message["To"].addresses[0].display_name == "Eve Bcc: all@example.com"
    for bad in ("x@example.com\r\nBcc: all@example.com", "no-at-sign", "a b@example.com", "x@exa mple.com"):
        with pytest.raises(ValueError, match="recipient"):
            sample.personalize(to_email=bad, unsubscribe_url=UNSUB)
    for bad in (UNSUB + "\r\nBcc: x", "javascript:alert(1)", UNSUB + " x", UNSUB + ">", "https://例子.com/u"):
        with pytest.raises(ValueError, match="unsubscribe URL"):
            sample.personalize(to_email="x@example.com", unsubscribe_url=bad)
    with pytest.raises(ValueError, match="at most"):
        sample.personalize(to_email="x@example.com", unsubscribe_url=UNSUB + "x" * 1000)


def test_message_id_is_deterministic_per_recipient_and_uses_from_domain(sample):
    def message_id(address):
        return parse(sample.personalize(to_email=address, unsubscribe_url=UNSUB))["Message-ID"]

    assert message_id("a@example.com") == message_id("a@example.com") == message_id("A@Example.com")
    assert message_id("a@example.com") != message_id("b@example.com")
    assert message_id("a@example.com").endswith("@example.com>")


def test_undated_post_needs_a_date(settings):
    payload = CHANNEL.render(parse_post("# Undated\n\nBody.", name="u.md", settings=settings), settings)
    with pytest.raises(ValueError, match="no date"):
        payload.personalize(to_email="a@example.com", unsubscribe_url=UNSUB)
    when = dt.datetime(2026, 5, 4, 3, 2, 1, tzinfo=dt.timezone.utc)
    message = parse(payload.personalize(to_email="a@example.com", unsubscribe_url=UNSUB, date=when))
    assert message["Date"].datetime == when
    with pytest.raises(ValueError, match="timezone"):
        payload.personalize(to_email="a@example.com", unsubscribe_url=UNSUB, date=dt.datetime(2026, 1, 1))
    assert "Date: " in CHANNEL.preview_files(payload)["email.eml"]


safe_names = st.one_of(
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40),
    st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=60),
    st.text(string.ascii_letters + " .,'\"()\\<>@;:", max_size=80),
)
url_tokens = st.text(string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=200)


@hyp_settings(max_examples=150, deadline=None)
@given(address=st.emails().filter(lambda a: len(a) <= 254), name=safe_names, token=url_tokens,
       with_query=st.booleans())
def test_personalize_always_yields_a_valid_message_with_the_recipients_url(sample, address, name, token,
                                                                           with_query):
    url = f"https://example.com/unsubscribe/{token}" + ("?list=ai&u=1" if with_query else "")
    raw = sample.personalize(to_email=address, to_name=name, unsubscribe_url=url)
    assert raw.isascii()
    head, body = raw.split(b"\r\n\r\n", 1)
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    message = parse(raw)
    assert not message.defects and not message["To"].defects
    recipient = message["To"].addresses[0]
    assert recipient.addr_spec.lower() == address.lower()  # addresses are stored and sent in lower case
    # CPython's parser keeps the fold between adjacent encoded-words as a space; RFC 2047 drops it.
    assert "".join(recipient.display_name.split()) == "".join(name.split())
    assert message["List-Unsubscribe"] == f"<{url}>"
    text, rich = parts_of(message)
    assert f"退订：{url}\n" in text  # the sample is Chinese
    assert url in hrefs_of(rich)
    assert html.escape(address.lower()) in rich.lower() and address.lower() in text.lower()


# --- checks and previews ------------------------------------------------------------------------
def test_checks_report_each_problem_in_a_sentence():
    bad_settings = load_settings({"PUBLISHER_SITE_URL": "http://example.com",
                                  "PUBLISHER_EMAIL_FROM": "Newsletter"})
    post = parse_post(
        "---\ntitle: Checks\ndate: 2026-01-01\nchannels:\n  email:\n    subject: '" + "Long subject " * 15
        + "'\n---\n![pixel](data:image/png;base64,AAAA)\n\n" + ("长段落。" * 400 + "\n\n") * 30,
        name="c.md", settings=bad_settings)
    payload = CHANNEL.render(post, bad_settings)
    problems = CHANNEL.checks(payload, bad_settings)
    assert len(problems) == 5, problems
    for needle in ("Gmail clips", "subject is", "no email address", "not https", "not an http(s) URL"):
        assert any(needle in p for p in problems), needle
    assert all(p.endswith(".") for p in problems)


def test_preview_json_and_files(sample):
    summary = CHANNEL.preview_json(sample)
    assert summary["subject"] == sample.subject and summary["preheader"] == sample.preheader
    assert summary["html_bytes"] > 0 and summary["text_chars"] == len(sample.text)
    files = CHANNEL.preview_files(sample)
    assert set(files) == {"email.html", "email.txt", "email.eml"}
    assert "https://example.com/unsubscribe/EXAMPLE-TOKEN" in files["email.html"]
    assert "%%PUB:" not in files["email.html"] + files["email.txt"] + files["email.eml"]
    message = parse(files["email.eml"].encode("ascii"))
    assert message["To"].addresses[0].addr_spec == "reader@example.com"
    assert message["List-Unsubscribe"] == "<https://example.com/unsubscribe/EXAMPLE-TOKEN>"
