"""X delivery: the real tweepy (Client v2 + API v1.1 upload) and requests (v2 upload) against the
X stand-in on loopback through channels.x.client.BaseUrlAdapter, images from the image stand-in, a real
Store (SQLite file; PostgreSQL too when reachable) and the publish ledger."""
from __future__ import annotations

import dataclasses
import html
import io
import threading
import time
import traceback
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import tweepy
from hypothesis import given, settings as hypothesis_settings, strategies as st
from PIL import Image
from requests_oauthlib import OAuth1
from sqlalchemy import delete, update
from twitter_text import extract_urls_with_indices

from channels.base import PermanentError, SendContext, TransientError, UncertainError
from channels.x.channel import CHANNEL, XChannel
from channels.x.client import BaseUrlAdapter, comparable_text, upload_file
from channels.x.deliver import MEDIA_REUSE_MAX_AGE
from channels.x.parts import ledger_parts, thread_steps
from channels.x.payload import Tweet, XThread
from publisher.config import load_settings
from publisher.image_fetch import FetchedImage
from publisher.ledger import Ledger
from publisher.post import load_post, parse_post
from publisher.sandbox import images as image_sandbox
from publisher.sandbox.common import RunningServer
from publisher.sandbox.x_api import (
    DEFAULT_ACCESS_TOKEN, DEFAULT_ACCESS_TOKEN_SECRET, DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET,
    DEFAULT_USERNAME, DUPLICATE_DETAIL, make_app, route_session_to,
)
from publisher.store import LedgerRow, Publication, Store, utcnow

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HTTP_TIMEOUT = 5.0
# Client timeouts for the tests: the stand-in's "timeout" faults sleep FAULT_DELAY (> read timeout).
# The read timeout leaves room for a loaded machine: an ordinary answer must never exceed it.
FAST_TIMEOUT = (2.0, 1.5)
FAULT_DELAY = 3.0
PAUSE = 0.25  # settings.x_pause_seconds; ctx.sleep only records it
SECRETS = (DEFAULT_CONSUMER_SECRET, DEFAULT_ACCESS_TOKEN_SECRET, DEFAULT_ACCESS_TOKEN)
STATUS_URL = f"https://x.com/{DEFAULT_USERNAME}/status/"

ENGLISH_POST = """---
title: "Release notes: Rust, <HTML> & friends"
date: 2026-02-01
coverImage: https://example.com/cover.png
channels:
  x:
    mode: full
---
Welcome back! **Bold _nested_ text** & a [relative link](/archive) plus a very long URL
<https://example.com/a/very/long/path/that/goes/on/and/on?with=query&and=more#frag>. 🎉👍🏽

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

> A quote with **bold** and a [link](https://example.com/q).

![A diagram](https://example.com/diagram.png)

| Tool | Stars |
|:-----|------:|
| ruff | 30000 |

Closing paragraph with one more [link](https://example.com/end) and emoji 🚀.
"""


def make_post(text: str, name: str):
    return parse_post(text, name=name, settings=load_settings(env={}), default_slug=Path(name).stem)


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def running_servers():
    """Stopped together at the end: each stop() waits out one serve_forever poll."""
    servers: list[RunningServer] = []
    yield servers
    stoppers = [threading.Thread(target=server.stop) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


@pytest.fixture(scope="module")
def images(running_servers):
    server = RunningServer(image_sandbox.make_app()).start()
    running_servers.append(server)
    return server


@pytest.fixture
def serve(running_servers):
    def start(**options) -> RunningServer:
        server = RunningServer(make_app(**options)).start()
        running_servers.append(server)
        return server

    return start


@pytest.fixture
def server(serve):
    return serve()


@pytest.fixture
def sqlite_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'publisher.db'}")
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path):
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'publisher.db'}")
    else:
        store = Store(PG_URL)
        if not store.ping():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    yield store
    store.dispose()


