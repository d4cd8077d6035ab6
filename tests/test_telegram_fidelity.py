"""Telegram renderer fidelity: every link and image of a post reaches the channel, and the post
reads well there: the cover (else the first image) as the photo or as the large link preview
(https://core.telegram.org/bots/api#linkpreviewoptions), images labelled by their alt text or
number, tables with links as rows, headings never left at the end of a message, mailto: and raw
HTML links kept."""
from __future__ import annotations

import html
import re
from html import escape

from hypothesis import HealthCheck, example, given, settings as hypothesis_settings, strategies as st

from channels.telegram.channel import CHANNEL, TelegramChannel
from channels.telegram.context import allowed_url
from channels.telegram.html_runs import tag_attributes
from channels.telegram.limits import CAPTION_LIMIT, MESSAGE_LIMIT
from channels.telegram.validate import is_balanced_telegram_html, visible_length
from publisher.markdown import html_images, html_links, walk
from tests.test_telegram_render import SETTINGS, all_texts, assert_valid_message, make_post, parsed, with_mode

FULL = with_mode("full")
PREVIEW = {"prefer_large_media": True, "show_above_text": True}


def render(text: str, name: str = "post.md", mode: str = "full", limit: int = MESSAGE_LIMIT):
    post = make_post(text, name)
    channel = TelegramChannel(message_limit=limit)
    payload = channel.render(post, with_mode(mode))
    assert channel.checks(payload, SETTINGS) == []
    for call in payload.calls:
        field, bound = ("caption", min(limit, CAPTION_LIMIT)) if call.method == "sendPhoto" else ("text", limit)
        assert_valid_message(call.params[field], bound)
    return post, payload


def shown(payload) -> list[str]:
    return [parsed(text)[0] for text in all_texts(payload)]


def hrefs(payload) -> list[str]:
    """Every address a reader can open: links of every text, the photo, the link preview."""
    found = [html.unescape(h) for text in all_texts(payload) for h in re.findall(r'<a href="([^"]*)">', text)]
    for call in payload.calls:
        if call.method == "sendPhoto":
            found.append(call.params["photo"])
        preview = call.params.get("link_preview_options") or {}
        if preview.get("url"):
            found.append(preview["url"])
    return found


def source_urls(post) -> set[str]:
    """Every link and image address of the source that Telegram can open."""
    urls: set[str] = set()
    for node in walk(post.tree):
        if node.type == "link":
            urls.add(str(node.attrs.get("href", "")))
        elif node.type == "image":
            urls.add(str(node.attrs.get("src", "")))
        elif node.type == "html_inline":
            attrs = tag_attributes(node.content)
            urls.update(attrs[key] for key in ("href", "src") if key in attrs)
        elif node.type == "html_block":
            urls.update(href for _, href in html_links(node.content))
            urls.update(html_images(node.content))
    return {absolute for url in urls if (absolute := allowed_url(url, post.url))}


# --- The picture of the post ------------------------------------------------------------------

JEKYLL_EN = """---
layout: post
title: "The Friday Build #87"
date: 2026-03-06 09:00:00 +0100
image: /assets/87/cover.jpg
---
This week we shipped the new importer, and fixed the slow search everybody wrote in about.

## What shipped

The importer reads CSV and JSON. ![](/assets/87/importer.png)

## Reading

- [Designing data importers](https://blog.example.org/importers)
- [Search that feels instant](https://blog.example.org/search)
"""


def test_cover_is_the_photo_and_its_caption_holds_the_title_and_the_start():
    post, payload = render(JEKYLL_EN, "2026-03-06-friday-build.md")
    assert [c.method for c in payload.calls] == ["sendPhoto"]
    call = payload.calls[0]
    assert call.params["photo"] == "https://example.com/assets/87/cover.jpg"
    assert call.params["caption"].startswith("<b>The Friday Build #87</b>\n\nThis week we shipped")
    assert '<a href="https://example.com/assets/87/importer.png">Image 1</a>' in call.params["caption"]


