"""Planning a mailing: one ledger part per active subscriber, as `publisher publish` does before the
first email leaves (publisher.jobs.plan_mailing), on a fresh PostgreSQL schema. Run by hand:

    .venv/bin/python bench/plan.py --sizes 100000,1000000

Reports seconds per size and parts per second; the target is 1,000,000 subscribers in ≤ 15 s.
Seeding the subscribers (COPY) is not timed."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_SECONDS_AT_1M = 15.0


def seeded_schema(pg_url: str, n: int) -> str:
    import psycopg

    from publisher.store import Store

    schema = f"plan_{os.getpid()}_{n}"
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.execute(f"CREATE SCHEMA {schema}")
    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    Store(url).create_schema()
    with psycopg.connect(plain, autocommit=True, options=f"-csearch_path={schema}") as connection:
        with connection.cursor().copy("COPY subscribers (email, name, status, created_at, updated_at) FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((f"reader{i:07d}@example.org", f"Reader {i}", "active", "2026-01-01", "2026-01-01"))
    return schema


def drop(pg_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def plan_once(pg_url: str, schema: str) -> float:
    import dataclasses

    from channels.registry import CHANNELS
    from publisher.config import load_settings
    from publisher.jobs import Job, plan_mailing
    from publisher.post import load_post
    from publisher.store import Store

    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    settings = dataclasses.replace(load_settings(env={}), db_url=url)
    store = Store(url)
    post = load_post(ROOT / "examples" / "2026-01-24-ai-daily.md", settings)
    channel = CHANNELS["email"]
    publication = store.get_or_create_publication(post.slug, "0" * 64, post.title)
    job = Job(settings, store, publication.id, channel, post, channel.render(post, settings))
    started = time.perf_counter()
    batches = plan_mailing(job)
    took = time.perf_counter() - started
    assert sum(map(len, batches)) > 0
    store.dispose()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    table = Table("subscribers", "plan s", "parts/s", title="planning a mailing on PostgreSQL")
    for n in (int(x) for x in args.sizes.split(",")):
        schema = seeded_schema(args.pg_url, n)
        try:
            took = plan_once(args.pg_url, schema)
        finally:
            drop(args.pg_url, schema)
        verdict = f" (target ≤ {TARGET_SECONDS_AT_1M:g}: {'met' if took <= TARGET_SECONDS_AT_1M else 'NOT met'})" \
            if n == 1_000_000 else ""
        table.add_row(f"{n:,}", f"{took:.1f}{verdict}", f"{n / took:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
