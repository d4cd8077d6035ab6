"""The email holds in Outlook and in inbox previews: every image has a pixel width (from the post,
a ?w= hint or the size cache, never the network at render), WebP and SVG are named for Outlook for
Windows, the parts go base64 when that is shorter with every recipient's values intact, and the
preheader follows the post's own description. Fixtures are small posts in the shapes real sites
write (Jekyll, Hugo, Pelican, Docusaurus; link lists under H3/H4; many images; tables of images)."""
from __future__ import annotations

import html
import http.server
import io
import json
import re
import socket
import subprocess
import sys
import threading
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from channels.email.channel import CHANNEL
from channels.email.image_sizes import (MAX_ENTRIES, ImageSizes, cache_path, learn_image_sizes, post_image_urls,
                                        read_cache, url_hint)
from channels.email.message import HTML_SLOTS, TEXT_SLOTS
from channels.email.transfer import b64_body, qp_body
from publisher.config import load_settings
from publisher.image_fetch import FetchedImage
from publisher.post import parse_post

ROOT = Path(__file__).resolve().parent.parent
UNSUB = "https://news.example.org/unsubscribe/tok-1"
IMG = re.compile(r"<img\b[^>]*>")

JEKYLL = """---
layout: post
title: "Field notes: a week of photos"
date: 2026-03-02 08:00:00 +0100
description: "Five photos from the coast, and the tools behind them."
---
The week in pictures.

![Harbour at dawn](https://cdn.example.org/photos/harbour.jpg)
{: .wide }

![Thumbnail](https://cdn.example.org/photos/boat.jpg?w=300)

- A list item with a wide picture ![Rope](https://cdn.example.org/photos/rope.jpg)

> A quoted picture ![Gull](https://cdn.example.org/photos/gull.jpg)

| Before | After | Notes |
|---|---|---|
| ![b](https://cdn.example.org/t/before.jpg) | ![a](https://cdn.example.org/t/after.jpg) | [the recipe](/recipes/1) |
"""

HUGO = """+++
title = "Release 2.0"
date = 2026-03-05T09:00:00Z
cover = "https://img.example.net/covers/release.png?w=1200&h=630"
summary = "What changed in 2.0 and how to upgrade."
+++
Upgrade notes below.
"""

DOCUSAURUS = """---
title: アーキテクチャ図の読み方
slug: /blog/architecture
date: 2026-02-10
---
この記事では構成図を説明します。

<img src="/img/diagram.png" width="800" height="400" alt="構成図">

<p>小さなアイコン <img src="https://cdn.example.jp/icon.png" width="32"> も使います。</p>
"""

LINK_LIST = "Title: 每周链接 第 30 期\nDate: 2026-01-31\nSummary: 本期二十条链接。\n\n" + "".join(
    f"### {i}. 项目 {i}\n\n#### 简介\n\n![截图 {i}](https://shots.example.cn/{i}.png) 说明文字 [链接](https://example.cn/{i})。\n\n"
    for i in range(1, 21))

PELICAN_ESSAY = "Title: 关于大模型推理成本的长文\nDate: 2026-02-14\nCategory: 分析\n\n" + "".join(
    f"## 第{i}节\n\n" + "推理成本的下降来自硬件、软件和模型结构三方面的共同进步，" * 12 + "\n\n" for i in range(1, 9))

FORMATS = """---
title: Formats
date: 2026-01-01
---
![a](https://cdn.example.org/pic.webp) ![b](https://cdn.example.org/logo.svg)
![c](https://imgix.example.org/photo.jpg?fm=webp&w=400) ![d](https://cdn.example.org/ok.png?w=100)

<img src="https://cdn.example.org/raw.SVG" width="40">
"""


@pytest.fixture
def home(tmp_path):
    return tmp_path


def make_settings(home: Path, sizes: dict | None = None, **extra):
    if sizes is not None:
        (home / "image-sizes.json").write_text(json.dumps(sizes), encoding="utf-8")
    return load_settings({"PUBLISHER_OUTBOX_DIR": str(home / "outbox"),
                          "PUBLISHER_SITE_URL": "https://news.example.org", **extra})


