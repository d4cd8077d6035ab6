"""WeChat articles are publishable by default: posts as site generators write them (Jekyll, Hugo,
Docusaurus, Pelican; English, Chinese, Japanese; link lists, photo essays, tables) pass every check
without --force. Each point has its own examples: the cover and digest fallbacks, compact inline
styles, the 20,000-character limit read as visible text, tables that scroll at phone width, and the
one problem left to the editor (a title over 32 characters)."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from channels.wechat.channel import CHANNEL, article_json
from channels.wechat.checks import article_problems, visible_text
from channels.wechat.limits import CONTENT_CHAR_LIMIT, DIGEST_TARGET, TITLE_LIMIT
from channels.wechat.parts import planned_parts
from channels.wechat.theme import FONT_STACK
from publisher.config import load_settings
from publisher.post import load_post, parse_post

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"
SETTINGS = load_settings({"PUBLISHER_SITE_URL": "https://notes.example.org"})

EN_JEKYLL = """---
layout: post
title: "Field Notes #42: a quieter week"
date: 2026-03-06 08:00:00 +0000
author: Priya Raman
description: >-
  A calmer week in infrastructure: what we learned moving our job queue off a single Redis, why
  the cache hit rate dropped after the CDN change, and five links worth your coffee.
tags: [infrastructure, newsletter]
permalink: /notes/42/
---
Good morning. This week was quieter than the last three, which gave us time to write down a few
things we had been meaning to explain properly: our job queue, caching, and the links we kept
sending each other in chat.

![The queue dashboard after the move](/assets/2026/notes-42/queue-dashboard.png)

## Moving the job queue off a single Redis

For four years every background job we run went through one Redis instance. It was fast, it was
simple, and it was a single point of failure that we had stopped noticing. When the instance was
restarted for a kernel update in February, about nine minutes of jobs were delayed, and a few of
them ran twice because their workers had been acknowledged before the work finished.

We considered three options. The first was to run Redis with replication and automatic failover,
which fixes availability but not the double-run problem. The second was to move to a managed
queue service, which would have been the least work but would have tied our retry semantics to
someone else's defaults. The third, which we chose, was to keep the broker and make the jobs safe
to run twice.

