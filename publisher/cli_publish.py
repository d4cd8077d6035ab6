"""`publisher publish`, `publisher status`, `publisher retry` and `publisher sandbox`."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from publisher.config import Settings, load_settings

out = Console()
EXAMPLE_SUBSCRIBERS = Path(__file__).resolve().parent.parent / "examples" / "subscribers.csv"

STATE_STYLE = {"sent": "green", "partial": "yellow", "failed": "red", "blocked": "red", "uncertain": "magenta",
               "outbox": "cyan", "disabled": "dim", "retrying": "yellow", "sending": "blue", "queued": "dim"}


def sandbox_settings(settings: Settings, sandbox) -> Settings:
    """Point every channel at the in-process stand-ins (their values override the environment)."""
    env = {**os.environ, **sandbox.env()}
    loaded = load_settings(env=env)
    return dataclasses.replace(loaded, x_pause_seconds=0.0)


def seed_example_subscribers(settings: Settings) -> int:
    """The sandbox demo mails the example list when nobody has subscribed yet."""
    from publisher.store import Store
    from publisher.subscribers import Subscribers

    book = Subscribers(Store(settings.db_url), settings)
    if sum(book.count().values()):
        return 0
    return book.import_csv(EXAMPLE_SUBSCRIBERS).added


def press_and_report(post: Path, settings: Settings, *, force: bool, again: bool, channels: list[str],
                     wait: bool) -> bool:
    """Press, show live progress per channel, print the final table; True when all went out."""
    from publisher.publish import enqueue, prepare, run, wait_for

    columns = (TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(channel: str, done: int, total: int) -> None:
            if channel not in tasks:
                tasks[channel] = bar.add_task(channel, total=total)
            bar.update(tasks[channel], completed=done, total=total)

        pressed = prepare(post, settings, again=again)
        if settings.broker_url:
            result = enqueue(pressed, settings, force=force, only=channels)
            if wait:
                result = wait_for(result, settings, progress)
        else:
            result = run(pressed, settings, force=force, only=channels, progress=progress)
    out.print(outcome_table(result))
    return result.ok


def outcome_table(result) -> Table:
    table = Table(title=f"{result.post.title}")
    for column in ("channel", "state", "where", "parts", "detail"):
        table.add_column(column, overflow="fold")
    for o in result.outcomes:
        style = STATE_STYLE.get(o.state, "")
        parts = f"{o.sent}/{o.total}" if o.total else ""
        table.add_row(o.channel, f"[{style}]{o.state}[/]", o.where, parts, o.detail)
    return table
