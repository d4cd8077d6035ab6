"""`publisher test POST --to ADDRESS [--telegram-chat CHAT] [--sandbox]` (publisher.test_send)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from publisher.config import Settings, load_settings
from publisher.terminal import safe

out = Console()


def test_send(
    post: Path = typer.Argument(..., help="The Markdown post to test (drafts too)."),
    to: str = typer.Option(..., "--to", help="The one address the test email goes to."),
    telegram_chat: Optional[str] = typer.Option(None, "--telegram-chat", help="Also send the Telegram messages "
                                                "to this chat (a private chat id, or @username), with the "
                                                "channel's bot; the sandbox's private chat is 100200300."),
    sandbox: bool = typer.Option(False, "--sandbox", help="Start the loopback stand-ins for this run and send "
                                 "to them, with the sandbox's own state: nothing leaves the machine."),
) -> None:
    """Send the post's email to one address (subject "[Test] …", an unsubscribe link that unsubscribes
    nobody) and, with --telegram-chat, its Telegram messages to that chat. Not the post's delivery: a
    later publish still sends everything, and `publisher status POST` lists tests apart. At most
    PUBLISHER_TEST_SENDS_PER_HOUR (10) tests an hour, all posts together; over it, exit 2."""
    from publisher.test_send import checked_address, checked_chat

    settings = load_settings()
    checked_address(to, settings)  # before starting anything
    if telegram_chat is not None:
        checked_chat(telegram_chat)
    if not sandbox:
        ok = _send_and_report(post, settings, to, telegram_chat)
        raise typer.Exit(0 if ok else 1)
    from publisher.cli_publish import sandbox_settings
    from publisher.sandbox.run import start_sandbox

    with start_sandbox() as running:
        ok = _send_and_report(post, sandbox_settings(settings, running), to, telegram_chat)
        _print_sandbox_receipts(running)
    raise typer.Exit(0 if ok else 1)


def _send_and_report(post: Path, settings: Settings, to: str, telegram_chat: str | None) -> bool:
    from publisher.cli_publish import STATE_STYLE
    from publisher.test_send import send_test

    result = send_test(post, settings, to, telegram_chat=telegram_chat)
    where = "sandbox" if settings.sandbox else "live"
    out.print(f"Test send of [bold]{safe(result.post.title)}[/] ({where}; not counted as its delivery):",
              highlight=False)
    for outcome in result.outcomes:
        target = result.to_email if outcome.channel == "email" else result.telegram_chat
        style = STATE_STYLE.get(outcome.state, "")
        count = f", {outcome.sent} of {outcome.total} messages" if outcome.channel != "email" and outcome.total else ""
        line = f"  {outcome.channel} to {safe(target or '')}: [{style}]{outcome.state}[/]{count}"
        if outcome.channel == "email":
            line += f" (subject {safe(repr(result.subject))})"
        if outcome.detail:
            line += f": {safe(outcome.detail)}"
        out.print(line, highlight=False, soft_wrap=True)
    for problem in result.problems:
        out.print(f"  [yellow]note:[/] a real press would stop on this: {safe(problem)}", highlight=False,
                  soft_wrap=True)
    out.print(f"`publisher status {safe(str(post))}{' --sandbox' if settings.sandbox else ''}` lists it under "
              "test sends.", highlight=False, soft_wrap=True)
    return result.ok


def _print_sandbox_receipts(running) -> None:
    import requests

    emails = len(requests.get(running.readouts()["email"], timeout=10).json().get("messages", []))
    chats = requests.get(running.readouts()["telegram"], timeout=10).json().get("messages", {})
    messages = sum(len(history) for history in chats.values())
    out.print(f"sandbox received: {emails} {'email' if emails == 1 else 'emails'}, {messages} Telegram "
              f"{'message' if messages == 1 else 'messages'} (this run)", highlight=False)
