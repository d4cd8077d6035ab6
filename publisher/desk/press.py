"""Pressing publish, retrying a channel's failed parts and settling its uncertain ones: the CLI's
own paths (publisher.publish.press_in_background and retry_failed), so pressing twice publishes
once."""
from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, request, url_for

from channels.registry import CHANNELS
from publisher.desk.auth import wants_json
from publisher.desk.blueprint import CHANNEL_TITLES, _app_parts, desk
from publisher.desk.cards import post_status
from publisher.desk.posts import blocking_problems
from publisher.desk.shelf import ShelfEntry, shelf_entry_or_404
from publisher.errors import InputError
from publisher.ledger import PERSON_DECISIONS, Ledger
from publisher.publish import press_in_background, retry_failed
from publisher.status import latest_publication


def forced() -> bool:
    return request.form.get("force") in ("1", "on", "true")


def refuse_press(entry: ShelfEntry) -> Any:
    """The answer refusing a press (the post does not load, or its checks list problems and the
    editor did not confirm "publish anyway"); None when the press may go ahead."""
    if entry.post is None:
        return answer(422, entry.error or "the post does not load")
    rendered = _app_parts()[3].rendered(entry)
    problems = [f"{name}: {p}" for name, items in blocking_problems(rendered).items() for p in items]
    if problems and not forced():
        return answer(409, "The checks list problems: " + "; ".join(problems) +
                      ". Fix the post, or tick “publish anyway”.")
    return None


def press(entry: ShelfEntry, done_message: str | None = None) -> Any:
    """Press publish for this post through the CLI's own path (publisher.publish.press_in_background:
    in-process, or the queue when a broker is configured)."""
    settings = _app_parts()[0]
    refusal = refuse_press(entry)
    if refusal is not None:
        return refusal
    force = forced()
    before = post_status(entry)
    try:
        publication_id = press_in_background(entry.path, settings, force=force)
    except InputError as exc:
        return answer(422, f"{exc.where}: {exc.what}")
    nothing_new = before["state"] == "sent"
    if done_message is None:
        done_message = ("Nothing new to send: every channel was already sent." if nothing_new
                        else "Publishing: each channel's status updates below.")
    current_app.logger.info("desk: pressed publish for %s (publication %s)", entry.slug, publication_id)
    return answer(202, done_message, publication_id=publication_id, until_done=not nothing_new)


def answer(status: int, message: str, **extra: Any) -> Any:
    """JSON for the page's script; a redirect back to the post page (with the message) otherwise."""
    if wants_json():
        body = {"message": message, **extra} if status < 400 else {"error": message, **extra}
        return jsonify(body), status
    flash(message, "ok" if status < 400 else "bad")
    slug = request.view_args.get("slug") if request.view_args else None
    return redirect(url_for("desk.post_page", slug=slug) if slug else url_for("desk.posts"), code=303)


@desk.post("/posts/<slug>/publish")
def publish(slug: str) -> Any:
    return press(shelf_entry_or_404(slug))


def _channel_from_form() -> str:
    name = request.form.get("channel", "")
    if name not in CHANNELS:
        abort(400)
    return name


def _reopen(entry: ShelfEntry, name: str, resolve: str | None) -> Any:
    """`publisher retry`'s path (publisher.publish.retry_failed), then a press: failed parts of
    the channel become sendable again and, with `resolve`, its uncertain parts are settled on the
    editor's word. Nothing changes when the press would be refused."""
    settings, store, _, _ = _app_parts()
    if latest_publication(store, entry.slug) is None:
        return answer(409, "This post was never published; press Publish first.")
    refusal = refuse_press(entry)
    if refusal is not None:
        return refusal
    uncertain = 0
    if resolve is not None:
        publication = latest_publication(store, entry.slug)
        uncertain = len(Ledger(store, publication.id, name).entries("uncertain")) if publication else 0
    try:
        retry_failed(entry.path, settings, [name], resolve)
    except InputError as exc:
        return answer(422, f"{exc.where}: {exc.what}")
    title = CHANNEL_TITLES[name]
    if resolve == "sent":
        return press(entry, f"{title}: {uncertain} uncertain parts counted as sent; the rest continues.")
    if resolve == "resend":
        return press(entry, f"{title}: {uncertain} uncertain parts will be sent again.")
    return press(entry, f"Retrying {title}: failed parts are sent again; parts already sent are skipped.")


@desk.post("/posts/<slug>/retry")
def retry(slug: str) -> Any:
    """A failed part was refused or never reached the platform, so sending it again cannot
    duplicate it."""
    return _reopen(shelf_entry_or_404(slug), _channel_from_form(), None)


@desk.post("/posts/<slug>/reconcile")
def reconcile(slug: str) -> Any:
    """Uncertain parts: a channel with its own resolver (email, Telegram) cannot look them up, so
    the editor checks the platform and says "sent" or "resend"; any other channel reconciles with
    the platform's own record (X: the account's posts) when pressed again."""
    entry, name = shelf_entry_or_404(slug), _channel_from_form()
    if CHANNELS[name].reconciles_itself:
        return _reopen(entry, name, None)
    decision = request.form.get("decision", "")
    if decision not in PERSON_DECISIONS:
        return answer(400, f"decision must be one of {', '.join(PERSON_DECISIONS)}")
    return _reopen(entry, name, decision)
