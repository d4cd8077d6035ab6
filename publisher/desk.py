"""The editors' web desk: every post, every channel as it will be sent, one publish button, each
channel's status live, and a retry for what failed. No terminal needed.

Routes (a Flask blueprint registered by publisher.web.create_app; everything but /login and the
static assets needs the editor's login):
  GET  /login  POST /login  POST /logout
  GET  /posts                         posts in PUBLISHER_CONTENT_DIR, date and publication state
  GET  /posts/<slug>                  the four previews, the checks' problems, publish bar, status
  GET  /posts/<slug>/email.html|.txt  the rendered email, for the preview's iframe
  POST /posts/<slug>/publish          press publish: publisher.publish.press_in_background, the
                                      same path as the CLI (pressing twice publishes once)
  GET  /posts/<slug>/status.json      live status per channel and part (status.html: the panel)
  POST /posts/<slug>/retry            make one channel's failed parts claimable again, then press
  POST /posts/<slug>/reconcile        settle one channel's uncertain parts, then press
  GET  /subscribers  POST /subscribers/import  POST /subscribers/<id>/unsubscribe
  GET  /desk/assets/<name>            CSS and JS shipped in the package (works offline, no CDN)

Safety: one editor password (PUBLISHER_DESK_PASSWORD, compared in constant time); the session
cookie is signed, HttpOnly and SameSite=Lax and holds an HMAC of the password, so a leaked or
default secret_key alone does not let anyone in, and changing the password logs everyone out.
Every POST needs the session's CSRF token (form field or X-CSRF-Token header) or changes
nothing. Templates autoescape; the live panel is rendered by the same templates; pages carry a
Content-Security-Policy without inline scripts. Secrets never reach a page: error texts are shown
with every secret setting masked.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request,
    session, url_for,
)

from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.errors import InputError
from publisher.ledger import PERSON_DECISIONS, Ledger
from publisher.post import Post, load_post
from publisher.preview import Rendered, channel_views, render_all
from publisher.secrets import redact
from publisher.publish import post_sha256, press_in_background, retry_failed
from publisher.status import DESK_ACTIVE_STATES, delivery_detail, latest_publication
from publisher.store import SUBSCRIBER_STATUSES, Publication, Store
from publisher.subscribers import Subscribers
from templates import TEMPLATE_DIR

desk = Blueprint("desk", __name__)

ASSETS = {"desk.css": "text/css", "preview.css": "text/css", "desk.js": "text/javascript",
          "preview.js": "text/javascript"}
CHANNEL_TITLES = {name: channel.title or name for name, channel in CHANNELS.items()}
POST_SUFFIXES = (".md", ".markdown")
SUBSCRIBERS_PER_PAGE = 50
MAX_IMPORT_BYTES = 20 * 1024 * 1024  # a 20 MB CSV holds several hundred thousand addresses
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"
DESK_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    # Post images come from anywhere; scripts only from the package; inline styles are in the
    # channels' own HTML (WeChat's article is styled inline by design, PLATFORMS.md 3.5).
    "Content-Security-Policy": "default-src 'self'; img-src * data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; frame-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'; object-src 'none'",
}
# The email preview is framed by the post page and runs nothing.
EMAIL_FRAME_CSP = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


def _app_parts() -> tuple[Settings, Store, Subscribers, "PostShelf"]:
    parts = current_app.extensions["publisher"]
    return parts["settings"], parts["store"], parts["subscribers"], parts["shelf"]


def attach_desk(app, settings: Settings) -> None:
    """Register the desk on the app (publisher.web.create_app calls this)."""
    app.extensions["publisher"]["shelf"] = PostShelf(settings)
    app.register_blueprint(desk)


# -- login and CSRF ----------------------------------------------------------------------------------

def editor_marker(settings: Settings) -> str:
    """What a logged-in session holds: keyed by the password, so the cookie's signing key alone
    cannot forge a login and a new password ends every session."""
    return hmac.new(settings.secret_key.encode(), b"desk-editor:" + settings.desk_password.encode(),
                    hashlib.sha256).hexdigest()


def password_matches(settings: Settings, given: str) -> bool:
    if not settings.desk_password:
        return False
    return hmac.compare_digest(given.encode("utf-8"), settings.desk_password.encode("utf-8"))


def logged_in() -> bool:
    settings = _app_parts()[0]
    held = session.get("editor")
    return bool(settings.desk_password) and isinstance(held, str) and hmac.compare_digest(held, editor_marker(settings))


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_ok() -> bool:
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    held = session.get("csrf")
    return isinstance(held, str) and bool(sent) and hmac.compare_digest(sent.encode(), held.encode())


def wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json" \
        or request.path.endswith(".json")


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme) is followed after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("desk.posts")


PUBLIC_ENDPOINTS = frozenset({"desk.login", "desk.asset"})


@desk.before_request
def guard() -> Any:
    if request.endpoint not in PUBLIC_ENDPOINTS and not logged_in():
        if request.method == "GET" and not wants_json():
            return redirect(url_for("desk.login", next=request.full_path.rstrip("?")))
        return refuse(401, "Log in first: the desk is for editors only.")
    if request.method == "POST" and not csrf_ok():
        return refuse(400, "This form was stale or did not come from the desk (missing or wrong CSRF "
                           "token); nothing was changed. Reload the page and try again.")
    return None


@desk.after_request
def desk_headers(response: Response) -> Response:
    for name, value in DESK_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def refuse(status: int, message: str) -> Response:
    if wants_json() or request.method == "POST" and request.headers.get(CSRF_HEADER) is not None:
        response = jsonify({"error": message})
    else:
        response = Response(render_template("desk_message.html", heading="Not allowed", message=message), mimetype="text/html")
    response.status_code = status
    return response


@desk.app_context_processor
def desk_globals() -> dict:
    return {"csrf_token": csrf_token, "channel_titles": CHANNEL_TITLES}


@desk.get("/desk/assets/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    response = Response((TEMPLATE_DIR / name).read_text(encoding="utf-8"), mimetype=ASSETS[name])
    response.headers["Cache-Control"] = "no-cache"
    return response


@desk.route("/login", methods=["GET", "POST"])
def login() -> Any:
    settings = _app_parts()[0]
    target = safe_next(request.values.get("next"))
    if request.method == "POST":
        if password_matches(settings, request.form.get("password", "")):
            session.clear()
            session.permanent = True
            session["editor"] = editor_marker(settings)
            csrf_token()
            return redirect(target, code=303)
        current_app.logger.warning("desk: failed login from %s", request.remote_addr)
        return render_template("desk_login.html", next=target, failed=True,
                               configured=bool(settings.desk_password)), 401
    if logged_in():
        return redirect(target)
    return render_template("desk_login.html", next=target, failed=False, configured=bool(settings.desk_password))


@desk.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("desk.login"), code=303)


@desk.get("/")
def home() -> Any:
    return redirect(url_for("desk.posts"))


# -- the posts folder --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShelfEntry:
    """One Markdown file of the content folder: its post, or the message saying why it does not load."""

    path: Path
    slug: str
    post: Post | None
    error: str | None


class PostShelf:
    """The posts in PUBLISHER_CONTENT_DIR, parsed and rendered once per version of each file."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.folder = Path(settings.content_dir)
        self._lock = threading.Lock()
        self._loaded: dict[Path, tuple[tuple[int, int], ShelfEntry]] = {}
        self._rendered: dict[Path, tuple[tuple[int, int], Rendered]] = {}

    def entries(self) -> list[ShelfEntry]:
        """Newest first; a second file with a slug already taken is listed with that problem."""
        files = sorted(p for p in self.folder.glob("*") if p.suffix.lower() in POST_SUFFIXES and p.is_file())
        seen: dict[str, Path] = {}
        out = []
        for path in files:
            entry = self._load(path)
            if entry.post is not None and entry.slug in seen:
                entry = ShelfEntry(path, entry.slug, None, f"{path.name}: has the slug {entry.slug!r} of "
                                   f"{seen[entry.slug].name}; give one of them its own `slug:`")
            seen.setdefault(entry.slug, path)
            out.append(entry)
        return sorted(out, key=lambda e: (e.post is not None and e.post.date is not None,
                                          e.post.date.isoformat() if e.post and e.post.date else "", e.path.name),
                      reverse=True)

    def find(self, slug: str) -> ShelfEntry | None:
        return next((e for e in self.entries() if e.slug == slug), None)

    def rendered(self, entry: ShelfEntry) -> Rendered:
        stamp = _stamp(entry.path)
        with self._lock:
            cached = self._rendered.get(entry.path)
        if cached is None or cached[0] != stamp:
            assert entry.post is not None
            cached = (stamp, render_all(entry.post, self.settings))
            with self._lock:
                self._rendered[entry.path] = cached
        return cached[1]

    def _load(self, path: Path) -> ShelfEntry:
        stamp = _stamp(path)
        with self._lock:
            cached = self._loaded.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            post = load_post(path, self.settings)
            entry = ShelfEntry(path, post.slug, post, None)
        except InputError as exc:
            entry = ShelfEntry(path, path.stem, None, f"{exc.where}: {exc.what}")
        with self._lock:
            self._loaded[path] = (stamp, entry)
        return entry


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, -1)
    return (info.st_mtime_ns, info.st_size)