class Harness:
    """A publication with its ledger, and send() calls that record progress and pauses."""

    def __init__(self, store: Store, server_url: str, images_url: str, **settings_changes):
        self.store = store
        changes = {"x_api_base": server_url, "x_upload_base": server_url, "x_consumer_key": DEFAULT_CONSUMER_KEY,
                   "x_consumer_secret": DEFAULT_CONSUMER_SECRET, "x_access_token": DEFAULT_ACCESS_TOKEN,
                   "x_access_token_secret": DEFAULT_ACCESS_TOKEN_SECRET, "x_pause_seconds": PAUSE,
                   "image_proxy": f"{images_url}/fetch", "allow_private_fetch": True, **settings_changes}
        self.settings = dataclasses.replace(load_settings(env={}), **changes)
        publication = store.get_or_create_publication(f"x-send-{uuid.uuid4().hex}", "0" * 64, "test")
        self.publication_id = publication.id
        self.ledger = Ledger(store, publication.id, "x")
        self.progress: list[tuple[int, int]] = []
        self.sleeps: list[float] = []
        self.on_progress = lambda done, total: None

    def context(self) -> SendContext:
        def progress(done: int, total: int) -> None:
            self.progress.append((done, total))
            self.on_progress(done, total)

        return SendContext(self.settings, self.store, self.ledger, self.publication_id, progress=progress,
                           sleep=self.sleeps.append)

    def send(self, payload: XThread, channel: XChannel | None = None):
        return (channel or XChannel(timeout=FAST_TIMEOUT)).send(payload, self.context())

    def states(self) -> dict[str, str]:
        return {entry.part: entry.state for entry in self.ledger.entries()}

    def backdate(self, part: str, by: timedelta) -> None:
        """Make a part look older (a worker that died a while ago, a media id from yesterday)."""
        with self.store.session() as session:
            session.execute(update(LedgerRow).where(LedgerRow.publication_id == self.publication_id,
                                                    LedgerRow.part == part)
                            .values(updated_at=utcnow() - by))

    def cleanup(self) -> None:
        with self.store.session() as session:
            session.execute(delete(LedgerRow).where(LedgerRow.publication_id == self.publication_id))
            session.execute(delete(Publication).where(Publication.id == self.publication_id))


@pytest.fixture
def harness(sqlite_store, server, images):
    made = Harness(sqlite_store, server.url, images.url)
    yield made
    made.cleanup()


def stored_tweets(server: RunningServer) -> list[dict]:
    tweets = requests.get(f"{server.url}/_sandbox/tweets", timeout=HTTP_TIMEOUT).json()["tweets"]
    return [t for t in tweets if not t["deleted"]]


def recorded_paths(server: RunningServer) -> list[str]:
    answer = requests.get(f"{server.url}/_sandbox/requests", timeout=HTTP_TIMEOUT).json()
    return [f"{r['method']} {r['path']}" for r in answer["requests"]]


def set_faults(server: RunningServer, *rules: dict) -> None:
    requests.post(f"{server.url}/_sandbox/faults", json={"rules": list(rules)},
                  timeout=HTTP_TIMEOUT).raise_for_status()


def sandbox_client(server: RunningServer) -> tweepy.Client:
    """A tweepy client of the test's own, standing in for an earlier (killed) worker."""
    client = tweepy.Client(consumer_key=DEFAULT_CONSUMER_KEY, consumer_secret=DEFAULT_CONSUMER_SECRET,
                           access_token=DEFAULT_ACCESS_TOKEN, access_token_secret=DEFAULT_ACCESS_TOKEN_SECRET)
    route_session_to(client.session, server.url, timeout=HTTP_TIMEOUT)
    return client


def sample_payload(settings) -> XThread:
    payload = CHANNEL.render(load_post(SAMPLE, settings), settings)
    assert len(payload.tweets) >= 5 and payload.tweets[0].media and not any(t.media for t in payload.tweets[1:])
    return payload


def thread_of(*texts: str) -> XThread:
    return XThread(tuple(Tweet(text) for text in texts), "summary", True)


def assert_one_chain(tweets: list[dict], payload: XThread) -> None:
    """Exactly the payload's tweets, once each, each replying to the one before."""
    assert [t["text"] for t in tweets] == [t.text for t in payload.tweets]
    assert [t["in_reply_to_tweet_id"] for t in tweets] == [None] + [t["id"] for t in tweets[:-1]]
    assert {t["conversation_id"] for t in tweets} == {tweets[0]["id"]}


