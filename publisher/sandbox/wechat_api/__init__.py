"""Loopback stand-in for the WeChat Official Account API
(https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Overview.html).

It answers like api.weixin.qq.com: HTTP 200 for every platform answer, errors as
{"errcode": N, "errmsg": "... rid: <id>"}, `access_token` as a query parameter on every call but
the token routes. It issues and expires tokens, sniffs uploaded images, validates drafts with the
platform's limits, runs publish jobs that finish after a scripted number of polls, and counts
per-minute / per-day quotas.

Beyond the shared control routes (common.py) it offers, for tests and the demo:
- GET  /_sandbox/drafts     drafts in the draft box (what draft/add and draft/update stored)
- GET  /_sandbox/uploads    body images (uploadimg) and permanent materials (add_material)
- GET  /_sandbox/media/<sha256>   the bytes of an uploaded image
- GET  /_sandbox/published  articles that finished publishing
- POST /_sandbox/clock      {"advance": seconds} moves the stand-in's clock (token expiry, quotas)
- POST /_sandbox/config     {option: value} changes make_app options at run time (reset restores)
- POST /_sandbox/errcodes   {"rules": [{"match", "errcode", "times"=1 (0 = unlimited)}]}: answer
                            matching calls with that errcode at HTTP 200 (e.g. -1 system busy, 48001)
Fault rules (common.py) apply to every /cgi-bin/ route, before the token check. Without "after"
the call never reaches the platform (nothing stored): 429 (JSON errcode -1 + Retry-After) and 5xx
(a gateway's HTML page) answer at once, "timeout" sleeps `delay` then drops the connection, "drop"
drops it. With "after" the call is processed and stored, then answered by the fault ("timeout"
sleeps and then sends the real answer). "expire_token" expires the live tokens before the call
(so that call gets 42001) or, with "after", once the call is done (the next call gets 42001).

Modules: limits (the platform's numbers), state (options, account, WeChatError), answers
(answer shapes, request bodies), checks (faults, token, quotas, scripted errcodes on every call),
tokens, media, drafts and articles, publishing, control (the /_sandbox/ routes).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Flask

from publisher.sandbox.common import add_control_routes, quiet_app
from publisher.sandbox.wechat_api.checks import _install_platform_hooks
from publisher.sandbox.wechat_api.control import _add_inspection_routes
from publisher.sandbox.wechat_api.drafts import _add_draft_routes
from publisher.sandbox.wechat_api.limits import (
    ARTICLES_MAX,
    AUTHOR_MAX_CHARS,
    BATCHGET_MAX_COUNT,
    BEIJING_OFFSET,
    BODY_IMAGE_FORMATS,
    BODY_IMAGE_MAX_BYTES,
    CONTENT_MAX_BYTES,
    CONTENT_MAX_CHARS,
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_PUBLISH_POLLS,
    DEFAULT_PUBLISH_STATUS,
    DEFAULT_TOKEN_TTL,
    DIGEST_DEFAULT_CHARS,
    DIGEST_MAX_CHARS,
    ERRMSG,
    FORCE_REFRESH_MIN_GAP,
    FORCE_REFRESH_PER_DAY,
    FOREIGN_IMAGE_MODES,
    MATERIAL_IMAGE_FORMATS,
    MATERIAL_IMAGE_MAX_BYTES,
    SOURCE_URL_MAX_BYTES,
    STABLE_TOKEN_ROTATE_EARLY,
    THUMB_FORMATS,
    THUMB_MAX_BYTES,
    TITLE_MAX_CHARS,
    TOKEN_OVERLAP_SECONDS,
)
from publisher.sandbox.wechat_api.media import _add_media_routes
from publisher.sandbox.wechat_api.publishing import _add_publish_routes
from publisher.sandbox.wechat_api.state import IssuedToken, WeChatError, WeChatOptions, WeChatState
from publisher.sandbox.wechat_api.tokens import _add_token_routes


def make_app(**options: Any) -> Flask:
    """The WeChat stand-in; options are WeChatOptions fields (unknown names raise TypeError)."""
    initial = WeChatOptions(**options)
    initial.check()
    state = WeChatState(options=replace(initial), initial_options=initial)
    app = quiet_app(__name__)
    app.extensions["sandbox"] = state
    add_control_routes(app, state)
    _install_platform_hooks(app, state)
    _add_token_routes(app, state)
    _add_media_routes(app, state)
    _add_draft_routes(app, state)
    _add_publish_routes(app, state)
    _add_inspection_routes(app, state)
    return app


# What was importable from publisher.sandbox.wechat_api when it was one module.
__all__ = [
    "ARTICLES_MAX", "AUTHOR_MAX_CHARS", "BATCHGET_MAX_COUNT", "BEIJING_OFFSET", "BODY_IMAGE_FORMATS",
    "BODY_IMAGE_MAX_BYTES", "CONTENT_MAX_BYTES", "CONTENT_MAX_CHARS", "DEFAULT_APP_ID", "DEFAULT_APP_SECRET",
    "DEFAULT_PUBLISH_POLLS", "DEFAULT_PUBLISH_STATUS", "DEFAULT_TOKEN_TTL", "DIGEST_DEFAULT_CHARS",
    "DIGEST_MAX_CHARS", "ERRMSG", "FORCE_REFRESH_MIN_GAP", "FORCE_REFRESH_PER_DAY", "FOREIGN_IMAGE_MODES",
    "MATERIAL_IMAGE_FORMATS", "MATERIAL_IMAGE_MAX_BYTES", "SOURCE_URL_MAX_BYTES", "STABLE_TOKEN_ROTATE_EARLY",
    "THUMB_FORMATS", "THUMB_MAX_BYTES", "TITLE_MAX_CHARS", "TOKEN_OVERLAP_SECONDS", "IssuedToken",
    "WeChatError", "WeChatOptions", "WeChatState", "make_app",
]