We kept Redis as the broker but made every job idempotent: each job takes an identifier, checks a
completion table before it starts, and writes its result in the same transaction as the completion
row. Jobs that call external services were the hard part: for those we store the identifier the
service gives back, and a rerun looks it up instead of calling again. The design notes are in
[our engineering handbook](https://handbook.example.com/queues/idempotency) and the
[pull request that did most of the work](https://github.com/example/platform/pull/4821).

> The rule we ended up with is short: a job may run any number of times, and the world must look
> as if it ran once.

Three things surprised us along the way, and none of them were about Redis itself:

1. **Acknowledgement timing matters more than broker choice.** Acknowledging late removed most of
   the double runs on its own.
2. **The completion table grows fast.** We keep rows for thirty days; see the
   [retention job](https://github.com/example/platform/blob/main/jobs/retention.py).
3. **Tests caught almost nothing.** Replaying a day of production traffic against staging did.

## Why the cache hit rate dropped

The new CDN keeps the order of query parameters, so `?w=400&h=300` and `?h=300&w=400` became two
cache entries. We now sort parameters at the edge; the
[CDN's documentation on cache keys](https://cdn.example.net/docs/cache-keys) has the details.

| Metric | Before the move | After the move | After the fix |
|:-------|----------------:|---------------:|--------------:|
| Hit rate | 94% | 71% | 93% |
| Origin requests per minute | 1,200 | 5,800 | 1,350 |
| p95 latency | 180 ms | 420 ms | 190 ms |

## A database upgrade that was boring

We upgraded our main Postgres cluster from 15 to 17 using logical replication. The cutover took
forty seconds of read-only time, most of it spent waiting for the last long transaction to finish.
The only incident was a dashboard that depended on a removed statistics view, which we fixed by
reading the new checkpointer view instead. If you are planning the same move, start the replica a
week early: the initial copy of our largest table took three days, far longer than the estimate,
because the disks on the new machines were throttled until we asked for the provisioned rate.

## Links worth your coffee

- [How a small team runs on-call without burning out](https://blog.example.org/on-call-small-teams),
  a practical piece on rotation length and paging budgets.
- [A visual guide to B-tree page splits](https://explainers.example.io/btree-splits).
- <https://status.example.com/postmortems/2026-02-11>: our own postmortem for the February restart.

That's all for this week. Reply to this email if you have questions; we read everything.
"""

JA_DOCUSAURUS = """---
slug: release-notes-2026-03
title: 3月のリリースノート
authors:
  - name: 山田 花子
    title: エンジニア
  - name: 佐藤 健一
  - name: Alexander Johnson
tags: [release]
---
import Tabs from '@theme/Tabs';

今月は検索の高速化と、管理画面の表示崩れの修正を中心にリリースしました。主な変更点を以下にまとめます。

<!--truncate-->

## 変更点の一覧

| 機能 | 対応バージョン | 説明 | 関連リンク | 画面 |
|------|----------------|------|------------|------|
| 全文検索 | v3.2 以降 | インデックスの再構築が不要になり、更新が数秒で反映されるようになりました | [設計メモ](https://docs.example.jp/search) | ![検索画面](https://cdn.example.jp/rn/search.png) |
| 管理画面 | v3.1 以降 | 狭い画面で表が崩れる問題を修正しました | [Issue 1203](https://github.com/example-jp/app/issues/1203) | ![管理画面](https://cdn.example.jp/rn/admin.png) |
| API | v3.2 以降 | ページングのパラメータ名を統一しました | [移行ガイド](https://docs.example.jp/api/migration) | なし |

## 今後の予定

- 4月は通知設定の見直しを予定しています。
- ご意見は[フォーラム](https://forum.example.jp/c/feedback)までお寄せください。
"""

EN_PELICAN = """Title: Spring garden, in photos
Date: 2026-04-12 09:30
Category: Photos
Tags: garden, spring
Slug: spring-garden-photos
Authors: Tom Becker
Summary: Twelve photos from the first warm weekend, with notes on what we planted and what survived the frost.

The first warm weekend of the year, and the garden finally looked like it meant it.

![Tulips by the fence]({static}/images/2026/tulips.jpg)

The tulips came up a week early. The lavender did not survive the February frost, so we replaced
it with rosemary, which is harder to kill.

![](https://photos.example.net/2026/04/IMG_2041.webp)

![A bee on the rosemary](https://media.example.net/2026/04/bee.gif)

![The new raised bed](https://images.example-cdn.com/photo-1682?auto=format&w=1200)

#### What we planted

- Rosemary, two plants, by the south wall.
- Sweet peas along the fence, from seed.
- A second raised bed for tomatoes, with a drip line this time.
"""


def zh_hugo_weekly(items: int) -> str:
    """A Chinese weekly as Hugo writes it (TOML front matter, a shortcode), organised by H3 items,
    each with its link; every fifth item has a screenshot from a CDN URL without an extension."""
    topics = ["数据库", "前端框架", "编译器", "分布式存储", "可观测性", "浏览器引擎", "包管理器", "容器编排"]
    lines = ["+++", 'title = "开源工具周刊（第 88 期）"', "date = 2026-03-14T08:00:00+08:00",
             'tags = ["周刊", "开源"]', "+++", "",
             "这里记录每周值得分享的开源项目与文章，每周五发布。欢迎投稿，也欢迎推荐你喜欢的工具。", "",
             '{{< notice tip >}}', "本期起，周刊改为每周五上午发布。", "{{< /notice >}}", ""]
    for n in range(1, items + 1):
        topic = topics[n % len(topics)]
        if n % 20 == 1:
            lines += [f"## {['工具', '文章', '资源', '讨论'][(n // 20) % 4]}", ""]
        lines += [f"### {n}. 一个{topic}项目的新版本", "",
                  f"这个{topic}项目本周发布了新版本，改进了默认配置和文档，修复了高负载下的几个问题。"
                  f"作者在发布说明里解释了设计取舍，值得一读：[项目主页](https://github.com/example-org/project-{n})。", ""]
        if n % 5 == 0:
            lines += [f"![{topic}项目截图](https://img.example-cdn.cn/weekly/88/{n}?imageView2/2/w/800)", ""]
    return "\n".join(lines)


def render(text: str, name: str = "post.md"):
    post = parse_post(text, name=name, settings=SETTINGS)
    return CHANNEL.render(post, SETTINGS), post


def ratio(article) -> float:
    return len(article.content) / len(visible_text(article.content))


SHAPES = {
    "en-jekyll": EN_JEKYLL,
    "ja-docusaurus": JA_DOCUSAURUS,
    "en-pelican": EN_PELICAN,
    "zh-hugo-weekly": zh_hugo_weekly(130),
    "zh-reference": SAMPLE.read_text("utf-8"),
}


# --- publishable by default ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SHAPES))
def test_posts_as_sites_write_them_pass_every_check(name):
    article, _ = render(SHAPES[name], f"{name}.md")
    assert CHANNEL.checks(article, SETTINGS) == []
    assert article.thumb and article.digest and len(article.title) <= TITLE_LIMIT


def test_a_title_over_32_characters_is_the_one_problem_left_to_the_editor():
    text = EN_JEKYLL.replace("Field Notes #42: a quieter week", "Field Notes #42: queues, caches and a quiet week")
    article, _ = render(text)
    assert CHANNEL.checks(article, SETTINGS) == [
        "The title is 48 characters; WeChat allows at most 32 (draft/add answers 45003). Shorten it or set "
        "channels.wechat.title."]
    fixed, _ = render(text.replace("permalink:", "channels:\n  wechat: {title: 'Field Notes #42'}\npermalink:"))
    assert CHANNEL.checks(fixed, SETTINGS) == []


# --- 1. the cover and the digest -----------------------------------------------------------------

def test_without_a_cover_the_first_body_image_is_the_cover():
    article, post = render(EN_JEKYLL)
    assert post.cover_image is None
    assert article.thumb == post.first_image == "https://notes.example.org/assets/2026/notes-42/queue-dashboard.png"
    assert article.thumb in article.images  # still in the body too
    assert dict(planned_parts(article, SETTINGS))["cover"]  # the delivery side uploads it as the cover
    pelican, _ = render(EN_PELICAN)
    assert pelican.thumb == "https://notes.example.org/images/2026/tulips.jpg"  # Pelican's {static}
    weekly, _ = render(SHAPES["zh-hugo-weekly"])
    assert weekly.thumb == "https://img.example-cdn.cn/weekly/88/5?imageView2/2/w/800"  # no extension: fine


def test_the_front_matter_cover_wins_and_an_svg_badge_is_passed_over():
    covered, _ = render(EN_JEKYLL.replace("author:", "image: /assets/cover-42.jpg\nauthor:"))
    assert covered.thumb == "https://notes.example.org/assets/cover-42.jpg"
    badge = ("---\ntitle: 项目周报\n---\n[![build](https://ci.example.com/badge.svg)](https://ci.example.com)\n\n"
             "本周完成了两个版本。\n\n![架构图](https://cdn.example.com/arch.png)\n")
    article, post = render(badge)
    assert post.first_image == "https://ci.example.com/badge.svg"
    assert article.thumb == "https://cdn.example.com/arch.png"
    assert article.digest == "本周完成了两个版本。"  # the badge's paragraph has no words
    only_svg, _ = render("---\ntitle: t\n---\ntext\n\n![logo](https://cdn.example.com/logo.svg)\n")
    assert only_svg.thumb == "https://cdn.example.com/logo.svg"
    assert any(p.startswith("The cover image https://cdn.example.com/logo.svg is SVG")
               for p in CHANNEL.checks(only_svg, SETTINGS))


def test_a_post_without_any_image_gets_a_plain_card_as_its_cover():
    article, _ = render("---\ntitle: 纯文字\n---\n只有文字，没有图片。\n")
    assert article.thumb is None and article.thumb_card
    assert CHANNEL.checks(article, SETTINGS) == []  # publishable as written
    from PIL import Image

    from channels.wechat.cover_card import CARD_SIZE, cover_card_png
    card = cover_card_png()
    assert card == cover_card_png() and len(card) < 64 * 1024  # the same bytes each time: uploaded once
    assert Image.open(__import__("io").BytesIO(card)).size == CARD_SIZE


def test_the_digest_is_the_description_then_the_summary_then_the_first_paragraph():
    english, post = render(EN_JEKYLL)
    assert post.description.startswith("A calmer week") and len(post.description) > DIGEST_TARGET
    assert english.digest.endswith("…") and len(english.digest) <= DIGEST_TARGET
    assert post.description.startswith(english.digest[:-1])
    assert post.description[len(english.digest) - 1] in " ,;:"  # cut at a boundary, not mid-word
    pelican, _ = render(EN_PELICAN)  # Pelican's Summary: is a description
    assert pelican.digest == ("Twelve photos from the first warm weekend, with notes on what we planted and "
                              "what survived the frost.")
    reference = load_post(SAMPLE, SETTINGS)  # a summary given as points
    digest = CHANNEL.render(reference, SETTINGS).digest
    assert digest.startswith(reference.summary[0] + "；") and len(digest) <= DIGEST_TARGET
    japanese, _ = render(JA_DOCUSAURUS)  # nothing said: the first paragraph, not the MDX import
    assert japanese.digest == "今月は検索の高速化と、管理画面の表示崩れの修正を中心にリリースしました。主な変更点を以下にまとめます。"
    weekly, _ = render(SHAPES["zh-hugo-weekly"])
    assert weekly.digest == "这里记录每周值得分享的开源项目与文章，每周五发布。欢迎投稿，也欢迎推荐你喜欢的工具。"
    chosen, _ = render(EN_JEKYLL.replace("permalink:", "channels:\n  wechat: {digest: 'Queues.'}\npermalink:"))
    assert chosen.digest == "Queues."


def test_a_long_first_paragraph_is_cut_at_a_sentence_or_clause():
    paragraph = "第一句话讲清楚本期的主题，" * 12 + "最后一句收尾。"
    article, _ = render(f"---\ntitle: 长段落\n---\n{paragraph}\n")
    assert len(article.digest) <= DIGEST_TARGET and article.digest.endswith("主题…")
    english, _ = render("---\ntitle: t\n---\n" + "Each sentence here says a little more about the issue. " * 5)
    sentence = "Each sentence here says a little more about the issue."
    assert english.digest == f"{sentence} {sentence}"  # two whole sentences need no "…"
    words, _ = render("---\ntitle: t\n---\n" + "one two three four five six seven eight nine ten " * 4)
    assert words.digest == "one two three four five six seven eight nine ten " * 2 + "one two three four…"


@pytest.mark.parametrize("language, expected", [("en", "Mia Wong et al."), ("zh", "Mia Wong等"),
                                                ("ja", "Mia Wongほか")])
def test_several_authors_that_do_not_fit_become_the_first_and_others(language, expected):
    text = f"---\ntitle: t\nlang: {language}\nauthors: [Mia Wong, Daniel Okafor, Lee Sun-hee]\n---\nbody\n"
    article, post = render(text)
    assert post.author == "Mia Wong, Daniel Okafor, Lee Sun-hee" and article.author == expected


def test_authors_that_fit_stay_and_one_long_name_is_left_out_with_a_note():
    japanese, _ = render(JA_DOCUSAURUS)  # Docusaurus author mappings
    assert japanese.author == "山田 花子ほか"
    short, _ = render("---\ntitle: t\nauthors: [Mia, Dan]\n---\nbody\n")
    assert short.author == "Mia, Dan"
    team, _ = render("---\ntitle: t\nauthor: The Platform Engineering Team\n---\nbody\n")
    assert team.author == "" and team.author_left_out == "The Platform Engineering Team"
    assert CHANNEL.checks(team, SETTINGS) == []
    assert CHANNEL.notes(team, SETTINGS) == [
        "The author 'The Platform Engineering Team' is longer than WeChat's 16 characters, so the article names "
        "none (WeChat shows the account's name); set channels.wechat.author to name one."]
    named, _ = render("---\ntitle: t\nauthor: x\nchannels:\n  wechat:\n    author: The Platform Engineering Team\n"
                      "---\nbody\n")  # what the editor asked for is checked, not changed
    assert any(p.startswith("The author is 29 characters") for p in CHANNEL.checks(named, SETTINGS))


# --- 2. compact styles ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["zh-reference", "en-jekyll"])
def test_a_text_heavy_issue_is_at_most_twice_its_visible_text(name):
    article, _ = render(SHAPES[name])
    text = visible_text(article.content)
    assert ratio(article) <= 2.0, f"{name}: {len(article.content)} characters of HTML for {len(text)} of text"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_text_style_is_written_once_on_the_wrapping_section(name):
    article, _ = render(SHAPES[name])
    content = article.content
    assert content.startswith(f'<section style="font-family:{FONT_STACK};font-size:16px;line-height:1.75;'
                              'color:#3f3f3f;')
    for declaration in (FONT_STACK, "line-height:1.75", "color:#3f3f3f", "font-size:16px"):
        assert content.count(declaration) == 1, declaration
    for tag in ("p", "li", "span", "strong", "em"):
        for style in re.findall(rf'<{tag} style="([^"]*)"', content):
            assert "font-family" not in style, (tag, style)
    assert not re.search(r'<[^>]+\s(class|id)=|<style|<script', content)


# --- 3. the 20,000-character limit, counted as WeChat counts it ---------------------------------

def test_the_limit_counts_the_visible_text_not_the_markup():
    article, _ = render(SHAPES["zh-hugo-weekly"])
    assert len(article.content) > CONTENT_CHAR_LIMIT > len(visible_text(article.content))
    assert CHANNEL.checks(article, SETTINGS) == [] == CHANNEL.notes(article, SETTINGS)
    assert article.shortened is None


def _long_issue(language: str, paragraph: str) -> str:
    sections = []
    for s in range(40):
        links = "\n\n".join(f"[link {s}-{i}](https://e.example/{s}/{i}) {paragraph}" for i in range(12))
        sections.append(f"## Section {s}\n\n{links}")
    return f"---\ntitle: Long\nlang: {language}\ncoverImage: https://x.example/c.png\n---\n" + "\n\n".join(sections) + "\n"


@pytest.mark.parametrize("language, paragraph, closing", [
    ("zh", "这一段有整整五十个字。" * 4, "其余部分请点击文末“阅读原文”查看。"),
    ("en", "A sentence of some length that fills the issue. " * 2, "tap 阅读原文 (Read more) below."),
])
def test_a_post_longer_than_an_article_is_published_as_its_head_with_a_way_to_the_rest(language, paragraph, closing):
    article, post = render(_long_issue(language, paragraph))
    text = visible_text(article.content)
    cut = article.shortened
    assert cut is not None and cut.full_chars >= CONTENT_CHAR_LIMIT > cut.kept_chars == len(text)
    assert CHANNEL.checks(article, SETTINGS) == []
    assert closing in text and article.content_source_url.startswith(post.url)
    kept = [s for s in range(40) if f"Section {s}<" in article.content]
    assert kept == list(range(len(kept))) and 5 < len(kept) < 40  # the head, in order
    for s in range(40):  # whole sections, cut before a heading; the references list only what is kept
        assert all((f"https://e.example/{s}/{i}<" in article.content) == (s in kept) for i in range(12)), s
    assert article.content.index(closing) < article.content.index("https://e.example/0/0<")
    note, = CHANNEL.notes(article, SETTINGS)
    assert f"{cut.full_chars:,}" in note and f"first {cut.kept_blocks} of {cut.full_blocks} blocks" in note
    assert article_json(article)["shortened"] == dataclasses.asdict(cut)


def test_one_block_longer_than_an_article_is_named_by_the_checks():
    article, _ = render("---\ntitle: 长文\ncoverImage: https://x.example/c.png\n---\n" + "这一段有整整五十个字。" * 2100 + "\n")
    text = visible_text(article.content)
    assert article.shortened is None and len(text) >= CONTENT_CHAR_LIMIT
    assert CHANNEL.checks(article, SETTINGS) == [
        f"The article text is {len(text):,} characters; WeChat takes fewer than 20,000 (draft/add answers 45002). "
        "Shorten the post."]


def test_the_megabyte_is_still_checked_on_the_html():
    article, _ = render(EN_JEKYLL)
    bloated = dataclasses.replace(article, content='<p style="' + "margin:0;" * 112_000 + '">short</p>')
    assert article_problems(bloated) == [
        f"The article HTML is {len(bloated.content.encode()):,} bytes; WeChat takes less than 1,000,000 "
        "(draft/add answers 45002). Shorten the post."]


def test_visible_text_decodes_references_and_collapses_whitespace():
    html = ('<section style="x"><p style="y">a &amp; b\n   c</p><p style="y">d<br>e&nbsp;&nbsp;f</p>'
            '<img alt="alt"></section>')
    assert visible_text(html) == "a & b cd\ne\xa0\xa0f"


# --- 4. tables scroll sideways -------------------------------------------------------------------

def test_a_wide_table_scrolls_in_its_wrapper_and_a_narrow_one_fits():
    article, _ = render(JA_DOCUSAURUS)
    wrapper, table = re.search(r'<section style="([^"]*)"><table style="([^"]*)"', article.content).groups()
    assert "overflow-x:auto" in wrapper
    min_width = float(re.search(r"min-width:([\d.]+)em", table).group(1))
    assert min_width > 22 and "word-break:normal" in table and "overflow-wrap:normal" in table
    narrow, _ = render("---\ntitle: t\n---\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "min-width" not in narrow.content and "width:100%" in narrow.content


CHROMIUM = Path("/usr/bin/chromium")

PHONE_AUDIT = """() => {
  const problems = [], tables = [];
  for (const table of document.querySelectorAll('table')) {
    const wrap = table.parentElement;
    tables.push({scrolls: wrap.scrollWidth > wrap.clientWidth + 1});
    for (const cell of table.querySelectorAll('th, td')) {
      const em = parseFloat(getComputedStyle(cell).fontSize);
      const inner = cell.clientWidth - 16;
      const probe = document.createElement('span');
      probe.style.whiteSpace = 'nowrap';
      probe.textContent = cell.textContent;
      document.body.appendChild(probe);
      const natural = probe.getBoundingClientRect().width;
      probe.remove();
      if (natural > inner + 1 && inner < 4 * em) problems.push('squeezed: ' + cell.textContent);
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const m of node.data.matchAll(/[A-Za-z0-9][\\w%,.-]*/g)) {
          const range = document.createRange();
          range.setStart(node, m.index);
          range.setEnd(node, m.index + m[0].length);
          const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
          if (lines.size > 1) problems.push('word broken: ' + m[0]);
        }
      }
    }
  }
  return {problems, tables, page: document.documentElement.scrollWidth};
}"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_at_375_px_tables_scroll_and_no_word_is_squeezed():
    sync_api = pytest.importorskip("playwright.sync_api")
    wide_en = ("---\ntitle: t\n---\n"
               "| Region | Requests | Errors | p50 latency | p95 latency | Availability | Owner |\n"
               "|---|---|---|---|---|---|---|\n"
               "| Frankfurt | 1,204,332 | 0.02% | 41 ms | 180 ms | 99.995% | Platform |\n"
               "| Singapore | 998,120 | 0.05% | 63 ms | 240 ms | 99.990% | Edge team |\n")
    two_zh = ("---\ntitle: t\n---\n| 项目 | 说明 |\n|---|---|\n| 全文检索 | 不再需要重建索引，更新在几秒内生效，"
              "大表的查询速度提升了三倍以上 |\n| 管理后台 | 修复了窄屏下表格错位的问题 |\n")
    # (article, whether its table is wider than the phone and scrolls)
    pages = [(render(JA_DOCUSAURUS)[0].content, True), (render(EN_JEKYLL)[0].content, None),
             (render(wide_en)[0].content, True), (render(two_zh)[0].content, False)]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            for content, scrolls in pages:
                # WeChat's article column: the phone's width less its 16 px page padding
                page.set_content(f'<meta name="viewport" content="width=device-width">'
                                 f'<body style="margin:0"><div style="padding:0 16px">{content}</div></body>')
                result = page.evaluate(PHONE_AUDIT)
                assert result["problems"] == [] and result["page"] <= 375, result
                assert len(result["tables"]) == 1
                if scrolls is not None:
                    assert result["tables"][0]["scrolls"] is scrolls
        finally:
            browser.close()


# --- 6. what the delivery side reads stays as it was ---------------------------------------------

def test_the_payload_keeps_its_shape_references_and_images():
    article, _ = render(EN_JEKYLL)
    assert set(article_json(article)) == {"title", "author", "digest", "content", "content_source_url", "thumb",
                                          "images"}
    assert article.content_source_url == "https://notes.example.org/notes/42/"
    references = re.findall(r'(?:<p style="[^"]*"\>|<br>)\[(\d+)\][^<]*<em>([^<]+)</em>', article.content)
    assert [int(n) for n, _ in references] == list(range(1, len(references) + 1))
    assert "https://handbook.example.com/queues/idempotency" in [url for _, url in references]
    assert article.content.count("<sup>[") >= len(references)
    photos, _ = render(EN_PELICAN)
    assert photos.images == ("https://notes.example.org/images/2026/tulips.jpg",
                             "https://photos.example.net/2026/04/IMG_2041.webp",
                             "https://media.example.net/2026/04/bee.gif",
                             "https://images.example-cdn.com/photo-1682?auto=format&w=1200")
    assert all(f'src="{url.replace("&", "&amp;")}"' in photos.content for url in photos.images)


def test_the_preview_command_shows_that_a_long_post_is_shortened_without_calling_it_a_problem(tmp_path):
    from tests.conftest import run_cli

    post = tmp_path / "long.md"
    post.write_text(_long_issue("en", "A sentence of some length that fills the issue. " * 2), "utf-8")
    result = run_cli("preview", str(post), "--out", str(tmp_path / "out"), env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "notes (do not stop a press)" in result.stdout and "a WeChat article takes fewer than 20,000" in result.stdout
    assert json.loads((tmp_path / "out" / "checks.json").read_text("utf-8"))["wechat"] == []
