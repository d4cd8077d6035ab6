"""Login, the session and CSRF, the security headers of every desk page, and the public pages
(login, logout, the packaged CSS/JS).

One editor password (PUBLISHER_DESK_PASSWORD, compared in constant time); the session cookie is
signed, HttpOnly and SameSite=Lax and holds an HMAC of the password, so a leaked or default
secret_key alone does not let anyone in, and changing the password logs everyone out. It also
holds a session id the server keeps (publisher.desk.sessions): logging out ends that session for
good, even for a copy of the cookie. Failed logins are limited per client (publisher.desk.limits):
past the limit the client gets 429 with Retry-After, whatever password it sends. Every POST needs
the session's CSRF token (form field or X-CSRF-Token header) or changes nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from flask import (
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from publisher.config import Settings
from publisher.desk.blueprint import CHANNEL_TITLES, _app_parts, desk
from publisher.desk.limits import LoginThrottle, is_loopback
from publisher.desk.sessions import (
    MIN_PASSWORD_CHARS,
    SessionRegistry,
    password_too_short,
)
from templates import TEMPLATE_DIR

ASSETS = {"desk.css": "text/css", "preview.css": "text/css", "desk.js": "text/javascript",
          "preview.js": "text/javascript"}
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"
DESK_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Post images come from anywhere; scripts only from the package; inline styles are in the
    # channels' own HTML (WeChat's article is styled inline by design).
    "Content-Security-Policy": "default-src 'self'; img-src * data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; frame-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'; object-src 'none'",
}
# The email preview is framed by the post page and runs nothing.
EMAIL_FRAME_CSP = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
MAX_NEXT_CHARS = 2000


def editor_marker(settings: Settings) -> str:
    """What a logged-in session holds: keyed by the password, so the cookie's signing key alone
    cannot forge a login and a new password ends every session."""
    return hmac.new(settings.secret_key.encode(), b"desk-editor:" + settings.desk_password.encode(),
                    hashlib.sha256).hexdigest()


def password_matches(settings: Settings, given: str) -> bool:
    if not settings.desk_password:
        return False
    return hmac.compare_digest(given.encode("utf-8"), settings.desk_password.encode("utf-8"))


def _guards() -> tuple[LoginThrottle, SessionRegistry]:
    parts = current_app.extensions["publisher"]
    return parts["login_throttle"], parts["sessions"]


FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-Ip")


def from_this_machine() -> bool:
    """The client is on this machine: a loopback address (the real one, behind a declared proxy)
    and, without a declared proxy, no proxy's forwarding header (an undeclared proxy on this
    machine would make every visitor look local)."""
    if not is_loopback(request.remote_addr):
        return False
    return bool(current_app.extensions["publisher"]["trust_proxy"]) or not any(
        name in request.headers for name in FORWARDING_HEADERS)


def too_weak_for_this_client() -> bool:
    """A password shorter than MIN_PASSWORD_CHARS only opens the desk to this machine."""
    return password_too_short(_app_parts()[0]) and not from_this_machine()


def logged_in() -> bool:
    settings = _app_parts()[0]
    held = session.get("editor")
    return (bool(settings.desk_password) and isinstance(held, str)
            and hmac.compare_digest(held, editor_marker(settings))
            and _guards()[1].alive(session.get("sid")) and not too_weak_for_this_client())


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


def _unsafe_text(text: str) -> bool:
    # Browsers drop tabs and newlines from a Location and read "\" as "/": "/\t/evil.example" and
    # "/\evil.example" both become //evil.example (WHATWG URL standard, URL parsing).
    return any(ch < " " or ch == "\x7f" or ch == "\\" for ch in text)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, checked after percent-decoding; anything
    else (another host, a scheme, control characters) goes to the posts list."""
    fallback = url_for("desk.posts")
    if not target or len(target) > MAX_NEXT_CHARS or _unsafe_text(target) or _unsafe_text(unquote(target)):
        return fallback
    try:
        parts = urlsplit(target)
    except ValueError:
        return fallback
    path = parts.path
    if parts.scheme or parts.netloc or not path.startswith("/") or unquote(path).startswith("//"):
        return fallback
    return urlunsplit(("", "", path, parts.query, ""))


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


def _login_page(target: str, status: int = 200, **state: Any) -> Any:
    settings = _app_parts()[0]
    page = {"failed": False, "wait": 0, "weak": too_weak_for_this_client(), "min_chars": MIN_PASSWORD_CHARS, **state}
    response = Response(render_template("desk_login.html", next=target, configured=bool(settings.desk_password),
                                        **page), status=status, mimetype="text/html")
    if page["wait"]:
        response.headers["Retry-After"] = str(page["wait"])
    return response


@desk.route("/login", methods=["GET", "POST"])
def login() -> Any:
    settings = _app_parts()[0]
    throttle, sessions = _guards()
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return redirect(target) if logged_in() else _login_page(target)
    if too_weak_for_this_client():
        return _login_page(target, 403)
    client = request.remote_addr
    wait = throttle.retry_after(client)
    if wait:
        throttle.refused(client)
        current_app.logger.warning("desk: login refused for %s: too many failed logins (retry in %s s)", client, wait)
        return _login_page(target, 429, wait=wait)
    if not password_matches(settings, request.form.get("password", "")):
        throttle.failed(client)
        current_app.logger.warning("desk: failed login from %s", client)
        return _login_page(target, 401, failed=True)
    throttle.succeeded(client)
    sessions.end(session.get("sid"))
    session.clear()
    session.permanent = True
    session["editor"] = editor_marker(settings)
    session["sid"] = sessions.start()
    csrf_token()
    return redirect(target, code=303)


@desk.post("/logout")
def logout() -> Any:
    _guards()[1].end(session.get("sid"))
    session.clear()
    return redirect(url_for("desk.login"), code=303)


@desk.get("/")
def home() -> Any:
    return redirect(url_for("desk.posts"))
