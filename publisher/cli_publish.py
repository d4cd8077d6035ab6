"""`publisher publish`, `publisher status`, `publisher retry` and `publisher sandbox`."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from rich.console import Console
from rich.prompt import Confirm
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from publisher.config import Settings, load_settings
from publisher.terminal import safe as escape

out = Console()
EXAMPLE_SUBSCRIBERS = Path(__file__).resolve().parent.parent / "examples" / "subscribers.csv"

STATE_STYLE = {"sent": "green", "drafted": "green", "partial": "yellow", "failed": "red", "blocked": "red", "uncertain": "magenta",
               "outbox": "cyan", "disabled": "dim", "retrying": "yellow", "sending": "blue", "queued": "dim"}


def sandbox_state(settings: Settings) -> Settings:
    """These settings, reading and writing the sandbox's own state and outbox."""
    from publisher.config import default_db_url, state_dir

    return dataclasses.replace(settings, sandbox=True,
                               db_url=os.environ.get("PUBLISHER_SANDBOX_DB_URL") or default_db_url(sandbox=True),
                               outbox_dir=str(state_dir() / "sandbox-outbox"))


def sandbox_settings(settings: Settings, sandbox) -> Settings:
    """Point every channel at the in-process stand-ins (their values override the environment), with
    a state and an outbox of the sandbox's own: a sandbox run never touches the live ledger or list."""
    loaded = load_settings(env={**os.environ, **sandbox.env()})
    return dataclasses.replace(sandbox_state(loaded), x_pause_seconds=0.0)


def seed_example_subscribers(settings: Settings) -> int:
    """The sandbox demo mails the example list when nobody has subscribed to the sandbox yet."""
    from publisher.store import Store
    from publisher.subscribers import Subscribers

    book = Subscribers(Store(settings.db_url), settings)
    if sum(book.count().values()):
        return 0
    return book.import_csv(EXAMPLE_SUBSCRIBERS).added


def press_and_report(post: Path, settings: Settings, *, force: bool, again: bool, channels: list[str],
                     wait: bool, ready_only: bool = False, ask: bool = False) -> bool:
    """Press, show live progress per channel, print the final table; True when all went out.
    `ask`: show the plan and ask before a live send (a terminal, without --yes)."""
    from publisher.press_plan import press_plan, sends_anything
    from publisher.publish import enqueue, prepare, refuse_blocked, run, wait_for

    pressed = prepare(post, settings, again=again, only=channels)
    refuse_blocked(pressed, settings, channels, force, ready_only)  # all or nothing, before any question
    if ask:
        plan = press_plan(pressed, settings, channels, force=force, ready_only=ready_only)
        out.print(f"[bold]Publishing {escape(pressed.rendered.post.title)}[/] ({mode_word(settings)}):")
        for line in plan:
            out.print(f"  {escape(line.words)}", highlight=False)
        if sends_anything(plan) and not Confirm.ask("Send now?", console=out, default=False):
            out.print("Nothing was sent.")
            return False
    columns = (TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(channel: str, done: int, total: int) -> None:
            if channel not in tasks:
                tasks[channel] = bar.add_task(channel, total=total)
            bar.update(tasks[channel], completed=done, total=total)

        if settings.broker_url:
            result = enqueue(pressed, settings, force=force, ready_only=ready_only, only=channels)
            if wait:
                result = wait_for(result, settings, progress)
        else:
            result = run(pressed, settings, force=force, ready_only=ready_only, only=channels, progress=progress)
    out.print(outcome_table(result, settings))
    return result.ok


def mode_word(settings: Settings) -> str:
    return "sandbox: loopback stand-ins, nothing leaves this machine" if settings.sandbox else "live"


def outcome_table(result, settings: Settings) -> Table:
    table = Table(title=escape(f"{result.post.title} ({'sandbox' if settings.sandbox else 'live'})"))
    for column in ("channel", "state", "where", "parts", "detail"):
        table.add_column(column, overflow="fold")
    for o in result.outcomes:
        style = STATE_STYLE.get(o.state, "")
        parts = f"{o.sent}/{o.total}" if o.total else ""
        table.add_row(o.channel, f"[{style}]{o.state}[/]", o.where, parts, escape(o.detail))
    return table