def test_a_caption_too_small_for_the_post_leaves_the_rest_to_messages_starting_with_a_group():
    post, payload = render(JEKYLL_EN, "2026-03-06-friday-build.md", limit=160)
    assert payload.calls[0].method == "sendPhoto"
    caption, *messages = shown(payload)
    assert caption.startswith("The Friday Build #87\n\nThis week we shipped")
    assert messages[0].startswith("What shipped\n\nThe importer reads")
    assert all(c.params["link_preview_options"] == {"is_disabled": True} for c in payload.calls[1:])


HUGO_ZH = """+++
title = "本周开源精选 第 42 期"
date = 2026-03-02T08:00:00+08:00
lang = "zh"
+++
![](/images/42/banner.png)

本期收录了几个有意思的项目，欢迎投稿：<editor@example.cn>。

### [fastdb](https://github.com/example/fastdb)

一个用 Rust 写的嵌入式数据库。![图片](https://img.example.cn/a.png)

### [小工具](https://example.cn/tool)

![image-20230612103036485](https://img.example.cn/b.png)
"""


def test_without_cover_the_first_image_is_the_photo_and_is_not_repeated():
    post, payload = render(HUGO_ZH, "42.md")
    assert post.cover_image is None
    (call,) = payload.calls
    assert call.method == "sendPhoto" and call.params["photo"] == "https://example.com/images/42/banner.png"
    text = call.params["caption"]
    assert text.startswith("<b>本周开源精选 第 42 期</b>\n\n本期收录了几个有意思的项目")
    assert "banner.png" not in text  # it is the photo; the other images keep their place in the count
    assert '<a href="https://img.example.cn/a.png">图片 2</a>' in text
    assert '<a href="https://img.example.cn/b.png">图片 3</a>' in text
    assert '<a href="mailto:editor@example.cn">editor@example.cn</a>' in text
    assert text.endswith('<a href="https://example.com/42">阅读原文</a>')


LONG_START = ("Our yearly report opens with a long look back. " * 30).strip()


def test_a_long_start_without_cover_shows_the_first_image_as_the_large_preview_above_the_text():
    post, payload = render(f"---\ntitle: The year in review\n---\n{LONG_START}\n\n"
                           "![Team photo](https://cdn.example.com/team.jpg)\n\nThanks for reading.\n")
    assert [c.method for c in payload.calls] == ["sendMessage"]
    params = payload.calls[0].params
    assert params["link_preview_options"] == {"url": "https://cdn.example.com/team.jpg", **PREVIEW}
    assert params["text"].startswith("<b>The year in review</b>\n\nOur yearly report")
    assert '<a href="https://cdn.example.com/team.jpg">Team photo</a>' in params["text"]


def test_only_the_first_message_carries_the_preview():
    body = "\n\n".join(f"Paragraph {i}. " + "words " * 150 for i in range(12))
    post, payload = render(f"---\ntitle: Long\n---\n{LONG_START}\n\n![](https://cdn.example.com/a.jpg)\n\n{body}\n")
    assert len(payload.calls) >= 3 and all(c.method == "sendMessage" for c in payload.calls)
    assert payload.calls[0].params["link_preview_options"]["url"] == "https://cdn.example.com/a.jpg"
    assert all(c.params["link_preview_options"] == {"is_disabled": True} for c in payload.calls[1:])


def test_a_cover_with_a_long_start_stays_the_photo_with_the_title_and_what_fits_of_the_start():
    post, payload = render(f"---\ntitle: The year in review\ncover: https://cdn.example.com/c.jpg\n---\n"
                           f"{LONG_START}\n\nSecond paragraph.\n")
    photo, message = payload.calls
    caption = parsed(photo.params["caption"])[0]
    assert photo.params["photo"] == "https://cdn.example.com/c.jpg"
    assert caption.startswith("The year in review\n\nOur yearly report") and caption.endswith("look back.")
    assert visible_length(photo.params["caption"]) <= CAPTION_LIMIT
    rest = parsed(message.params["text"])[0]
    assert rest.startswith("Our yearly report") and rest.endswith("Read on the web")
    assert " ".join((caption.split("\n\n", 1)[1] + " " + rest).split()).startswith(LONG_START)


def test_summary_mode_uses_the_first_image_when_there_is_no_cover():
    post, payload = render(HUGO_ZH, "42.md", mode="summary")
    (call,) = payload.calls
    assert call.method == "sendPhoto" and call.params["photo"] == "https://example.com/images/42/banner.png"
    assert parsed(call.params["caption"])[0].endswith("阅读原文")