def assert_no_secret(*texts: str | None) -> None:
    for text in texts:
        assert text is None or not any(secret in text for secret in SECRETS), text


def error_texts(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def ledger_errors(harness: Harness) -> list[str | None]:
    return [entry.last_error for entry in harness.ledger.entries()]


class WorkerKilled(BaseException):
    """Stops a send() the way a killed worker would: nothing after it runs."""


# ------------------------------------------------------------------ happy path

def test_sample_summary_thread_is_one_reply_chain_with_the_cover_on_tweet_1(any_store, serve, images):
    server = serve()
    harness = Harness(any_store, server.url, images.url)
    try:
        payload = sample_payload(harness.settings)
        receipt = harness.send(payload)
        tweets = stored_tweets(server)
        assert_one_chain(tweets, payload)
        assert len(tweets[0]["media_ids"]) == 1 and all(t["media_ids"] == [] for t in tweets[1:])
        total = len(payload.tweets)
        paths = recorded_paths(server)
        assert paths == ["POST /1.1/media/upload.json", "GET /2/users/me"] + ["POST /2/tweets"] * total
        assert (receipt.state, receipt.sent, receipt.total, receipt.detail) == ("sent", total, total, "")
        assert receipt.remote_ids == tuple(t["id"] for t in tweets)
        assert receipt.url == STATUS_URL + tweets[0]["id"]
        entries = harness.ledger.entries()
        assert [(e.part, e.state) for e in entries] == [("media-1-1", "sent")] + [
            (f"tweet-{n}", "sent") for n in range(1, total + 1)]
        assert entries[0].remote_id == tweets[0]["media_ids"][0]
        assert [e.remote_url for e in entries[1:]] == [STATUS_URL + t["id"] for t in tweets]
        assert harness.progress == [(n, total) for n in range(1, total + 1)]
        assert harness.sleeps == [PAUSE] * (total - 1)

        again = harness.send(payload)
        assert again == receipt
        assert recorded_paths(server) == paths  # nothing sent, nothing even read
    finally:
        harness.cleanup()


@pytest.mark.parametrize("media_api, upload_path", [("v1.1", "/1.1/media/upload.json"), ("v2", "/2/media/upload")])
def test_english_full_thread_with_images_on_two_tweets(harness, server, media_api, upload_path):
    payload = CHANNEL.render(make_post(ENGLISH_POST, "english.md"), harness.settings)
    assert [n for n, t in enumerate(payload.tweets) if t.media] == [0, 1]  # the cover, then the diagram
    harness.send(payload, XChannel(timeout=FAST_TIMEOUT, media_api=media_api))
    tweets = stored_tweets(server)
    assert_one_chain(tweets, payload)
    assert [len(t["media_ids"]) for t in tweets] == [len(t.media) for t in payload.tweets]
    uploads = [p for p in recorded_paths(server) if "media" in p]
    assert uploads == [f"POST {upload_path}"] * sum(len(t.media) for t in payload.tweets)


def test_configured_needs_all_four_credentials(harness):
    assert CHANNEL.configured(harness.settings)
    for name in ("x_consumer_key", "x_consumer_secret", "x_access_token", "x_access_token_secret"):
        assert not CHANNEL.configured(dataclasses.replace(harness.settings, **{name: ""}))
    harness.settings = dataclasses.replace(harness.settings, x_access_token_secret="")
    with pytest.raises(PermanentError, match="not configured"):
        harness.send(thread_of("hello"))


def test_part_names_and_hashes_are_stable_and_follow_content():
    payload = XThread((Tweet("one", ("https://example.com/a.png", "https://example.com/b.png")), Tweet("two")),
                      "summary", False)
    parts = ledger_parts(thread_steps(payload))
    assert [name for name, _ in parts] == ["media-1-1", "media-1-2", "tweet-1", "tweet-2"]
    assert parts == ledger_parts(thread_steps(payload))
    edited = XThread((Tweet("one", ("https://example.com/a.png",)), Tweet("two")), "summary", False)
    assert dict(ledger_parts(thread_steps(edited)))["tweet-1"] != dict(parts)["tweet-1"]
    assert dict(ledger_parts(thread_steps(edited)))["tweet-2"] == dict(parts)["tweet-2"]


# ------------------------------------------------------------------ transient failures and resume

def test_429_midway_carries_retry_after_and_the_next_send_resumes_one_chain(any_store, serve, images):
    server = serve()
    harness = Harness(any_store, server.url, images.url)
    try:
        payload = sample_payload(harness.settings)

        def fault_on_third(done: int, total: int) -> None:
            if done == 2:
                set_faults(server, {"match": "/2/tweets", "kind": "429", "retry_after": 30})

        harness.on_progress = fault_on_third
        with pytest.raises(TransientError) as caught:
            harness.send(payload)
        assert 25 <= caught.value.retry_after <= 31  # x-rate-limit-reset - now
        assert "x: tweet 3 not sent, try again later: Too Many Requests (HTTP 429)" in str(caught.value)
        third = harness.ledger.entry("tweet-3")
        assert (third.state, third.retryable) == ("failed", True)
        assert len(stored_tweets(server)) == 2

        harness.on_progress = lambda done, total: None
        receipt = harness.send(payload)
        assert_one_chain(stored_tweets(server), payload)
        assert receipt.sent == len(payload.tweets)
        assert recorded_paths(server).count("POST /1.1/media/upload.json") == 1  # the cover id was reused
        assert set(harness.states().values()) == {"sent"}
    finally:
        harness.cleanup()


def test_rate_limit_window_used_up_gives_the_reset_time(serve, sqlite_store, images):
    server = serve(rate_limit=2, rate_window_secs=600)
    harness = Harness(sqlite_store, server.url, images.url)
    with pytest.raises(TransientError) as caught:
        harness.send(thread_of("one", "two", "three"))
    assert 590 <= caught.value.retry_after <= 601
    assert [t["text"] for t in stored_tweets(server)] == ["one", "two"]


def test_connection_refused_is_transient_and_nothing_is_uncertain(sqlite_store, images):
    closed = RunningServer(make_app())
    closed_url = closed.url
    closed._server.server_close()  # the port is free again: connections are refused
    harness = Harness(sqlite_store, closed_url, images.url)
    with pytest.raises(TransientError) as caught:
        harness.send(thread_of("hello"))
    assert caught.value.retry_after is None
    assert "ConnectionError" in str(caught.value)
    assert harness.states() == {"tweet-1": "planned"}  # it failed on GET /2/users/me, before any claim
    assert_no_secret(error_texts(caught.value))


def test_connection_refused_on_upload_fails_the_media_part_retryably(harness):
    closed = RunningServer(make_app())
    closed._server.server_close()
    harness.settings = dataclasses.replace(harness.settings, x_upload_base=closed.url)
    payload = XThread((Tweet("with a picture", ("https://example.com/p.png",)),), "summary", True)
    with pytest.raises(TransientError, match="image https://example.com/p.png not sent"):
        harness.send(payload)
    entry = harness.ledger.entry("media-1-1")
    assert (entry.state, entry.retryable) == ("failed", True)


# ------------------------------------------------------------------ uncertain parts and reconciliation

@pytest.mark.parametrize("rule", [
    {"kind": "503", "after": True},
    {"kind": "timeout", "delay": FAULT_DELAY, "after": True},
    {"kind": "drop", "after": True},
], ids=["503", "timeout", "drop"])
def test_posted_but_unconfirmed_tweet_is_found_on_the_timeline_not_posted_again(harness, server, rule):
    payload = thread_of("first post of the thread", "second & <escaped> https://example.com/x?a=1&b=2",
                        "third one 🎉", "fourth")

    def fault_on_second(done: int, total: int) -> None:
        if done == 1:
            set_faults(server, {"match": "/2/tweets", **rule})

    harness.on_progress = fault_on_second
    with pytest.raises(UncertainError, match="x: tweet 2 may or may not have been accepted"):
        harness.send(payload)
    harness.on_progress = lambda done, total: None
    assert harness.ledger.entry("tweet-2").state == "uncertain"
    assert len(stored_tweets(server)) == 2  # it was posted after all

    receipt = harness.send(payload)
    tweets = stored_tweets(server)
    assert_one_chain(tweets, payload)
    assert harness.ledger.entry("tweet-2").remote_id == tweets[1]["id"]
    assert receipt.remote_ids == tuple(t["id"] for t in tweets)
    assert "tweet 2 was found on the platform" in receipt.detail
    assert recorded_paths(server).count("POST /2/tweets") == 4  # the unconfirmed one was not sent again


@pytest.mark.parametrize("rule", [{"kind": "503"}, {"kind": "drop"}], ids=["503", "drop"])
def test_unconfirmed_tweet_that_never_landed_is_posted_once(harness, server, rule):
    payload = thread_of("alpha", "beta", "gamma")
    set_faults(server, {"match": "/2/tweets", **rule})
    with pytest.raises(UncertainError):
        harness.send(payload)
    assert stored_tweets(server) == []
    assert harness.states()["tweet-1"] == "uncertain"
    receipt = harness.send(payload)
    assert_one_chain(stored_tweets(server), payload)
    assert receipt.detail == ""


def test_a_post_with_the_same_words_but_another_parent_is_not_taken_for_ours(harness, server):
    """Texts are compared with links taken out (X shows t.co links), so the parent decides."""
    payload = thread_of("root of the thread", "Details: https://example.com/new")
    harness.send(thread_of("root of the thread"))
    sandbox_client(server).create_tweet(text="Details: https://example.com/old")  # not a reply
    set_faults(server, {"match": "/2/tweets", "kind": "503"})
    with pytest.raises(UncertainError):
        harness.send(payload)
    harness.send(payload)
    tweets = stored_tweets(server)
    ours = [tweets[0], tweets[2]]
    assert_one_chain(ours, payload)


def test_crash_after_the_stand_in_stored_the_tweet_is_reconciled(harness, server):
    payload = sample_payload(harness.settings)

    def killed_after_second(done: int, total: int) -> None:
        if done == 2:
            raise WorkerKilled

    harness.on_progress = killed_after_second
    with pytest.raises(WorkerKilled):
        harness.send(payload)
    harness.on_progress = lambda done, total: None
    # The dead worker had claimed tweet 3 and its request reached X.
    assert harness.ledger.claim("tweet-3") is not None
    parent = harness.ledger.entry("tweet-2").remote_id
    sandbox_client(server).create_tweet(text=payload.tweets[2].text, in_reply_to_tweet_id=parent)
    harness.backdate("tweet-3", timedelta(minutes=5))

    receipt = harness.send(payload)
    tweets = stored_tweets(server)
    assert_one_chain(tweets, payload)
    assert harness.ledger.entry("tweet-3").remote_id == tweets[2]["id"]
    assert receipt.sent == len(payload.tweets) and "tweet 3 was found" in receipt.detail
    assert set(harness.states().values()) == {"sent"}  # the delivery counts as sent, media part included


def test_crash_before_the_request_left_posts_the_tweet_once(harness, server):
    payload = thread_of("one", "two", "three")

    def killed_after_first(done: int, total: int) -> None:
        if done == 1:
            raise WorkerKilled

    harness.on_progress = killed_after_first
    with pytest.raises(WorkerKilled):
        harness.send(payload)
    harness.on_progress = lambda done, total: None
    assert harness.ledger.claim("tweet-2") is not None  # the worker died right after its claim
    harness.backdate("tweet-2", timedelta(minutes=5))
    receipt = harness.send(payload)
    assert_one_chain(stored_tweets(server), payload)
    assert receipt.detail == ""


def test_a_claim_that_may_still_be_in_flight_is_left_alone(harness, server):
    payload = thread_of("one", "two")
    harness.ledger.plan(ledger_parts(thread_steps(payload)))
    assert harness.ledger.claim("tweet-1") is not None  # another worker, just now
    with pytest.raises(TransientError, match="tweet 1 is being sent by another worker") as caught:
        harness.send(payload)
    assert 1 <= caught.value.retry_after <= sum(FAST_TIMEOUT) + 5
    assert stored_tweets(server) == [] and "POST /2/tweets" not in recorded_paths(server)
    assert harness.states()["tweet-1"] == "sending"


def test_duplicate_answer_for_our_own_earlier_post_adopts_it(harness, server):
    """An earlier attempt landed but was recorded as not sent (e.g. the timeline lagged): X's
    duplicate-content answer leads to the post, which becomes this tweet."""
    payload = thread_of("one", "two")
    harness.send(thread_of("one"))
    parent = harness.ledger.entry("tweet-1").remote_id
    sandbox_client(server).create_tweet(text="two", in_reply_to_tweet_id=parent)
    receipt = harness.send(payload)
    tweets = stored_tweets(server)
    assert_one_chain(tweets, payload)
    assert receipt.remote_ids == (tweets[0]["id"], tweets[1]["id"])
    assert "tweet 2 was already on the account" in receipt.detail


def test_duplicate_of_a_post_from_before_the_publication_is_refused_with_x_message(serve, sqlite_store, images):
    offset = {"seconds": -86400.0}
    server = serve(clock=lambda: time.time() + offset["seconds"])
    sandbox_client(server).create_tweet(text="good morning")  # posted yesterday, by someone
    offset["seconds"] = 0.0
    harness = Harness(sqlite_store, server.url, images.url)
    with pytest.raises(PermanentError) as caught:
        harness.send(thread_of("good morning", "more"))
    assert DUPLICATE_DETAIL in str(caught.value) and "x: tweet 1 refused by X" in str(caught.value)
    entry = harness.ledger.entry("tweet-1")
    assert (entry.state, entry.retryable) == ("failed", False) and DUPLICATE_DETAIL in entry.last_error
    assert len(stored_tweets(server)) == 1


def test_expired_media_id_is_uploaded_again_on_resume(serve, sqlite_store, images):
    offset = {"seconds": 0.0}
    server = serve(clock=lambda: time.time() + offset["seconds"])
    harness = Harness(sqlite_store, server.url, images.url)
    payload = XThread((Tweet("cover tweet", ("https://example.com/cover.png",)), Tweet("after")), "summary", True)
    set_faults(server, {"match": "/2/tweets", "kind": "429", "retry_after": 1})
    with pytest.raises(TransientError):
        harness.send(payload)
    first_id = harness.ledger.entry("media-1-1").remote_id
    offset["seconds"] = 21 * 3600.0  # X forgets the id after 24 h; we stop trusting it at 20 h
    harness.backdate("media-1-1", MEDIA_REUSE_MAX_AGE + timedelta(hours=1))
    harness.send(payload)
    tweets = stored_tweets(server)
    assert tweets[0]["media_ids"] == [harness.ledger.entry("media-1-1").remote_id] != [first_id]
    assert recorded_paths(server).count("POST /1.1/media/upload.json") == 2


def test_fresh_media_id_is_reused(harness, server):
    payload = XThread((Tweet("cover tweet", ("https://example.com/cover.png",)),), "summary", True)
    set_faults(server, {"match": "/2/tweets", "kind": "429", "retry_after": 1})
    with pytest.raises(TransientError):
        harness.send(payload)
    harness.send(payload)
    assert recorded_paths(server).count("POST /1.1/media/upload.json") == 1


# ------------------------------------------------------------------ permanent errors and secrets

def test_wrong_secret_is_permanent_naming_x_message_and_no_secret(sqlite_store, server, images):
    harness = Harness(sqlite_store, server.url, images.url, x_consumer_secret="not-the-right-consumer-secret")
    with pytest.raises(PermanentError) as caught:
        harness.send(thread_of("hello"))
    message = str(caught.value)
    assert "X refused the credentials: Unauthorized (HTTP 401)" in message
    assert "PUBLISHER_X_CONSUMER_SECRET" in message
    assert "not-the-right-consumer-secret" not in error_texts(caught.value)
    assert_no_secret(error_texts(caught.value), *ledger_errors(harness))
    assert stored_tweets(server) == []


def test_401_on_the_post_itself_fails_the_part(harness, server):
    set_faults(server, {"match": "/2/tweets", "kind": "expire_token"})
    with pytest.raises(PermanentError, match="X refused the credentials: Unauthorized"):
        harness.send(thread_of("hello"))
    entry = harness.ledger.entry("tweet-1")
    assert (entry.state, entry.retryable) == ("failed", False)
    with pytest.raises(PermanentError, match="tweet 1 was refused earlier"):
        harness.send(thread_of("hello"))


def test_overlong_tweet_is_refused_with_x_message(harness, server):
    with pytest.raises(PermanentError) as caught:
        harness.send(thread_of("ok first", "中" * 141))
    assert "x: tweet 2 refused by X: You are not permitted to create a Tweet with more than 280" in str(caught.value)
    assert "(HTTP 403)" in str(caught.value)
    assert [t["text"] for t in stored_tweets(server)] == ["ok first"]
    assert_no_secret(error_texts(caught.value), *ledger_errors(harness))


def test_missing_image_is_permanent_and_names_the_url(harness, server, images):
    harness.settings = dataclasses.replace(harness.settings, image_proxy="")
    url = f"{images.url}/img/missing-chart.png"
    with pytest.raises(PermanentError, match="x: tweet 1: image .*missing-chart.png: HTTP 404"):
        harness.send(XThread((Tweet("see chart", (url,)),), "summary", True))
    assert stored_tweets(server) == []
    assert harness.ledger.entry("media-1-1").state == "failed"


def test_image_formats_x_does_not_take_are_converted_to_png():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 20, 30)).save(buffer, "BMP")
    name, data, mime = upload_file(FetchedImage("https://example.com/a.bmp", buffer.getvalue(), "BMP"))
    assert (name, mime) == ("media.png", "image/png")
    with Image.open(io.BytesIO(data)) as picture:
        assert (picture.format, picture.size) == ("PNG", (8, 6))
    jpeg = FetchedImage("https://example.com/a.jpg", b"\xff\xd8 bytes as fetched", "JPEG")
    assert upload_file(jpeg) == ("media.jpg", jpeg.data, "image/jpeg")


