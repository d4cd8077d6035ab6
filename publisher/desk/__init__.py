"""The editors' web desk: every post, every channel as it will be sent, one publish button, each
channel's status live, and a retry for what failed. No terminal needed.

Routes (a Flask blueprint registered by publisher.web.create_app; everything but /login and the
static assets needs the editor's login):
  GET  /login  POST /login  POST /logout
  GET  /posts                         posts in PUBLISHER_CONTENT_DIR, date and publication state
                                      (50 a page; a file that does not load says why)
  GET  /posts/<slug>                  the four previews, the checks' problems, publish bar, status
  GET  /posts/<slug>/email.html|.txt  the rendered email, for the preview's iframe
  POST /posts/<slug>/publish          without confirm=1: the press plan, nothing sent; with it
                                      (and the post's sha256 the plan showed): press through
                                      publisher.publish.press_in_background, the CLI's path
                                      (pressing twice publishes once); ready_only=1 publishes
                                      the ready channels when some are blocked
  GET  /posts/<slug>/plan.html        the plan as a fragment, for the post page's script
  GET  /posts/<slug>/status.json      live status per channel and part (status.html: the panel)
  POST /posts/<slug>/retry            make one channel's failed parts claimable again, then press
  POST /posts/<slug>/reconcile        settle one channel's uncertain parts, then press
  POST /posts/<slug>/test-send        "Send a test": the email to one address (publisher.test_send;
                                      drafts too; PUBLISHER_TEST_SENDS_PER_HOUR, else 429)
  GET  /subscribers  POST /subscribers/import  POST /subscribers/<id>/unsubscribe
  GET  /desk/assets/<name>            CSS and JS shipped in the package (works offline, no CDN)

Safety: one editor password (PUBLISHER_DESK_PASSWORD, compared in constant time; at least 12
characters when other machines reach the desk); failed logins limited per client (429 with
Retry-After); the session cookie is signed, HttpOnly and SameSite=Lax (Secure behind a declared
TLS proxy) and holds an HMAC of the password and a session id the server keeps, so a leaked or
default secret_key alone does not let anyone in, and logging out or changing the password ends
the session for good. Every POST needs the session's CSRF token (form field or X-CSRF-Token
header) or changes nothing. Templates autoescape; the live panel is rendered by the same
templates; pages carry a Content-Security-Policy without inline scripts and may not be framed.
Request bodies are bounded per route; `next=` is followed only to a path of this site; list
pages clamp their page numbers. Secrets never reach a page: error texts are shown with every
secret setting masked.

Modules: blueprint (the blueprint and the app's parts), auth (login, CSRF, security headers,
assets), sessions (server-side session ids, the password rule), limits (body size guard, login
throttle, bounded query integers, pages), shelf (the posts folder, parsed and rendered once per
file version), cards (each channel's status card, the post's overall state), posts (list, post
page, previews, status), plan (the confirmation step), press (publish, retry, reconcile),
subscriber_pages (list, import, unsubscribe).
"""
from __future__ import annotations

from publisher.config import Settings

# The route modules register their views on the blueprint when imported (in this order).
from publisher.desk import auth, plan, posts, press, subscriber_pages, test_send  # noqa: F401
from publisher.desk.auth import editor_marker, password_matches
from publisher.desk.blueprint import CHANNEL_TITLES, desk
from publisher.desk.cards import (
    channel_card,
    expected_parts,
    overall_state,
    part_rows,
    post_status,
)
from publisher.desk.shelf import PostShelf, ShelfEntry


def attach_desk(app, settings: Settings) -> None:
    """Register the desk on the app (publisher.web.create_app calls this)."""
    app.extensions["publisher"]["shelf"] = PostShelf(settings)
    app.register_blueprint(desk)


__all__ = [
    "CHANNEL_TITLES", "PostShelf", "ShelfEntry", "attach_desk", "channel_card", "desk", "editor_marker",
    "expected_parts", "overall_state", "part_rows", "password_matches", "post_status",
]