# --- Images in the text ---------------------------------------------------------------------------

def forty_images() -> str:
    lines = ["---", "title: Photo diary, week 12", "date: 2026-03-20", "---",
             "A week in pictures from the workshop floor.", ""]
    for i in range(1, 41):
        if i % 10 == 1:
            lines += [f"## Day {i // 10 + 1}", ""]
        alt = f"Bench {i} before sanding" if i % 3 == 0 else ("image" if i % 5 == 0 else "")
        lines += [f"![{alt}](https://cdn.example.org/w12/{i:02d}.jpg)", ""]
        if i % 4 == 0:
            lines += [f"Notes for shot {i}: the grain came out " + "nicely " * 60, ""]
    return "\n".join(lines)


def test_forty_images_each_keep_their_address_and_a_label_of_their_own():
    post, payload = render(forty_images(), "w12.md")
    assert payload.calls[0].method == "sendPhoto"
    assert payload.calls[0].params["photo"] == "https://cdn.example.org/w12/01.jpg"
    links = [(html.unescape(h), label) for text in all_texts(payload)
             for h, label in re.findall(r'<a href="([^"]*)">([^<]*)</a>', text)]
    images = [(h, label) for h, label in links if "/w12/" in h]
    assert [h for h, _ in images] == [f"https://cdn.example.org/w12/{i:02d}.jpg" for i in range(1, 41)]
    labels = [label for _, label in images]
    assert len(set(labels)) == 40 and "Image" not in labels
    assert labels[2] == "Bench 3 before sanding" and labels[4] == "Image 5" and labels[0] == "Image 1"
    # Images in a row share a block, one line each, instead of forty paragraphs.
    assert ('<a href="https://cdn.example.org/w12/01.jpg">Image 1</a>\n'
            '<a href="https://cdn.example.org/w12/02.jpg">Image 2</a>\n') in "".join(all_texts(payload))


def test_images_in_every_language_are_numbered_in_its_words_never_bare():
    japanese = ("---\ntitle: 週刊フロントエンド通信\nlang: ja\n---\n今週のまとめです。\n\n"
                "![画像](https://example.jp/1.png) ![](https://example.jp/2.png \"Vite 6 のロゴ\")\n\n"
                "<img src=\"https://example.jp/3.png\" alt=\"IMG_2041.JPG\">\n")
    _, payload = render(japanese, "ja.md")
    text = "".join(all_texts(payload))
    assert '<a href="https://example.jp/1.png">画像 1</a>' in text
    assert '<a href="https://example.jp/2.png">Vite 6 のロゴ</a>' in text
    assert '<a href="https://example.jp/3.png">画像 3</a>' in text
    english = "---\ntitle: Shots\n---\nIntro.\n\n![image](https://e.com/1.png)\n\n![Screenshot](https://e.com/2.png)\n"
    text = "".join(all_texts(render(english)[1]))
    assert ">Image 1</a>" in text and ">Image 2</a>" in text and ">Image</a>" not in text


def test_an_image_inside_a_link_keeps_both_addresses():
    _, payload = render("---\ntitle: Badges\n---\nStatus: [![Build status](https://ci.example.com/badge.svg)]"
                        "(https://ci.example.com/run/1) and [![](https://e.com/logo.png)](https://sponsor.example.com/).\n"
                        "\nAlso [docs ![icon](https://e.com/i.png)](https://docs.example.com).\n")
    text = "".join(all_texts(payload))
    assert ('<a href="https://ci.example.com/run/1">Build status</a> '
            '(<a href="https://ci.example.com/badge.svg">Image 1</a>)') in text
    assert ('<a href="https://sponsor.example.com/">sponsor.example.com</a> '
            '(<a href="https://e.com/logo.png">Image 2</a>)') in text
    assert '<a href="https://docs.example.com">docs </a><a href="https://e.com/i.png">icon</a>' in text


def test_a_link_without_text_shows_its_address():
    _, payload = render("---\ntitle: Empty\n---\nSee [](https://example.com/path/) and <a href=\"https://x.example\"></a>.\n")
    text = "".join(all_texts(payload))
    assert '<a href="https://example.com/path/">example.com/path</a>' in text
    assert '<a href="https://x.example">x.example</a>' in text