def shelf_entry_or_404(slug: str) -> ShelfEntry:
    entry = _app_parts()[3].find(slug)
    if entry is None:
        abort(404)
    return entry


# -- status ----------------------------------------------------------------------------------------

def part_rows(channel: str, entries: list, expected: int) -> list[dict]:
    """The ledger parts of one channel as a person reads them (Channel.describe_part); parts not
    worth a row once sent (an image upload, one of thousands of recipients) only while unsent."""
    describe = CHANNELS[channel].describe_part
    rows = []
    for entry in entries:
        view = describe(entry.part, expected)
        if entry.state == "sent" and not view.listed_when_sent:
            continue
        url = entry.remote_url or ""
        rows.append({"label": view.label, "counted": view.counted, "state": entry.state,
                     "remote_id": entry.remote_id or "", "url": url if url.startswith(("https://", "http://")) else "",
                     "id_text": (view.id_label + " " if view.id_label and entry.remote_id else "") + (entry.remote_id or ""),
                     "error": entry.last_error or ""})
    return rows


def expected_parts(rendered, active_subscribers: int, settings: Settings) -> dict[str, tuple[int, str]]:
    """What a press will send, per channel: (count, words) before anything was sent."""
    plans = {name: CHANNELS[name].plan_summary(rendered.payloads[name], settings, active_subscribers)
             for name in CHANNELS}
    return {name: (plan.count, plan.words) for name, plan in plans.items()}


