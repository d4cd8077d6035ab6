"""The `publisher` command."""
from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from publisher.config import load_settings
from publisher.terminal import safe
from publisher.errors import InputError

# waitress refuses larger request bodies with 413 before the app reads them (CSV uploads included).
MAX_REQUEST_BODY_BYTES = 20 * 1024 * 1024

app = typer.Typer(
    help="Write one Markdown post, publish it once: HTML email, X thread, Telegram post, WeChat article.\n\n"
    "Start with `publisher preview POST.md --out preview/` to see exactly what every channel will receive.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: typer's rich panels import rich.markdown and pygments (+35 ms)
)
out = Console()
err = Console(stderr=True)

from publisher.cli_subscribers import app as subscribers_app  # noqa: E402

app.add_typer(subscribers_app, name="subscribers", help="Manage the email list: add, import, list, remove, count.")


@app.callback()
def _root() -> None:
    """Settings come from PUBLISHER_* environment variables (and PUBLISHER_CONFIG, a TOML file)."""


def user_errors(command: Callable) -> Callable:
    """Turn a user's mistake into one clear message and exit 2; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            err.print(f"[bold red]error:[/] {safe(exc.where)}: {safe(exc.what)}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


@app.command()
@user_errors
def preview(
    post: Path = typer.Argument(..., help="The Markdown post (YAML front matter + body)."),
    out_dir: Path = typer.Option(Path("preview"), "--out", "-o", help="Folder to write the preview into."),
) -> None:
    """Render every channel without sending anything; write the files and an index.html to look at."""
    from publisher.post import load_post

    settings = load_settings()
    loaded = load_post(post, settings)
    from publisher.preview import render_all, write_preview

    rendered = render_all(loaded, settings)
    written = write_preview(rendered, out_dir)
    table = Table(title=f"Preview of {safe(rendered.post.title)}", show_lines=False)
    table.add_column("channel")
    table.add_column("problems")
    notes = any(rendered.notes.values())
    if notes:
        table.add_column("notes (do not stop a press)")
    for name, problems in rendered.problems.items():
        row = [name, safe("\n".join(problems)) if problems else "[green]none[/]"]
        table.add_row(*row, *([safe("\n".join(rendered.notes.get(name, [])))] if notes else []))
    out.print(table)
    out.print(f"Wrote {len(written)} files. Open [bold]{safe((out_dir / 'index.html').resolve())}[/] to see every "
              "channel.", highlight=False)


@app.command()
@user_errors
def publish(
    post: Path = typer.Argument(..., help="The Markdown post to publish."),
    force: bool = typer.Option(False, "--force", help="Also send channels whose checks list problems, as they are."),
    ready_only: bool = typer.Option(False, "--ready-only", help="Send the channels without problems; leave the "
                                    "blocked ones for a later press."),
    again: bool = typer.Option(False, "--again", help="A deliberate new round for the channels pressed (all, or "
                               "those named with --channel): they are sent afresh; the others are not."),
    channel: list[str] = typer.Option([], "--channel", "-c", help="Only this channel (repeatable)."),
    sandbox: bool = typer.Option(False, "--sandbox", help="Start the loopback stand-ins of every platform for "
                                 "this run and publish to them, with the sandbox's own state: nothing leaves "
                                 "the machine and the live state is not touched."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before a live send."),
    no_wait: bool = typer.Option(False, "--no-wait", help="With a broker: queue the work and return at once."),
) -> None:
    """Publish once to every enabled channel; pressing again sends nothing new.

    All or nothing: when any channel's checks find a problem nothing is sent (exit 2) unless
    --ready-only or --force says otherwise. On a terminal a live press shows its plan and asks first.
    With PUBLISHER_BROKER_URL the work is queued for `publisher worker`s (exit 3 when none takes it);
    without, it runs here. Channels without credentials go to the outbox folder. Exit 0 only when
    every channel is sent (or written to the outbox)."""
    from publisher.cli_publish import press_and_report

    settings = load_settings()
    _check_channels(channel)
    if force and ready_only:
        raise InputError("--force/--ready-only", "choose one: --force sends everything, --ready-only only what is ready")
    if sandbox:
        from publisher.cli_publish import sandbox_settings, seed_example_subscribers
        from publisher.sandbox.run import start_sandbox

        with start_sandbox() as running:
            settings = sandbox_settings(settings, running)
            seeded = seed_example_subscribers(settings)
            if seeded:
                out.print(f"sandbox: added {seeded} example subscribers to the sandbox's own list")
            ok = press_and_report(post, settings, force=force, again=again, channels=channel, wait=True,
                                  ready_only=ready_only)
            _print_sandbox_receipts(running)
    else:
        ask = not yes and sys.stdin.isatty() and sys.stdout.isatty()
        ok = press_and_report(post, settings, force=force, again=again, channels=channel, wait=not no_wait,
                              ready_only=ready_only, ask=ask)
    raise typer.Exit(0 if ok else 1)


@app.command()
@user_errors
def retry(
    post: Path = typer.Argument(..., help="The post whose failed parts to send again."),
    channel: list[str] = typer.Option([], "--channel", "-c", help="Only this channel (repeatable)."),
    resolve: Optional[str] = typer.Option(None, "--resolve", help="Settle uncertain parts first, after checking "
                                          "the platform yourself: 'sent' (it arrived) or 'resend'."),
    no_wait: bool = typer.Option(False, "--no-wait", help="With a broker: queue the work and return at once."),
) -> None:
    """Send again only what failed (or, with --resolve, what was uncertain); sent parts stay sent."""
    from publisher.cli_publish import press_and_report
    from publisher.publish import retry_failed

    settings = load_settings()
    _check_channels(channel)
    if resolve not in (None, "sent", "resend"):
        raise InputError("--resolve", f"expected 'sent' or 'resend', got {resolve!r}")
    retry_failed(post, settings, channel, resolve)
    ok = press_and_report(post, settings, force=False, again=False, channels=channel, wait=not no_wait,
                          ready_only=True)
    raise typer.Exit(0 if ok else 1)


@app.command()
@user_errors
def worker(
    queues: str = typer.Option("email,social", "--queues", "-Q", help="Queues to take work from."),
    concurrency: int = typer.Option(2, "--concurrency", "-c", help="Worker processes."),
) -> None:
    """Start a Celery worker (same as `celery -A worker worker`); needs PUBLISHER_BROKER_URL."""
    settings = load_settings()
    if not settings.broker_url:
        raise InputError("PUBLISHER_BROKER_URL", "not set; a worker needs a broker, e.g. redis://127.0.0.1:6379/0")
    from worker import app as celery_app

    celery_app.worker_main(["worker", "-Q", queues, "-c", str(concurrency), "--loglevel", "INFO"])


def _check_channels(channel: list[str]) -> None:
    from channels.registry import CHANNELS

    unknown = [c for c in channel if c not in CHANNELS]
    if unknown:
        raise InputError("--channel", f"unknown channel {unknown[0]!r}; expected one of {', '.join(CHANNELS)}")


def _print_sandbox_receipts(running) -> None:
    import requests

    email = requests.get(running.readouts()["email"], timeout=10).json()
    tweets = requests.get(running.readouts()["x"], timeout=10).json()
    messages = requests.get(running.readouts()["telegram"], timeout=10).json()
    drafts = requests.get(running.readouts()["wechat"], timeout=10).json()
    counts = (len(email.get("messages", [])), len(tweets.get("tweets", [])),
              sum(len(v) for v in messages.get("messages", {}).values()), len(drafts.get("drafts", [])))
    nouns = (("email", "emails"), ("post on X", "posts on X"), ("Telegram message", "Telegram messages"),
             ("WeChat draft", "WeChat drafts"))
    words = [f"{n} {one if n == 1 else many}" for n, (one, many) in zip(counts, nouns)]
    out.print(f"sandbox received: {', '.join(words)} (this run; earlier presses are not resent)")


@app.command()
@user_errors
def status(
    post: Optional[Path] = typer.Argument(None, help="The post (its slug finds the publication); all when omitted."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    sandbox: bool = typer.Option(False, "--sandbox", help="The sandbox's own state (publish --sandbox)."),
) -> None:
    """Where every channel stands: state, attempts, parts, remote ids/URLs, last error, timings."""
    from publisher.status import publication_status, state_exists, status_tables

    settings = load_settings()
    if sandbox:
        from publisher.cli_publish import sandbox_state

        settings = sandbox_state(settings)
    report = publication_status(settings, post)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    elif not state_exists(settings.db_url):
        out.print(f"Nothing published yet: no state at {escape(settings.db_url.removeprefix('sqlite:///'))} "
                  f"({'sandbox' if settings.sandbox else 'live'}).", highlight=False)
    else:
        for table in status_tables(report):
            out.print(table)


@app.command()
@user_errors
def sandbox(
    smtp_port: int = typer.Option(2525, help="SMTP stand-in port."),
    http_base_port: int = typer.Option(8100, help="First of six HTTP ports for the API stand-ins."),
) -> None:
    """Run the loopback stand-ins of every platform until Ctrl-C and print the settings that point at them."""
    from publisher.sandbox.run import start_sandbox

    names = ("smtp_http", "x", "telegram", "wechat", "images")
    ports = {"smtp": smtp_port, **{name: http_base_port + i for i, name in enumerate(names)}}
    with start_sandbox(ports) as running:
        for key, value in running.env().items():
            print(f"export {key}={value}")
        for channel, url in running.readouts().items():
            out.print(f"# {channel} received: {url}", highlight=False)
        out.print("# sandbox running; Ctrl-C stops it", highlight=False)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@app.command()
@user_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(8, "--workers", "-w", min=1, max=256, help="Requests served at once (threads)."),
    dev: bool = typer.Option(False, "--dev", help="Werkzeug's development server (auto-reload-free, verbose "
                             "errors off) instead of the production server (waitress)."),
) -> None:
    """Run the web app with a production WSGI server (waitress): the editors' desk (login:
    PUBLISHER_DESK_PASSWORD) and the public unsubscribe endpoints (one-click, RFC 8058)."""
    import dataclasses
    import secrets

    from publisher.store import Store
    from publisher.web import create_app

    settings = load_settings()
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if not settings.desk_password:
        if not loopback:
            raise InputError("PUBLISHER_DESK_PASSWORD", f"not set; the desk refuses to listen on {host} without "
                             "an editor password. Set it, or serve on --host 127.0.0.1 (this machine only).")
        # Nobody else can reach 127.0.0.1, but the desk still wants a login: a password for this run only.
        settings = dataclasses.replace(settings, desk_password=secrets.token_urlsafe(12))
        out.print("PUBLISHER_DESK_PASSWORD is not set: the desk listens on this machine only, with the "
                  f"one-time password [bold]{settings.desk_password}[/] (valid until the server stops).",
                  highlight=False)
    if settings.secret_key == "dev-secret-change-me" and not loopback:
        err.print("[yellow]warning:[/] PUBLISHER_SECRET_KEY is the default: unsubscribe links can be forged. "
                  "Set a long random PUBLISHER_SECRET_KEY.", highlight=False)
    out.print(f"serving on http://{host}:{port}/ (desk: http://{host}:{port}/posts, posts from "
              f"{Path(settings.content_dir).resolve()}; unsubscribe links: {settings.site_url}/unsubscribe/<token>)",
              highlight=False)
    from publisher.log_redaction import redact_log_records

    redact_log_records(settings)  # no secret in any log line of the server, tracebacks included
    application = create_app(settings, Store(settings.db_url), host=host)
    from publisher.scheduler import start_scheduler

    start_scheduler(settings)  # presses due schedules (publisher.scheduler); other processes may too
    if dev:
        from werkzeug.serving import run_simple

        run_simple(host, port, application, threaded=True)
        return
    import waitress

    waitress.serve(application, host=host, port=port, threads=workers, ident="publisher",
                   max_request_body_size=MAX_REQUEST_BODY_BYTES, _quiet=True)


from publisher.cli_test_send import test_send  # noqa: E402

app.command(name="test")(user_errors(test_send))

from publisher.cli_schedule import register as register_schedule  # noqa: E402

register_schedule(app, user_errors)  # `publisher schedule` and `publisher unschedule`


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