# --- Tables ----------------------------------------------------------------------------------------

def test_a_table_with_links_and_images_becomes_rows_that_keep_them():
    _, payload = render("---\ntitle: Tools\n---\nOur picks.\n\n| Tool | Site | Logo |\n|---|---|---|\n"
                        "| ruff | [docs](https://docs.astral.sh/ruff/) | ![ruff logo](https://e.com/ruff.png) |\n"
                        "| uv | <a href=\"https://docs.astral.sh/uv/\">docs</a> | ![](https://e.com/uv.png) |\n")
    text = "".join(all_texts(payload))
    assert ('• Tool: ruff — Site: <a href="https://docs.astral.sh/ruff/">docs</a> — '
            'Logo: <a href="https://e.com/ruff.png">ruff logo</a>\n'
            '• Tool: uv — Site: <a href="https://docs.astral.sh/uv/">docs</a> — '
            'Logo: <a href="https://e.com/uv.png">Image 2</a>') in text
    assert "<pre>" not in text


def test_a_narrow_plain_table_stays_monospace_and_a_wide_one_becomes_rows():
    narrow = "---\ntitle: T\n---\nIntro.\n\n| Tool | Stars |\n|---|--:|\n| ruff | 30000 |\n"
    assert "<pre>Tool │ Stars\n─────┼──────\nruff │ 30000</pre>" in "".join(all_texts(render(narrow)[1]))
    wide = ("---\ntitle: 对比\nlang: zh\n---\n简介。\n\n| 工具 | 说明 | 许可证 |\n|---|---|---|\n"
            "| Vite | 高速的前端构建工具，开发服务器启动很快 | MIT |\n| 空 |  | Apache-2.0 |\n")
    text = "".join(all_texts(render(wide)[1]))
    assert "• 工具：Vite — 说明：高速的前端构建工具，开发服务器启动很快 — 许可证：MIT\n• 工具：空 — 许可证：Apache-2.0" in text


# --- Headings ----------------------------------------------------------------------------------------

def link_list_issue() -> str:
    lines = ["---", "title: Python Weekly Digest 301", "---", "Hand-picked links for this week.", ""]
    for section in ("Articles", "Projects", "Jobs"):
        lines += [f"## {section}", ""]
        for i in range(1, 9):
            lines += [f"#### [{section} item {i}: a longer title](https://example.net/{section.lower()}/{i})", "",
                      f"Summary of {section.lower()} {i}. " + "It explains the thing in detail. " * (i % 4 + 1), ""]
        lines += [f"**More {section.lower()}**", "", f"See the [archive](https://example.net/{section.lower()}).", ""]
    return "\n".join(lines)


def test_in_a_link_list_issue_no_message_ends_with_a_heading():
    post, payload = render(link_list_issue(), limit=600)
    headings = {" ".join(n.children[0].content.split()) for n in walk(post.tree) if n.type == "inline"
                and n.parent and n.parent.type == "heading"}
    headings |= {f"More {s}" for s in ("articles", "projects", "jobs")} | {post.title}
    texts = shown(payload)
    assert len(texts) >= 5
    for text in texts[:-1]:
        assert text.rsplit("\n\n", 1)[-1] not in headings, text
    assert sorted(set(hrefs(payload))) == sorted(source_urls(post) | {post.url})


# --- mailto: and raw HTML ------------------------------------------------------------------------------

def test_mailto_links_are_kept_from_markdown_autolinks_and_raw_html():
    _, payload = render("---\ntitle: Contact\n---\nWrite to [the editor](mailto:ed@example.com), <tips@example.com>,"
                        " <a href=\"mailto:ads@example.com?subject=Ads\">ads</a>.\n\n"
                        "<p>Or <a href=\"mailto:hi@example.com\">say hi</a>.</p>\n")
    text = "".join(all_texts(payload))
    for fragment in ('<a href="mailto:ed@example.com">the editor</a>',
                     '<a href="mailto:tips@example.com">tips@example.com</a>',
                     '<a href="mailto:ads@example.com?subject=Ads">ads</a>',
                     '<a href="mailto:hi@example.com">say hi</a>'):
        assert fragment in text, fragment
    assert is_balanced_telegram_html('<a href="mailto:a@b.c">a</a>')
    assert not is_balanced_telegram_html('<a href="javascript:alert(1)">a</a>')


