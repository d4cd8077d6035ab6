"""X threads that read like a person posted them: the hook of tweet 1, tweets that stand alone,
sentence ends, one tweet per item of an issue, full mode's cuts and quotes. Fixtures are written for
these tests (English, Chinese, Japanese; Jekyll, Hugo, Pelican, Docusaurus front matter)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st

from channels.x.channel import CHANNEL
from channels.x.layout import numbering
from channels.x.limits import MAX_MEDIA, MAX_WEIGHTED
from channels.x.modes import link_line
from channels.x.split import ELLIPSIS, sentences, weighted_length
from channels.x.text import absolute_url, article_blocks
from publisher.config import load_settings
from publisher.language import words
from publisher.markdown import html_images, walk
from publisher.post import parse_post
from tests.test_x_render import make_post, post_text

GOLDEN = Path(__file__).parent / "golden" / "x"
SUMMARY = load_settings(env={})
FULL = load_settings(env={"PUBLISHER_X_MODE": "full"})
# posts written for these tests, one per shape: tests/golden/x/<name>.md, golden threads beside them
FIXTURES = sorted(path.stem for path in GOLDEN.glob("*.md"))


def fixture(name: str) -> str:
    return (GOLDEN / f"{name}.md").read_text(encoding="utf-8")


def make(text: str, name: str = "fixture", settings=SUMMARY):
    return parse_post(text, name=f"{name}.md", settings=settings, default_slug=name)


def bare(thread) -> list[str]:
    """Tweet texts without the " k/N" suffix (checked to be there)."""
    total = len(thread.tweets)
    out = []
    for k, tweet in enumerate(thread.tweets, 1):
        suffix = numbering(k, total)
        assert tweet.text.endswith(suffix)
        out.append(tweet.text[:len(tweet.text) - len(suffix)])
    return out


def render(post, settings=SUMMARY):
    return CHANNEL.render(post, settings)


def heading_texts(post) -> set[str]:
    return {b.text for b in article_blocks(post) if b.kind == "heading"} | {post.title}


def assert_reads_well(post, thread):
    """The reader checks every thread passes: fits, not empty, no colon at the end, no tweet of
    headings alone."""
    headings = heading_texts(post)
    for k, text in enumerate(bare(thread), 1):
        assert 0 < weighted_length(thread.tweets[k - 1].text) <= MAX_WEIGHTED
        assert text.strip(), k
        assert not text.rstrip().endswith((":", "：")), text
        parts = [p.strip() for p in re.split(r"\n\n", text) if p.strip()]
        assert not all(p in headings for p in parts), f"tweet {k} is headings alone: {text!r}"
        assert len(thread.tweets[k - 1].media) <= MAX_MEDIA


# --- 1. tweet 1: title + a real hook, with the cover ---------------------------------------------

def test_hook_is_the_description():
    post = make(fixture("en_links"), "en_links")
    first = bare(render(post))[0]
    assert first == "This Week in Widgets #142\n\nFaster builds, a new async runtime and a guide to fuzzing your parsers."
    assert render(post).tweets[0].media == ("https://example.com/images/issue-142.png",)


def test_hook_passes_over_lead_ins_and_boilerplate():
    zh = bare(render(make(fixture("zh_items"), "zh_items")))[0]  # the hook is item 1's first sentence: item 1 opens the thread
    assert zh.startswith("AI 日报：模型、芯片与监管\n\n星河实验室发布开源推理模型\n\n星河实验室今天开源了 Orion-7B 推理模型，"
                         "在数学基准上超过同尺寸模型。")
    post = make(fixture("en_links").replace('description = "Faster builds, a new async runtime and a guide to fuzzing your '
                                 'parsers."\n', "").replace("Hello and welcome", "Hello and welcome back! Our "
                                 "team shipped three releases, and a fuzzing guide landed. Welcome"))
    first = bare(render(post))[0]
    assert first == "This Week in Widgets #142\n\nOur team shipped three releases, and a fuzzing guide landed."


def test_colon_description_falls_back_to_the_body():
    post = make(fixture("docs_release"), "docs_release")
    assert post.description == "Here's what's new:"
    thread = render(post)
    first = bare(thread)[0]
    assert not first.endswith(":") and "what's new" not in first
    assert first.startswith("Release 4.2\n\nFaster cold starts\n\nCold starts are now 40% faster")
    assert thread.tweets[0].media[0] == "https://docs.example.io/img/cold-1.png"  # the body's first image


def test_hook_is_the_first_summary_point_then_every_other_point(sample_post):
    texts = bare(render(sample_post))
    assert texts[0] == f"{sample_post.title}\n\n{sample_post.summary[0]}"
    assert texts[1] == sample_post.summary[1]


def test_cover_falls_back_to_the_first_image_and_is_shown_once():
    post = make(fixture("zh_items"), "zh_items")
    for settings in (SUMMARY, FULL):
        thread = render(post, settings)
        assert thread.tweets[0].media[0] == post.first_image == "https://img.example.cn/2026/orion-bench.png"
        assert sum(t.media.count(post.first_image) for t in thread.tweets) == 1


def test_a_post_that_opens_with_an_item_opens_the_thread_with_it():
    texts = bare(render(make(fixture("en_bold"), "en_bold")))
    assert texts[0].startswith("Daily Brief: chips, lawsuits and a new phone\n\nChipmaker unveils 2 nm roadmap")
    assert texts[0].endswith("https://tech.example.com/2nm")
    assert sum("Chipmaker unveils" in t for t in texts) == 1


# --- 2. every tweet stands alone -------------------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("settings", [SUMMARY, FULL], ids=["summary", "full"])
def test_fixtures_read_well(name, settings):
    post = make(fixture(name), name)
    thread = render(post, settings)
    assert_reads_well(post, thread)
    assert CHANNEL.checks(thread, settings) == []


def test_category_headings_never_stand_alone():
    texts = bare(render(make(fixture("zh_items"), "zh_items")))
    assert not any("📊 今日看点" in t or "⬆️ 发布" in t for t in texts)
    quotes = bare(render(make(fixture("zh_quotes"), "zh_quotes")))
    assert quotes[1] == '言论 2\n\n"We are still early."\n-- A venture investor'


def test_a_lead_in_travels_with_its_list():
    texts = bare(render(make(fixture("en_essay"), "en_essay")))
    assert any(t.startswith("What comes next\n\nThree things matter next: skilled workers, water, power") for t in texts)
    full = bare(render(make(fixture("en_essay"), "en_essay"), FULL))
    holder = next(t for t in full if "Three things matter next:" in t)
    assert "Three things matter next:\n\n• skilled workers" in holder


def test_a_long_lead_in_moves_its_last_sentence_only():
    lead = " ".join(["This sentence fills the tweet with words."] * 6) + " Here is the list that follows:"
    body = f"{lead}\n\n- {'first item ' * 20}\n- second"
    texts = bare(render(make(f"---\ntitle: T\n---\n{body}"), FULL))
    assert all(not t.endswith(":") for t in texts)
    assert any(t.startswith("Here is the list that follows:\n\n• first item") for t in texts)


# --- 3. sentence ends ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Dr. Roe met Mr. Lee. They talked.", ["Dr. Roe met Mr. Lee.", "They talked."]),
    ("Use tools, e.g. linters, i.e. cheap checks. Then ship.", ["Use tools, e.g. linters, i.e. cheap checks.",
                                                                 "Then ship."]),
    ("It passed 64 vs. 33. Acme Inc. said no. Fig. 3 shows it.", ["It passed 64 vs. 33.", "Acme Inc. said no.",
                                                                   "Fig. 3 shows it."]),
    ("He moved to the U.S. The rest stayed. The U.S. Senate voted.", ["He moved to the U.S.", "The rest stayed.",
                                                                       "The U.S. Senate voted."]),
    ("Plant No. 5 grew 1.5 times. J. K. Rowling wrote etc. and more.", ["Plant No. 5 grew 1.5 times.",
                                                                         "J. K. Rowling wrote etc. and more."]),
    ("Milk, eggs, etc. The list goes on.", ["Milk, eggs, etc.", "The list goes on."]),
    ("他说：「好。」然后走了。真的吗？是的！", ["他说：「好。」", "然后走了。", "真的吗？", "是的！"]),
    ("（注：仅供参考。）下一句。", ["（注：仅供参考。）", "下一句。"]),
    ("これは本です。「本当？」と聞いた。", ["これは本です。", "「本当？」", "と聞いた。"]),
])
def test_sentence_ends_know_abbreviations_and_cjk_closers(text, expected):
    assert sentences(text) == expected


# --- 4. issues: one tweet per item -------------------------------------------------------------------

def test_link_list_issue_is_one_tweet_per_item():
    thread = render(make(fixture("en_links"), "twiw"))
    texts = bare(thread)
    assert texts[1] == ("Making incremental builds 3x faster\n\nHow the team cut rebuild times by caching type "
                        "information across crates.\n\nhttps://blog.example.dev/faster-builds")
    assert texts[2] == ("A tour of the new async runtime\n\nTasks, timers and cancellation explained with small "
                        "examples.\n\nhttps://async.example.org/tour")
    assert texts[4] == ("widget-lint 2.0\n\nNew rules for unused features and a faster cache.\n\n"
                        "https://github.com/example/widget-lint")
    assert texts[-1].endswith("\n\nRead the full post: https://example.com/newsletter/142/")
    joined = "\n".join(texts)
    assert "acme" not in joined.lower() and "Subscribe" not in joined and "Hello" not in joined


def test_heading_items_carry_their_link_and_images():
    thread = render(make(fixture("zh_items"), "zh-items"))
    texts = bare(thread)
    assert texts[0].endswith("团队表示权重采用宽松许可证。\n\nhttps://news.example.cn/orion-7b")
    assert texts[1].startswith("国产加速卡出货量翻倍\n\n据行业统计") and texts[1].endswith("https://news.example.cn/cards")
    assert thread.tweets[1].media == ("https://img.example.cn/2026/cards-1.png", "https://img.example.cn/2026/cards-2.png")
    assert texts[4].startswith("某研究院院长谈算力\n\n“算力不是护城河，数据和人才才是。”\n—— 某研究院院长\n\n"
                               "https://news.example.cn/quote-5")
    assert texts[-1].endswith("阅读全文：https://example.com/zh-items")
    assert len(texts) == 5


def test_linked_headings_and_relative_links_japanese():
    texts = bare(render(make(fixture("ja_weekly"), "fe88")))
    assert texts[1] == ("Chrome 140 のリリースノート\n\nView Transitions がクロスドキュメントで使えるようになりました。"
                        "フォームの自動入力も改善されています。\n\nhttps://web.example.jp/chrome-140")
    assert texts[-1].endswith("全文を読む：https://example.com/fe88")
    docs = bare(render(make(fixture("docs_release"), "docs_release")))
    assert any(t.endswith("https://example.com/docs/search") for t in docs)


def test_item_images_ride_on_their_tweet_at_most_four():
    thread = render(make(fixture("docs_release"), "docs_release"))
    assert thread.tweets[0].media == tuple(f"https://docs.example.io/img/cold-{i}.png" for i in range(1, 5))
    assert all(len(t.media) <= MAX_MEDIA for t in thread.tweets)


def test_bold_lead_items():
    texts = bare(render(make(fixture("en_bold"), "en_bold")))
    assert texts[1] == ("Streaming giant sued over price hikes (3 minute read)\n\nA class action filed on Monday says "
                        "subscribers were not told about the increase.\n\nhttps://legal.example.com/stream-suit")
    assert len(texts) == 4


def test_back_matter_and_comment_links_are_not_items():
    refs = bare(render(make(fixture("essay_refs"), "refs")))
    assert [t.split("\n\n")[0] for t in refs[1:]] == ["Stale reads", "Stampedes", "Cold starts"]
    assert "Cache stampede" not in "\n".join(refs)
    links = bare(render(make(fixture("hn_links"), "hn")))
    assert links[0] == "Hacker links 12\n\nA new kind of database\n\nhttps://db.example.com/new"
    assert not any("comments" in t for t in links)


def issue_of(n: int, lang: str = "en") -> str:
    items = "\n".join(f"- [Story number {i} about widgets](https://news.example.org/{i}) — What happened to "
                      f"widget {i} this week, in one line." for i in range(1, n + 1))
    return f"---\ntitle: Big issue\nlang: {lang}\n---\nThe week was busy for everyone who builds widgets.\n\n{items}\n"


@pytest.mark.parametrize("n, budget, expected", [(3, 17, 4), (30, 17, 15), (30, 8, 8), (30, 1, 1)])
def test_summary_is_five_to_fifteen_tweets_within_the_budget(n, budget, expected):
    settings = load_settings(env={"PUBLISHER_X_DAILY_BUDGET": str(budget)})
    thread = render(make(issue_of(n), "big"), settings)
    assert len(thread.tweets) == expected
    assert thread.tweets[-1].text.count("https://example.com/big") == 1
    assert_reads_well(make(issue_of(n), "big"), thread)


def test_long_essay_without_sections_gets_five_tweets():
    paragraphs = "\n\n".join(f"Paragraph {i} makes the point that widgets need care. " + "More detail follows. " * 12
                             for i in range(12))
    texts = bare(render(make(f"---\ntitle: An essay\n---\n{paragraphs}")))
    assert len(texts) == 5 and texts[0] == "An essay\n\nParagraph 0 makes the point that widgets need care."
    assert [t.split(" makes")[0] for t in texts[1:]] == ["Paragraph 1", "Paragraph 3", "Paragraph 6", "Paragraph 9"]


# --- 5. full mode --------------------------------------------------------------------------------

def test_full_mode_marks_a_cut_mid_sentence():
    none = "channels:\n  x:\n    link: none\n"
    post = make(f"---\ntitle: T\n{none}---\n" + "A sentence with no end and many words " * 20 + "done.")
    texts = bare(render(post, FULL))
    assert len(texts) > 1 and all(t.endswith(ELLIPSIS) for t in texts[:-1]) and texts[-1].endswith("done.")
    cjk = make(f"---\ntitle: 标题\n{none}---\n" + "这句话很长，" * 60 + "结束。")
    texts = bare(render(cjk, FULL))
    assert len(texts) > 1 and all(t.endswith("，" + ELLIPSIS) for t in texts[:-1])
    whole = make(f"---\ntitle: T\n{none}---\n" + "A full sentence that ends well. " * 30)
    assert not any(t.endswith(ELLIPSIS) for t in bare(render(whole, FULL)))


def test_quotes_stay_whole_with_their_attribution_and_single_marks():
    texts = bare(render(make(fixture("en_essay"), "en_essay"), FULL))
    joined = "\n".join(texts)
    assert any("“The best way to predict the future is to invent it.”\n— Alan Kay" in t for t in texts)
    assert "“Quoted already, keep one pair.”" in joined and "““" not in joined and "””" not in joined
    zh = "\n".join(bare(render(make(fixture("zh_quotes"), "zh_quotes"), FULL)))
    assert "「开源模型会在两年内追上闭源模型。」\n—— 某开源社区负责人" in zh
    assert "“芯片的瓶颈不在设计，而在制造。”\n——某芯片公司创始人" in zh and "“「" not in zh


@pytest.mark.parametrize("length", range(20, 32))
def test_a_long_quote_keeps_its_attribution_with_its_end(length):
    quote = " ".join(f"Sentence {i} of a long speech." for i in range(length))
    texts = bare(render(make(f"---\ntitle: T\n---\nIntro.\n\n> {quote}\n> — The speaker"), FULL))
    holder = next(t for t in texts if "— The speaker" in t)
    assert f"Sentence {length - 1} of a long speech.”\n— The speaker" in holder


def test_a_thread_over_25_tweets_is_flagged():
    body = "\n\n".join(f"Paragraph {i}. " + "word " * 45 for i in range(30))
    thread = render(make(f"---\ntitle: Long\n---\n{body}"), load_settings(env={"PUBLISHER_X_MODE": "full",
                                                                               "PUBLISHER_X_DAILY_BUDGET": "99"}))
    assert len(thread.tweets) > 25
    assert CHANNEL.checks(thread, FULL)[0].startswith(f"the thread has {len(thread.tweets)} posts; past 25")


def test_table_links_and_images_are_kept_in_full_mode():
    thread = render(make(fixture("docs_release"), "docs_release"), FULL)
    joined = "\n".join(t.text for t in thread.tweets)
    assert "Intro (https://example.com/docs/intro) · 404 · 200" in joined
    assert any("https://docs.example.io/img/t1.png" in t.media for t in thread.tweets)


# --- 6. what stays -------------------------------------------------------------------------------

def test_the_package_loads_the_render_side_only():
    import subprocess
    import sys

    code = "import sys, channels.x; print(sorted(m for m in ('tweepy', 'requests') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_hand_written_thread_is_kept():
    front = "title: T\nchannels:\n  x:\n    thread: ['Mine: as written:', {text: '', media: [https://i.example/a.png]}]"
    thread = render(make(f"---\n{front}\n---\nBody text.\n"))
    assert thread.hand_written and [t.text for t in thread.tweets] == ["Mine: as written:", ""]


# --- golden threads of the fixtures ------------------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("mode", ["summary", "full"])
def test_fixture_threads_match_golden(name, mode):
    settings = SUMMARY if mode == "summary" else FULL
    text = CHANNEL.preview_files(render(make(fixture(name), name), settings))["x_thread.json"]
    golden = GOLDEN / f"{name}.{mode}.x_thread.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert json.loads(text) == json.loads(golden.read_text(encoding="utf-8"))


# --- properties --------------------------------------------------------------------------------------

EN_WORDS = ["widgets", "ship", "faster", "the team", "Dr. Roe", "e.g. caches", "U.S. fabs", "No. 5", "1.5x",
            "builds", "J. K. Smith", "runtime", "vs. last year", "etc.", "Inc.", "parsers", "i.e. less"]
ZH_WORDS = ["模型", "芯片", "发布", "开源", "推理", "数据", "团队", "算力", "用户", "市场"]
JA_WORDS = ["ブラウザ", "新機能", "型推論", "入れ子", "実践", "リリース"]
HOST = st.sampled_from(["https://a.example.org", "https://b.example.com", "/docs", "relative/page"])


@st.composite
def sentence(draw):
    lang = draw(st.sampled_from(["en", "zh", "ja"]))
    if lang == "en":
        words = draw(st.lists(st.sampled_from(EN_WORDS), min_size=2, max_size=18))
        return " ".join(words).capitalize() + draw(st.sampled_from([".", ".", "!", "?", ":", ","]))
    pool = ZH_WORDS if lang == "zh" else JA_WORDS
    words = draw(st.lists(st.sampled_from(pool), min_size=2, max_size=30))
    return "".join(words) + draw(st.sampled_from(["。", "。", "！", "？", "：", "，"]))


@st.composite
def link(draw):
    path = draw(st.text("abcdefgh", min_size=1, max_size=10))
    return f"[{draw(st.sampled_from(EN_WORDS + ZH_WORDS))}]({draw(HOST)}/{path})"


@st.composite
def block(draw):
    shape = draw(st.sampled_from(["p", "p", "p", "list", "quote", "image", "items", "table"]))
    text = " ".join(draw(st.lists(sentence(), min_size=1, max_size=8)))
    if draw(st.booleans()):
        text += " " + draw(link())
    if shape == "p":
        return text
    if shape == "list":
        return "\n".join(f"- {draw(sentence())} {draw(link())}" for _ in range(draw(st.integers(1, 5))))
    if shape == "quote":
        return f"> {text}\n> — {draw(st.sampled_from(['Alan Kay', '某人']))}"
    if shape == "image":
        return "\n".join(f"![]({draw(HOST)}/img{i}.png)" for i in range(draw(st.integers(1, 6))))
    if shape == "items":
        return "\n\n".join(f"**{draw(link())}**: {draw(sentence())}" for _ in range(draw(st.integers(2, 4))))
    return f"| a | b |\n|---|---|\n| {draw(link())} | ![]({draw(HOST)}/t.png) |"


@st.composite
def newsletter(draw):
    parts = []
    for _ in range(draw(st.integers(1, 7))):
        if draw(st.booleans()):
            level = draw(st.sampled_from(["##", "###", "####"]))
            words = draw(st.lists(st.sampled_from(EN_WORDS + ZH_WORDS), min_size=1, max_size=5))
            parts.append(f"{level} {' '.join(words)}{draw(st.sampled_from(['', ':', '、']))}")
        parts.append(draw(block()))
    front = draw(st.sampled_from(["", "description: A short issue about widgets and chips.\n",
                                  "description: 'Here is what happened:'\n", "coverImage: /cover.png\n"]))
    return f"---\ntitle: Property issue\n{front}---\n" + "\n\n".join(parts) + "\n"


PROPERTY = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(newsletter(), st.sampled_from(["summary", "full"]))
def test_every_tweet_reads_alone(text, mode):
    post = make(text, "prop")
    thread = render(post, SUMMARY if mode == "summary" else FULL)
    assert_reads_well(post, thread)
    assert sum(t.text.count(post.url) for t in thread.tweets) == 1
    if mode == "summary":
        assert len(thread.tweets) <= 15


def source_urls(post) -> tuple[set[str], set[str]]:
    """Every link and image URL of the body, resolved as a reader would open them."""
    links, images = set(), set()
    for node in walk(post.tree):
        if node.type == "link":
            url = absolute_url(str(node.attrs.get("href", "")), post.url)
            links |= {url} if url else set()
        elif node.type == "image":
            url = absolute_url(str(node.attrs.get("src", "")), post.url)
            images |= {url} if url else set()
        elif node.type in ("html_block", "html_inline"):
            images |= {u for u in (absolute_url(s, post.url) for s in html_images(node.content)) if u}
    return links, images


@PROPERTY
@given(newsletter())
@example("---\ntitle: Property issue\n---\nWidgets widgets widgets. " + "Widgets " * 16 + "widgets. "
         + "ブラウザ" * 12 + "。 " + "ブラウザ" * 21 + "新機能：\n")  # a lead-in filling a tweet before the link line
def test_full_mode_loses_no_link_or_image(text):
    post = make(text, "prop")
    thread = render(post, FULL)
    shown = "\n".join(t.text for t in thread.tweets)
    media = [m for t in thread.tweets for m in t.media]
    links, images = source_urls(post)
    assert not [u for u in links if u not in shown and u != post.url]
    assert set(media) >= images | ({post.cover_image} if post.cover_image else set())
    assert len(media) == len(set(media))
    assert CHANNEL.checks(thread, FULL) == [] or len(thread.tweets) > 17


@PROPERTY
@given(newsletter())
def test_full_mode_cuts_mid_sentence_only_with_an_ellipsis(text):
    post = make(text, "prop")
    texts = bare(render(post, FULL))
    lines = {line.strip() for b in article_blocks(post) for line in b.text.split("\n")} | {post.title, link_line(post)}
    lines.add(words(post.language)["image"])  # the label of a tweet carrying images that found no room
    for tweet in texts[:-1]:
        last = tweet.rsplit("\n", 1)[-1].strip()
        assert tweet.endswith(ELLIPSIS) or re.search(r"[.!?。！？」”』）)]$", tweet) or last in lines or \
            any(line.endswith(last) for line in lines), tweet


@PROPERTY
@given(post_text(), st.sampled_from(["summary", "full"]), st.sampled_from(["first", "last"]))
def test_arbitrary_text_never_makes_an_empty_tweet_or_one_ending_on_a_colon(case, mode, position):
    body, summary, _ = case
    post = make_post(body, f"title: Property test\n{summary}")
    thread = render(post, load_settings(env={"PUBLISHER_X_MODE": mode, "PUBLISHER_X_LINK_POSITION": position}))
    texts = bare(thread)
    for k, text in enumerate(texts, 1):
        assert text.strip() and 0 < weighted_length(thread.tweets[k - 1].text) <= MAX_WEIGHTED
        if position == "last" or k < len(texts):  # (a post may itself end on a colon)
            assert not text.rstrip().endswith((":", "：")), text
    if mode == "full":
        links, images = source_urls(post)
        shown = "\n".join(texts)
        assert not [u for u in links if u not in shown and u != post.url]
        assert {m for t in thread.tweets for m in t.media} >= images


RELEASE_WITH_CONTENTS = """---
title: Tern 4.2
---
Today we release Tern 4.2, with a faster resolver and a new lockfile.

