"""A claim remembers its claimer, so a part left "sending" by a dead process on this host is known
to be abandoned at once (no waiting out a timeout), while a live claimer's part is left alone."""
import multiprocessing
import sqlite3

from publisher.ledger import Ledger
from publisher.store import Store


def _claim_and_die(db_url: str, publication_id: int) -> None:
    Ledger(Store(db_url), publication_id, "x").claim("tweet-1")


def test_dead_claimer_is_abandoned_live_one_is_not(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'p.db'}"
    store = Store(db_url)
    pub = store.get_or_create_publication("s", "0" * 64, "T")
    ledger = Ledger(store, pub.id, "x")
    ledger.plan([("tweet-1", "a"), ("tweet-2", "b")])
    store.dispose()
    child = multiprocessing.get_context("spawn").Process(target=_claim_and_die, args=(db_url, pub.id))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    left = Ledger(Store(db_url), pub.id, "x")
    mine = left.claim("tweet-2")
    assert left.entry("tweet-1").abandoned(older_than_seconds=1e9)
    assert not mine.abandoned(older_than_seconds=1e9)
    assert mine.abandoned(older_than_seconds=0)  # a claim older than the limit counts as abandoned


def test_columns_added_since_a_database_was_created_are_migrated(tmp_path):
    path = tmp_path / "old.db"
    Store(f"sqlite:///{path}").create_schema()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE ledger DROP COLUMN claimed_by")
    store = Store(f"sqlite:///{path}")
    pub = store.get_or_create_publication("s", "0" * 64, "T")
    ledger = Ledger(store, pub.id, "email")
    ledger.plan([("to:a@example.com", "h")])
    assert ledger.claim("to:a@example.com").claimed_by


def test_a_person_settles_uncertain_and_abandoned_parts_but_not_a_live_claim(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    pub = store.get_or_create_publication("s", "0" * 64, "T")
    ledger = Ledger(store, pub.id, "telegram")
    ledger.plan([("a", "1"), ("b", "2"), ("c", "3")])
    ledger.claim("a")
    ledger.mark_uncertain("a", "timeout")
    ledger.claim("b")  # claimed by this live process, moments ago
    assert ledger.settle_uncertain("resend") == ["a"]
    assert ledger.entry("a").claimable and ledger.entry("b").state == "sending"
    assert ledger.settle_uncertain("sent", stale_after=0) == ["b"]  # older than the limit: abandoned
    assert ledger.entry("b").state == "sent"
