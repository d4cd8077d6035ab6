"""`publisher status`: where every channel of a publication stands, read from the store."""
from __future__ import annotations

from pathlib import Path

from rich.table import Table
from sqlalchemy import select

from publisher.config import Settings
from publisher.ledger import Ledger
from publisher.rounds import latest_deliveries
from publisher.terminal import safe as escape
from publisher.store import Delivery, Publication, Store


def publication_status(settings: Settings, post_path: Path | None) -> list[dict]:
    """One dict per post (or for the one post): each channel as its current round stands
    (publisher.rounds). A state that does not exist yet is not created: there is nothing to show."""
    if not state_exists(settings.db_url):
        return []
    store = Store(settings.db_url)
    from publisher.test_send_status import TEST_SLUG_PREFIX, with_test_sends

    asked = None
    with store.read_session() as session:
        query = select(Publication.post_slug).distinct().where(Publication.post_slug.not_like(TEST_SLUG_PREFIX + "%"))
        if post_path is not None:
            from publisher.post import load_post

            asked = load_post(post_path, settings).slug
            query = query.where(Publication.post_slug == asked)
        slugs = sorted(session.scalars(query))
    report = []
    for slug in slugs:
        rounds = latest_deliveries(store, slug)
        if not rounds:
            continue
        newest = max((publication for publication, _ in rounds.values()), key=lambda p: p.generation)
        source = newest.source_name or slug
        report.append({
            "slug": slug, "title": newest.title, "generation": newest.generation, "publication_id": newest.id,
            "created_at": newest.created_at, "where": "sandbox" if settings.sandbox else "live",
            "channels": [{**_delivery_dict(store, publication.id, delivery, source), "round": publication.generation}
                         for _, (publication, delivery) in sorted(rounds.items())],
        })
    from publisher.schedule import attach_schedules

    report = with_test_sends(report, store, asked, "sandbox" if settings.sandbox else "live")  # apart from the rounds
    return attach_schedules(report, store, asked)  # each post's newest schedule, and posts only scheduled


def state_exists(db_url: str) -> bool:
    """False for a SQLite file that is not there (opening it would create an empty state)."""
    if not db_url.startswith("sqlite:///"):
        return True
    path = db_url[len("sqlite:///"):].split("?", 1)[0]
    return path in ("", ":memory:") or Path(path).exists()


def _delivery_dict(store: Store, publication_id: int, d: Delivery, source: str = "POST") -> dict:
    ledger = Ledger(store, publication_id, d.channel)
    counts = {s: n for s, n in ledger.counts().items() if n}
    seconds = (d.finished_at - d.started_at).total_seconds() if d.finished_at and d.started_at else None
    return {**uncertain_parts(ledger, counts, source),
        "channel": d.channel, "state": d.state, "attempts": d.attempts, "parts": counts,
        "sent_parts": counts.get("sent", 0), "total_parts": sum(counts.values()),
        "remote_ids": list(d.remote_ids or [])[-10:], "remote_urls": list(d.remote_urls or [])[-10:],
        "last_error": d.last_error, "started_at": d.started_at, "finished_at": d.finished_at,
        "seconds": seconds,
    }


UNCERTAIN_LISTED = 100


def uncertain_parts(ledger: Ledger, counts: dict[str, int], source: str) -> dict:
    """The parts a person may have to settle, named as people name them, and how to settle them."""
    if not counts.get("uncertain"):
        return {"uncertain": [], "settle_with": None}
    from channels.registry import CHANNELS

    channel = CHANNELS.get(ledger.channel)
    total = sum(counts.values())
    entries = ledger.entries("uncertain")[:UNCERTAIN_LISTED]
    named = [channel.describe_part(e.part, total).label if channel else e.part for e in entries]
    reconciles = channel is not None and channel.reconciles_itself
    return {"uncertain": named,
            "settle_with": None if reconciles else f"publisher retry {source} --channel {ledger.channel} "
                                                   "--resolve sent|resend"}


