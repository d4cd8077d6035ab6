"""The web app: the public one-click unsubscribe (RFC 8058), a health check, and the editors' desk
(publisher.desk, behind a login).

Mail clients POST `List-Unsubscribe=One-Click` (multipart/form-data or x-www-form-urlencoded)
without cookies and expect an empty 200, never a redirect (RFC 8058 section 3.1,
https://www.rfc-editor.org/rfc/rfc8058#section-3.1); link scanners and prefetchers GET every URL in
a message, so GET only shows a confirmation page.

Every response, public or not, carries frame protection (X-Frame-Options and CSP
frame-ancestors: no page can be framed by another site and clicked through), and every request
body is bounded (publisher.desk.limits: a WSGI guard that counts a chunked body as it streams in,
and Flask's MAX_CONTENT_LENGTH per route). Behind a TLS proxy, PUBLISHER_TRUST_PROXY=1 makes the
app read the client's address and scheme from X-Forwarded-For/-Proto (one proxy hop) and mark the
session cookie Secure; without it those headers are ignored (anyone could send them).
"""
from __future__ import annotations

import os
from datetime import timedelta

from flask import Flask, Response, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from jinja2 import StrictUndefined
from werkzeug.middleware.proxy_fix import ProxyFix

from publisher.config import Settings
from publisher.desk import attach_desk
from publisher.desk import schedule as _schedule_routes  # noqa: F401 - registers the schedule picker
from publisher.desk.limits import (
    IMPORT_BYTES,
    LOGIN_ATTEMPTS,
    LOGIN_WINDOW_SECONDS,
    BodyLimit,
    LoginThrottle,
    body_limit,
)
from publisher.desk.sessions import SessionRegistry, check_serving
from publisher.signup_pages import attach_signup
from publisher.store import Store
from publisher.subscribers import Subscribers
from templates import TEMPLATE_DIR

ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"  # RFC 8058 3.1
PRIVATE_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token in the URL must not leak to linked sites
    "X-Robots-Tag": "noindex",
    # The pages style themselves inline and post only to themselves.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
FRAME_ANCESTORS_NONE = "frame-ancestors 'none'"
TRUTHY = ("1", "true", "yes", "on")


# An editor logs in once a working day.
DESK_SESSION_HOURS = 12


class DeskSessionInterface(SecureCookieSessionInterface):
    """The signed session cookie; marked Secure whenever the request came over HTTPS (behind a
    declared proxy, always: the proxy is the TLS end)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def masked_email(email: str) -> str:
    """Enough of the address for its owner to recognise it, not enough for anyone else."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}…{local[-1:] if len(local) > 2 else ''}@{domain}"


def trust_proxy_from_env() -> bool:
    return os.environ.get("PUBLISHER_TRUST_PROXY", "").strip().lower() in TRUTHY


