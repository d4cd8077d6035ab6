"""`publisher schedule` and `publisher unschedule` (publisher.schedule; pressed by publisher.scheduler)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console

from publisher.config import load_settings
from publisher.terminal import safe

out = Console()


def register(app: typer.Typer, user_errors: Callable) -> None:
    """Add the two commands to the `publisher` app (publisher.cli)."""

    @app.command()
    @user_errors
    def schedule(
        post: Path = typer.Argument(..., help="The Markdown post to publish later."),
        at: Optional[str] = typer.Option(None, "--at", help="When: 2026-01-24T08:00:00+08:00, or 2026-01-24 08:00 "
                                         "(in PUBLISHER_TIMEZONE), or 2026-01-24 08:00 Europe/Paris. Overrides "
                                         "the post's publish_at."),
        force: bool = typer.Option(False, "--force", help="Schedule even though its checks find problems; the "
                                   "press then sends everything as it is (if the file is unchanged by then)."),
    ) -> None:
        """Publish the post at its `publish_at:` time (or --at): a running `publisher serve` or
        `publisher worker` presses it then, exactly once, as `publisher publish --yes` would.

        Checked now as a press would be: a draft, or a post whose checks find problems (without
        --force), is not scheduled (exit 2); neither is a time in the past (to send now, publish).
        Scheduling a scheduled post again moves it to the new time."""
        from publisher.schedule import in_words, schedule_post, shown

        settings = load_settings()
        done = schedule_post(post, settings, at=at, force=force)
        row = done.row
        when = f"{shown(row.due_at, row.zone)} ({shown(row.due_at, 'UTC')})"
        moved = f", moved from {shown(done.moved_from, row.zone)}" if done.moved_from else ""
        from publisher.models import utcnow

        wait = in_words((row.due_at - utcnow()).total_seconds())
        out.print(f"Scheduled {safe(row.title)} for {when}, in {wait}{moved}"
                  f"{' (with --force: sent as it is)' if row.force else ''}.", highlight=False)
        out.print("A running `publisher serve` or `publisher worker` presses it then; `publisher unschedule "
                  f"{safe(post)}` cancels it.", highlight=False)

    @app.command()
    @user_errors
    def unschedule(post: Path = typer.Argument(..., help="The scheduled post.")) -> None:
        """Cancel a post's schedule before it is due; nothing is sent."""
        from publisher.schedule import shown, unschedule_post

        row = unschedule_post(post, load_settings())
        out.print(f"Unscheduled {safe(row.title)} (it was due {shown(row.due_at, row.zone)}); nothing will be "
                  "sent for it.", highlight=False)


def table_of_schedule(pub: dict):
    """The post's newest schedule as a small table for `publisher status` (None when it has none)."""
    from rich.table import Table

    from publisher.schedule import in_words

    info = pub.get("schedule")
    if not info:
        return None
    table = Table(title=safe(f"Schedule of {pub['title']} ({pub['slug']})"))
    for column in ("state", "due", "sent", "note"):
        table.add_column(column, overflow="fold")
    sent = f"{info['published_local']}\n{info['published_utc']}" if info["published_at"] else ""
    note = " ".join(text for text in (info["note"], info["last_error"]) if text)
    if info["state"] == "scheduled" and not note:
        note = (f"in {in_words(info['due_in_seconds'])}" if info["due_in_seconds"] > 0 else
                "due: waiting for a `publisher serve` or `publisher worker` to press it")
    table.add_row(info["state"], f"{info['due_local']}\n{info['due_utc']}", sent, safe(note))
    return table
