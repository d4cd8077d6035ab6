"""Login, the session and CSRF, the security headers of every desk page, and the public pages
(login, logout, the packaged CSS/JS).

One editor password (PUBLISHER_DESK_PASSWORD, compared in constant time); the session cookie is
signed, HttpOnly and SameSite=Lax and holds an HMAC of the password, so a leaked or default
secret_key alone does not let anyone in, and changing the password logs everyone out. Every POST
needs the session's CSRF token (form field or X-CSRF-Token header) or changes nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Response, abort, current_app, jsonify, redirect, render_template, request, session, url_for

from publisher.config import Settings
from publisher.desk.blueprint import CHANNEL_TITLES, _app_parts, desk
from templates import TEMPLATE_DIR

ASSETS = {"desk.css": "text/css", "preview.css": "text/css", "desk.js": "text/javascript",
          "preview.js": "text/javascript"}
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"
DESK_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    # Post images come from anywhere; scripts only from the package; inline styles are in the
    # channels' own HTML (WeChat's article is styled inline by design).
    "Content-Security-Policy": "default-src 'self'; img-src * data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; frame-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'; object-src 'none'",
}
# The email preview is framed by the post page and runs nothing.
EMAIL_FRAME_CSP = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


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
