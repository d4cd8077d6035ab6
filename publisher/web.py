"""The web app: the public one-click unsubscribe (RFC 8058), a health check, and the editors' desk
(publisher.desk, behind a login).

PLATFORMS.md 4.2: mail clients POST `List-Unsubscribe=One-Click` (multipart/form-data or
x-www-form-urlencoded) without cookies and expect an empty 200, never a redirect; link scanners
and prefetchers GET every URL in a message, so GET only shows a confirmation page.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from jinja2 import StrictUndefined

from publisher.config import Settings
from publisher.desk import attach_desk
from publisher.store import Store
from publisher.subscribers import Subscribers
from templates import TEMPLATE_DIR

ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"  # RFC 8058 3.1
PRIVATE_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token in the URL must not leak to linked sites
    "X-Robots-Tag": "noindex",
}


# An editor logs in once a working day.
DESK_SESSION_HOURS = 12


class DeskSessionInterface(SecureCookieSessionInterface):
    """The signed session cookie; marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def masked_email(email: str) -> str:
    """Enough of the address for its owner to recognise it, not enough for anyone else."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}…{local[-1:] if len(local) > 2 else ''}@{domain}"


def create_app(settings: Settings, store: Store) -> Flask:
    app = Flask("publisher", template_folder=str(TEMPLATE_DIR))
    app.config.update(SECRET_KEY=settings.secret_key, SESSION_COOKIE_NAME="publisher_desk",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=DESK_SESSION_HOURS))
    app.session_interface = DeskSessionInterface()
    app.jinja_env.undefined = StrictUndefined
    subscribers = Subscribers(store, settings)
    app.extensions["publisher"] = {"settings": settings, "store": store, "subscribers": subscribers}
    attach_desk(app, settings)
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
    def private_pages(response: Response) -> Response:
        if request.path.startswith("/unsubscribe/"):
            response.headers.update(PRIVATE_PAGE_HEADERS)
        return response

    return app
