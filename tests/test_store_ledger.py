"""The status store and the publish ledger, on SQLite (a temp file) and PostgreSQL (own schema)."""
from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from publisher.errors import ConfigError
from publisher.ledger import Ledger, LedgerEntry
from publisher.store import DELIVERY_STATES, LEDGER_STATES, Store, utcnow

PG_URL = os.environ.get("PUBLISHER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RACE_PARTS = 10_000


def _pg_reachable() -> bool:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means: skip the PostgreSQL runs
        return False


PG_AVAILABLE = _pg_reachable()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'publisher.db'}"
        return
    if not PG_AVAILABLE:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def store(db_url):
    opened = Store(db_url)
    yield opened
    opened.dispose()


@pytest.fixture
def ledger(store):
    publication = store.get_or_create_publication("2026-01-24-ai-daily", "a" * 64, "AI 日报")
    return Ledger(store, publication.id, "x")


def _race_parts() -> list[str]:
    return [f"reader{i}@example.com" for i in range(RACE_PARTS)]


# -- store ----------------------------------------------------------------------------------------

def test_glossary_defines_every_state_and_the_word_to_avoid():
    from publisher import states

    glossary = states.__doc__
    for word in (*LEDGER_STATES, *DELIVERY_STATES, *states.Where):
        assert f"- {word}:" in glossary or f"{word}:" in glossary, word
    assert '"delivered"' in glossary and '"refused"' in glossary


def test_bad_urls_are_config_errors_naming_the_setting():
    with pytest.raises(ConfigError, match="PUBLISHER_DB_URL"):
        Store("not a url at all")
    with pytest.raises(ConfigError, match="unsupported database"):
        Store("mysql://root@localhost/x")


def test_postgres_urls_use_psycopg():
    assert Store("postgresql://u:secret@h/db").db_url.startswith("postgresql+psycopg://")
    assert "secret" not in Store("postgres://u:secret@h/db").masked_url


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'deep' / 'dir' / 'p.db'}")
    with store.session() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    store.dispose()


def test_many_connections_opening_a_new_sqlite_file_at_once_all_get_wal(tmp_path):
    # Switching to WAL takes an exclusive lock without SQLite's busy handler; openers that race
    # on a new file must wait for the first switch instead of failing with "database is locked".
    for attempt in range(30):
        db_url = f"sqlite:///{tmp_path / f'new-{attempt}.db'}"
        barrier, failures = threading.Barrier(6), []

        def open_store() -> None:
            store = Store(db_url)
            barrier.wait()
            try:
                store.token_put(f"opener-{threading.get_ident()}", "here")
                with store.session() as session:
                    assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            except Exception as exc:  # noqa: BLE001 - the test reports what went wrong
                failures.append(repr(exc))
            store.dispose()

        openers = [threading.Thread(target=open_store) for _ in range(6)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(60)
        assert failures == []


def _create_schema_in_process(db_url, barrier, results):
    barrier.wait()
    try:
        Store(db_url).token_put("started", str(os.getpid()))
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - the test reports what went wrong
        results.put(repr(exc))


def test_schema_creation_is_safe_when_two_processes_start_at_once(db_url):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_create_schema_in_process, args=(db_url, barrier, results))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert outcomes == ["ok"] * 3
    again = Store(db_url)
    again.create_schema()  # idempotent
    assert again.token_get("started") is not None
    again.dispose()


def test_pressing_publish_twice_returns_the_same_publication(store):
    first = store.get_or_create_publication("post", "1" * 64, "Title")
    second = store.get_or_create_publication("post", "2" * 64, "Title edited")
    assert (second.id, second.key, second.generation) == (first.id, "post:1", 1)
    assert second.post_sha256 == "1" * 64  # the caller compares it to warn about an edited post
    republished = store.get_or_create_publication("post", "2" * 64, "Title edited", again=True)
    assert (republished.generation, republished.key) == (2, "post:2")
    assert republished.id != first.id
    assert store.get_or_create_publication("post", "2" * 64, "x").id == republished.id
    assert store.get_or_create_publication("other", "3" * 64, "x").generation == 1