def create_app(settings: Settings, store: Store, *, host: str | None = None, trust_proxy: bool | None = None,
               login_attempts: int = LOGIN_ATTEMPTS, login_window_seconds: float = LOGIN_WINDOW_SECONDS,
               login_lockout_seconds: float | None = None) -> Flask:
    """The WSGI app. `host`: the address `publisher serve` listens on (None: not known, as in
    tests); a desk other machines reach needs a long password (publisher.desk.sessions).
    `trust_proxy`: a TLS proxy in front (None: PUBLISHER_TRUST_PROXY). `login_attempts` failed
    logins per client in `login_window_seconds`, then 429 for `login_lockout_seconds` after the
    last failure (None: the window; a test waits a second instead of minutes)."""
    behind_proxy = trust_proxy_from_env() if trust_proxy is None else trust_proxy
    check_serving(settings, host, behind_proxy)
    app = Flask("publisher", template_folder=str(TEMPLATE_DIR))
    app.config.update(SECRET_KEY=settings.secret_key, SESSION_COOKIE_NAME="publisher_desk",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=behind_proxy, MAX_CONTENT_LENGTH=IMPORT_BYTES,
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=DESK_SESSION_HOURS))
    app.session_interface = DeskSessionInterface()
    app.jinja_env.undefined = StrictUndefined
    subscribers = Subscribers(store, settings)
    app.extensions["publisher"] = {
        "settings": settings, "store": store, "subscribers": subscribers, "host": host, "trust_proxy": behind_proxy,
        "login_throttle": LoginThrottle(login_attempts, login_window_seconds, login_lockout_seconds),
        "sessions": SessionRegistry(DESK_SESSION_HOURS * 3600.0)}
    attach_desk(app, settings)
    attach_signup(app)  # the public sign-up form: /subscribe
    app.wsgi_app = BodyLimit(app.wsgi_app)  # type: ignore[method-assign]
    if behind_proxy:  # outermost: the guard and the app see the client's address and scheme
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]

    @app.before_request
    def bounded_body() -> None:
        request.max_content_length = body_limit(request.path)
    site_url = settings.site_url.rstrip("/")

    def done_page(heading: str, message: str, status: int = 200) -> tuple[str, int]:
        return render_template("unsubscribe_done.html", heading=heading, message=message,
                               site_url=site_url), status

    def invalid_link() -> tuple[str, int]:
        return done_page("This unsubscribe link is not valid",
                         "The link may have been cut off or changed. Copy the whole link from the "
                         "email, or use the unsubscribe link at the bottom of a newer email.", 400)

    @app.get("/unsubscribe/<token>")
    def unsubscribe_confirm(token: str):
        if subscribers.subscriber_id_for_token(token) is None:
            return invalid_link()
        subscriber = subscribers.subscriber_for_token(token)
        if subscriber is None:
            return done_page("You are not on the list", "This address does not receive the newsletter.")
        return render_template("unsubscribe_confirm.html", masked_email=masked_email(subscriber.email),
                               already=subscriber.status != "active", action_url=request.path,
                               site_url=site_url)

    @app.post("/unsubscribe/<token>")
    def unsubscribe(token: str):
        one_click = request.form.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE
        subscriber_id = subscribers.subscriber_id_for_token(token)
        if subscriber_id is None:
            if one_click:
                return Response("invalid unsubscribe link\n", status=400, mimetype="text/plain")
            return invalid_link()
        subscriber = subscribers.subscriber_for_token(token)
        if subscriber is not None and subscribers.unsubscribe(subscriber.id):
            app.logger.info("unsubscribed subscriber %s (%s)", subscriber.id,
                            "one-click" if one_click else "confirm page")
        if one_click:
            return Response("", status=200)  # Google: answer the one-click POST with an empty 200
        return done_page("You are unsubscribed", "You will not receive the newsletter any more. "
                         "If this was a mistake, subscribe again on the website.")

    @app.get("/healthz")
    def healthz():
        if store.ping():
            return jsonify({"status": "ok", "database": "ok"})
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503

    @app.after_request
    def every_page(response: Response) -> Response:
        if request.path.startswith("/unsubscribe/"):
            response.headers.update(PRIVATE_PAGE_HEADERS)
        return frame_protection(response, secure=request.is_secure)

    return app


def frame_protection(response: Response, secure: bool = False) -> Response:
    """No page of this app may be framed by another site (clickjacking): CSP frame-ancestors for
    browsers that read it, X-Frame-Options for those that do not. A page that allows its own site
    (the email preview frame) says so in its own policy."""
    policy = response.headers.get("Content-Security-Policy")
    if policy is None:
        response.headers["Content-Security-Policy"] = FRAME_ANCESTORS_NONE
    elif "frame-ancestors" not in policy:
        response.headers["Content-Security-Policy"] = f"{policy.rstrip('; ')}; {FRAME_ANCESTORS_NONE}"
    own_site = "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN" if own_site else "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
