"""The `publisher` command."""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable

import typer
from rich.console import Console
from rich.table import Table

from publisher.config import load_settings
from publisher.errors import InputError

app = typer.Typer(
    help="Write one Markdown post, publish it once: HTML email, X thread, Telegram post, WeChat article.\n\n"
    "Start with `publisher preview POST.md --out preview/` to see exactly what every channel will receive.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


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
            err.print(f"[bold red]error:[/] {exc.where}: {exc.what}", highlight=False, soft_wrap=True)
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
    table = Table(title=f"Preview of {rendered.post.title}", show_lines=False)
    table.add_column("channel")
    table.add_column("problems")
    for name, problems in rendered.problems.items():
        table.add_row(name, "\n".join(problems) if problems else "[green]none[/]")
    out.print(table)
    out.print(f"Wrote {len(written)} files. Open [bold]{(out_dir / 'index.html').resolve()}[/] to see every channel.")


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