def status_tables(report: list[dict]) -> list[Table]:
    from publisher.cli_publish import STATE_STYLE
    from publisher.cli_schedule import table_of_schedule
    from publisher.test_send_status import table_of_test_sends

    tables = []
    for pub in report:
        tests = [t for t in [table_of_test_sends(pub), table_of_schedule(pub)] if t is not None]
        if not pub["channels"]:  # only ever test-sent
            tables.extend(tests)
            continue
        table = Table(title=escape(f"{pub['title']} ({pub['slug']}, {pub['where']})"))
        for column in ("channel", "state", "attempts", "parts", "remote", "last error", "time"):
            table.add_column(column, overflow="fold")
        for ch in pub["channels"]:
            style = STATE_STYLE.get(ch["state"], "")
            others = ", ".join(f"{n} {s}" for s, n in sorted(ch["parts"].items()) if s != "sent")
            parts = f"{ch['sent_parts']}/{ch['total_parts']} sent" + (f" ({others})" if others else "")
            remote = (ch["remote_urls"] or ch["remote_ids"] or [""])[-1]
            took = f"{ch['seconds']:.1f}s" if ch["seconds"] is not None else ""
            error = ch["last_error"] or ""
            if ch["uncertain"]:
                shown = ", ".join(ch["uncertain"][:5]) + (" …" if len(ch["uncertain"]) > 5 else "")
                error = (error + "; " if error else "") + f"uncertain: {shown}"
                if ch["settle_with"]:
                    error += f" (check the platform, then `{ch['settle_with']}`)"
            table.add_row(ch["channel"], f"[{style}]{ch['state']}[/]", str(ch["attempts"]), parts,
                          escape(remote), escape(error), took)
        tables.append(table)
        tables.extend(tests)
    return tables


# -- the web desk's live status ----------------------------------------------------------------------
#
# The desk shows one word per channel. Delivery rows say queued/sending/sent/partial/failed/retrying
# (glossary in publisher.store); the desk folds "retrying" into "sending" (an attempt is scheduled,
# the channel is still on its way) and says "uncertain" for a finished delivery that still has
# uncertain parts, because those need a person (or a reconciliation) before anything else happens.
# Channels without a delivery row: "outbox" (no credentials), "disabled" (the post turns it off),
# "not published" (never pressed) or "queued" (pressed; no worker has reached the channel yet).
DESK_STATES = ("not published", "queued", "sending", "sent", "drafted", "partial", "failed", "uncertain", "outbox",
               "disabled")
DESK_ACTIVE_STATES = frozenset({"queued", "sending"})
# A delivery with more parts than this (an email list) shows its counts and unfinished parts only.
PART_ROWS_LIMIT = 200


def latest_publication(store: Store, slug: str) -> Publication | None:
    """The newest generation of this post's publication, or None if it was never pressed."""
    with store.read_session() as session:
        return session.scalars(select(Publication).where(Publication.post_slug == slug)
                               .order_by(Publication.generation.desc()).limit(1)).one_or_none()


def desk_state_word(delivery_state: str, counts: dict[str, int]) -> str:
    if delivery_state == "retrying":
        return "sending"
    if delivery_state in ("partial", "failed") and counts.get("uncertain"):
        return "uncertain"
    return delivery_state


def delivery_detail(store: Store, publication_id: int, channel: str) -> dict | None:
    """Everything the desk shows about one channel of a publication; None when it has no delivery row.

    `entries` holds every ledger part of a small delivery, and only the parts that are not sent of
    a large one (at most PART_ROWS_LIMIT either way)."""
    with store.read_session() as session:
        delivery = session.scalars(select(Delivery).where(Delivery.publication_id == publication_id,
                                                          Delivery.channel == channel)).one_or_none()
    if delivery is None:
        return None
    ledger = Ledger(store, publication_id, channel)
    counts = {s: n for s, n in ledger.counts().items() if n}
    total = sum(counts.values())
    if total <= PART_ROWS_LIMIT:
        entries = ledger.entries()
    else:
        entries = [e for state in ("uncertain", "failed", "sending") for e in ledger.entries(state)][:PART_ROWS_LIMIT]
    seconds = (delivery.finished_at - delivery.started_at).total_seconds() \
        if delivery.finished_at and delivery.started_at else None
    return {
        "channel": channel, "state": desk_state_word(delivery.state, counts), "delivery_state": delivery.state,
        "attempts": delivery.attempts, "counts": counts, "sent_parts": counts.get("sent", 0), "total_parts": total,
        "entries": entries, "last_error": delivery.last_error, "remote_urls": list(delivery.remote_urls or []),
        "started_at": delivery.started_at, "finished_at": delivery.finished_at, "seconds": seconds,
    }
