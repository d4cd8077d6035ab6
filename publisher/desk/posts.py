"""The posts list, the post page (the four previews, the checks' problems, the publish bar and
the status panel), the email preview frame and the live status (JSON and HTML)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Response, abort, jsonify, render_template, url_for

from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.desk.auth import EMAIL_FRAME_CSP
from publisher.desk.blueprint import _app_parts, desk
from publisher.desk.cards import overall_state, post_status
from publisher.desk.shelf import ShelfEntry, shelf_entry_or_404
from publisher.preview import Rendered, channel_views
from publisher.status import delivery_detail, latest_publication
from publisher.store import Publication, Store


def blocking_problems(rendered: Rendered) -> dict[str, list[str]]:
    """The checks' problems of the channels this post publishes to (a disabled channel's do not
    stop anything: publishing skips it before looking at them)."""
    return {name: items for name, items in rendered.problems.items() if rendered.post.channel_enabled(name)}


@desk.get("/posts")
def posts() -> str:
    settings, store, _, shelf = _app_parts()
    rows = []
    for entry in shelf.entries():
        state = "not loadable"
        if entry.post is not None:
            publication = latest_publication(store, entry.slug)
            cards = [_list_card(name, entry, publication, settings, store) for name in CHANNELS]
            state = overall_state(cards, publication)
        rows.append({"entry": entry, "state": state})
    return render_template("desk_posts.html", rows=rows, folder=str(Path(settings.content_dir).resolve()))


def _list_card(name: str, entry: ShelfEntry, publication: Publication | None, settings: Settings, store: Store) -> dict:
    """A channel's state without rendering the post (the list shows many posts)."""
    post = entry.post
    assert post is not None
    if not post.channel_enabled(name):
        return {"state": "disabled", "sent": 0}
    detail = delivery_detail(store, publication.id, name) if publication is not None else None
    if detail is None:
        unconfigured = not CHANNELS[name].configured(settings)
        return {"state": ("outbox" if unconfigured else "queued") if publication else "not published", "sent": 0}
    return {"state": detail["state"], "sent": detail["sent_parts"]}


@desk.get("/posts/<slug>")
def post_page(slug: str) -> Any:
    entry = shelf_entry_or_404(slug)
    if entry.post is None:
        return render_template("desk_message.html", heading="This post does not load",
                               message=entry.error or ""), 422
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