def channel_card(name: str, entry: ShelfEntry, publication: Publication | None, expected: tuple[int, str],
                 settings: Settings, store: Store) -> dict:
    post = entry.post
    assert post is not None
    count, words = expected
    card = {"name": name, "title": CHANNEL_TITLES.get(name, name), "state": "not published", "note": "",
            "sent": 0, "total": count, "rows": [], "error": "", "retry": False, "reconcile": None,
            "attempts": 0, "seconds": None, "link": ""}
    configured = CHANNELS[name].configured(settings)
    detail = delivery_detail(store, publication.id, name) if publication is not None else None
    if not post.channel_enabled(name):
        return {**card, "state": "disabled", "note": f"channels.{name}.enabled is false in the post"}
    if detail is None:
        if not configured:
            folder = Path(settings.outbox_dir) / post.slug / name
            return {**card, "state": "outbox" if publication else "not published",
                    "note": f"no credentials: {'written' if publication else 'publishing writes'} to {folder}"}
        return {**card, "state": "queued" if publication else "not published",
                "note": "waiting for its turn" if publication else f"will send {words}"}
    rows = part_rows(name, detail["entries"], count)
    sent, total = _progress(name, detail, rows, count)
    state = detail["state"]
    note = ""
    if detail["delivery_state"] == "retrying":
        note = "retrying after a temporary failure"
    card.update(state=state, note=note, sent=sent, total=total, rows=rows, attempts=detail["attempts"],
                seconds=detail["seconds"], link=_first_link(detail["remote_urls"]),
                error=redact(detail["last_error"] or "", settings) if state != "sent" else "")
    for row in card["rows"]:
        row["error"] = redact(row["error"], settings)
        if row["error"] and row["error"] in card["error"]:
            row["error"] = ""  # the card shows it already
    card["retry"] = state in ("failed", "partial")
    if state == "uncertain":
        card["reconcile"] = "auto" if CHANNELS[name].reconciles_itself else "decide"
    return card


def _first_link(urls: list[str]) -> str:
    return next((u for u in urls if u.startswith(("https://", "http://"))), "")


def _progress(name: str, detail: dict, rows: list[dict], expected: int) -> tuple[int, int]:
    """Counted parts sent / counted parts (steps such as image uploads are not counted)."""
    if len(detail["entries"]) == detail["total_parts"] and any(not r["counted"] for r in rows):
        counted = [r for r in rows if r["counted"]]
        return sum(r["state"] == "sent" for r in counted), len(counted) or expected
    return detail["sent_parts"], detail["total_parts"] or expected


def overall_state(cards: list[dict], publication: Publication | None) -> str:
    words = [c["state"] for c in cards if c["state"] != "disabled"]
    if publication is None or not words:
        return "not published"
    if any(w in DESK_ACTIVE_STATES for w in words):
        return "sending"
    if "uncertain" in words:
        return "uncertain"
    if all(w in ("sent", "outbox") for w in words):
        return "sent"
    if any(w in ("sent", "partial") for w in words) or any(c["sent"] for c in cards):
        return "partial"
    return "failed"