def test_a_sent_tweet_whose_content_changed_is_refused(harness, server):
    harness.send(thread_of("one"))
    with pytest.raises(PermanentError, match="tweet 1 changed after it was sent"):
        harness.send(thread_of("one, edited"))
    assert len(stored_tweets(server)) == 1


# ------------------------------------------------------------------ pieces

def test_base_url_adapter_rewrites_x_hosts_and_keeps_the_signed_url(server):
    session = requests.Session()
    session.mount("https://api.twitter.com", BaseUrlAdapter(server.url, timeout=HTTP_TIMEOUT))
    session.auth = OAuth1(DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET, DEFAULT_ACCESS_TOKEN,
                          DEFAULT_ACCESS_TOKEN_SECRET)
    answer = session.get("https://api.twitter.com/2/users/me?user.fields=id")
    assert answer.status_code == 200, answer.text  # the signature over the original URL verified
    assert answer.request.headers["X-Original-URL"] == "https://api.twitter.com/2/users/me?user.fields=id"
    assert answer.url.startswith(server.url)


@hypothesis_settings(max_examples=150, deadline=None)
@given(words=st.lists(st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
                                st.sampled_from(["https://example.com/a?b=1&c=2", "example.org/path", "&", "<b>",
                                                 "阅读全文：https://example.com/2026/x"])),
                      min_size=1, max_size=8))
def test_timeline_text_compares_equal_to_ours(words):
    """X answers with entities escaped, links as t.co and a media link appended; still ours."""
    ours = " ".join(words)
    shown = ours
    for url in sorted(extract_urls_with_indices(ours), key=lambda u: u["indices"][0], reverse=True):
        start, end = url["indices"]
        shown = shown[:start] + "https://t.co/AbCdEf1234" + shown[end:]
    shown = html.escape(shown, quote=False) + " https://t.co/media12345"
    assert comparable_text(shown) == comparable_text(ours)


def test_different_texts_do_not_compare_equal():
    assert comparable_text("Read more: https://example.com/a") != comparable_text("Read less: https://example.com/a")