def render(text: str, settings, name="post.md"):
    return CHANNEL.render(parse_post(text, name=name, settings=settings), settings)


def images(document: str) -> dict[str, str]:
    return {re.search(r'src="([^"]+)"', tag).group(1): tag for tag in IMG.findall(document)}


def width(tag: str) -> int:
    return int(re.search(r'\swidth="(\d+)"', tag).group(1))


def height(tag: str) -> int | None:
    found = re.search(r'\sheight="(\d+)"', tag)
    return int(found.group(1)) if found else None


# --- 1. every image has a pixel width -------------------------------------------------------------
def test_every_image_gets_a_pixel_width_from_the_cache_capped_by_its_room(home):
    sizes = {"https://cdn.example.org/photos/harbour.jpg": [1600, 900],
             "https://cdn.example.org/photos/rope.jpg": [2000, 1000],
             "https://cdn.example.org/photos/gull.jpg": [400, 300],
             "https://cdn.example.org/t/before.jpg": [800, 800], "https://cdn.example.org/t/after.jpg": [90, 60]}
    settings = make_settings(home, sizes)
    payload = render(JEKYLL, settings)
    found = images(payload.html)
    assert len(found) == 6 and all(re.search(r'\swidth="\d+"', tag) for tag in found.values())
    harbour = found["https://cdn.example.org/photos/harbour.jpg"]
    assert (width(harbour), height(harbour)) == (544, 306)  # the text column, height in proportion
    assert width(found["https://cdn.example.org/photos/boat.jpg?w=300"]) == 300  # the CDN hint
    assert height(found["https://cdn.example.org/photos/boat.jpg?w=300"]) is None
    assert (width(found["https://cdn.example.org/photos/rope.jpg"]),
            height(found["https://cdn.example.org/photos/rope.jpg"])) == (520, 260)  # less the list indent
    assert (width(found["https://cdn.example.org/photos/gull.jpg"]),
            height(found["https://cdn.example.org/photos/gull.jpg"])) == (400, 300)  # never enlarged
    assert width(found["https://cdn.example.org/t/before.jpg"]) == 544 // 3 - 20  # its column's share
    assert (width(found["https://cdn.example.org/t/after.jpg"]), height(found["https://cdn.example.org/t/after.jpg"])) \
        == (90, 60)
    assert payload.unsized_images == () and CHANNEL.checks(payload, settings) == [] == CHANNEL.notes(payload, settings)
    assert "max-width:100%" in harbour and "height:auto" in harbour  # other clients still shrink on phones


def test_the_cover_is_at_most_600_wide_from_its_hint_and_html_images_keep_their_own_size(home):
    settings = make_settings(home, {})
    cover = images(render(HUGO, settings).html)["https://img.example.net/covers/release.png?w=1200&amp;h=630"]
    assert (width(cover), height(cover)) == (600, 315)
    payload = render(DOCUSAURUS, settings)
    found = images(payload.html)
    diagram = found["https://news.example.org/img/diagram.png"]  # the relative source resolved for mail
    assert (width(diagram), height(diagram)) == (544, 272) and 'alt="構成図"' in diagram
    assert width(found["https://cdn.example.jp/icon.png"]) == 32
    assert payload.unsized_images == ()


def test_images_of_unknown_size_are_named_in_one_check_line(home):
    settings = make_settings(home)
    payload = render(LINK_LIST, settings)
    assert len(payload.unsized_images) == 20 and all(width(t) == 544 for t in images(payload.html).values())
    lines = [p for p in CHANNEL.notes(payload, settings) if "no known pixel size" in p]
    assert not [p for p in CHANNEL.checks(payload, settings) if "pixel size" in p]  # advice, never blocking
    assert len(lines) == 1
    assert lines[0].startswith("20 images have no known pixel size, so Outlook for Windows")
    assert "'https://shots.example.cn/1.png'" in lines[0] and "and 17 more" in lines[0]
    assert str(cache_path(settings)) in lines[0] and str(home / "image-sizes.json") in lines[0]
    assert CHANNEL.preview_json(payload)["unsized_images"][:2] == ["https://shots.example.cn/1.png",
                                                                   "https://shots.example.cn/2.png"]


