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

Modules: blueprint (the blueprint and the app's parts), auth (login, CSRF, security headers,
assets), shelf (the posts folder, parsed and rendered once per file version), cards (each
channel's status card, the post's overall state), posts (list, post page, previews, status),
press (publish, retry, reconcile), subscriber_pages (list, import, unsubscribe).
"""
from __future__ import annotations

from publisher.config import Settings

# The route modules register their views on the blueprint when imported (in this order).
from publisher.desk import auth, posts, press, subscriber_pages  # noqa: F401
from publisher.desk.auth import editor_marker, password_matches
from publisher.desk.blueprint import CHANNEL_TITLES, desk
from publisher.desk.cards import channel_card, expected_parts, overall_state, part_rows, post_status
from publisher.desk.shelf import PostShelf, ShelfEntry


def attach_desk(app, settings: Settings) -> None:
    """Register the desk on the app (publisher.web.create_app calls this)."""
    app.extensions["publisher"]["shelf"] = PostShelf(settings)
    app.register_blueprint(desk)


__all__ = [
    "CHANNEL_TITLES", "PostShelf", "ShelfEntry", "attach_desk", "channel_card", "desk", "editor_marker",
    "expected_parts", "overall_state", "part_rows", "password_matches", "post_status",
]
