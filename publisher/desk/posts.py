"""The posts list, the post page (the four previews, the checks' problems, the publish bar and
the status panel), the email preview frame and the live status (JSON and HTML)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Response, abort, jsonify, render_template, request, url_for

from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.desk.auth import EMAIL_FRAME_CSP, wants_json
from publisher.desk.blueprint import _app_parts, desk
from publisher.desk.cards import (
    overall_state,
    post_status,
    press_running,
    stopping_problems,
)
from publisher.desk.limits import Pages
from publisher.desk.shelf import NotRenderable, ShelfEntry, shelf_entry_or_404
from publisher.outbox import outbox_folder
from publisher.preview import Rendered, channel_views
from publisher.status import delivery_detail, latest_publication
from publisher.store import Publication, Store


def blocking_problems(rendered: Rendered) -> dict[str, list[str]]:
    """The checks' problems of the channels this post publishes to (a disabled channel's do not
    stop anything: publishing skips it before looking at them)."""
    return {name: items for name, items in rendered.problems.items() if rendered.post.channel_enabled(name)}


POSTS_PER_PAGE = 50


@desk.errorhandler(NotRenderable)
def not_renderable(exc: NotRenderable) -> Any:
    message = f"not loadable: {exc}"
    if wants_json():
        return jsonify({"error": message}), 422
    return render_template("desk_message.html", heading="This post does not render", message=message), 422


@desk.get("/posts")
def posts() -> str:
    settings, store, _, shelf = _app_parts()
    entries = shelf.entries()
    pages = Pages(len(entries), POSTS_PER_PAGE, request.args.get("page"))
    rows = []
    for entry in entries[pages.offset:pages.offset + POSTS_PER_PAGE]:
        state, error = "not loadable", entry.error or shelf.render_failure(entry)
        if error is None:
            publication = latest_publication(store, entry.slug)
            cards = [_list_card(name, entry, publication, settings, store) for name in CHANNELS]
            state = overall_state(cards, publication)
        rows.append({"entry": entry, "state": state, "error": error})
    return render_template("desk_posts.html", rows=rows, pages=pages, showing=pages.shown(len(rows)),
                           folder=str(Path(settings.content_dir).resolve()))


def _list_card(name: str, entry: ShelfEntry, publication: Publication | None, settings: Settings, store: Store) -> dict:
    """A channel's state, rendering the post (once per file version) only to tell a channel that
    a press left out for its problems (the list shows many posts)."""
    post = entry.post
    assert post is not None
    if not post.channel_enabled(name):
        return {"state": "disabled", "sent": 0}
    detail = delivery_detail(store, publication.id, name) if publication is not None else None
    if detail is not None:
        return {"state": detail["state"], "sent": detail["sent_parts"]}
    if publication is None:
        return {"state": "not published", "sent": 0}
    if not CHANNELS[name].configured(settings) and outbox_folder(settings, post, name).is_dir():
        return {"state": "outbox", "sent": 0}
    if press_running(publication.id):
        return {"state": "queued", "sent": 0}
    try:
        blocked = bool(stopping_problems(name, _app_parts()[3].rendered(entry), settings))
    except NotRenderable:
        blocked = True
    return {"state": "blocked" if blocked else "not published", "sent": 0}


@desk.get("/posts/<slug>")
def post_page(slug: str) -> Any:
    entry = shelf_entry_or_404(slug)
    if entry.post is None:
        return render_template("desk_message.html", heading="This post does not load",
                               message=f"not loadable: {entry.error or ''}"), 422
    rendered = _app_parts()[3].rendered(entry)
    views = channel_views(rendered)
    blocking = blocking_problems(rendered)
    return render_template(
        "desk_post.html", **views, entry=entry, status=post_status(entry), blocking=blocking,
        has_problems=any(blocking.values()),
        email_src=url_for("desk.email_preview", slug=slug, kind="html"),
        email_text_src=url_for("desk.email_preview", slug=slug, kind="txt"))


@desk.get("/posts/<slug>/email.<kind>")
def email_preview(slug: str, kind: str) -> Response:
    if kind not in ("html", "txt"):
        abort(404)
    entry = shelf_entry_or_404(slug)
    if entry.post is None:
        abort(404)
    rendered = _app_parts()[3].rendered(entry)
    files = CHANNELS["email"].preview_files(rendered.payloads["email"])
    response = Response(files[f"email.{kind}"], mimetype="text/html" if kind == "html" else "text/plain")
    response.headers["Content-Security-Policy"] = EMAIL_FRAME_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # the post page frames it; no other site may
    return response


@desk.get("/posts/<slug>/status.json")
def status_json(slug: str) -> Response:
    entry = shelf_entry_or_404(slug)
    if entry.post is None:
        abort(404)
    status = post_status(entry)
    for card in status["cards"]:
        card["parts"] = card.pop("rows")
    return jsonify(status)


@desk.get("/posts/<slug>/status.html")
def status_panel(slug: str) -> str:
    entry = shelf_entry_or_404(slug)
    if entry.post is None:
        abort(404)
    return render_template("desk_status.html", status=post_status(entry), entry=entry)
