"""Telegram delivery: the real client (requests) against the Bot API stand-in on loopback, with a
real Store (SQLite file; PostgreSQL too when reachable) and the publish ledger."""
from __future__ import annotations

import dataclasses
import threading
import traceback
import uuid
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings as hypothesis_settings, strategies as st
from sqlalchemy import delete

from channels.base import PermanentError, SendContext, TransientError, UncertainError
from channels.telegram.channel import CHANNEL, TelegramChannel
from channels.telegram.errors import PERMANENT, UNCERTAIN, BotApiFailure, classify_failure, failure_text, scrub
from channels.telegram.limits import PER_CHAT_INTERVAL
from channels.telegram.parts import ledger_parts
from channels.telegram.payload import BotCall, TelegramPayload
from publisher.config import load_settings
from publisher.ledger import Ledger
from publisher.post import load_post, parse_post
from publisher.sandbox.common import RunningServer
from publisher.sandbox.telegram_api import DEFAULT_TOKEN, make_app, parse_html
from publisher.store import LedgerRow, Publication, Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"
CHANNEL_ID = -1001234567890
PUBLIC_URL = "https://t.me/sandbox_channel/{}"
SECRET = DEFAULT_TOKEN.split(":", 1)[1]
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HTTP_TIMEOUT = 5.0
# Client timeouts for the tests: the stand-in's "timeout" faults sleep FAULT_DELAY (> read timeout).
# The read timeout leaves room for a loaded machine: an ordinary answer must never exceed it.
FAST_TIMEOUT = (2.0, 1.5)
FAULT_DELAY = 3.0
RESOLVE_HINT = "publisher retry POST --channel telegram --resolve sent|resend"