def test_render_never_opens_a_connection_and_render_modules_import_no_http_or_imaging(home, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("render tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    settings = make_settings(home)
    for post in (JEKYLL, HUGO, DOCUSAURUS, LINK_LIST, FORMATS):
        render(post, settings)
    script = ("import sys; import channels.email.channel, channels.email.image_sizes, channels.email.headers, "
              "channels.email.transfer; bad = {'requests', 'PIL', 'urllib3', 'sqlalchemy'} & set(sys.modules); "
              "print(sorted(bad))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_size_hints_and_a_damaged_or_odd_cache(home):
    assert url_hint("https://x.example/a.jpg?w=800") == (800, None)
    assert url_hint("https://x.example/a.jpg?width=640&height=480") == (640, 480)
    assert url_hint("https://x.example/a.jpg?w=0") is None and url_hint("https://x.example/a.jpg?w=wide") is None
    assert url_hint("https://x.example/a.jpg?w=99999") is None and url_hint("https://x.example/a.jpg") is None
    path = home / "image-sizes.json"
    path.write_text("{not json", encoding="utf-8")
    assert read_cache(path) == {}
    path.write_text(json.dumps({"https://a/1.png": [10, 20], "https://a/2.png": "big", "https://a/3.png": [0, 5],
                                "https://a/4.png": [1, 2, "PNG"]}), encoding="utf-8")
    assert read_cache(path) == {"https://a/1.png": (10, 20), "https://a/4.png": (1, 2)}
    sizes = ImageSizes({"https://a/1.png": (10, 20)})
    assert sizes.attributes("https://a/1.png", 544) == ' width="10" height="20"'
    assert sizes.attributes("data:image/png;base64,AAAA", 544) == ' width="544"' and not sizes.unsized


def test_post_image_urls_lists_what_the_email_shows_once_each(home):
    settings = make_settings(home)
    urls = post_image_urls(parse_post(DOCUSAURUS + "\n![again](https://cdn.example.jp/icon.png)\n", name="p.md",
                                      settings=settings))
    assert urls == ["https://news.example.org/img/diagram.png", "https://cdn.example.jp/icon.png"]
    hugo = parse_post(HUGO, name="p.md", settings=settings)
    assert post_image_urls(hugo) == ["https://img.example.net/covers/release.png?w=1200&h=630"]


# --- learning sizes (deliver side) ----------------------------------------------------------------
def test_learn_image_sizes_fills_the_cache_once_and_the_check_clears(home):
    from channels.errors import PermanentError

    settings = make_settings(home)
    post = parse_post(LINK_LIST, name="p.md", settings=settings)
    calls = []

    def fake_fetch(url, settings):
        calls.append(url)
        if url.endswith("/13.png"):
            raise PermanentError(f"image {url}: HTTP 404; check the URL in the post")
        return FetchedImage(url, b"", "PNG", (1088, 544))

    learned = learn_image_sizes(post_image_urls(post), settings, fetch=fake_fetch)
    assert len(calls) == 20 and set(learned.failed) == {"https://shots.example.cn/13.png"}
    assert "404" in learned.failed["https://shots.example.cn/13.png"] and len(learned.sizes) == 19
    payload = CHANNEL.render(post, settings)
    assert payload.unsized_images == ("https://shots.example.cn/13.png",)
    assert all(width(tag) == 544 and height(tag) == 272 for src, tag in images(payload.html).items()
               if not src.endswith("/13.png"))
    again = learn_image_sizes(post_image_urls(post), settings, fetch=fake_fetch)
    assert len(calls) == 21 and len(again.sizes) == 19  # only the one that failed is tried again
    assert len(read_cache(cache_path(settings))) == 19


def test_learn_image_sizes_keeps_the_newest_entries_and_leaves_no_temporary_files(home, monkeypatch):
    import channels.email.image_sizes as module

    monkeypatch.setattr(module, "MAX_ENTRIES", 5)
    settings = make_settings(home)
    fetch = lambda url, settings: FetchedImage(url, b"", "PNG", (10, 10))  # noqa: E731
    learn_image_sizes([f"https://a.example/{i}.png" for i in range(4)], settings, fetch=fetch)
    learn_image_sizes([f"https://a.example/{i}.png" for i in range(4, 8)], settings, fetch=fetch)
    assert list(read_cache(cache_path(settings))) == [f"https://a.example/{i}.png" for i in range(3, 8)]
    assert [p.name for p in home.iterdir()] == ["image-sizes.json"]
    assert MAX_ENTRIES >= 1000


class _PNGServer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (321, 123), "white").save(buffer, "PNG")
        body = buffer.getvalue()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_learn_image_sizes_measures_through_the_one_image_fetcher(home):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PNGServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/chart.png"
    try:
        refused = learn_image_sizes([url], make_settings(home))  # loopback: refused by the fetcher's rules
        assert url in refused.failed and "internal address" in refused.failed[url]
        learned = learn_image_sizes([url], make_settings(home, PUBLISHER_ALLOW_PRIVATE_FETCH="1"))
    finally:
        server.shutdown()
    assert learned.sizes == {url: (321, 123)} and not learned.failed


# --- 2. formats Outlook for Windows does not show -------------------------------------------------
def test_webp_and_svg_images_are_named_for_outlook(home):
    settings = make_settings(home, {"https://cdn.example.org/pic.webp": [10, 10],
                                    "https://cdn.example.org/logo.svg": [10, 10]})
    problems = CHANNEL.notes(render(FORMATS, settings), settings)
    outlook = [p for p in problems if "Outlook for Windows does not show" in p]
    assert len(outlook) == 4, problems
    assert any("'https://cdn.example.org/pic.webp' is WebP" in p for p in outlook)
    assert any("'https://imgix.example.org/photo.jpg?fm=webp&w=400' is WebP" in p for p in outlook)
    assert any("'https://cdn.example.org/logo.svg' is SVG" in p and "Gmail" in p for p in outlook)
    assert any("'https://cdn.example.org/raw.SVG' is SVG" in p for p in outlook)
    assert not any("ok.png" in p for p in problems)


# --- 3. the compact encoding ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chinese(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("zh"))
    return CHANNEL.render(parse_post(PELICAN_ESSAY, name="zh.md", settings=settings), settings)


def test_cjk_goes_base64_and_is_far_smaller_than_quoted_printable(chinese):
    assert chinese.html_encoding == "base64"
    assert chinese.html_part_bytes < 0.75 * len(qp_body(chinese.html, HTML_SLOTS))
    raw = chinese.example_message()
    message = message_from_bytes(raw, policy=policy.default)
    assert [p["Content-Transfer-Encoding"] for p in message.iter_parts()] == ["base64", "base64"]


def test_the_shorter_encoding_wins_for_every_fixture(home):
    settings = make_settings(home)
    chosen = set()
    for post in (JEKYLL, HUGO, DOCUSAURUS, LINK_LIST, FORMATS, PELICAN_ESSAY):
        payload = render(post, settings)
        chosen.add(payload.html_encoding)
        quoted, based = len(qp_body(payload.html, HTML_SLOTS)), len(b64_body(payload.html, html=True))
        assert payload.html_part_bytes == min(quoted, based)
        assert payload.html_encoding == ("base64" if based < quoted else "quoted-printable")
        for part in ("plain", "html"):
            assert message_from_bytes(payload.example_message(), policy=policy.default).get_body((part,))
    assert chosen == {"base64", "quoted-printable"}  # markup-heavy issues stay QP, CJK prose goes base64


addresses = st.emails().filter(lambda a: len(a) <= 254)
tokens = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~&=?%", min_size=1, max_size=300)


@hyp_settings(max_examples=150, deadline=None)
@given(address=addresses, token=tokens)
def test_each_recipients_values_survive_the_base64_parts_exactly(chinese, address, token):
    url = f"https://news.example.org/unsubscribe/{token}"
    raw = chinese.personalize(to_email=address, unsubscribe_url=url)
    head, body = raw.split(b"\r\n\r\n", 1)
    assert raw.isascii() and max(len(line) for line in body.split(b"\r\n")) <= 76
    message = message_from_bytes(raw, policy=policy.default)
    wire = message["To"].addresses[0].addr_spec
    text = message.get_body(("plain",)).get_content()
    rich = message.get_body(("html",)).get_content()
    assert text == chinese.text.replace("%%PUB:TO_EMAIL%%", wire).replace("%%PUB:UNSUBSCRIBE_URL%%", url)
    assert rich == chinese.html.replace("%%PUB:TO_EMAIL%%", html.escape(wire)).replace(
        "%%PUB:UNSUBSCRIBE_URL%%", html.escape(url))


def test_recipients_share_everything_before_the_footer(chinese):
    first = chinese.personalize(to_email="a@example.com", unsubscribe_url=UNSUB)
    second = chinese.personalize(to_email="someone.else@example.org", unsubscribe_url=UNSUB + "-and-more")
    first, second = (m[m.index(b"Content-Type: text/html"):] for m in (first, second))
    prefix = next(i for i, (x, y) in enumerate(zip(first, second)) if x != y)
    assert prefix > 10_000 and len(first) - prefix < 2500  # only the footer is encoded per recipient
    assert b"%%PUB:" not in first + second


def test_quoted_printable_stays_for_a_part_where_it_is_shorter():
    document = "Plain English text without much markup.\n" * 40 + "Unsubscribe: %%PUB:UNSUBSCRIBE_URL%%\n"
    assert len(qp_body(document, TEXT_SLOTS)) < len(b64_body(document, html=False))
    settings = load_settings({})
    payload = CHANNEL.render(parse_post("---\ntitle: Plain\ndate: 2026-01-01\n---\n" + document.replace(
        "%%PUB:UNSUBSCRIBE_URL%%", "below"), name="p.md", settings=settings), settings)
    message = message_from_bytes(payload.example_message(), policy=policy.default)
    assert message.get_body(("plain",))["Content-Transfer-Encoding"] == "quoted-printable"


# --- 4. the preheader ---------------------------------------------------------------------------------
@pytest.mark.parametrize("front, expected", [
    ("description: From the description.\nsummary: [One point, Two points]\nchannels:\n  email:\n"
     "    preheader: Chosen by hand.", "Chosen by hand."),
    ("description: From the description.\nsummary: [One point, Two points]", "From the description."),
    ("excerpt: An excerpt, as Jekyll names it.", "An excerpt, as Jekyll names it."),
    ("summary: [One point, Two points]", "One point; Two points"),
    ("tags: [x]", "The first paragraph of the post."),
])
def test_preheader_order(home, front, expected):
    settings = make_settings(home)
    payload = render(f"---\ntitle: P\ndate: 2026-01-01\n{front}\n---\nThe first paragraph of the post.\n\nMore.\n",
                     settings)
    assert payload.preheader == expected
    assert f">{html.escape(expected, quote=False)}" in payload.html  # the hidden preview div opens with it


def test_hugo_text_summary_and_long_descriptions_are_shortened_for_the_preview(home):
    settings = make_settings(home)
    assert render(HUGO, settings).preheader == "What changed in 2.0 and how to upgrade."
    long = "word " * 100
    payload = render(f"---\ntitle: P\ndate: 2026-01-01\ndescription: {long}\n---\nBody.\n", settings)
    assert len(payload.preheader) <= 140 and payload.preheader.endswith("…")
    assert render(JEKYLL, settings).preheader == "Five photos from the coast, and the tools behind them."


def test_a_summary_written_as_prose_reads_as_a_paragraph_and_points_as_a_list(home):
    settings = make_settings(home)
    prose = render("---\ntitle: T\nsummary: This week we look at queues, retries and exactly-once delivery.\n---\nBody.\n",
                   settings)
    box = prose.html[prose.html.index('class="summary"'):prose.html.index('<div class="post"')]
    assert "<li" not in box and ">This week we look at queues, retries and exactly-once delivery.</p>" in box
    assert "\nThis week we look at queues" in prose.text and "- This week" not in prose.text
    points = render("---\ntitle: T\nsummary:\n  - Queues\n  - Retries\n---\nBody.\n", settings)
    assert re.search(r"<li[^>]*>Queues</li>", points.html) and "- Queues\n- Retries" in points.text