def test_concurrent_presses_get_one_publication(store):
    ids, barrier = [], threading.Barrier(6)

    def press():
        barrier.wait()
        ids.append(store.get_or_create_publication("race", "f" * 64, "Race").id)

    threads = [threading.Thread(target=press) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1 and len(ids) == 6


def test_delivery_states_keep_timestamps_and_attempts(store):
    publication = store.get_or_create_publication("post", "1" * 64, "Title")
    queued = store.delivery(publication.id, "telegram")
    assert (queued.state, queued.attempts, queued.started_at, queued.finished_at) == ("queued", 0, None, None)
    assert store.delivery(publication.id, "telegram").id == queued.id

    sending = store.set_delivery_state(publication.id, "telegram", "sending", total_parts=3)
    assert (sending.attempts, sending.total_parts) == (1, 3)
    assert sending.started_at is not None and sending.started_at.tzinfo is not None
    retrying = store.set_delivery_state(publication.id, "telegram", "retrying", error="429: retry after 3")
    assert (retrying.last_error, retrying.finished_at) == ("429: retry after 3", None)
    again = store.set_delivery_state(publication.id, "telegram", "sending")
    assert again.attempts == 2 and again.started_at == sending.started_at
    sent = store.set_delivery_state(publication.id, "telegram", "sent", sent_parts=3,
                                    remote_ids=["11", "12"], remote_urls=["https://t.me/c/11"])
    assert sent.finished_at is not None and sent.last_error is None
    assert (sent.remote_ids, sent.remote_urls, sent.sent_parts) == (["11", "12"], ["https://t.me/c/11"], 3)
    assert [d.channel for d in store.deliveries(publication.id)] == ["telegram"]
    with pytest.raises(ValueError, match="delivered"):
        store.set_delivery_state(publication.id, "telegram", "delivered")


def test_token_cache_is_shared_and_expires(store, db_url):
    store.token_put("wechat:wx123", "TOKEN-1", ttl_seconds=7200)
    other_process_view = Store(db_url)
    assert other_process_view.token_get("wechat:wx123") == "TOKEN-1"
    assert other_process_view.token_get("wechat:wx123", min_ttl_seconds=7300) is None  # refresh early
    other_process_view.token_put("wechat:wx123", "TOKEN-2", expires_at=utcnow() + timedelta(hours=2))
    assert store.token_get("wechat:wx123") == "TOKEN-2"
    store.token_put("wechat:wx123", "TOKEN-3", ttl_seconds=-1)
    assert store.token_get("wechat:wx123") is None
    store.token_put("forever", "v")
    assert store.token_get("forever") == "v"
    store.token_delete("forever")
    assert store.token_get("forever") is None
    store.token_delete("never-there")
    other_process_view.dispose()


def test_upload_cache_keys_on_namespace_hash_and_kind(store):
    assert store.upload_get("wx123", "c" * 64, "image") is None
    first = store.upload_put("wx123", "c" * 64, "image", "MEDIA-1", "http://mmbiz.qpic.cn/1")
    assert (first.media_id, first.url) == ("MEDIA-1", "http://mmbiz.qpic.cn/1")
    store.upload_put("wx123", "c" * 64, "thumb", "THUMB-1")
    store.upload_put("wx999", "c" * 64, "image", "OTHER-APP")
    assert store.upload_get("wx123", "c" * 64, "image").media_id == "MEDIA-1"
    assert store.upload_get("wx123", "c" * 64, "thumb").url is None
    store.upload_put("wx123", "c" * 64, "image", "MEDIA-2")
    assert store.upload_get("wx123", "c" * 64, "image").media_id == "MEDIA-2"


# -- ledger: one part at a time -------------------------------------------------------------------

def test_plan_is_idempotent_and_leaves_existing_rows_untouched(ledger):
    ledger.plan([("tweet-1", "h1"), ("tweet-2", "h2")])
    assert ledger.claim("tweet-1") is not None
    ledger.mark_sent("tweet-1", remote_id="1001")
    ledger.plan([("tweet-1", "CHANGED"), ("tweet-2", "h2"), ("tweet-3", "h3")])
    entries = ledger.entries()
    assert [(e.part, e.content_sha256, e.state) for e in entries] == [
        ("tweet-1", "h1", "sent"), ("tweet-2", "h2", "planned"), ("tweet-3", "h3", "planned")]
    assert ledger.counts() == {"planned": 2, "sending": 0, "sent": 1, "failed": 0, "uncertain": 0}


def test_claim_is_compare_and_set(ledger):
    ledger.plan([("tweet-1", "h1")])
    won = ledger.claim("tweet-1")
    assert isinstance(won, LedgerEntry)
    assert (won.state, won.attempts, won.content_sha256) == ("sending", 1, "h1")
    assert ledger.claim("tweet-1") is None  # sending: someone has it
    ledger.mark_sent("tweet-1", remote_id="1001", remote_url="https://x.com/i/status/1001")
    assert ledger.claim("tweet-1") is None  # sent: final
    entry = ledger.entry("tweet-1")
    assert (entry.state, entry.remote_id, entry.remote_url, entry.attempts) == (
        "sent", "1001", "https://x.com/i/status/1001", 1)


def test_a_part_never_planned_is_a_caller_bug_not_already_sent(ledger):
    with pytest.raises(LookupError, match="never planned"):
        ledger.claim("ghost")
    with pytest.raises(LookupError):
        ledger.mark_failed("ghost", "boom")
    assert ledger.entry("ghost") is None


def test_retryable_failures_may_be_claimed_again_permanent_ones_not(ledger):
    ledger.plan([("a", "h"), ("b", "h")])
    ledger.claim("a")
    ledger.claim("b")
    ledger.mark_failed("a", "429 Too Many Requests", retryable=True)
    ledger.mark_failed("b", "403 You are not allowed to create a Tweet with duplicate content.")
    assert ledger.entry("b").last_error.startswith("403")
    assert ledger.claim("b") is None
    again = ledger.claim("a")
    assert (again.state, again.attempts) == ("sending", 2)
    assert ledger.claim_many(["a", "b"]) == []


def test_uncertain_parts_are_not_claimed_but_reconciled(ledger):
    ledger.plan([("found", "h"), ("lost", "h")])
    for part in ("found", "lost"):
        ledger.claim(part)
        ledger.mark_uncertain(part, "read timeout after 30 s")
    assert ledger.claim("found") is None and ledger.claim_many(["found", "lost"]) == []
    assert ledger.counts()["uncertain"] == 2
    ledger.resolve_uncertain("found", remote_id="2002", sent=True)
    ledger.resolve_uncertain("lost", remote_id=None, sent=False)
    assert ledger.entry("found").state == "sent" and ledger.entry("found").remote_id == "2002"
    lost = ledger.entry("lost")
    assert (lost.state, lost.retryable) == ("failed", True)
    assert "read timeout" in lost.last_error and "reconciled" in lost.last_error
    assert ledger.claim("lost").attempts == 2


def test_sent_is_final(ledger):
    ledger.plan([("p", "h")])
    ledger.claim("p")
    ledger.mark_sent("p", remote_id="1")
    ledger.mark_failed("p", "late error from a confused worker", retryable=True)
    ledger.mark_uncertain("p", "late timeout")
    ledger.resolve_uncertain("p", remote_id=None, sent=False)
    assert (ledger.entry("p").state, ledger.entry("p").remote_id) == ("sent", "1")


def test_stale_sending_finds_claims_a_dead_worker_left_behind(ledger):
    ledger.plan([("left", "h"), ("fresh", "h"), ("done", "h")])
    ledger.claim_many(["left", "fresh", "done"])
    ledger.mark_sent("done")
    assert ledger.stale_sending(older_than_seconds=3600) == []
    assert [e.part for e in ledger.stale_sending(older_than_seconds=0)] == ["left", "fresh"]
    ledger.resolve_uncertain("left", remote_id="7", sent=True)
    assert [e.part for e in ledger.stale_sending(older_than_seconds=0)] == ["fresh"]


def test_ledgers_of_other_channels_and_publications_are_separate(store, ledger):
    other_channel = Ledger(store, ledger.publication_id, "telegram")
    other_publication = Ledger(store, store.get_or_create_publication("p2", "b" * 64, "t").id, "x")
    for each in (ledger, other_channel, other_publication):
        each.plan([("1", "h")])
    assert ledger.claim("1") is not None
    assert other_channel.claim("1") is not None
    assert other_publication.claim("1") is not None


def test_bulk_operations(ledger):
    parts = [f"r{i}@example.com" for i in range(2500)]
    ledger.plan([(part, "h") for part in parts])
    ledger.plan([(part, "h") for part in parts])  # idempotent, also in bulk
    assert ledger.counts()["planned"] == 2500
    first = ledger.claim_many(parts[:1500] + parts[:10])
    assert first == parts[:1500]
    assert ledger.claim_many(parts) == parts[1500:]
    ledger.mark_failed_many(parts[:100], "451 try later", retryable=True)
    ledger.mark_sent_many(parts[100:])
    assert ledger.counts() == {"planned": 0, "sending": 0, "sent": 2400, "failed": 100, "uncertain": 0}
    assert ledger.claim_many(parts) == parts[:100]
    assert ledger.claim_many(["never-planned"]) == []


def test_a_claim_records_the_last_groups_sends_in_the_same_transaction(store, ledger):
    parts = [f"r{i}@example.com" for i in range(120)]
    ledger.plan([(part, "h") for part in parts])
    first = ledger.claim_many(parts[:50])
    assert ledger.claim_many(parts[50:100], sent_before=first) == parts[50:100]
    assert ledger.counts() == {"planned": 20, "sending": 50, "sent": 50, "failed": 0, "uncertain": 0}
    assert ledger.sent_marks == 50
    assert ledger.claim_many([], sent_before=parts[50:100]) == []  # nothing to claim: the marks alone
    assert ledger.counts()["sent"] == 100 and ledger.sent_marks == 100
    other = Ledger(store, ledger.publication_id, "telegram")  # another delivery's rows are untouched
    other.plan([(parts[110], "h"), (parts[111], "h")])
    assert other.claim_many([parts[110]]) == [parts[110]]
    assert other.claim_many([parts[111]], sent_before=[parts[110]]) == [parts[111]]
    assert other.entry(parts[110]).state == "sent" and ledger.entry(parts[110]).state == "planned"


# -- ledger: races ----------------------------------------------------------------------------------

def test_two_threads_claim_each_part_exactly_once(store, ledger):
    parts = _race_parts()
    ledger.plan([(part, "h") for part in parts])
    barrier, won = threading.Barrier(2), {}

    def claim_all(name):
        mine = Ledger(store, ledger.publication_id, ledger.channel)
        barrier.wait()
        won[name] = mine.claim_many(parts)

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(won["a"]).isdisjoint(won["b"])
    assert sorted(won["a"] + won["b"]) == sorted(parts)
    assert ledger.counts()["sending"] == RACE_PARTS
    assert {e.attempts for e in ledger.entries()} == {1}


def _claim_in_process(db_url, publication_id, channel, parts, barrier, results):
    ledger = Ledger(Store(db_url), publication_id, channel)
    barrier.wait()
    results.put(ledger.claim_many(parts))


def test_two_processes_claim_each_part_exactly_once(db_url, ledger):
    parts = _race_parts()
    ledger.plan([(part, "h") for part in parts])
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_claim_in_process,
                               args=(db_url, ledger.publication_id, ledger.channel, parts, barrier, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    won = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert set(won[0]).isdisjoint(won[1])
    assert sorted(won[0] + won[1]) == sorted(parts)


def test_many_threads_racing_for_one_part_one_wins(store, ledger):
    ledger.plan([("tweet-1", "h")])
    barrier, winners = threading.Barrier(8), []

    def try_claim():
        mine = Ledger(store, ledger.publication_id, ledger.channel)
        barrier.wait()
        if mine.claim("tweet-1") is not None:
            winners.append(threading.get_ident())

    threads = [threading.Thread(target=try_claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert ledger.entry("tweet-1").attempts == 1


def _claim_with_inherited_store(store, publication_id, results):
    results.put(Ledger(store, publication_id, "x").claim_many(["forked"]))


def test_a_forked_worker_opens_its_own_connections(store, ledger):
    ledger.plan([("forked", "h"), ("parent", "h")])
    assert ledger.claim("parent") is not None  # the parent's pool now holds a connection
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_claim_with_inherited_store, args=(store, ledger.publication_id, results))
    child.start()
    assert results.get(timeout=60) == ["forked"]
    child.join(timeout=60)
    assert child.exitcode == 0
    ledger.mark_sent("parent")  # and the parent's connections still work
    assert ledger.counts()["sent"] == 1