def test_raw_html_keeps_every_link_and_image_at_its_place():
    block = ('<div class="card"><p>Read <a href="https://e.com/a">here</a> or here: '
             '<a href="https://e.com/b">here</a>.</p>\n'
             '<a href="https://e.com/c"><img src="https://e.com/c.png" alt="Course banner"></a>\n'
             '<figure><img src="https://e.com/d.png"><figcaption>Figure 4: the pipeline</figcaption></figure>\n'
             '<ul><li><b>One</b> <a href="https://e.com/1">first</a></li><li>Two</li></ul></div>')
    post, payload = render(f"---\ntitle: Card\n---\nIntro.\n\n{block}\n")
    text = "".join(all_texts(payload))
    assert ('Read <a href="https://e.com/a">here</a> or here: <a href="https://e.com/b">here</a>.\n'
            '<a href="https://e.com/c">Course banner</a> (<a href="https://e.com/c.png">Image 1</a>)\n'
            '<a href="https://e.com/d.png">Figure 4: the pipeline</a>\n'
            '• <b>One</b> <a href="https://e.com/1">first</a>\n• Two') in text
    assert source_urls(post) <= set(hrefs(payload))


# --- Properties -----------------------------------------------------------------------------------------

WORD = st.text("abcdefghijklmnopqrstuvwxyzé中文字かな", min_size=1, max_size=9)
LINE = st.lists(WORD, min_size=1, max_size=10).map(" ".join)
PATH = st.text("abcdefghijklmnopqrstuvwxyz0123456789/-._~?=&%#", max_size=24)
URL = st.one_of(PATH.map(lambda p: "https://example.com/" + p), PATH.map(lambda p: "/local/" + p),
                st.sampled_from(["mailto:ed@example.com", "tg://resolve?domain=example", "javascript:alert(1)",
                                 "data:image/png;base64,AAAA"]))
IMG = st.tuples(st.sampled_from(["", "image", "A chart", "图片", "IMG_20.png"]), URL).map(
    lambda t: f"![{t[0]}]({t[1]})")

