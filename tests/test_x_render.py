"""X thread renderer: golden files for the sample, properties of splitting, and worked examples."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from channels.x.channel import CHANNEL
from channels.x.layout import numbering
from channels.x.limits import MAX_MEDIA, MAX_WEIGHTED
from channels.x.modes import link_line
from channels.x.payload import Tweet, XThread
from channels.x.split import ELLIPSIS, sentences, split_text, weighted_length
from channels.x.text import article_blocks
from publisher.config import load_settings
from publisher.markdown import html_to_text, walk
from publisher.post import parse_post

GOLDEN = Path(__file__).parent / "golden" / "x"
SETTINGS = load_settings(env={})
FULL = load_settings(env={"PUBLISHER_X_MODE": "full"})


def make_post(body: str, front: str = "title: A test post", name: str = "t.md"):
    return parse_post(f"---\n{front}\n---\n{body}\n", name=name, settings=SETTINGS, default_slug="test-post")


def render(post, settings=SETTINGS) -> XThread:
    return CHANNEL.render(post, settings)


def strip_numbering(thread: XThread) -> list[str]:
    """Tweet texts without their " k/N" suffix, asserting that the numbering is consistent."""
    total = len(thread.tweets)
    out = []
    for k, tweet in enumerate(thread.tweets, 1):
        suffix = numbering(k, total)
        assert suffix == ("" if total == 1 else f"\n\n{k}/{total}")
        assert tweet.text.endswith(suffix), (k, tweet.text)
        out.append(tweet.text[:len(tweet.text) - len(suffix)])
    return out


def no_space(text: str) -> str:
    return "".join(text.split())


def article_text(thread: XThread) -> str:
    """The full thread's text as one string: no numbering, no "…" that marks a piece cut mid-sentence
    (it always ends its tweet), no whitespace."""
    return no_space("".join(t.removesuffix(ELLIPSIS) for t in strip_numbering(thread)))


def expected_full_text(post, link: str = "last") -> str:
    """The article as the full thread must carry it, from the same tree: title, blocks, link."""
    body = [b.text for b in article_blocks(post)]
    parts = [post.title] + ([link_line(post)] if link == "first" else []) + body
    return no_space("".join(parts + ([link_line(post)] if link == "last" else [])))


# --- weighted counting (PLATFORMS.md 1.7 spot checks) -------------------------------------------

@pytest.mark.parametrize("text, weight", [
    ("你好，世界", 10),
    ("中" * 140, 280),
    ("中" * 141, 282),
    ("see https://example.com/very/long/path?x=1", 27),
    ("👨‍👩‍👧‍👦", 2),
    ("e\u0301", 1),
    ("https://example.com/" + "a" * 500, 23),
])
def test_weighted_length_matches_twitter_text_v3(text, weight):
    assert weighted_length(text) == weight


# --- the sample --------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["summary", "full"])
def test_sample_matches_golden(sample_post, mode):
    settings = load_settings(env={"PUBLISHER_X_MODE": mode})
    files = CHANNEL.preview_files(render(sample_post, settings))
    assert list(files) == ["x_thread.json"]
    golden = GOLDEN / f"sample_{mode}.x_thread.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(files["x_thread.json"], encoding="utf-8")
    assert files["x_thread.json"] == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("mode", ["summary", "full"])
def test_sample_tweets_fit_and_have_no_markdown(sample_post, mode):
    thread = render(sample_post, load_settings(env={"PUBLISHER_X_MODE": mode}))
    for tweet in thread.tweets:
        assert 0 < weighted_length(tweet.text) <= MAX_WEIGHTED
        for syntax in ("**", "##", "](", "`", "<div", "<a "):
            assert syntax not in tweet.text
    assert not [p for p in CHANNEL.checks(thread, SETTINGS) if "tweet" in p]


def test_sample_summary_thread_shape(sample_post):
    thread = render(sample_post)
    texts = strip_numbering(thread)
    assert thread.mode == "summary" and not thread.hand_written
    assert texts[0] == f"{sample_post.title}\n\n{sample_post.summary[0]}"
    assert texts[1:-1] == list(sample_post.summary[1:-1])
    assert texts[-1] == f"{sample_post.summary[-1]}\n\n阅读全文：{sample_post.url}"
    assert len(thread.tweets) <= SETTINGS.x_daily_budget
    assert CHANNEL.checks(thread, SETTINGS) == []


@pytest.mark.parametrize("mode", ["summary", "full"])
def test_cover_on_tweet_one_only(sample_post, mode):
    thread = render(sample_post, load_settings(env={"PUBLISHER_X_MODE": mode}))
    assert thread.tweets[0].media[0] == sample_post.cover_image
    assert all(sample_post.cover_image not in t.media for t in thread.tweets[1:])


@pytest.mark.parametrize("mode", ["summary", "full"])
@pytest.mark.parametrize("position", ["first", "last"])
def test_link_appears_exactly_once(sample_post, mode, position):
    settings = load_settings(env={"PUBLISHER_X_MODE": mode, "PUBLISHER_X_LINK_POSITION": position})
    thread = render(sample_post, settings)
    holders = [k for k, t in enumerate(thread.tweets) if sample_post.url in t.text]
    assert sum(t.text.count(sample_post.url) for t in thread.tweets) == 1
    assert holders == ([0] if position == "first" else [len(thread.tweets) - 1])


def test_full_sample_keeps_every_word(sample_post):
    thread = render(sample_post, FULL)
    assert article_text(thread) == expected_full_text(sample_post)
    assert "20.258%" in "".join(t.text for t in thread.tweets)
    assert any("@ai_news_plus (https://t.me/ai_news_plus)" in t.text for t in thread.tweets)


def test_no_tweet_ends_with_a_heading(sample_post):
    texts = strip_numbering(render(sample_post, FULL))
    headings = [b.text for b in article_blocks(sample_post) if b.kind == "heading"]
    assert len(headings) == 10
    assert not [t for t in texts for h in headings if t.endswith(h)]


def test_heading_goes_alone_rather_than_cutting_a_word():
    heading = "A heading " * 12
    post = make_post(f"## {heading}\n\n{'y' * 200} and the rest.", "title: T\nchannels:\n  x:\n    mode: full")
    thread = render(post)
    texts = strip_numbering(thread)
    assert texts[0] == f"T\n\n{heading.strip()}"
    assert texts[1].startswith("y" * 200 + " and the rest.")
    assert CHANNEL.checks(thread, SETTINGS) == []


def test_render_is_deterministic(sample_post):
    assert CHANNEL.preview_files(render(sample_post, FULL)) == CHANNEL.preview_files(render(sample_post, FULL))


def test_preview_json_shape(sample_post):
    data = CHANNEL.preview_json(render(sample_post))
    assert set(data) == {"tweets"}
    assert all(set(t) == {"text", "media"} and isinstance(t["media"], list) for t in data["tweets"])
    text = CHANNEL.preview_files(render(sample_post))["x_thread.json"]
    assert text.endswith("\n") and "阅读全文" in text and json.loads(text) == data


def test_full_sample_is_over_the_daily_budget(sample_post):
    thread = render(sample_post, FULL)
    problems = CHANNEL.checks(thread, SETTINGS)
    assert len(thread.tweets) > 25
    assert problems == [f"the thread has {len(thread.tweets)} posts; past 25 few readers follow a thread to its "
                        "end: use summary mode, or write a shorter thread by hand",
                        f"the thread has {len(thread.tweets)} posts but the daily X budget is 17 "
                        "(PUBLISHER_X_DAILY_BUDGET); use summary mode, shorten it, or raise the budget"]


# --- an English post with everything -------------------------------------------------------------

ENGLISH = """\
Intro paragraph with a [project page](https://example.org/projects/widget?ref=newsletter&utm=x) and a
bare link https://example.net/a/very/long/path/that/goes/on/and/on/forever/and/ever/index.html plus
**bold**, _italic_ and `inline code` 🎉. Say hi to @alice and follow #rustlang today!

## Section one

The first sentence of section one is here. The second sentence adds context, numbers like 1.5 and
2,000 and 20.258% included. A third one follows.

- top item with [docs](https://docs.example.org/)
  - nested item 👩‍💻
- second item

1. first step
2. second step

> A wise quote spans
> two lines.

```python
def hello():
    return "world"
```

| Name | Score |
|------|-------|
| Ada  | 9.5   |

![A chart](https://img.example.org/chart.png)

## Section two

Short. Then more text here.
"""


def test_english_full_thread_reads_as_plain_text():
    post = make_post(ENGLISH, "title: Everything at once\ncoverImage: https://img.example.org/cover.png")
    thread = render(post, FULL)
    joined = "\n".join(strip_numbering(thread))
    assert "project page (https://example.org/projects/widget?ref=newsletter&utm=x)" in joined
    assert "https://example.net/a/very/long/path/that/goes/on/and/on/forever/and/ever/index.html" in joined
    assert "• top item with docs (https://docs.example.org/)" in joined
    assert "◦ nested item 👩‍💻" in joined and "1. first step\n2. second step" in joined
    assert "“A wise quote spans two lines.”" in joined
    assert 'def hello():\n    return "world"' in joined
    assert "Name · Score\nAda · 9.5" in joined
    for syntax in ("**", "##", "](", "`", "_italic_", "> "):
        assert syntax not in joined
    assert thread.tweets[0].media == ("https://img.example.org/cover.png",)
    assert any(t.media == ("https://img.example.org/chart.png",) for t in thread.tweets[1:])
    assert joined.count(post.url) == 1 and "Read the full post: " in joined
    assert article_text(thread) == expected_full_text(post)
    assert CHANNEL.checks(thread, SETTINGS) == []


def test_summary_without_summary_uses_sections():
    post = make_post(ENGLISH, "title: Everything at once")
    texts = strip_numbering(render(post))
    assert texts[0].startswith("Everything at once\n\nIntro paragraph with a project page")
    assert texts[0].endswith("plus bold, italic and inline code 🎉.")
    assert texts[1] == ("Section one\n\nThe first sentence of section one is here. The second sentence adds "
                        "context, numbers like 1.5 and 2,000 and 20.258% included. A third one follows.")
    assert texts[2] == f"Section two\n\nShort. Then more text here.\n\nRead the full post: {post.url}"


def test_link_option_from_front_matter():
    post = make_post("Hello there. More text.", "title: T\nchannels:\n  x:\n    link: first")
    assert strip_numbering(render(post)) == [f"T\n\nHello there.\n\nRead the full post: {post.url}"]
    post = make_post("Hello there.", "title: T\nchannels:\n  x:\n    link: none\n    mode: full")
    thread = render(post)
    assert thread.mode == "full" and [t.text for t in thread.tweets] == ["T\n\nHello there."]


def test_summary_points_written_in_markdown_become_plain_text():
    front = ("title: T\nsummary:\n  - '**Bold** point with [a link](https://a.example.org/x)'\n"
             "  - 'Second `code` point'")
    texts = strip_numbering(render(make_post("Body.", front)))
    assert texts == ["T\n\nBold point with a link (https://a.example.org/x)",
                     f"Second code point\n\nRead the full post: https://example.com/test-post"]


def test_bad_option_is_reported_and_default_used():
    post = make_post("Hello.", "title: T\nchannels:\n  x:\n    mode: everything")
    thread = render(post)
    assert thread.mode == "summary"
    assert CHANNEL.checks(thread, SETTINGS) == [
        "channels.x.mode is 'everything'; expected one of summary, full (using 'summary')"]


# --- splitting -----------------------------------------------------------------------------------

def fits_280(text: str) -> bool:
    return weighted_length(text) <= MAX_WEIGHTED


def test_split_prefers_sentences_then_clauses():
    sentence = "This sentence is about forty-five chars long. "
    pieces = split_text(sentence * 12, fits_280)
    assert [cut for _, cut in pieces] == ["sentence", ""] and all(p.endswith(".") for p, _ in pieces)
    clause = "a clause of some words, "
    pieces = split_text((clause * 20).rstrip(", ") + ".", fits_280)
    assert pieces[0][0].endswith(",") and len(pieces) == 2


def test_cjk_sentences_then_characters():
    text = "人工智能正在改变世界。" * 40
    pieces = [p for p, _ in split_text(text, fits_280)]
    assert all(p.endswith("。") for p in pieces) and "".join(pieces) == text
    text = "中" * 500
    pieces = split_text(text, fits_280)
    assert [len(p) for p, _ in pieces] == [140, 140, 140, 80]
    assert [cut for _, cut in pieces] == ["cjk", "cjk", "cjk", ""]


def test_numbers_urls_mentions_are_never_cut():
    # without protection the 280 boundary would fall inside each token
    for token in ("3.14159265", "20.258%", "2,000,000", "@someone_long", "#hashtag_here"):
        text = "x" * 275 + token + " tail"
        pieces = split_text(" ".join(["word"] * 10) + " " + text, fits_280)
        assert any(token in p for p, _ in pieces), token
    long_url = "https://example.com/" + "p" * 400
    pieces = split_text(("word " * 60) + long_url + " end", fits_280)
    assert any(long_url in p for p, _ in pieces)


def test_giant_word_is_cut_and_reported():
    post = make_post("Start. " + "x" * 400 + " end.", "title: T\nchannels:\n  x:\n    mode: full")
    thread = render(post)
    assert all(weighted_length(t.text) <= MAX_WEIGHTED for t in thread.tweets)
    assert CHANNEL.checks(thread, SETTINGS) == [
        "tweet 2 ends in the middle of a word longer than a tweet; shorten that word or write the thread by hand"]


def test_numbering_width_is_reserved_for_long_threads():
    body = "\n\n".join(f"Paragraph {i} " + "word " * 50 for i in range(30))
    thread = render(make_post(body, "title: Long\nchannels:\n  x:\n    mode: full"))
    assert len(thread.tweets) >= 10
    strip_numbering(thread)
    assert all(weighted_length(t.text) <= MAX_WEIGHTED for t in thread.tweets)


def test_combining_marks_are_counted_as_x_counts_them():
    text = "cafe\u0301 " * 90  # 450 code points, 360 weighted after NFC
    pieces = split_text(text, fits_280)
    assert len(pieces) == 2 and all(fits_280(p) for p, _ in pieces)
    assert all(not p.startswith("\u0301") for p, _ in pieces)


def test_sentences_keep_decimals_together():
    assert sentences("Growth was 1.5 times. Next is 2.0. 好的。再见！") == [
        "Growth was 1.5 times.", "Next is 2.0.", "好的。", "再见！"]


# --- hand-written threads and checks --------------------------------------------------------------

def test_hand_written_thread_wins():
    front = ("title: T\ncoverImage: https://img.example.org/c.png\nchannels:\n  x:\n    thread:\n"
             "      - First tweet, as written\n"
             "      - {text: Second one, media: [https://img.example.org/a.png]}\n")
    thread = render(make_post("Body text.", front))
    assert thread.hand_written
    assert thread.tweets == (Tweet("First tweet, as written"), Tweet("Second one", ("https://img.example.org/a.png",)))
    assert CHANNEL.checks(thread, SETTINGS) == []
    assert CHANNEL.preview_json(thread) == {"tweets": [
        {"text": "First tweet, as written", "media": []},
        {"text": "Second one", "media": ["https://img.example.org/a.png"]}]}


def test_hand_written_thread_is_still_checked():
    front = ("title: T\nchannels:\n  x:\n    thread:\n"
             f"      - {'中' * 150}\n"
             "      - {text: pics, media: [a.png, https://i/1, https://i/2, https://i/3, https://i/4]}\n"
             "      - ''\n"
             "      - [nested]\n")
    problems = CHANNEL.checks(render(make_post("Body.", front)), SETTINGS)
    assert problems == [
        "channels.x.thread item 4 should be text or {text, media}; got a list",
        "tweet 1 is 300 weighted characters; X allows 280",
        "tweet 2 has 5 images; X allows 4 per post",
        "tweet 2 has an image that is not an http(s) URL: 'a.png'",
        "tweet 3 is empty",
    ]


def test_unusable_hand_written_thread_falls_back_and_is_reported():
    thread = render(make_post("Body.", "title: T\nchannels:\n  x:\n    thread: just one string"))
    assert not thread.hand_written and thread.tweets[0].text.startswith("T\n\nBody.")
    assert CHANNEL.checks(thread, SETTINGS)[:2] == [
        "channels.x.thread should be a list of tweets (text, or text + media); got str",
        "the hand-written thread could not be used; this is the generated one"]


def test_media_is_spread_at_most_four_per_tweet():
    images = "\n\n".join(f"![]( https://img.example.org/{i}.png)" for i in range(6))
    thread = render(make_post(f"Text.\n\n{images}\n\nMore text.", "title: T\nchannels:\n  x:\n    mode: full"))
    assert all(len(t.media) <= MAX_MEDIA for t in thread.tweets)
    # a tweet full of images closes; the rest go with the text after them, none is left out
    assert [len(t.media) for t in thread.tweets] == [4, 2]
    assert strip_numbering(thread)[1].startswith("More text.")
    assert CHANNEL.checks(thread, SETTINGS) == []
    # with no text after them, the last images get a tweet of their own rather than being left out
    thread = render(make_post(f"Text.\n\n{images}", "title: T\nchannels:\n  x:\n    mode: full\n    link: none"))
    assert [(t.text, len(t.media)) for t in thread.tweets] == [("T\n\nText.\n\n1/2", 4), ("Image\n\n2/2", 2)]
    assert CHANNEL.checks(thread, SETTINGS) == []
    images = "\n\n".join(f"Para {i}. " + "word " * 50 + f"\n\n![](https://img.example.org/{i}.png)"
                          for i in range(6))
    thread = render(make_post(images, "title: T\nchannels:\n  x:\n    mode: full"))
    assert [len(t.media) for t in thread.tweets] == [1] * 6 + [0] and CHANNEL.checks(thread, SETTINGS) == []


# --- properties over arbitrary text -------------------------------------------------------------

WORD = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)
GIANT_WORD = st.text("abcdefghijklmnopqrstuvwxyz", min_size=281, max_size=330)
CJK = st.text("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经",
              min_size=1, max_size=160)
EMOJI = st.sampled_from(["🎉", "👍🏽", "👨‍👩‍👧‍👦", "👩‍💻", "🇨🇳", "❤️", "🏳️‍🌈"])
URL = st.builds(lambda host, path: f"https://{host}.example.com/{path}",
                st.text("abcdefghij", min_size=1, max_size=8),
                st.text("abcdefghij0123456789/-", min_size=0, max_size=120))
BARE_URL = st.builds(lambda host: f"{host}.org/page", st.text("abcdefgh", min_size=2, max_size=8))
NUMBER = st.sampled_from(["1.5", "20.258%", "2,000", "3.14159", "1,234,567.89", "42", "2026/01/24", "18-300"])
MENTION = st.builds(lambda name: "@" + name, st.text("abcdefghijklmnop0123456789", min_size=1, max_size=15))
HASHTAG = st.builds(lambda tag: "#" + tag, st.text("abcdefghijklmnopABC", min_size=1, max_size=20))
PUNCT = st.sampled_from(["。", "，", "、", "；", ".", ",", "!", "?", "——", "：", "！", "？", ";"])
MARKDOWN = st.sampled_from(["**bold words**", "`some code`", "[link text](https://example.com/x)",
                            "*emphasis*", "~~gone~~", "[a.b](https://a.example.org/)"])
SPECIAL = st.one_of(URL, BARE_URL, NUMBER, MENTION, HASHTAG)


@st.composite
def paragraph(draw):
    token = st.one_of(WORD, WORD, WORD, CJK, CJK, EMOJI.map(lambda e: ("emoji", e)), PUNCT, PUNCT, MARKDOWN,
                      SPECIAL.map(lambda s: ("special", s)))
    tokens = draw(st.lists(token, min_size=1, max_size=70))
    if draw(st.integers(0, 15)) == 0:
        tokens.insert(draw(st.integers(0, len(tokens))), draw(GIANT_WORD))
    out, specials = [], []
    for token in tokens:
        if isinstance(token, tuple):  # kept whole; a special also keeps spaces around it
            specials.append(token[1])
            out.append(f" {token[1]} " if token[0] == "special" else token[1])
        else:
            out.append(token + draw(st.sampled_from([" ", "", " ", "\n"])))
    return "".join(out).strip(), specials


@st.composite
def post_text(draw):
    blocks, specials = [], []
    for _ in range(draw(st.integers(1, 6))):
        text, found = draw(paragraph())
        specials += found
        shape = draw(st.sampled_from(["p", "p", "p", "h", "li", "quote"]))
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = " ".join(lines) if shape in ("h", "li") else "\n".join(lines)
        blocks.append({"p": text, "h": f"## {text}", "li": f"- {text}", "quote": f"> {text}"}[shape])
    summary = draw(st.sampled_from(["", "summary: One point that matters"]))
    return "\n\n".join(blocks), summary, specials


def independent_words(post) -> list[str]:
    """Every word the body holds, read straight off the tree (no channel code)."""
    words = []
    for node in walk(post.tree):
        if node.type in ("text", "code_inline") and node.parent and node.parent.type != "image":
            words += node.content.split()
        elif node.type in ("fence", "code_block"):
            words += node.content.split()
        elif node.type == "html_block":
            words += html_to_text(node.content).split()
    return words


def in_order(words: list[str], text: str) -> bool:
    position = 0
    for word in words:
        found = text.find(word, position)
        if found < 0:
            return False
        position = found + len(word)
    return True


PROPERTY = hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(post_text())
def test_full_mode_fits_and_loses_nothing(case):
    body, summary, specials = case
    post = make_post(body, "title: Property test")
    thread = render(post, FULL)
    texts = strip_numbering(thread)
    for tweet in thread.tweets:
        assert 0 < weighted_length(tweet.text) <= MAX_WEIGHTED, tweet.text
    assert article_text(thread) == expected_full_text(post)
    assert in_order([no_space(w) for w in independent_words(post)], article_text(thread))
    source = "\n\n".join(b.text for b in article_blocks(post))
    for token in set(specials):
        assert sum(t.count(token) for t in texts) >= source.count(token), token
    assert not [p for p in CHANNEL.checks(thread, FULL) if "weighted" in p or "empty" in p]


@PROPERTY
@given(post_text())
def test_summary_mode_fits_and_links_once(case):
    body, summary, _ = case
    post = make_post(body, f"title: Property test\n{summary}")
    thread = render(post)
    strip_numbering(thread)
    for tweet in thread.tweets:
        assert 0 < weighted_length(tweet.text) <= MAX_WEIGHTED, tweet.text
    assert sum(t.text.count(post.url) for t in thread.tweets) == 1
    assert thread.tweets[-1].text.count(post.url) == 1
