"""The test sends of a post as `publisher status` and the desk show them: apart from the post's
delivery (publisher.test_send), one line per test and channel: when, to whom, how it stands."""
from __future__ import annotations

from rich.table import Table
from sqlalchemy import select

from publisher.models import Delivery, Publication, TestSend
from publisher.store import Store
from publisher.terminal import safe as escape

# The post_slug of a test send's own publication is this + the post's slug: no slug has a colon
# (slugs are letters, digits and dashes), so no query for a post's slug ever finds a test.
TEST_SLUG_PREFIX = "test-send:"
TEST_SENDS_LISTED = 20  # the newest of a post; older ones stay in the store


def listed_test_sends(store: Store, slug: str, limit: int = TEST_SENDS_LISTED) -> list[dict]:
    """The newest test sends of this post, newest first, each with its channels' states. A channel
    without a delivery row yet (its process was stopped before it started) reads "queued"."""
    with store.read_session() as session:
        rows = session.execute(select(TestSend, Publication.title)
                               .join(Publication, Publication.id == TestSend.publication_id)
                               .where(TestSend.post_slug == slug)
                               .order_by(TestSend.created_at.desc(), TestSend.id.desc()).limit(limit)).all()
        ids = [test.publication_id for test, _ in rows]
        deliveries = list(session.scalars(select(Delivery).where(Delivery.publication_id.in_(ids)))) if ids else []
    by_publication: dict[int, dict[str, Delivery]] = {}
    for delivery in deliveries:
        by_publication.setdefault(delivery.publication_id, {})[delivery.channel] = delivery
    listed = []
    for test, title in rows:
        found = by_publication.get(test.publication_id, {})
        wanted = ["email"] + (["telegram"] if test.telegram_chat else [])
        channels = []
        for name in wanted:
            d = found.get(name)
            channels.append({"channel": name, "to": test.to_email if name == "email" else test.telegram_chat,
                             "state": d.state if d else "queued", "sent_parts": d.sent_parts if d else 0,
                             "total_parts": d.total_parts if d else 0, "last_error": d.last_error if d else None})
        listed.append({"id": test.id, "at": test.created_at, "title": title, "to_email": test.to_email,
                       "telegram_chat": test.telegram_chat, "requested_by": test.requested_by,
                       "channels": channels})
    return listed


def with_test_sends(report: list[dict], store: Store, slug: str | None, where: str) -> list[dict]:
    """`report` (publisher.status) with each post's test sends under "test_sends", plus an entry
    for a post that was only ever test-sent (a draft, say). `slug`: the one post asked about."""
    if slug is None:
        with store.read_session() as session:
            slugs = sorted(session.scalars(select(TestSend.post_slug).distinct()))
    else:
        slugs = [slug]
    by_slug = {entry["slug"]: entry for entry in report}
    for name in slugs:
        tests = listed_test_sends(store, name)
        if name in by_slug:
            by_slug[name]["test_sends"] = tests
        elif tests:
            report.append({"slug": name, "title": tests[0]["title"], "where": where, "channels": [],
                           "test_sends": tests})
    for entry in report:
        entry.setdefault("test_sends", [])
    return report


def table_of_test_sends(entry: dict) -> Table | None:
    """The test sends of one report entry, or None when it has none."""
    if not entry.get("test_sends"):
        return None
    from publisher.cli_publish import STATE_STYLE

    table = Table(title=escape(f"Test sends of {entry['title']} ({entry['slug']}, {entry['where']}; not counted "
                               "as its delivery)"))
    for column in ("when", "channel", "to", "state", "parts", "last error"):
        table.add_column(column, overflow="fold")
    for test in entry["test_sends"]:
        when = f"{test['at']:%Y-%m-%d %H:%M:%S} UTC" + (" (desk)" if test["requested_by"] == "desk" else "")
        for channel in test["channels"]:
            style = STATE_STYLE.get(channel["state"], "")
            parts = f"{channel['sent_parts']}/{channel['total_parts']} sent" if channel["total_parts"] else ""
            table.add_row(when, channel["channel"], escape(channel["to"] or ""), f"[{style}]{channel['state']}[/]",
                          parts, escape(channel["last_error"] or ""))
            when = ""
    return table