INLINE = st.one_of(
    LINE,
    st.tuples(LINE, URL).map(lambda t: f"[{t[0]}]({t[1]})"),
    URL.map(lambda u: f"[]({u})"),
    IMG,
    st.tuples(IMG, URL).map(lambda t: f"[{t[0]}]({t[1]})"),
    st.tuples(LINE, IMG, URL).map(lambda t: f"[{t[0]} {t[1]}]({t[2]})"),
    st.just("<ed@example.com>"),
    st.tuples(LINE, URL).map(lambda t: f'<a href="{escape(t[1])}">{escape(t[0])}</a>'),
    URL.map(lambda u: f'<img src="{escape(u)}" alt="x">'),
)
PARAGRAPH = st.lists(INLINE, min_size=1, max_size=6).map(" ".join)
CELL = st.one_of(WORD, INLINE.map(lambda x: x.replace("|", "/")))
BLOCK = st.one_of(
    PARAGRAPH,
    PARAGRAPH.map(lambda p: "> " + p),
    st.lists(PARAGRAPH, min_size=1, max_size=4).map(lambda items: "\n".join(f"- {i}" for i in items)),
    st.lists(st.tuples(CELL, CELL), min_size=1, max_size=4).map(
        lambda rows: "| a | b |\n|---|---|\n" + "\n".join(f"| {x} | {y} |" for x, y in rows)),
    st.tuples(LINE, URL, URL).map(
        lambda t: f'<div><p><a href="{escape(t[1])}">{escape(t[0])}</a></p>'
                  f'<a href="{escape(t[2])}"><img src="{escape(t[1])}"></a></div>'),
    LINE.map(lambda t: "### " + t),
)
FIDELITY = hypothesis_settings(max_examples=120, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FIDELITY
@given(blocks=st.lists(BLOCK, min_size=1, max_size=10), cover=st.booleans(), lead=st.booleans(),
       limit=st.sampled_from([97, 300, 1000, MESSAGE_LIMIT]))
def test_no_link_or_image_address_of_the_source_is_lost(blocks, cover, lead, limit):
    front = "---\ntitle: Fidelity\n" + ("cover: https://e.com/cover.png\n" if cover else "") + "---\n"
    lead_image = "![](https://e.com/lead.png)\n\n" if lead else ""
    post, payload = render(front + lead_image + "\n\n".join(blocks) + "\n", limit=limit)
    assert source_urls(post) <= set(hrefs(payload))
    assert not any(h.startswith(("javascript:", "data:")) for h in hrefs(payload))


HEADING = st.tuples(st.sampled_from(["##", "###", "####"]), LINE).map(lambda t: f"{t[0]} § {t[1]}")
SECTION = st.tuples(st.lists(HEADING, min_size=1, max_size=2),
                    # Every section has text of its own (a heading that ends the post has nothing to travel with).
                    st.lists(st.one_of(st.tuples(LINE, PARAGRAPH).map(" ".join),
                                       st.tuples(LINE, st.integers(1, 40)).map(lambda t: t[0] * t[1])),
                             min_size=1, max_size=3))


@FIDELITY
@given(sections=st.lists(SECTION, min_size=1, max_size=8), cover=st.booleans(),
       limit=st.sampled_from([97, 300, 1000, MESSAGE_LIMIT]))
@example(sections=[(["## § wescozt"], ["else a"]),  # two headings that alone fill a message
                   (["### § a a aaa aaaa aaaaaa aaaaaaaaa aaaaaaaaa aaaaaaaaa aaaaaaaaa aaaaaaaaa",
                     "### § a a a aaaa aaaaaaaaa"], ["agxr文yinf a"])], cover=True, limit=97)
@example(sections=[(["## § a aaaa", "## § aa aaa aaaaaaa aaaaaaaa " + "aaaaaaaaa " * 5 + "aaaaaaaaa"], ["d"])],
         cover=False, limit=97)  # a short heading before one that fills the message with it
def test_no_message_ends_with_a_heading(sections, cover, limit):
    body = "\n\n".join("\n\n".join(headings + paragraphs) for headings, paragraphs in sections)
    front = "---\ntitle: Headings\n" + ("cover: https://e.com/cover.png\n" if cover else "") + "---\n"
    _, payload = render(front + "Intro.\n\n" + body + "\n", limit=limit)
    texts = shown(payload)
    for text in texts[:-1]:
        last = text.rsplit("\n\n", 1)[-1]
        assert text != "Headings"
        assert not (last.startswith("§") and len(last) <= limit // 4), text


def test_the_fidelity_fixtures_render_the_same_twice():
    for text in (JEKYLL_EN, HUGO_ZH, forty_images(), link_list_issue()):
        assert (CHANNEL.preview_files(CHANNEL.render(make_post(text), FULL))
                == CHANNEL.preview_files(CHANNEL.render(make_post(text), FULL)))


def test_a_quote_under_a_list_item_starts_at_its_bar_and_a_quoted_list_keeps_its_indent():
    _, payload = render("---\ntitle: Links\n---\n- [A faster checker](https://a.example/post) by Ana\n"
                        "  > We rewrote constraint solving.\n  > It is three times faster.\n\n"
                        "> - a quoted item\n>\n>   with a second paragraph\n")
    text = "\n".join(all_texts(payload))
    assert "<blockquote>We rewrote constraint solving." in text
    assert not re.search(r"<blockquote>\s", text)
    assert re.search(r"<blockquote>• a quoted item\n+ +with a second paragraph", text)


def test_no_message_ends_on_a_lead_in_or_a_rule():
    sections = "\n\n---\n\n".join(
        f"## Part {n}\n\n" + "A paragraph of some length about the part, to fill the message. " * 12
        + "\n\nIt lets you do things such as:\n\n- one thing\n- another thing\n" for n in range(8))
    _, payload = render(f"---\ntitle: Lead-ins\n---\n{sections}\n", limit=1200)
    texts = all_texts(payload)
    assert len(texts) > 3
    for text in texts[:-1]:
        shown_text = parsed(text)[0].rstrip()
        assert not shown_text.endswith((":", "—")), shown_text[-80:]