ENGLISH_POST = """---
title: "Release notes: Rust, <HTML> & friends"
date: 2026-02-01
coverImage: https://example.com/cover.png
---
Welcome back! **Bold _nested_ text**, ~~struck~~, `inline <code>` and a [relative link](/archive)
plus a very long URL <https://example.com/a/very/long/path/that/goes/on/and/on?with=query&and=more#frag>. 🎉👍🏽

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

NO_COVER_POST = """---
title: Short note
date: 2026-02-02
---
Just one paragraph, with a [link](https://example.com/) & an ampersand.
"""


def make_post(text: str, name: str):
    return parse_post(text, name=name, settings=load_settings(env={}), default_slug=Path(name).stem)


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def running_servers():
    servers: list[RunningServer] = []
    yield servers
    stoppers = [threading.Thread(target=server.stop) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


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


def postgres_reachable() -> bool:
    return Store(PG_URL).ping()


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
        if not postgres_reachable():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        store = Store(PG_URL)
    yield store
    store.dispose()


class Harness:
    """A publication with its ledger, and send() calls that record progress and pauses."""

    def __init__(self, store: Store, server_url: str, **settings_changes):
        self.store = store
        changes = {"telegram_api_base": server_url, "telegram_bot_token": DEFAULT_TOKEN,
                   "telegram_chat_id": str(CHANNEL_ID), **settings_changes}
        self.settings = dataclasses.replace(load_settings(env={}), **changes)
        publication = store.get_or_create_publication(f"tg-send-{uuid.uuid4().hex}", "0" * 64, "test")
        self.publication_id = publication.id
        self.ledger = Ledger(store, publication.id, "telegram")
        self.progress: list[tuple[int, int]] = []
        self.sleeps: list[float] = []
        self.on_progress = lambda done, total: None

    def context(self) -> SendContext:
        def progress(done: int, total: int) -> None:
            self.progress.append((done, total))
            self.on_progress(done, total)

        return SendContext(self.settings, self.store, self.ledger, self.publication_id, progress=progress,
                           sleep=self.sleeps.append)

    def send(self, payload: TelegramPayload, channel: TelegramChannel | None = None):
        channel = channel or TelegramChannel(send_interval=0, timeout=FAST_TIMEOUT)
        return channel.send(payload, self.context())

    def states(self) -> list[str]:
        return [entry.state for entry in self.ledger.entries()]

    def cleanup(self) -> None:
        with self.store.session() as session:
            session.execute(delete(LedgerRow).where(LedgerRow.publication_id == self.publication_id))
            session.execute(delete(Publication).where(Publication.id == self.publication_id))


@pytest.fixture
def harness(sqlite_store, server):
    made = Harness(sqlite_store, server.url)
    yield made
    made.cleanup()


def stored_messages(server: RunningServer) -> list[dict]:
    body = requests.get(f"{server.url}/_sandbox/messages", timeout=HTTP_TIMEOUT).json()
    return body["messages"].get(str(CHANNEL_ID), [])


def recorded_requests(server: RunningServer) -> list[dict]:
    return requests.get(f"{server.url}/_sandbox/requests", timeout=HTTP_TIMEOUT).json()["requests"]


def set_faults(server: RunningServer, *rules: dict) -> None:
    requests.post(f"{server.url}/_sandbox/faults", json={"rules": list(rules)},
                  timeout=HTTP_TIMEOUT).raise_for_status()


def visible(call: BotCall) -> str:
    """What the stand-in stores for a call: the parsed text or caption."""
    field = "caption" if call.method == "sendPhoto" else "text"
    return parse_html(call.params[field])[0].strip()


def shown(message: dict) -> str:
    return message.get("caption") or message.get("text") or ""


def payload_of(*texts: str) -> TelegramPayload:
    return TelegramPayload(tuple(BotCall("sendMessage", {"text": text, "parse_mode": "HTML"}) for text in texts),
                           "full")


def multi_message_payload() -> TelegramPayload:
    """The English post cut into several messages (a small limit), cover photo first."""
    payload = TelegramChannel(message_limit=120).render(make_post(ENGLISH_POST, "english.md"), load_settings(env={}))
    assert len(payload.calls) >= 5 and payload.calls[0].method == "sendPhoto"
    return payload


def assert_no_secret(*texts: str | None) -> None:
    for text in texts:
        assert text is None or (SECRET not in text and DEFAULT_TOKEN not in text), text


def error_texts(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


# ------------------------------------------------------------------ happy path

def test_sample_post_arrives_in_order_photo_first(any_store, server):
    harness = Harness(any_store, server.url)
    try:
        payload = CHANNEL.render(load_post(SAMPLE, harness.settings), harness.settings)
        receipt = harness.send(payload)
        messages = stored_messages(server)
        assert "photo" in messages[0] and payload.calls[0].method == "sendPhoto"
        assert [shown(m) for m in messages] == [visible(call) for call in payload.calls]
        bodies = [r["json"] for r in recorded_requests(server)]
        assert bodies == [{"chat_id": CHANNEL_ID, **CHANNEL.preview_json(payload)["calls"][n]["params"]}
                          for n in range(len(payload.calls))]
        total = len(payload.calls)
        assert (receipt.state, receipt.sent, receipt.total, receipt.detail) == ("sent", total, total, "")
        assert receipt.remote_ids == tuple(str(m["message_id"]) for m in messages)
        assert receipt.url == PUBLIC_URL.format(1)
        entries = harness.ledger.entries()
        assert [(e.part, e.state) for e in entries] == [(f"call-{n}-{c.method}", "sent")
                                                       for n, c in enumerate(payload.calls, 1)]
        assert [e.remote_url for e in entries] == [PUBLIC_URL.format(n) for n in range(1, total + 1)]
        assert harness.progress == [(n, total) for n in range(1, total + 1)]
    finally:
        harness.cleanup()


def test_english_post_in_many_messages_and_a_second_send_sends_nothing(harness, server):
    payload = multi_message_payload()
    first = harness.send(payload)
    count = len(recorded_requests(server))
    assert count == len(payload.calls)
    assert [shown(m) for m in stored_messages(server)] == [visible(call) for call in payload.calls]
    second = harness.send(payload)
    assert len(recorded_requests(server)) == count
    assert second == first


def test_post_without_cover_starts_with_a_text_message_and_at_username_gives_links(sqlite_store, server):
    harness = Harness(sqlite_store, server.url, telegram_chat_id="@sandbox_channel")
    payload = CHANNEL.render(make_post(NO_COVER_POST, "note.md"), harness.settings)
    receipt = harness.send(payload)
    assert recorded_requests(server)[0]["json"]["chat_id"] == "@sandbox_channel"
    assert "photo" not in stored_messages(server)[0]
    assert stored_messages(server)[0]["text"].startswith("Short note")
    assert receipt.url == PUBLIC_URL.format(1)


def test_one_message_per_second_is_paced_with_ctx_sleep(harness):
    payload = multi_message_payload()
    harness.send(payload, TelegramChannel(timeout=FAST_TIMEOUT))  # the default interval
    assert harness.sleeps == [PER_CHAT_INTERVAL] * (len(payload.calls) - 1)


def test_configured_needs_token_and_chat(harness):
    assert CHANNEL.configured(harness.settings)
    assert not CHANNEL.configured(dataclasses.replace(harness.settings, telegram_chat_id=""))
    assert not CHANNEL.configured(dataclasses.replace(harness.settings, telegram_bot_token=""))
    harness.settings = dataclasses.replace(harness.settings, telegram_bot_token="")
    with pytest.raises(PermanentError, match="not configured"):
        harness.send(payload_of("x"))


# ------------------------------------------------------------------ transient failures and resume

def test_429_midway_carries_retry_after_and_the_next_send_resumes(any_store, server):
    harness = Harness(any_store, server.url)
    try:
        payload = multi_message_payload()

        def fault_on_third(done: int, total: int) -> None:
            if done == 2:
                set_faults(server, {"match": "sendMessage", "kind": "429", "retry_after": 7})

        harness.on_progress = fault_on_third
        with pytest.raises(TransientError) as caught:
            harness.send(payload)
        assert caught.value.retry_after == 7
        assert "Too Many Requests: retry after 7" in str(caught.value)
        third = harness.ledger.entries()[2]
        assert (third.state, third.retryable) == ("failed", True)
        assert len(stored_messages(server)) == 2

        harness.on_progress = lambda done, total: None
        receipt = harness.send(payload)
        assert [shown(m) for m in stored_messages(server)] == [visible(call) for call in payload.calls]
        assert receipt.sent == len(payload.calls)
        assert len(recorded_requests(server)) == len(payload.calls) + 1  # one refused by the 429
    finally:
        harness.cleanup()


def test_connection_refused_is_transient_and_names_no_token(sqlite_store):
    closed = RunningServer(make_app())
    closed_url = closed.url
    closed._server.server_close()  # the port is free again: connections are refused
    harness = Harness(sqlite_store, closed_url)
    with pytest.raises(TransientError) as caught:
        harness.send(payload_of("hello"))
    assert caught.value.retry_after is None
    entry = harness.ledger.entries()[0]
    assert (entry.state, entry.retryable) == ("failed", True)
    assert "Connection refused" in str(caught.value) or "Failed to establish" in str(caught.value)
    assert "/bot<token>/" in str(caught.value)
    assert_no_secret(error_texts(caught.value), entry.last_error)


# ------------------------------------------------------------------ uncertain parts

def test_timeout_after_posting_is_uncertain_and_never_resent_on_a_guess(harness, server):
    payload = payload_of("one", "two", "three")

    def fault_on_second(done: int, total: int) -> None:
        if done == 1:
            set_faults(server, {"match": "sendMessage", "kind": "timeout", "after": True, "delay": FAULT_DELAY})

    harness.on_progress = fault_on_second
    with pytest.raises(UncertainError, match="message 2 .*may or may not have been posted"):
        harness.send(payload)
    harness.on_progress = lambda done, total: None
    assert harness.states() == ["sent", "uncertain", "planned"]
    assert [shown(m) for m in stored_messages(server)] == ["one", "two"]  # it was posted after all

    requests_before = len(recorded_requests(server))
    with pytest.raises(PermanentError) as caught:
        harness.send(payload)
    assert "message 2/3 may or may not have been accepted" in str(caught.value)
    assert "ReadTimeout" in str(caught.value) and "--channel telegram --resolve sent|resend" in str(caught.value)
    assert RESOLVE_HINT in str(caught.value)
    assert len(recorded_requests(server)) == requests_before  # nothing sent, not even message 3

    assert harness.context().ledger.settle_uncertain("sent") == ["call-2-sendMessage"]
    receipt = harness.send(payload)
    assert [shown(m) for m in stored_messages(server)] == ["one", "two", "three"]
    assert receipt.remote_ids == ("1", "3")  # message 2 was settled by a person: no id known
    assert harness.states() == ["sent"] * 3


def test_timeout_before_posting_then_resend(harness, server):
    payload = payload_of("one", "two")
    set_faults(server, {"match": "sendMessage", "kind": "timeout", "delay": FAULT_DELAY})
    with pytest.raises(UncertainError):
        harness.send(payload)
    assert stored_messages(server) == []
    with pytest.raises(PermanentError, match="may or may not"):
        harness.send(payload)
    assert harness.context().ledger.settle_uncertain("resend") == ["call-1-sendMessage"]
    harness.send(payload)
    assert [shown(m) for m in stored_messages(server)] == ["one", "two"]


def test_502_html_page_is_uncertain_and_later_parts_wait(harness, server):
    set_faults(server, {"match": "sendMessage", "kind": "502"})
    with pytest.raises(UncertainError) as caught:
        harness.send(payload_of("one", "two"))
    assert "HTTP 502" in str(caught.value) and "<html>" not in str(caught.value)
    assert harness.states() == ["uncertain", "planned"]
    assert len(recorded_requests(server)) == 1


def test_bot_api_json_500_means_the_method_failed_so_it_is_retried(harness, server):
    set_faults(server, {"match": "sendMessage", "kind": "500"})
    with pytest.raises(TransientError):
        harness.send(payload_of("one", "two"))
    harness.send(payload_of("one", "two"))
    assert harness.states() == ["sent", "sent"]
    assert [m["text"] for m in stored_messages(server)] == ["one", "two"]


def test_dropped_connection_after_posting_is_uncertain(harness, server):
    set_faults(server, {"match": "sendMessage", "kind": "drop", "after": True})
    with pytest.raises(UncertainError):
        harness.send(payload_of("one"))
    assert harness.states() == ["uncertain"]


def mark_claimer_dead(harness, part: str) -> None:
    """Make a claim look like it came from a process on this host that has exited."""
    import socket
    import subprocess
    import sys

    from sqlalchemy import update

    from publisher.store import LedgerRow

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with harness.store.session() as session:
        session.execute(update(LedgerRow).where(LedgerRow.part == part)
                        .values(claimed_by=f"{socket.gethostname()}:{finished.stdout.strip()}"))


def test_part_left_sending_by_a_killed_worker_is_not_resent(harness, server):
    payload = payload_of("one", "two", "three")
    harness.send(payload_of("one"))  # message 1 is out (same part name and content)
    harness.ledger.plan(ledger_parts(payload))
    assert harness.ledger.claim("call-2-sendMessage") is not None  # the worker died here
    with pytest.raises(TransientError):  # while its claimer lives, the part is left to it
        harness.send(payload)
    mark_claimer_dead(harness, "call-2-sendMessage")
    with pytest.raises(PermanentError) as caught:
        harness.send(payload)
    assert "message 2/3 may or may not have been accepted (the attempt that sent it was interrupted" in str(caught.value)
    assert harness.states() == ["sent", "uncertain", "planned"]
    assert len(recorded_requests(server)) == 1

    assert harness.context().ledger.settle_uncertain("resend") == ["call-2-sendMessage"]
    harness.send(payload)
    assert [shown(m) for m in stored_messages(server)] == ["one", "two", "three"]


def test_resolve_rejects_an_unknown_decision(harness):
    with pytest.raises(ValueError, match="sent"):
        harness.context().ledger.settle_uncertain("maybe")


def test_a_sent_part_whose_content_changed_is_refused(harness, server):
    harness.send(payload_of("one"))
    with pytest.raises(PermanentError, match="message 1/1 changed after it was sent"):
        harness.send(payload_of("one, edited"))
    assert len(recorded_requests(server)) == 1


# ------------------------------------------------------------------ permanent errors

def test_chat_not_found_carries_the_platform_message(sqlite_store, server):
    harness = Harness(sqlite_store, server.url, telegram_chat_id="@nobody")
    with pytest.raises(PermanentError, match="Bad Request: chat not found"):
        harness.send(payload_of("one", "two"))
    entry = harness.ledger.entries()[0]
    assert (entry.state, entry.retryable) == ("failed", False)
    assert "chat not found" in entry.last_error
    with pytest.raises(PermanentError, match="refused earlier: .*Bad Request: chat not found"):
        harness.send(payload_of("one", "two"))
    assert len(recorded_requests(server)) == 1


@pytest.mark.parametrize(("token", "description"), [("999:wrong-token", "Unauthorized (HTTP 401"),
                                                    ("not-a-token", "Not Found (HTTP 404")])
def test_bad_tokens_are_permanent_and_never_printed(sqlite_store, server, token, description):
    harness = Harness(sqlite_store, server.url, telegram_bot_token=token)
    with pytest.raises(PermanentError) as caught:
        harness.send(payload_of("one"))
    assert description in str(caught.value) and "PUBLISHER_TELEGRAM_BOT_TOKEN" in str(caught.value)
    assert token not in error_texts(caught.value) and "wrong-token" not in error_texts(caught.value)
    assert token not in (harness.ledger.entries()[0].last_error or "")


def test_message_too_long_is_permanent(harness):
    expected = "message 1 \\(sendMessage\\) refused: Bad Request: message is too long"
    with pytest.raises(PermanentError, match=expected):
        harness.send(payload_of("x" * 5000))


def test_migrate_to_chat_id_names_the_new_chat():
    failure = BotApiFailure(400, "Bad Request: group chat was upgraded to a supergroup chat",
                            {"migrate_to_chat_id": -1009999})
    assert classify_failure(failure) == PERMANENT
    assert "-1009999" in failure_text(failure) and "PUBLISHER_TELEGRAM_CHAT_ID" in failure_text(failure)
    assert classify_failure(BotApiFailure(302, "Found (not a Bot API answer)", {})) == UNCERTAIN


# ------------------------------------------------------------------ HTML refused: plain-text fallback

def test_cant_parse_entities_falls_back_to_plain_text_once(sqlite_store, serve):
    server = serve(strict_html=True)
    harness = Harness(sqlite_store, server.url)
    payload = TelegramPayload((
        BotCall("sendPhoto", {"photo": "https://example.com/c.png", "caption": "<p>Cover</p> &amp; more",
                              "parse_mode": "HTML"}),
        BotCall("sendMessage", {"text": "<b>fine</b>", "parse_mode": "HTML"}),
        BotCall("sendMessage", {"text": "Q&amp;A <b>bold</b> <div>block</div>", "parse_mode": "HTML",
                                "link_preview_options": {"is_disabled": True}}),
    ), "full")
    receipt = harness.send(payload)
    assert [shown(m) for m in stored_messages(server)] == ["Cover & more", "fine", "Q&A bold block"]
    assert "entities" not in stored_messages(server)[2]
    bodies = [r["json"] for r in recorded_requests(server)]
    assert len(bodies) == 5
    assert "parse_mode" not in bodies[1] and bodies[1]["caption"] == "Cover & more"
    assert "parse_mode" not in bodies[4] and bodies[4]["link_preview_options"] == {"is_disabled": True}
    assert receipt.detail.startswith('message 1 sent as plain text: Bad Request: can\'t parse entities: '
                                     'Unsupported start tag "p"')
    assert "; message 3 sent as plain text: Bad Request: can't parse entities" in receipt.detail
    assert harness.states() == ["sent"] * 3


def test_plain_text_fallback_that_fails_too_is_permanent_with_both_reasons(sqlite_store, serve):
    server = serve(strict_html=True)
    harness = Harness(sqlite_store, server.url)
    with pytest.raises(PermanentError) as caught:
        harness.send(payload_of("<p></p>"))
    assert "can't parse entities" in str(caught.value) and "message text is empty" in str(caught.value)
    assert len(recorded_requests(server)) == 2  # the HTML once, the plain text once


# ------------------------------------------------------------------ secrets

def test_the_token_never_appears_in_any_error_or_ledger_text(sqlite_store, server):
    """Every failure path, with the token in the URL of every request."""
    texts: list[str] = []
    for rule in ({"kind": "timeout", "delay": FAULT_DELAY}, {"kind": "502"}, {"kind": "500"},
                 {"kind": "drop"}, {"kind": "429"}, {"kind": "expire_token"}):
        harness = Harness(sqlite_store, server.url)
        set_faults(server, {"match": "sendMessage", **rule})
        with pytest.raises((TransientError, UncertainError, PermanentError)) as caught:
            harness.send(payload_of("x"))
        texts += [error_texts(caught.value), *(e.last_error or "" for e in harness.ledger.entries())]
        harness.cleanup()
    assert any("ReadTimeout" in text for text in texts)
    assert_no_secret(*texts)


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.integers(1, 10**10), st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789_-", min_size=8,
                                        max_size=46))
def test_scrub_removes_every_form_of_the_token(bot_id, secret):
    token = f"{bot_id}:{secret}"
    text = (f"HTTPConnectionPool: Max retries exceeded with url: /bot{token}/sendMessage; "
            f"quoted /bot{requests.utils.quote(token, safe='')}/x; bare {secret}")
    assert secret not in scrub(text, token)
