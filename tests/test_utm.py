"""UTM tags on links to the site (publisher.utm): the pure tagging function, each channel's rendered
output with PUBLISHER_UTM on and off, and the preview written by the real command."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from channels.email.channel import CHANNEL as EMAIL
from channels.telegram.channel import CHANNEL as TELEGRAM
from channels.wechat.channel import CHANNEL as WECHAT
from channels.x.channel import CHANNEL as X
from channels.x.split import weighted_length
from channels.x.twitter_text_import import extract_urls_with_indices
from publisher.config import load_settings
from publisher.errors import PostError
from publisher.post import parse_post
from publisher.utm import KEYS, tag_hrefs, tag_url
from tests.conftest import run_cli

SITE = "blog.example.org"
SLUG = "links-home"
POST_URL = f"https://{SITE}/2026/{SLUG}/"
IMAGES = {f"https://{SITE}/img/cover.png", f"https://{SITE}/img/diagram.png"}
POST = f"""---
title: Links home
slug: {SLUG}
url: {POST_URL}
cover: https://{SITE}/img/cover.png
description: Where our readers come from, measured.
---
Intro with [our archive](https://{SITE}/archive?year=2026#top), [about us](/about),
[shouting](https://BLOG.Example.ORG/Upper), [a partner's tag](https://{SITE}/deal?utm_source=partner&x=1),
[elsewhere](https://other.example.net/page?x=1), [write to us](mailto:hi@{SITE}) and
<https://{SITE}/bare>.

![diagram](https://{SITE}/img/diagram.png)

<p>Raw <a href="https://{SITE}/raw">raw link</a> and <a href="https://evil.example.com/{SITE}">not ours</a>.</p>

## Section one

- [Item one](https://{SITE}/items/1): the first item, worth a read.
- [Item two](https://news.example.com/2): the second, from elsewhere.

## Section two

Closing words with a [last link](https://{SITE}/last#end).
"""
MEDIUM = {"email": "email", "x": "social", "telegram": "social", "wechat": "social"}


def settings_for(utm: bool, **extra: str):
    env = {"PUBLISHER_SITE_URL": f"https://{SITE}", **({"PUBLISHER_UTM": "on"} if utm else {}), **extra}
    return load_settings(env)


def post_for(settings, text: str = POST):
    return parse_post(text, name="links-home.md", settings=settings, default_slug=SLUG)


# --- what each channel emits: (links, images), in order --------------------------------------
_HREF = re.compile(r'<a\b[^>]*?\shref="([^"]*)"', re.I)
_SRC = re.compile(r'<img\b[^>]*?\ssrc="([^"]*)"', re.I)


def hrefs(document: str) -> list[str]:
    return [html.unescape(h) for h in _HREF.findall(document)]


def email_links(payload) -> tuple[list[str], list[str]]:
    text_urls = [url.rstrip(".,;:") for url in re.findall(r"https?://[^\s)]+", payload.text)]
    return hrefs(payload.html) + text_urls, [html.unescape(s) for s in _SRC.findall(payload.html)]


def x_links(payload) -> tuple[list[str], list[str]]:
    return ([u["url"] for t in payload.tweets for u in extract_urls_with_indices(t.text)],
            [m for t in payload.tweets for m in t.media])


def telegram_links(payload) -> tuple[list[str], list[str]]:
    links, images = [], []
    for call in payload.calls:
        links += hrefs(call.params.get("text") or call.params.get("caption") or "")
        images += [call.params.get("photo") or "", (call.params.get("link_preview_options") or {}).get("url", "")]
    return links, [i for i in images if i]


def wechat_links(payload) -> tuple[list[str], list[str]]:
    references = [html.unescape(u) for u in re.findall(r"<em>(https?://[^<]*)</em>", payload.content)]
    return ([payload.content_source_url] + hrefs(payload.content) + references,
            [payload.thumb or ""] + list(payload.images) + [html.unescape(s) for s in _SRC.findall(payload.content)])


CHANNELS = {"email": (EMAIL, email_links), "x": (X, x_links), "telegram": (TELEGRAM, telegram_links),
            "wechat": (WECHAT, wechat_links)}
CASES = [("email", {}), ("x", {"PUBLISHER_X_MODE": "summary"}), ("x", {"PUBLISHER_X_MODE": "full"}),
         ("telegram", {"PUBLISHER_TELEGRAM_MODE": "full"}), ("telegram", {"PUBLISHER_TELEGRAM_MODE": "summary"}),
         ("wechat", {})]
CASE_IDS = ["-".join([name, *extra.values()]) for name, extra in CASES]


def ours(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname == SITE and url not in IMAGES


@pytest.mark.parametrize("name,extra", CASES, ids=CASE_IDS)
def test_every_link_to_the_site_carries_the_channel_tags_and_nothing_else_changes(name, extra):
    channel, links_of = CHANNELS[name]
    plain_settings, utm_settings = settings_for(False, **extra), settings_for(True, **extra)
    before_links, before_images = links_of(channel.render(post_for(plain_settings), plain_settings))
    tagged = channel.render(post_for(utm_settings), utm_settings)
    after_links, after_images = links_of(tagged)

    assert after_images == before_images  # image sources never change
    assert len(after_links) == len(before_links)
    assert any(ours(url) for url in before_links)  # the post link at least
    assert channel.checks(tagged, utm_settings) == channel.checks(channel.render(post_for(plain_settings),
                                                                                 plain_settings), plain_settings)
    for before, after in zip(before_links, after_links):
        if not ours(before):
            assert after == before  # other hosts, mailto:, relative in-page anchors, images
            continue
        b, a = urlsplit(before), urlsplit(after)
        assert (a.scheme, a.netloc, a.path or "/", a.fragment) == (b.scheme, b.netloc, b.path or "/", b.fragment)
        assert a.query.startswith(b.query)  # the link's own parameters first, as written
        existing = dict(parse_qsl(b.query))
        params = dict(parse_qsl(a.query))
        expected = {"utm_source": name, "utm_medium": MEDIUM[name], "utm_campaign": SLUG}
        for key in KEYS:
            assert params[key] == existing.get(key, expected[key]), (before, after)


def test_the_partner_tag_wins_and_each_channel_tags_the_post_link():
    for name, (channel, links_of) in CHANNELS.items():
        settings = settings_for(True)
        links, _ = links_of(channel.render(post_for(settings), settings))
        post_link = f"{POST_URL}?utm_source={name}&utm_medium={MEDIUM[name]}&utm_campaign={SLUG}"
        assert post_link in links, name
        if name in ("email", "telegram"):  # the channels that keep body links as links
            partner = f"https://{SITE}/deal?utm_source=partner&x=1&utm_medium={MEDIUM[name]}&utm_campaign={SLUG}"
            assert partner in links


def test_x_weights_are_unchanged_by_tagging():
    for mode in ("summary", "full"):
        plain, utm = settings_for(False, PUBLISHER_X_MODE=mode), settings_for(True, PUBLISHER_X_MODE=mode)
        before, after = X.render(post_for(plain), plain), X.render(post_for(utm), utm)
        assert [weighted_length(t.text) for t in after.tweets] == [weighted_length(t.text) for t in before.tweets]
        assert any("utm_source=x" in t.text for t in after.tweets)


@pytest.mark.parametrize("source", sorted((Path(__file__).parent / "golden" / "x").glob("*.md")), ids=lambda p: p.stem)
def test_x_golden_threads_keep_their_layout_and_weights_when_tagged(source):
    for mode in ("summary", "full"):
        plain, utm = settings_for(False, PUBLISHER_X_MODE=mode), settings_for(True, PUBLISHER_X_MODE=mode)
        text = source.read_text(encoding="utf-8")
        before = X.render(parse_post(text, name=source.name, settings=plain), plain)
        after = X.render(parse_post(text, name=source.name, settings=utm), utm)
        assert len(after.tweets) == len(before.tweets) and X.checks(after, utm) == X.checks(before, plain)
        assert [weighted_length(t.text) for t in after.tweets] == [weighted_length(t.text) for t in before.tweets]
        assert any("utm_campaign=" in t.text for t in after.tweets) or before.hand_written


def test_email_unsubscribe_links_and_images_stay_untagged():
    settings = settings_for(True)
    payload = EMAIL.render(post_for(settings), settings)
    files = EMAIL.preview_files(payload)
    page = files["email.html"]
    assert f'href="https://{SITE}/unsubscribe/EXAMPLE-TOKEN"' in page
    assert "EXAMPLE-TOKEN?" not in page and "EXAMPLE-TOKEN&" not in page
    assert f"{POST_URL}?utm_source=email&amp;utm_medium=email&amp;utm_campaign={SLUG}" in page  # web view
    assert f"https://{SITE}/unsubscribe/EXAMPLE-TOKEN\n" in files["email.txt"]
    assert f"https://{SITE}/unsubscribe/EXAMPLE-TOKEN?" not in payload.example_message().decode("ascii")


def test_utm_off_leaves_every_channel_untouched():
    settings = settings_for(False)
    post = post_for(settings)
    for name, (channel, _) in CHANNELS.items():
        payload = channel.render(post, settings)
        assert "utm_campaign" not in json.dumps(channel.preview_json(payload), ensure_ascii=False)
        assert "utm_campaign" not in "".join(channel.preview_files(payload).values())


def test_front_matter_utm_overrides_the_setting_and_refuses_nonsense():
    on, off = settings_for(True), settings_for(False)
    opted_out = post_for(on, POST.replace("slug:", "utm: false\nslug:", 1))
    opted_in = post_for(off, POST.replace("slug:", "utm: yes\nslug:", 1))
    assert "utm_campaign" not in TELEGRAM.render(opted_out, on).calls[0].params["caption"] + "".join(
        c.params.get("text", "") for c in TELEGRAM.render(opted_out, on).calls)
    assert "utm_source=wechat" in WECHAT.render(opted_in, off).content_source_url
    with pytest.raises(PostError, match="'utm'.*expected true or false"):
        WECHAT.render(post_for(on, POST.replace("slug:", "utm: sometimes\nslug:", 1)), on)


# --- the pure function -----------------------------------------------------------------------
def tag(url: str) -> str:
    return tag_url(url, {SITE}, "x", "social", SLUG)


TAGS = f"utm_source=x&utm_medium=social&utm_campaign={SLUG}"


@pytest.mark.parametrize("url,expected", [
    (f"https://{SITE}/a", f"https://{SITE}/a?{TAGS}"),
    (f"https://{SITE}", f"https://{SITE}/?{TAGS}"),
    (f"http://{SITE.upper()}:8080/a?b=1#c", f"http://{SITE.upper()}:8080/a?b=1&{TAGS}#c"),
    (f"https://{SITE}/a?#c", f"https://{SITE}/a?{TAGS}#c"),
    (f"https://{SITE}/a?b=%20&", f"https://{SITE}/a?b=%20&{TAGS}"),
    (f"https://{SITE}/a?UTM_SOURCE=mine",
     f"https://{SITE}/a?UTM_SOURCE=mine&utm_medium=social&utm_campaign={SLUG}"),
    (f"https://{SITE}/a?utm_source=s&utm_medium=m&utm_campaign=c",
     f"https://{SITE}/a?utm_source=s&utm_medium=m&utm_campaign=c"),
    (f"https://{SITE}/unsubscribe/TOKEN", f"https://{SITE}/unsubscribe/TOKEN"),
    (f"https://{SITE}.evil.com/a", f"https://{SITE}.evil.com/a"),
    (f"https://evil{SITE}/a", f"https://evil{SITE}/a"),
    (f"https://{SITE}@evil.com/a", f"https://{SITE}@evil.com/a"),
    (f"https://evil.com\\@{SITE}/a", f"https://evil.com\\@{SITE}/a"),  # browsers go to evil.com
    (f"https://evil.com#@{SITE}/a", f"https://evil.com#@{SITE}/a"),
    (f"mailto:hi@{SITE}", f"mailto:hi@{SITE}"),
    (f"tg://resolve?domain={SITE}", f"tg://resolve?domain={SITE}"),
    (f"//{SITE}/a", f"//{SITE}/a"),
    ("/relative", "/relative"),
    (f"https://{SITE}/a b", f"https://{SITE}/a b"),
    (f"https://[::1/{SITE}", f"https://[::1/{SITE}"),
    (f"https://{SITE}:99999999/a", f"https://{SITE}:99999999/a"),
])
def test_tag_url_cases(url, expected):
    assert tag(url) == expected


def test_campaign_is_percent_encoded():
    assert tag_url(f"https://{SITE}/", {SITE}, "wechat", "social", "新年 & more") == \
        f"https://{SITE}/?utm_source=wechat&utm_medium=social&utm_campaign=%E6%96%B0%E5%B9%B4%20%26%20more"


def test_tag_hrefs_touches_only_anchor_hrefs():
    page = (f'<a class="b" href="https://{SITE}/p?a=1&amp;b=2">x</a><img src="https://{SITE}/i.png">'
            f'<a href="https://other.org/">y</a><link href="https://{SITE}/s.css">')
    escaped = TAGS.replace("&", "&amp;")
    assert tag_hrefs(page, tag) == page.replace("/p?a=1&amp;b=2", f"/p?a=1&amp;b=2&amp;{escaped}", 1)


_HOSTS = st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){0,3}", fullmatch=True)
_TAILS = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@hyp_settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_tagging_any_text_never_raises(text):
    assert isinstance(tag(text), str)
    assert tag(tag(text)) == tag(text)  # tagging twice adds nothing


@hyp_settings(max_examples=400, deadline=None)
@given(st.sampled_from(["http", "https", "HTTPS", "ftp", "mailto", "tg", ""]), _HOSTS,
       st.sampled_from(["", "user@", f"{SITE}@", ":pw@"]), st.sampled_from(["", ":443", ":x", ":99999"]),
       _TAILS, _TAILS, _TAILS)
def test_tagging_never_changes_a_url_of_another_host(scheme, host, userinfo, port, path, query, fragment):
    if host == SITE:
        host = "x" + host
    url = f"{scheme}://{userinfo}{host}{port}/{path}?{query}#{fragment}"
    assert tag(url) == url


@hyp_settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abc/=&%?", max_size=30), st.text(alphabet="abc=&#?", max_size=20))
def test_tagged_site_urls_keep_path_query_and_fragment(path, fragment):
    url = f"https://{SITE}/{path}#{fragment}"
    out = tag(url)
    if "unsubscribe" in path:
        return
    before, after = urlsplit(url), urlsplit(out)
    assert (after.path, after.fragment) == (before.path, before.fragment)
    assert after.query.startswith(before.query)
    assert dict(parse_qsl(after.query[len(before.query):]))["utm_campaign"] == SLUG or "utm_campaign" in before.query


# --- the preview, written by the real command ------------------------------------------------
def test_preview_shows_tagged_links(tmp_path):
    source = tmp_path / "links-home.md"
    source.write_text(POST, encoding="utf-8")
    env = {"PUBLISHER_HOME": str(tmp_path / "home"), "PUBLISHER_SITE_URL": f"https://{SITE}",
           "PUBLISHER_UTM": "on"}
    result = run_cli("preview", str(source), "--out", str(tmp_path / "on"), env=env)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "on" / "email.html").read_text(encoding="utf-8")
    assert f'href="{POST_URL}?utm_source=email&amp;utm_medium=email&amp;utm_campaign={SLUG}"' in page
    assert 'href="https://other.example.net/page?x=1"' in page
    assert f'href="https://{SITE}/unsubscribe/EXAMPLE-TOKEN"' in page
    tweets = json.loads((tmp_path / "on" / "x_thread.json").read_text(encoding="utf-8"))["tweets"]
    assert any(f"{POST_URL}?utm_source=x&utm_medium=social&utm_campaign={SLUG}" in t["text"] for t in tweets)

    env.pop("PUBLISHER_UTM")
    result = run_cli("preview", str(source), "--out", str(tmp_path / "off"), env=env)
    assert result.returncode == 0, result.stderr
    for name in ("email.html", "email.txt", "x_thread.json", "telegram.json", "wechat.json"):
        assert "utm_campaign" not in (tmp_path / "off" / name).read_text(encoding="utf-8"), name