### Highlights

- [Faster Resolver](/blog/2026/05/12/tern-4.2#faster-resolver)
- [Lockfile v3](/blog/2026/05/12/tern-4.2#lockfile-v3)

## Highlights

### Faster Resolver

The resolver now walks the graph once, so installs of large workspaces finish in half the time.

### Lockfile v3

The lockfile records integrity hashes per platform, which makes installs on CI reproducible.

## Breaking Changes

### Node 18 Dropped

Tern 4.2 needs Node 20 or later.
"""


def test_a_contents_list_of_links_into_the_post_is_not_told_as_items():
    thread = CHANNEL.render(make(RELEASE_WITH_CONTENTS, "tern-4-2"), SUMMARY)
    texts = bare(thread)
    assert not any("#faster-resolver" in t or "#lockfile-v3" in t for t in texts)
    # the group headings ("## Highlights" straight over "### …") give way to the features they hold
    assert [t.split("\n\n")[0] for t in texts[1:]] == ["Faster Resolver", "Lockfile v3", "Node 18 Dropped"]
    assert all(len(t.split("\n\n")) >= 2 for t in texts[1:])  # each with its line, none heading-only


LINKS_WITH_BYLINES_AND_EXCERPTS = """---
title: Functional Weekly 212
---
Welcome to another issue of Functional Weekly.

## Featured

- [A faster type checker](https://blog.example.org/faster-checker) by Ana Lima
  > We rewrote constraint solving around union-find. Checking our largest module now takes a third of the time, and the error messages name the binding that disagrees instead of the one that noticed. This post walks through the three changes that mattered, with numbers for each.

- [Can laziness be taught?](https://talks.example.org/laziness) by Kim Ode
  > A talk on teaching evaluation order to newcomers.
"""


def test_a_byline_item_is_told_by_its_excerpt_and_a_cut_quote_stays_closed():
    texts = bare(CHANNEL.render(make(LINKS_WITH_BYLINES_AND_EXCERPTS, "functional-212"), SUMMARY))
    first, second = texts[0].split("\n\n")[1:], texts[1].split("\n\n")  # the boilerplate welcome is passed over
    assert first[0] == "A faster type checker, by Ana Lima" and first[1].startswith("“We rewrote constraint solving")
    assert first[1].endswith("”") and first[1].count("“") == first[1].count("”") == 1
    assert second[0] == "Can laziness be taught? by Kim Ode"  # no comma after a question mark
    assert second[1] == "“A talk on teaching evaluation order to newcomers.”"


def test_a_line_that_shows_its_link_gets_no_link_line_repeating_it():
    post = make("---\ntitle: Notes\n---\nWhat this issue covers, in a sentence of some length.\n\n## Tools\n\n"
                "The new release at https://tool.example.org/releases/2 is faster, and it fixes the cache.\n\n"
                "## Reading\n\nA long read on queues explains backpressure well: [the post](https://queues.example.org/q).\n",
                "notes")
    texts = bare(CHANNEL.render(post, SUMMARY))
    tools = next(t for t in texts if t.startswith("Tools"))
    assert tools.count("https://tool.example.org/releases/2") == 1
    reading = next(t for t in texts if t.startswith("Reading"))
    assert reading.count("https://queues.example.org/q") == 1  # a link behind text still gets its line


MASTHEAD_ISSUE = """---
title: "Acme Weekly｜Release notes and three fixes"
description: Release notes and three fixes
---
**Weekly highlights from the Acme community, every Friday.**

**Acme homepage:** *[https://acme.example.org](https://acme.example.org)*

**Acme:** *[https://github.com/acme](https://github.com/acme)*

## Fixes

- [Retry budget honoured](https://github.com/acme/acme/pull/12): the client stops after the budget.
- [Faster cold start](https://github.com/acme/acme/pull/15): the cache is warmed on boot.
- [A new kind of queue](https://queue.example.com/new): deeper path, an article.
"""


def test_the_masthead_and_a_description_the_title_already_says_are_not_told():
    texts = bare(CHANNEL.render(make(MASTHEAD_ISSUE, "acme-weekly"), SUMMARY))
    assert texts[0].split("\n\n")[1] == "Weekly highlights from the Acme community, every Friday."
    joined = "\n".join(texts)
    assert "https://acme.example.org\n" not in joined + "\n" and "https://github.com/acme\n" not in joined + "\n"
    assert "https://queue.example.com/new" in joined and "https://github.com/acme/acme/pull/12" in joined


def test_a_paragraph_told_under_its_heading_is_not_told_again_as_filler():
    paragraphs = "\n\n".join(" ".join(f"Paragraph {n} sentence {k} makes a claim of some weight about queues."
                                      for k in range(8)) for n in range(3))
    closing = ("Acme is a graduated project of the foundation. Acme is committed to open governance. "
               "Come and join the fun in our community channels!")
    texts = bare(CHANNEL.render(make(f"---\ntitle: Adoption grew\n---\n{paragraphs}\n\n## Acme is for everyone\n\n"
                                     f"{closing}\n", "adoption"), SUMMARY))
    assert sum("Acme is a graduated project" in t for t in texts) == 1


def test_a_list_item_that_only_labels_the_items_under_it_is_not_a_line():
    post = make("---\ntitle: Release 4.2\n---\nRelease 4.2 is out today with new options and a faster compiler.\n\n"
                "## New features\n\n- Command-line options\n    - `--mem-size` sets one memory limit for everything the "
                "compiler allocates.\n- Ruby API\n    - `log` returns the tail of the compilation log.\n\n"
                "## Fixes\n\nThe parser no longer crashes on empty heredocs.\n", "release-4-2")
    features = next(t for t in bare(CHANNEL.render(post, SUMMARY)) if t.startswith("New features"))
    assert "Command-line options" not in features and "--mem-size sets one memory limit" in features  # flag kept whole


def test_a_list_item_whose_link_opens_a_sentence_is_told_as_that_sentence():
    post = make("---\ntitle: Tools weekly 12\n---\nThe tools that shipped this week, in short.\n\n## Tools\n\n"
                "- [Oxlint 1.79 just added support](https://oxc.example/1.79). The new transform package also "
                "unlocks automatic memoization.\n- [Biome 2.5.8](https://biome.example/2.5.8) is out with a new "
                "compiler rule.\n- [Bun 1.4](https://bun.example/1.4): React Compiler support through a flag.\n",
                "tools-12")
    texts = bare(CHANNEL.render(post, SUMMARY))
    assert any(t.startswith("Oxlint 1.79 just added support. The new transform package") for t in texts)
    assert any(t.startswith("Biome 2.5.8 is out with a new compiler rule.") for t in texts)
    assert any(t.startswith("Bun 1.4\n\nReact Compiler support through a flag.") for t in texts)  # a real title


def test_a_long_line_ending_in_a_colon_is_told_with_an_ellipsis_and_a_short_lead_in_is_not():
    post = make("---\ntitle: This week in Acme\n---\nLet's explore this week's news.\n\n"
                "### [Add support for the QUERY method](https://acme.example/pr/1)\n\n"
                "QUERY is a safe and idempotent HTTP method that carries the query in the request body, for "
                "queries too large for a URL query string:\n\n```ruby\nget :search, query: true\n```\n\n"
                "### [Faster boot](https://acme.example/pr/2)\n\nHere is how:\n\n```sh\nacme boot --fast\n```\n",
                "acme-week")
    texts = bare(CHANNEL.render(post, SUMMARY))
    query = next(t for t in texts if t.startswith("Add support for the QUERY method"))
    assert "QUERY is a safe and idempotent HTTP method" in query and not query.split("\n\n")[1].endswith(":")
    assert query.split("\n\n")[1].endswith("…")
    assert not any("Here is how" in t for t in texts)


def test_a_title_line_over_its_text_never_ends_a_full_tweet_alone():
    text = "Commit 0 made part 0 of the framework, " + ", ".join(
        f"[helper {n}](https://github.com/acme/acme/pull/5{n:03d})" for n in range(9)) + " safe to run in parallel."
    post = make(f"---\ntitle: This week in Acme\n---\nIntro.\n\n[Make Acme more parallel-safe](https://acme.example/pr/9)  \n"
                f"{text}\n", "acme-full")
    texts = bare(CHANNEL.render(post, FULL))
    holder = next(t for t in texts if "Make Acme more parallel-safe" in t)
    assert "Commit 0 made part 0" in holder  # the title goes with the start of its text
