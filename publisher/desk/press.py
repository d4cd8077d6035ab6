"""Pressing publish, retrying a channel's failed parts and settling its uncertain ones: the CLI's
own paths (publisher.publish.press_in_background and retry_failed), so pressing twice publishes
once.

Publish is two steps: the first POST only shows the plan (publisher.desk.plan); the Confirm form
presses, and only for the version of the post the plan was made for. All or nothing, as on the
command line: when a channel is blocked, nothing is sent unless the editor chose "Publish the
ready channels" (ready_only); the desk never sends a channel as it is despite its problems."""
from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, request, url_for

from channels.registry import CHANNELS
from publisher.desk.auth import wants_json
from publisher.desk.blueprint import CHANNEL_TITLES, _app_parts, desk
from publisher.states import DELIVERY_COMPLETE_STATES
from publisher.desk.cards import post_status
from publisher.desk.plan import plan_for, show_plan
from publisher.desk.shelf import ShelfEntry, shelf_entry_or_404
from publisher.errors import InputError
from publisher.ledger import PERSON_DECISIONS, Ledger
from publisher.publish import PressBlocked, press_in_background, retry_failed
from publisher.status import latest_publication


def _problem_lines(problems: dict[str, list[str]]) -> str:
    return "; ".join(f"{CHANNEL_TITLES.get(name, name)}: {p}" for name, found in problems.items() for p in found)


def press(entry: ShelfEntry, done_message: str | None = None, *, ready_only: bool) -> Any:
    """Press publish for this post through the CLI's own path (publisher.publish.press_in_background:
    in-process, or the queue when a broker is configured)."""
    settings = _app_parts()[0]
    if entry.post is None:
        return answer(422, f"not loadable: {entry.error or ''}")
    before = post_status(entry)
    try:
        publication_id = press_in_background(entry.path, settings, ready_only=ready_only)
    except PressBlocked as exc:
        return answer(409, "Nothing was sent: " + _problem_lines(exc.problems) + ". Fix the post, or press "
                      "Publish and choose “Publish the ready channels”.", problems=exc.problems)
    except InputError as exc:
        return answer(422, f"{exc.where}: {exc.what}")
    nothing_new = before["state"] in DELIVERY_COMPLETE_STATES
    if done_message is None:
        done_message = ("Nothing new to send: every channel was already sent." if nothing_new
                        else "Publishing: each channel's status updates below.")
    current_app.logger.info("desk: pressed publish for %s (publication %s%s)", entry.slug, publication_id,
                            ", ready channels only" if ready_only else "")
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
    """Without `confirm`: the plan, nothing pressed. With it: press, if the post is still the one
    the plan was shown for (else the new plan)."""
    entry = shelf_entry_or_404(slug)
    if entry.post is None:
        return answer(422, f"not loadable: {entry.error or ''}")
    if request.form.get("confirm") != "1":
        return show_plan(entry)
    plan = plan_for(entry)
    if request.form.get("post_sha256", "") != plan.sha:
        return show_plan(entry, 409, "The post changed since this plan was made (or the plan was not shown): "
                         "here is the plan for the post as it is now. Nothing was sent.", bad=True)
    ready_only = request.form.get("ready_only") == "1"
    if plan.blocked and not ready_only:
        return show_plan(entry, 409, "Nothing was sent: the channels listed as blocked have problems. Fix the "
                         "post, or choose “Publish the ready channels”.", bad=True)
    return press(entry, ready_only=ready_only)


def _channel_from_form() -> str:
    name = request.form.get("channel", "")
    if name not in CHANNELS:
        abort(400)
    return name


def _reopen(entry: ShelfEntry, name: str, resolve: str | None) -> Any:
    """`publisher retry`'s path (publisher.publish.retry_failed), then a press of the ready
    channels: failed parts of the channel become sendable again and, with `resolve`, its uncertain
    parts are settled on the editor's word. Nothing changes when the press would also start a
    channel that no confirmed press started (that needs Publish and its plan)."""
    settings, store, _, _ = _app_parts()
    if entry.post is None:
        return answer(422, f"not loadable: {entry.error or ''}")
    if latest_publication(store, entry.slug) is None:
        return answer(409, "This post was never published; press Publish first.")
    unconfirmed = sorted(plan_for(entry).never_pressed - {name})
    if unconfirmed:
        titles = ", ".join(CHANNEL_TITLES.get(n, n) for n in unconfirmed)
        return answer(409, f"Nothing was changed: {titles} would be sent for the first time by this press. "
                      "Press Publish and confirm its plan first.")
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
        message = f"{title}: {uncertain} uncertain parts counted as sent; the rest continues."
    elif resolve == "resend":
        message = f"{title}: {uncertain} uncertain parts will be sent again."
    else:
        message = f"Retrying {title}: failed parts are sent again; parts already sent are skipped."
    return press(entry, message, ready_only=True)


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
