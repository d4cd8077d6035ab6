"""`publisher subscribers ...`: manage the subscriber list from the command line."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from publisher.config import load_settings
from publisher.errors import InputError
from publisher.terminal import plain, safe as escape
from publisher.states import SUBSCRIBER_STATUSES

if TYPE_CHECKING:
    from publisher.subscribers import Subscribers

app = typer.Typer(help="Manage the subscriber list.", no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None)  # plain help, as the main command (publisher/cli.py)
EXIT_NOTHING_TAKEN = 1
EXIT_NOT_FOUND = 1
EXIT_DATABASE = 1


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {plain(message)}", err=True)
    raise typer.Exit(code)


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """One line on stderr and a non-zero exit for a person's mistake; never a traceback."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import SQLAlchemyError  # imported with the command, not with `--help`

        try:
            return command(*args, **kwargs)
        except InputError as exc:
            _fail(f"{exc.where}: {exc.what}", exc.exit_code)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            _fail(f"database: {reason}", EXIT_DATABASE)
    return wrapper


def _open() -> "Subscribers":
    from publisher.store import Store
    from publisher.subscribers import Subscribers

    settings = load_settings()
    return Subscribers(Store(settings.db_url), settings)


def _as_dict(subscriber: Any) -> dict[str, Any]:
    return {"id": subscriber.id, "email": subscriber.email, "name": subscriber.name,
            "status": subscriber.status, "created_at": subscriber.created_at.isoformat(),
            "updated_at": subscriber.updated_at.isoformat()}


@app.command()
@user_errors
def add(
    email: str = typer.Argument(..., help="The address to add."),
    name: str = typer.Option("", "--name", help="The subscriber's name."),
    resubscribe: bool = typer.Option(False, "--resubscribe",
                                     help="Make an unsubscribed or bounced address active again."),
    confirm: bool = typer.Option(False, "--confirm", help="Double opt-in: mail a confirmation link; the "
                                 "address stays pending (gets no issue) until its owner opens it."),
) -> None:
    """Add one subscriber (an unsubscribed one stays unsubscribed without --resubscribe)."""
    if confirm:
        _add_with_confirmation(email, name, resubscribe)
        return
    result = _open().add(email, name=name, resubscribe=resubscribe)
    address = result.subscriber.email
    if result.action == "not_resubscribed":
        typer.echo(f"{address} is {result.subscriber.status}; left as is (use --resubscribe to add "
                   "them again, only if they asked)")
        return
    typer.echo(f"{address}: {result.action}")


def _add_with_confirmation(email: str, name: str, resubscribe: bool) -> None:
    """The sign-up form's double opt-in, from the command line (publisher.signup)."""
    from publisher.addresses import InvalidAddress
    from publisher.signup import Signups, signup_name
    from publisher.signup_mail import SignupMailError, send_confirmation

    if resubscribe:
        raise InputError("--confirm", "not with --resubscribe: opening the mailed link resubscribes")
    book = _open()
    if not book.settings.smtp_host:
        raise InputError("PUBLISHER_SMTP_HOST", "not set, so the confirmation link cannot be mailed")
    try:
        signup_name(name)
    except InvalidAddress as exc:
        raise InputError("--name", str(exc)) from None
    try:
        signup = Signups(book.store, book.settings).request(email, name)
    except InvalidAddress as exc:
        raise InputError(f"email {plain(email)!r}", str(exc)) from None
    if signup.outcome == "active":
        typer.echo(f"{signup.address} is already active; nothing sent")
        return
    if signup.link is None:
        _fail(f"{signup.address}: a confirmation link was mailed to it less than 10 minutes ago, or 5 "
              "times today; nothing sent (try again later)", EXIT_NOTHING_TAKEN)
    try:
        send_confirmation(book.settings, signup.address, signup.link)
    except SignupMailError as exc:
        _fail(f"{signup.address}: {exc}; it stays {'pending' if signup.outcome != 'returning' else 'as it was'} "
              "without a link (try again in 10 minutes)", EXIT_NOTHING_TAKEN)
    hours = f"{book.settings.signup_confirm_hours:g}"
    if signup.outcome == "returning":
        typer.echo(f"{signup.address}: a confirmation link was mailed (valid {hours} hours); "
                   "the address is active once it is opened")
    else:
        typer.echo(f"{signup.address}: pending; a confirmation link was mailed (valid {hours} hours)")


@app.command("import")
@user_errors
def import_(file: Path = typer.Argument(..., help="CSV with a header: email[,name][,status]; UTF-8.")) -> None:
    """Import subscribers from a CSV file; bad lines are listed and skipped."""
    report = _open().import_csv(file)
    console = _console()
    console.print(f"{escape(str(file))}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                  f"{report.not_resubscribed} left unsubscribed/bounced, {len(report.bad)} bad lines")
    if report.ignored_columns:
        console.print(f"ignored columns: {escape(', '.join(report.ignored_columns))}")
    if report.bad:
        table = Table("line", "email", "problem", title="Lines not imported")
        for bad in report.bad:
            table.add_row(str(bad.line), escape(bad.value), escape(bad.reason))  # cells are user text, not markup
        console.print(table)
    if report.taken == 0:
        raise typer.Exit(EXIT_NOTHING_TAKEN)


@app.command("list")
@user_errors
def list_(
    status: Optional[str] = typer.Option(None, "--status", help=f"One of: {', '.join(SUBSCRIBER_STATUSES)}."),
    search: Optional[str] = typer.Option(None, "--search", help="Text in the address or name."),
    limit: int = typer.Option(100, "--limit", min=1, max=1_000_000, help="At most this many (see --all)."),
    offset: int = typer.Option(0, "--offset", min=0, max=10**12),
    show_all: bool = typer.Option(False, "--all", help="Every matching subscriber, however many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List subscribers in the order they were added; says "showing N of M" when there are more."""
    book = _open()
    total = book.matching(status, search)
    found = book.list(status=status, search=search, limit=max(total, 1) if show_all else limit, offset=offset)
    note = (f"showing {len(found)} of {total} (from {offset + 1}); --all or --limit/--offset for the rest"
            if len(found) < total else "")
    if as_json:
        typer.echo(json.dumps([_as_dict(s) for s in found], ensure_ascii=False, indent=2))
        if note:
            typer.echo(note, err=True)
        return
    table = Table("id", "email", "name", "status", "added")
    for subscriber in found:
        table.add_row(str(subscriber.id), escape(subscriber.email), escape(subscriber.name), subscriber.status,
                      subscriber.created_at.strftime("%Y-%m-%d %H:%M"))
    _console().print(table)
    if note:
        _console().print(note)


@app.command()
@user_errors
def remove(
    email: str = typer.Argument(..., help="The address to remove."),
    delete: bool = typer.Option(False, "--delete", help="Delete the row instead of marking it unsubscribed."),
) -> None:
    """Mark a subscriber unsubscribed (or delete them with --delete)."""
    if not _open().remove(email, delete_row=delete):
        _fail(f"{email}: not on the subscriber list", EXIT_NOT_FOUND)
    typer.echo(f"{email}: {'deleted' if delete else 'unsubscribed'}")


@app.command()
@user_errors
def count(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Count subscribers by status."""
    counts = _open().count()
    counts_with_total = {**counts, "total": sum(counts.values())}
    if as_json:
        typer.echo(json.dumps(counts_with_total))
        return
    table = Table("status", "subscribers")
    for status, number in counts_with_total.items():
        table.add_row(status, str(number))
    _console().print(table)


if __name__ == "__main__":  # pragma: no cover - `python -m publisher.cli_subscribers`
    sys.exit(app())
