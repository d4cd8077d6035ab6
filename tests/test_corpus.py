"""Issue 9's judgement on our own corpus (tests/corpus: posts written for these tests in the formats
real newsletters and blogs use): every titled post renders on every channel, and on each channel at
least 90% of the posts pass the reader checks (tests/reader_checks.py). A failure prints a table of
post × check so it says which post failed what."""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import pytest

from channels.registry import CHANNELS
from publisher.config import load_settings
from publisher.post import load_post
from tests import reader_checks as rc

CORPUS = Path(__file__).parent / "corpus"
POSTS = sorted(p for p in CORPUS.iterdir() if p.suffix in (".md", ".mdx", ".markdown"))
SETTINGS = load_settings(env={"PUBLISHER_SITE_URL": "https://news.example.org"})
FULL_X = dataclasses.replace(SETTINGS, x_mode="full")
CHANNEL_NAMES = ("x", "telegram", "wechat", "email")
PASS_RATE = 0.9


def judge(path: Path) -> dict[str, list[str]]:
    """{channel: problems} for one corpus post (a crash is a problem on every channel)."""
    try:
        post = load_post(path, SETTINGS)
    except Exception as exc:  # noqa: BLE001 - a post that does not load fails everywhere, named
        return {name: [f"load: {exc}"] for name in CHANNEL_NAMES}
    out: dict[str, list[str]] = {}
    outputs: dict[str, tuple[str, bool]] = {}
    try:
        summary = CHANNELS["x"].render(post, SETTINGS)
        full = CHANNELS["x"].render(post, FULL_X)
        out["x"] = rc.x_problems(post, summary, full)
        outputs["x.summary"] = ("\n\n".join(t.text for t in summary.tweets), False)
        outputs["x.full"] = ("\n\n".join(t.text for t in full.tweets), False)
    except Exception as exc:  # noqa: BLE001
        out["x"] = [f"render: {type(exc).__name__}: {exc}"]
    try:
        telegram = CHANNELS["telegram"].render(post, SETTINGS)
        out["telegram"] = rc.telegram_problems(post, telegram)
        outputs["telegram"] = ("\n\n".join(rc.telegram_texts(telegram)), True)
    except Exception as exc:  # noqa: BLE001
        out["telegram"] = [f"render: {type(exc).__name__}: {exc}"]
    try:
        article = CHANNELS["wechat"].render(post, SETTINGS)
        out["wechat"] = rc.wechat_problems(post, article, CHANNELS["wechat"].checks(article, SETTINGS))
        outputs["wechat"] = (article.content, True)
        outputs["wechat.digest"] = (article.digest, False)
    except Exception as exc:  # noqa: BLE001
        out["wechat"] = [f"render: {type(exc).__name__}: {exc}"]
    try:
        email = CHANNELS["email"].render(post, SETTINGS)
        out["email"] = rc.email_problems(post, email)
        outputs["email.html"] = (email.html, True)
        outputs["email.text"] = (email.text, False)
        outputs["email.subject"] = (email.subject + "\n" + email.preheader, False)
    except Exception as exc:  # noqa: BLE001
        out["email"] = [f"render: {type(exc).__name__}: {exc}"]
    for channel, leaks in rc.leak_problems(post, outputs).items():
        out.setdefault(channel, []).extend(leaks)
    return out


@lru_cache(maxsize=1)
def verdicts() -> dict[str, dict[str, list[str]]]:
    return {path.name: judge(path) for path in POSTS}


def failure_table(results: dict[str, dict[str, list[str]]]) -> str:
    rows = [f"{name:44} {channel:9} {problem}" for name, by_channel in results.items()
            for channel in CHANNEL_NAMES for problem in by_channel.get(channel, [])]
    return "\n".join(rows) or "(no failures)"


def pass_rates(results: dict[str, dict[str, list[str]]]) -> dict[str, float]:
    return {channel: sum(1 for r in results.values() if not r.get(channel)) / len(results) for channel in CHANNEL_NAMES}


def test_the_corpus_is_big_and_varied_enough():
    assert len(POSTS) >= 30
    heads = [p.read_text(encoding="utf-8")[:4].lstrip("\n") for p in POSTS]
    assert any(h.startswith("---") for h in heads) and any(h.startswith("+++") for h in heads)
    assert any(h.startswith("{") for h in heads) and any(h[:1].isalpha() for h in heads)


def test_every_titled_post_renders_on_every_channel():
    crashed = {name: problems for name, r in verdicts().items() for problems in r.values()
               if any(p.startswith(("load:", "render:")) for p in problems)}
    assert not crashed, failure_table(verdicts())


@pytest.mark.parametrize("channel", CHANNEL_NAMES)
def test_reader_checks_pass_on_nine_posts_in_ten(channel):
    results = verdicts()
    rate = pass_rates(results)[channel]
    print(f"\n{channel}: {rate:.0%} of {len(results)} posts pass\n" + failure_table(results))
    assert rate >= PASS_RATE, f"{channel}: {rate:.0%} pass\n" + failure_table(results)


def test_the_reader_checks_can_fail():
    """Each check finds what it is for in a payload spoiled on purpose."""
    from channels.telegram.payload import BotCall, TelegramPayload
    from channels.x.payload import Tweet, XThread

    post = load_post(CORPUS / "colon-lead-in-link-roundup.md", SETTINGS)
    lead_in = XThread((Tweet(f"{post.title}\n\nHere's what caught my eye this week:\n\n1/2"), Tweet("Links\n\n2/2")),
                      "summary", False)
    found = " ".join(rc.x_problems(post, lead_in, lead_in))
    assert "x.hook" in found and ("heading-only" in found or "colon" in found)
    lossy = TelegramPayload((BotCall("sendMessage", {"text": "<b>Links</b>\n\n<a href=\"https://a.invalid/\">Image</a>"}),
                             BotCall("sendMessage", {"text": "rest"})), "full")
    found = " ".join(rc.telegram_problems(post, lossy))
    gappy = TelegramPayload((BotCall("sendMessage", {"text": "Hi,\n\n\nIt rained.\n \nBye."}),), "full")
    assert "telegram.blank-lines" in " ".join(rc.telegram_problems(post, gappy))
    assert "telegram.links" in found and "telegram.label" in found
    email = CHANNELS["email"].render(post, SETTINGS)
    spoiled = dataclasses.replace(email, html=email.html + '<img src="https://x.invalid/a.png" width="900">')
    assert rc.email_problems(post, spoiled)
    assert rc.site_syntax_leaks("x", "see {% include a.html %}", post, False)
    assert rc.site_syntax_leaks("telegram", "先看日志。**注意：**阈值", post, True)
    from publisher.post import parse_post
    emptied = parse_post("---\ntitle: T\n---\n\n![shot]({{ page.image }}) text\n", name="e.md", settings=SETTINGS)
    assert "telegram.images" in " ".join(rc.telegram_problems(emptied, CHANNELS["telegram"].render(emptied, SETTINGS)))