def post_status(entry: ShelfEntry) -> dict:
    """Every channel's card and the post's overall state: what the status panel and JSON show."""
    settings, store, subscribers, shelf = _app_parts()
    publication = latest_publication(store, entry.slug)
    expected = expected_parts(shelf.rendered(entry), subscribers.count()["active"], settings)
    cards = [channel_card(name, entry, publication, expected[name], settings, store) for name in CHANNELS]
    overall = overall_state(cards, publication)
    changed = publication is not None and publication.post_sha256 != post_sha256(entry.path)
    return {"slug": entry.slug, "state": overall, "active": overall == "sending", "cards": cards,
            "publication": None if publication is None else {
                "id": publication.id, "generation": publication.generation,
                "created_at": publication.created_at.isoformat(), "post_changed_since": changed},
            "summary": _summary(overall, cards, changed)}


def _summary(overall: str, cards: list[dict], changed: bool) -> str:
    text = {
        "not published": "Nothing has been sent yet. One press of Publish sends every channel once.",
        "sending": "Publishing… pressing again joins this press; nothing is sent twice.",
        "sent": "Every channel is sent. Pressing Publish again sends nothing new.",
        "partial": "Some parts were not sent: retry them below (what was sent is never sent again).",
        "failed": "Nothing was sent: read the platform's message below, fix the cause, and retry.",
        "uncertain": "Some parts may or may not have reached the platform: settle them below before anything is resent.",
    }[overall]
    if changed:
        text += " The post file changed since it was first pressed; channels already sent keep the earlier version."
    return text


# -- posts and the post page -----------------------------------------------------------------------

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


# -- pressing --------------------------------------------------------------------------------------

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


# -- subscribers -----------------------------------------------------------------------------------

@desk.get("/subscribers")
def subscriber_list() -> str:
    return _subscribers_page()


def _subscribers_page(report: dict | None = None, error: str = "", status_code: int = 200) -> Any:
    subscribers = _app_parts()[2]
    search = request.values.get("q", "").strip()
    wanted = request.values.get("status", "")
    status = wanted if wanted in SUBSCRIBER_STATUSES else None
    page = max(0, request.values.get("page", 0, type=int) or 0)
    rows = subscribers.list(status, search or None, limit=SUBSCRIBERS_PER_PAGE + 1, offset=page * SUBSCRIBERS_PER_PAGE)
    return render_template("desk_subscribers.html", counts=subscribers.count(), rows=rows[:SUBSCRIBERS_PER_PAGE],
                           more=len(rows) > SUBSCRIBERS_PER_PAGE, page=page, q=search, status=status or "",
                           statuses=SUBSCRIBER_STATUSES, report=report, error=error), status_code


@desk.post("/subscribers/import")
def subscriber_import() -> Any:
    if (request.content_length or 0) > MAX_IMPORT_BYTES:
        return _subscribers_page(error=f"The file is over {MAX_IMPORT_BYTES // 1024 // 1024} MB; "
                                       "import it with `publisher subscribers import`.", status_code=413)
    upload = request.files.get("csv")
    if upload is None or not upload.filename:
        return _subscribers_page(error="Choose a CSV file to import.", status_code=400)
    with tempfile.TemporaryDirectory(prefix="desk-import-") as folder:
        path = Path(folder) / "upload.csv"
        upload.save(path)
        try:
            result = _app_parts()[2].import_csv(path)
        except InputError as exc:
            return _subscribers_page(error=f"{upload.filename}: {exc.what}", status_code=400)
    report = {"filename": upload.filename, "added": result.added, "updated": result.updated,
              "unchanged": result.unchanged, "not_resubscribed": result.not_resubscribed,
              "bad": result.bad, "ignored": result.ignored_columns}
    return _subscribers_page(report=report)


@desk.post("/subscribers/<int:subscriber_id>/unsubscribe")
def subscriber_unsubscribe(subscriber_id: int) -> Any:
    subscribers = _app_parts()[2]
    if subscribers.unsubscribe(subscriber_id):
        flash("Unsubscribed: no further emails go to this address.", "ok")
    else:
        flash("That subscriber was already not active (or is not on the list).", "bad")
    query = {k: v for k, v in (("q", request.form.get("q", "")), ("status", request.form.get("status", ""))) if v}
    return redirect(url_for("desk.subscriber_list", **query), code=303)
