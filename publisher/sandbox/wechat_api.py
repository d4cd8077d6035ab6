"""Loopback stand-in for the WeChat Official Account API (PLATFORMS.md 3.1-3.6).

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
"""
from __future__ import annotations

import hashlib
import html
import io
import json
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

import requests
from flask import Flask, Response, g, jsonify, request
from PIL import Image, UnidentifiedImageError

from publisher.sandbox.common import (
    FaultRule,
    SandboxState,
    add_control_routes,
    describe_request,
    drop_connection,
    quiet_app,
)

DEFAULT_APP_ID = "wx-sandbox-appid"
DEFAULT_APP_SECRET = "wx-sandbox-secret"
DEFAULT_TOKEN_TTL = 7200  # seconds; 3.1 "expires_in":7200
DEFAULT_PUBLISH_POLLS = 1  # freepublish/get answers "publishing" (1) this many times first
DEFAULT_PUBLISH_STATUS = 0  # final publish_status: 0 success; 2/3/4 failures; 5/6 (3.4)
FOREIGN_IMAGE_MODES = ("reject", "strip")  # 3.5: WeChat filters external <img src>; "reject" is stricter

TOKEN_OVERLAP_SECONDS = 300  # 3.1: an old token stays valid 5 min after a new one is issued
STABLE_TOKEN_ROTATE_EARLY = 300  # 3.1: stable_token rotates 5 min before expiry
FORCE_REFRESH_MIN_GAP = 30  # 3.1: force_refresh at least 30 s apart...
FORCE_REFRESH_PER_DAY = 20  # ...and at most 20 a day
BEIJING_OFFSET = 8 * 3600  # daily quotas reset at midnight Beijing time

BODY_IMAGE_FORMATS = frozenset({"JPEG", "PNG"})  # 3.2 uploadimg: jpg/png only
BODY_IMAGE_MAX_BYTES = 1024 * 1024  # 3.2 uploadimg: "<1 MB"
MATERIAL_IMAGE_FORMATS = frozenset({"BMP", "PNG", "JPEG", "GIF"})  # 3.2 add_material type=image
MATERIAL_IMAGE_MAX_BYTES = 10 * 1024 * 1024  # 3.2: ≤10 MB (older docs: 2 MB)
THUMB_FORMATS = frozenset({"JPEG"})  # 3.2 type=thumb: JPG
THUMB_MAX_BYTES = 64 * 1024  # 3.2 type=thumb: ≤64 KB

TITLE_MAX_CHARS = 32  # 3.3 / 5: title ≤32 字
AUTHOR_MAX_CHARS = 16  # 3.3 / 5: author ≤16 字
DIGEST_MAX_CHARS = 128  # 3.3 / 5: digest ≤128 (not 120)
DIGEST_DEFAULT_CHARS = 54  # 3.3: default digest = first 54 chars of the content
CONTENT_MAX_CHARS = 20_000  # 3.3: "<20,000 chars"
CONTENT_MAX_BYTES = 1024 * 1024  # 3.3: "<1 MB"
SOURCE_URL_MAX_BYTES = 1024  # 3.3: content_source_url ≤1 KB
ARTICLES_MAX = 8  # a news message holds at most 8 articles (45008); UNVERIFIED for draft/add
BATCHGET_MAX_COUNT = 20  # draft/batchget and freepublish/batchget: count 1..20

ERRMSG = {  # 3.1 and the global return codes [WX8][WX9]
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40004: "invalid media type",
    40005: "invalid file type",
    40007: "invalid media_id",
    40009: "invalid image size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    41001: "access_token missing",
    41005: "media data missing",
    42001: "access_token expired",
    44002: "empty post data",
    44004: "empty content",
    45002: "content size out of limit",
    45003: "title size out of limit",
    45004: "description size out of limit",
    45005: "link size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    45110: "author size out of limit",
    45166: "invalid content",
    47001: "data format error",
    48001: "api unauthorized",
}

TOKEN_ROUTES = frozenset({"/cgi-bin/token", "/cgi-bin/stable_token"})
TOKEN_SHAPE = re.compile(r"[0-9A-Za-z_-]{64,512}")
# A JSON \uXXXX escape is a backslash-u preceded by an even number of backslashes; "\\u" is a
# literal backslash followed by u (e.g. a code sample), which WeChat has no reason to refuse.
JSON_UNICODE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")
SCRIPT_ELEMENT = re.compile(r"<script\b[^>]*>.*?(?:</script\s*>|$)", re.IGNORECASE | re.DOTALL)
START_TAG = re.compile(r"<[a-zA-Z][^>]*>")
EVENT_ATTRIBUTE = re.compile(r"""\s+on[a-zA-Z]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""")
JAVASCRIPT_HREF = re.compile(r"""\s+href\s*=\s*(["']?)\s*javascript:[^"'>]*\1""", re.IGNORECASE)
IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
IMG_SOURCE = re.compile(r"""\b(?:data-)?src\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
ANY_TAG = re.compile(r"<[^>]+>")


class WeChatError(Exception):
    """A platform answer with a non-zero errcode (always HTTP 200)."""

    def __init__(self, errcode: int, detail: str = ""):
        super().__init__(errcode, detail)
        self.errcode = errcode
        self.detail = detail


@dataclass
class WeChatOptions:
    app_id: str = DEFAULT_APP_ID
    app_secret: str = DEFAULT_APP_SECRET
    token_ttl: int = DEFAULT_TOKEN_TTL
    publish_polls: int = DEFAULT_PUBLISH_POLLS
    publish_status: int = DEFAULT_PUBLISH_STATUS
    foreign_images: str = "reject"
    minute_quota: int | None = None  # per API path, like the platform's per-interface quotas
    day_quota: int | None = None
    publish_authorized: bool = True  # False: freepublish answers 48001 (3.4, 2025-07 change)
    allowed_ips: tuple[str, ...] | None = None  # None: no IP whitelist (40164 on token routes)
    callback_url: str | None = None  # PUBLISHJOBFINISH XML is POSTed here when a job finishes
    clock: Callable[[], float] = time.time

    def check(self) -> None:
        if self.foreign_images not in FOREIGN_IMAGE_MODES:
            raise ValueError(f"foreign_images must be one of {FOREIGN_IMAGE_MODES}, not {self.foreign_images!r}")
        if self.publish_status not in (0, 2, 3, 4, 5, 6):
            raise ValueError(f"publish_status must be 0, 2, 3, 4, 5 or 6, not {self.publish_status!r}")
        if self.token_ttl <= 0 or self.publish_polls < 0:
            raise ValueError("token_ttl must be > 0 and publish_polls >= 0")


@dataclass
class IssuedToken:
    value: str
    kind: str  # "token" (/cgi-bin/token) or "stable" (/cgi-bin/stable_token)
    expires_at: float
    revoked: bool = False


@dataclass
class WeChatState(SandboxState):
    """What the account holds: tokens, images, materials, drafts, publish jobs, quota counters."""

    options: WeChatOptions = field(default_factory=WeChatOptions)
    initial_options: WeChatOptions = field(default_factory=WeChatOptions)
    time_offset: float = 0.0
    serial: int = 0
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    stable_token: str | None = None
    force_refreshes: list[float] = field(default_factory=list)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # uploadimg url -> info
    media_bytes: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes
    materials: dict[str, dict[str, Any]] = field(default_factory=dict)  # media_id -> info
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)  # media_id -> draft
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # publish_id -> job
    published: dict[str, dict[str, Any]] = field(default_factory=dict)  # article_id -> article
    calls: Counter = field(default_factory=Counter)  # (path, "minute"|"day", bucket) -> calls
    errcode_rules: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> float:
        return self.options.clock() + self.time_offset

    def next_serial(self) -> int:
        with self.lock:
            self.serial += 1
            return self.serial

    def reset(self) -> None:
        """Forget content, counters and scripted answers; issued tokens stay valid."""
        super().reset()
        with self.lock:
            self.options = replace(self.initial_options)
            self.time_offset = 0.0
            for store in (self.uploads, self.media_bytes, self.materials, self.drafts, self.jobs,
                          self.published, self.calls):
                store.clear()
            self.force_refreshes.clear()
            self.errcode_rules.clear()


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


# --- answers ---------------------------------------------------------------------------------

def _json_answer(payload: dict[str, Any], status: int = 200) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    # The platform really answers "encoding=utf-8", not "charset=utf-8".
    return Response(body, status=status, content_type="application/json; encoding=utf-8")


def _request_id(state: WeChatState) -> str:
    digest = hashlib.sha256(f"rid:{state.next_serial()}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:16]}-{digest[16:24]}"


def _error_answer(state: WeChatState, errcode: int, detail: str = "") -> Response:
    text = ERRMSG.get(errcode, "scripted error")
    if detail:
        text = f"{text}: {detail}"
    return _json_answer({"errcode": errcode, "errmsg": f"{text} rid: {_request_id(state)}"})


def _ok(**fields_: Any) -> Response:
    return _json_answer({"errcode": 0, "errmsg": "ok", **fields_})


def _gateway_fault(state: WeChatState, rule: FaultRule) -> Response:
    if rule.kind == "429":
        answer = _error_answer(state, -1)
        answer.status_code = 429
        answer.headers["Retry-After"] = str(max(0, math.ceil(rule.retry_after)))
        return answer
    code = int(rule.kind)
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[code]
    title = f"{code} {reason}"
    page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>"
    return Response(page, status=code, content_type="text/html")


# --- per-call checks: faults, token, quota, scripted errcodes ---------------------------------

def _install_platform_hooks(app: Flask, state: WeChatState) -> None:
    @app.errorhandler(WeChatError)
    def _platform_error(error: WeChatError):
        return _error_answer(state, error.errcode, error.detail)

    @app.before_request
    def _before_platform_call():
        if not request.path.startswith("/cgi-bin/"):
            return None
        state.record(describe_request())
        rule = state.next_fault(request.path)
        if rule is not None and rule.after:
            g.after_fault = rule
        elif rule is not None:
            answer = _fault_before(state, rule)
            if answer is not None:
                return answer
        if request.path not in TOKEN_ROUTES:
            _check_token(state, request.args.get("access_token", ""))
        _count_call(state, request.path)
        _scripted_errcode(state, request.path)
        return None

    @app.after_request
    def _after_platform_call(response: Response):
        rule = g.pop("after_fault", None)
        if rule is None:
            return response
        if rule.kind == "expire_token":
            _expire_tokens(state)
            return response
        if rule.kind == "timeout":
            time.sleep(rule.delay)
            return response
        if rule.kind == "drop":
            drop_connection()
        return _gateway_fault(state, rule)


def _fault_before(state: WeChatState, rule: FaultRule) -> Response | None:
    if rule.kind == "slow":  # a platform that takes its time, then acts on the call as usual
        time.sleep(rule.delay)
        return None
    if rule.kind == "expire_token":
        _expire_tokens(state)
        return None
    if rule.kind == "timeout":
        # The call never reaches the platform: the client sees a read timeout, nothing is stored.
        time.sleep(rule.delay)
        drop_connection()
    if rule.kind == "drop":
        drop_connection()
    return _gateway_fault(state, rule)


def _check_token(state: WeChatState, token: str) -> None:
    if not token:
        raise WeChatError(41001)
    with state.lock:
        issued = state.tokens.get(token)
        if issued is None:
            raise WeChatError(40001 if TOKEN_SHAPE.fullmatch(token) else 40014)
        if issued.revoked:
            raise WeChatError(40001)
        if state.now() >= issued.expires_at:
            raise WeChatError(42001)


def _expire_tokens(state: WeChatState) -> None:
    with state.lock:
        moment = state.now()
        for issued in state.tokens.values():
            issued.expires_at = min(issued.expires_at, moment)


def _quota_buckets(moment: float) -> tuple[int, int]:
    return int(moment // 60), int((moment + BEIJING_OFFSET) // 86400)


def _count_call(state: WeChatState, path: str) -> None:
    with state.lock:
        minute, day = _quota_buckets(state.now())
        day_key, minute_key = (path, "day", day), (path, "minute", minute)
        if state.options.day_quota is not None and state.calls[day_key] >= state.options.day_quota:
            raise WeChatError(45009)
        if state.options.minute_quota is not None and state.calls[minute_key] >= state.options.minute_quota:
            raise WeChatError(45011)
        state.calls[day_key] += 1
        state.calls[minute_key] += 1


def _scripted_errcode(state: WeChatState, path: str) -> None:
    with state.lock:
        for rule in state.errcode_rules:
            if rule["match"] in path and (not rule["times"] or rule["fired"] < rule["times"]):
                rule["fired"] += 1
                raise WeChatError(int(rule["errcode"]))


# --- tokens (3.1) ----------------------------------------------------------------------------

def _add_token_routes(app: Flask, state: WeChatState) -> None:
    @app.get("/cgi-bin/token")
    def token():
        _check_credentials(state, request.args.get("grant_type"), request.args.get("appid"),
                           request.args.get("secret"))
        with state.lock:
            moment = state.now()
            for issued in state.tokens.values():
                if issued.kind == "token":
                    issued.expires_at = min(issued.expires_at, moment + TOKEN_OVERLAP_SECONDS)
            issued = _issue_token(state, "token")
        return _json_answer({"access_token": issued.value, "expires_in": state.options.token_ttl})

    @app.post("/cgi-bin/stable_token")
    def stable_token():
        body = _json_body()
        _check_credentials(state, body.get("grant_type"), body.get("appid"), body.get("secret"))
        with state.lock:
            if body.get("force_refresh"):
                issued = _force_refresh_stable(state)
            else:
                issued = _current_stable(state)
            expires_in = int(issued.expires_at - state.now())
        return _json_answer({"access_token": issued.value, "expires_in": expires_in})


def _check_credentials(state: WeChatState, grant_type: Any, app_id: Any, secret: Any) -> None:
    allowed = state.options.allowed_ips
    if allowed is not None and request.remote_addr not in allowed:
        raise WeChatError(40164, str(request.remote_addr))
    if grant_type != "client_credential":
        raise WeChatError(40002)
    if app_id != state.options.app_id:
        raise WeChatError(40013)
    if secret != state.options.app_secret:
        raise WeChatError(40125)


def _issue_token(state: WeChatState, kind: str) -> IssuedToken:
    serial = state.next_serial()
    seed = f"{state.options.app_id}:{kind}:{serial}"
    body = "".join(hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in range(3))
    issued = IssuedToken(value=f"{serial}_{body}"[:157], kind=kind,
                         expires_at=state.now() + state.options.token_ttl)
    state.tokens[issued.value] = issued
    return issued


def _current_stable(state: WeChatState) -> IssuedToken:
    current = state.tokens.get(state.stable_token or "")
    rotate_window = min(STABLE_TOKEN_ROTATE_EARLY, state.options.token_ttl / 2)
    if current and not current.revoked and current.expires_at - state.now() > rotate_window:
        return current
    # The old stable token keeps its own expiry, so old and new overlap (3.1).
    issued = _issue_token(state, "stable")
    state.stable_token = issued.value
    return issued


def _force_refresh_stable(state: WeChatState) -> IssuedToken:
    moment = state.now()
    if state.force_refreshes and moment - state.force_refreshes[-1] < FORCE_REFRESH_MIN_GAP:
        raise WeChatError(45011, f"force_refresh at most once per {FORCE_REFRESH_MIN_GAP}s")
    today = _quota_buckets(moment)[1]
    if sum(_quota_buckets(t)[1] == today for t in state.force_refreshes) >= FORCE_REFRESH_PER_DAY:
        raise WeChatError(45009, f"force_refresh at most {FORCE_REFRESH_PER_DAY} a day")
    state.force_refreshes.append(moment)
    current = state.tokens.get(state.stable_token or "")
    if current:
        current.revoked = True
    issued = _issue_token(state, "stable")
    state.stable_token = issued.value
    return issued


# --- images (3.2) ----------------------------------------------------------------------------

def _add_media_routes(app: Flask, state: WeChatState) -> None:
    @app.post("/cgi-bin/media/uploadimg")
    def uploadimg():
        data, filename = _uploaded_media()
        info = _sniff_image(data, BODY_IMAGE_FORMATS, BODY_IMAGE_MAX_BYTES)
        url = f"http://mmbiz.qpic.cn/sandbox/{info['sha256']}/0"
        with state.lock:
            state.media_bytes[info["sha256"]] = data
            state.uploads[url] = {"url": url, "filename": filename, **info}
        return _ok(url=url)

    @app.post("/cgi-bin/material/add_material")
    def add_material():
        kind = request.args.get("type", "")
        if kind not in ("image", "thumb"):
            raise WeChatError(40004, f"type {kind!r}; the sandbox keeps image and thumb")
        data, filename = _uploaded_media()
        if kind == "thumb":
            info = _sniff_image(data, THUMB_FORMATS, THUMB_MAX_BYTES + 1)
        else:
            info = _sniff_image(data, MATERIAL_IMAGE_FORMATS, MATERIAL_IMAGE_MAX_BYTES + 1)
        serial = state.next_serial()
        media_id = f"sandbox-{kind}-{serial:06d}-{info['sha256'][:20]}"
        url = f"http://mmbiz.qpic.cn/sandbox/{info['sha256']}/0?wx_fmt={info['format'].lower()}"
        with state.lock:
            state.media_bytes[info["sha256"]] = data
            state.materials[media_id] = {"media_id": media_id, "type": kind, "url": url,
                                         "filename": filename, **info}
        return _json_answer({"media_id": media_id, "url": url})


def _uploaded_media() -> tuple[bytes, str]:
    upload = request.files.get("media")
    if upload is None:
        raise WeChatError(41005)
    data = upload.read()
    if not data:
        raise WeChatError(41005)
    return data, upload.filename or ""


def _sniff_image(data: bytes, formats: frozenset[str], size_limit: int) -> dict[str, Any]:
    """Format by content (not by file name), then size: `size_limit` bytes and over are refused."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format or "", image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise WeChatError(40005, "not an image") from None
    if image_format not in formats:
        raise WeChatError(40005, f"{image_format.lower()} not accepted here")
    if len(data) >= size_limit:
        raise WeChatError(40009, f"{len(data)} bytes")
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "format": image_format,
            "width": width, "height": height}


# --- drafts (3.3) ----------------------------------------------------------------------------

def _add_draft_routes(app: Flask, state: WeChatState) -> None:
    @app.post("/cgi-bin/draft/add")
    def draft_add():
        body = _json_body(refuse_unicode_escapes=True)
        articles = body.get("articles")
        if not isinstance(articles, list) or not articles:
            raise WeChatError(47001, "articles must be a non-empty list")
        if len(articles) > ARTICLES_MAX:
            raise WeChatError(45008)
        stored = [_accept_article(state, article, index) for index, article in enumerate(articles)]
        with state.lock:
            serial = state.next_serial()
            media_id = f"sandbox-draft-{serial:06d}"
            moment = int(state.now())
            _attach_preview_urls(media_id, stored)
            state.drafts[media_id] = {"media_id": media_id, "news_item": stored, "create_time": moment,
                                      "update_time": moment, "serial": serial}
        return _json_answer({"media_id": media_id})

    @app.post("/cgi-bin/draft/update")
    def draft_update():
        body = _json_body(refuse_unicode_escapes=True)
        draft = _find_draft(state, body.get("media_id"))
        index = body.get("index")
        if not isinstance(index, int) or not 0 <= index < len(draft["news_item"]):
            raise WeChatError(47001, f"index {index!r} out of range")
        if not isinstance(body.get("articles"), dict):
            raise WeChatError(47001, "articles must be one article object")
        article = _accept_article(state, body["articles"], index)
        with state.lock:
            draft["news_item"][index] = article
            _attach_preview_urls(draft["media_id"], draft["news_item"])
            draft["update_time"] = int(state.now())
            draft["serial"] = state.next_serial()
        return _ok()

    @app.post("/cgi-bin/draft/get")
    def draft_get():
        draft = _find_draft(state, _json_body().get("media_id"))
        return _json_answer({"news_item": draft["news_item"], "create_time": draft["create_time"],
                             "update_time": draft["update_time"]})

    @app.post("/cgi-bin/draft/batchget")
    def draft_batchget():
        body = _json_body()
        with state.lock:
            drafts = sorted(state.drafts.values(), key=lambda d: (d["update_time"], d["serial"]), reverse=True)
        page = _page(drafts, body)
        items = [{"media_id": d["media_id"], "content": {"news_item": _maybe_without_content(d["news_item"], body)},
                  "update_time": d["update_time"]} for d in page]
        return _json_answer({"total_count": len(drafts), "item_count": len(items), "item": items})

    @app.post("/cgi-bin/draft/count")
    def draft_count():
        with state.lock:
            return _ok(total_count=len(state.drafts))

    @app.post("/cgi-bin/draft/delete")
    def draft_delete():
        media_id = _json_body().get("media_id")
        with state.lock:
            _find_draft(state, media_id)
            del state.drafts[media_id]
        return _ok()


def _json_body(refuse_unicode_escapes: bool = False) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise WeChatError(44002)
    if refuse_unicode_escapes and JSON_UNICODE_ESCAPE.search(raw):
        # 3.1/3.3: the draft API refuses \uXXXX escapes, which requests' json= produces by default.
        raise WeChatError(40033)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WeChatError(47001, "body is not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise WeChatError(47001, "body must be a JSON object")
    return body


def _find_draft(state: WeChatState, media_id: Any) -> dict[str, Any]:
    with state.lock:
        draft = state.drafts.get(media_id) if isinstance(media_id, str) else None
    if draft is None:
        raise WeChatError(40007, f"no draft {media_id!r}")
    return draft


def _page(items: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    offset, count = body.get("offset", 0), body.get("count")
    if not isinstance(offset, int) or offset < 0 or not isinstance(count, int) or not 1 <= count <= BATCHGET_MAX_COUNT:
        raise WeChatError(47001, f"offset >= 0 and count 1..{BATCHGET_MAX_COUNT} required")
    return items[offset:offset + count]


def _maybe_without_content(news_items: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    if not body.get("no_content"):
        return news_items
    return [{k: v for k, v in item.items() if k != "content"} for item in news_items]


def _attach_preview_urls(media_id: str, articles: list[dict[str, Any]]) -> None:
    for position, article in enumerate(articles, start=1):
        article["url"] = f"http://mp.weixin.qq.com/s?__biz=U2FuZGJveA==&tempkey={media_id}&idx={position}#rd"


def _accept_article(state: WeChatState, article: Any, index: int) -> dict[str, Any]:
    """Validate one article like draft/add does and return what the draft box keeps."""
    if not isinstance(article, dict):
        raise WeChatError(47001, f"article {index} is not an object")
    article_type = article.get("article_type", "news")
    title, content = article.get("title"), article.get("content")
    if article_type not in ("news", "newspic") or not isinstance(title, str) or not title:
        raise WeChatError(47001, f"article {index}: title and article_type news|newspic required")
    if not isinstance(content, str) or not content.strip():
        raise WeChatError(44004, f"article {index}")
    author, digest = article.get("author", "") or "", article.get("digest", "") or ""
    source_url = article.get("content_source_url", "") or ""
    _check_limits(index, title, author, digest, content, source_url)
    thumb_url = _check_cover(state, article, article_type, index)
    cleaned = _clean_content(state, content, index)
    return {
        "article_type": article_type,
        "title": title,
        "author": author,
        "digest": digest or _plain_text(cleaned)[:DIGEST_DEFAULT_CHARS],
        "content": cleaned,
        "content_source_url": source_url,
        "thumb_media_id": article.get("thumb_media_id", ""),
        "thumb_url": thumb_url,
        "need_open_comment": _flag(article, "need_open_comment", index),
        "only_fans_can_comment": _flag(article, "only_fans_can_comment", index),
        **{k: article[k] for k in ("pic_crop_235_1", "pic_crop_1_1", "image_info") if k in article},
    }


def _flag(article: dict[str, Any], name: str, index: int) -> int:
    value = article.get(name, 0)
    if value not in (0, 1):
        raise WeChatError(47001, f"article {index}: {name} must be 0 or 1")
    return int(value)


def _check_limits(index: int, title: str, author: Any, digest: Any, content: str, source_url: Any) -> None:
    if len(title) > TITLE_MAX_CHARS:
        raise WeChatError(45003, f"article {index}: title has {len(title)} chars, limit {TITLE_MAX_CHARS}")
    if not isinstance(author, str) or len(author) > AUTHOR_MAX_CHARS:
        raise WeChatError(45110, f"article {index}: author limit {AUTHOR_MAX_CHARS} chars")
    if not isinstance(digest, str) or len(digest) > DIGEST_MAX_CHARS:
        raise WeChatError(45004, f"article {index}: digest limit {DIGEST_MAX_CHARS} chars")
    if len(content) >= CONTENT_MAX_CHARS or len(content.encode("utf-8")) >= CONTENT_MAX_BYTES:
        raise WeChatError(45002, f"article {index}: content has {len(content)} chars, must be < {CONTENT_MAX_CHARS}")
    if not isinstance(source_url, str) or len(source_url.encode("utf-8")) > SOURCE_URL_MAX_BYTES:
        raise WeChatError(45005, f"article {index}: content_source_url limit {SOURCE_URL_MAX_BYTES} bytes")


def _check_cover(state: WeChatState, article: dict[str, Any], article_type: str, index: int) -> str:
    """News needs a permanent thumb_media_id; newspic needs permanent image_media_ids (40007)."""
    with state.lock:
        if article_type == "newspic":
            images = (article.get("image_info") or {}).get("image_list") or []
            wanted = [item.get("image_media_id") for item in images if isinstance(item, dict)]
            if not wanted or any(media_id not in state.materials for media_id in wanted):
                raise WeChatError(40007, f"article {index}: image_info needs permanent image media ids")
            return state.materials[wanted[0]]["url"]
        material = state.materials.get(article.get("thumb_media_id") or "")
        if material is None:
            raise WeChatError(40007, f"article {index}: thumb_media_id {article.get('thumb_media_id')!r}")
        return material["url"]


def _clean_content(state: WeChatState, content: str, index: int) -> str:
    """Remove JS (3.5) and handle <img> whose source this stand-in's uploadimg did not issue."""
    content = SCRIPT_ELEMENT.sub("", content)
    content = START_TAG.sub(lambda tag: JAVASCRIPT_HREF.sub("", EVENT_ATTRIBUTE.sub("", tag.group(0))), content)
    with state.lock:
        issued = {_without_scheme(url) for url in state.uploads}
        mode = state.options.foreign_images

    def check_image(tag: re.Match[str]) -> str:
        sources = [html.unescape(next(v for v in found.groups() if v is not None))
                   for found in IMG_SOURCE.finditer(tag.group(0))]
        foreign = [src for src in sources if _without_scheme(src) not in issued]
        if not foreign and sources:
            return tag.group(0)
        if mode == "strip":
            return ""
        first = (foreign or ["(no src)"])[0]
        raise WeChatError(45166, f"article {index}: image {first!r} was not uploaded with uploadimg")

    return IMG_TAG.sub(check_image, content)


def _without_scheme(url: str) -> str:
    return re.sub(r"^(?:https?:)?//", "", url.strip())


def _plain_text(fragment: str) -> str:
    return " ".join(html.unescape(ANY_TAG.sub(" ", fragment)).split())


# --- publishing (3.4) ------------------------------------------------------------------------

def _add_publish_routes(app: Flask, state: WeChatState) -> None:
    @app.post("/cgi-bin/freepublish/submit")
    def publish_submit():
        _require_publish_permission(state)
        draft = _find_draft(state, _json_body().get("media_id"))
        with state.lock:
            serial = state.next_serial()
            publish_id = str(2247483647 + serial)
            state.jobs[publish_id] = {
                "publish_id": publish_id, "media_id": draft["media_id"], "msg_data_id": str(1000000000 + serial),
                "polls_left": state.options.publish_polls, "final_status": state.options.publish_status,
                "status": 1, "article_id": None,
            }
            if state.options.publish_polls == 0:
                _finish_job(state, state.jobs[publish_id])
        return _ok(publish_id=publish_id, msg_data_id=state.jobs[publish_id]["msg_data_id"])

    @app.post("/cgi-bin/freepublish/get")
    def publish_get():
        _require_publish_permission(state)
        publish_id = str(_json_body().get("publish_id", ""))
        with state.lock:
            job = state.jobs.get(publish_id)
            if job is None:
                raise WeChatError(40007, f"no publish job {publish_id!r}")
            if job["status"] == 1 and job["polls_left"] > 0:
                job["polls_left"] -= 1
            elif job["status"] == 1:
                _finish_job(state, job)
            return _json_answer(_job_answer(state, job))

    @app.post("/cgi-bin/freepublish/batchget")
    def publish_batchget():
        _require_publish_permission(state)
        body = _json_body()
        with state.lock:
            articles = sorted(state.published.values(), key=lambda a: (a["update_time"], a["serial"]), reverse=True)
        items = [{"article_id": a["article_id"], "content": {"news_item": _maybe_without_content(a["news_item"], body)},
                  "update_time": a["update_time"]} for a in _page(articles, body)]
        return _json_answer({"total_count": len(articles), "item_count": len(items), "item": items})

    @app.post("/cgi-bin/freepublish/getarticle")
    def publish_getarticle():
        _require_publish_permission(state)
        article_id = _json_body().get("article_id")
        with state.lock:
            article = state.published.get(article_id) if isinstance(article_id, str) else None
        if article is None:
            raise WeChatError(40007, f"no article {article_id!r}")
        return _json_answer({"news_item": article["news_item"]})

    @app.post("/cgi-bin/clear_quota")
    def clear_quota():
        if _json_body().get("appid") != state.options.app_id:
            raise WeChatError(40013)
        with state.lock:
            state.calls.clear()
        return _ok()


def _require_publish_permission(state: WeChatState) -> None:
    if not state.options.publish_authorized:
        raise WeChatError(48001)


def _finish_job(state: WeChatState, job: dict[str, Any]) -> None:
    """Settle a job on its scripted status; a success moves the draft out of the draft box."""
    job["status"] = job["final_status"]
    draft = state.drafts.get(job["media_id"])
    if job["status"] in (0, 5, 6) and draft is not None:
        article_id = f"sandbox-article-{job['publish_id']}"
        job["article_id"] = article_id
        job["article_urls"] = [f"https://mp.weixin.qq.com/s/sandbox-{job['publish_id']}-{i}"
                               for i in range(1, len(draft["news_item"]) + 1)]
        news_item = [dict(item, url=url, is_deleted=job["status"] == 5)
                     for item, url in zip(draft["news_item"], job["article_urls"])]
        state.published[article_id] = {"article_id": article_id, "news_item": news_item,
                                       "update_time": int(state.now()), "serial": state.next_serial()}
        del state.drafts[job["media_id"]]
    elif draft is not None:
        job["fail_idx"] = list(range(1, len(draft["news_item"]) + 1))
    if state.options.callback_url:
        _post_publish_event(state.options.callback_url, state.options.app_id, _job_answer(state, job), int(state.now()))


def _job_answer(state: WeChatState, job: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"publish_id": job["publish_id"], "publish_status": job["status"],
                              "fail_idx": job.get("fail_idx", [])}
    if job.get("article_id"):
        answer["article_id"] = job["article_id"]
        answer["article_detail"] = {
            "count": len(job["article_urls"]),
            "item": [{"idx": i, "article_url": url} for i, url in enumerate(job["article_urls"], start=1)],
        }
    return answer


def _post_publish_event(url: str, app_id: str, answer: dict[str, Any], moment: int) -> None:
    """PUBLISHJOBFINISH as the platform pushes it (3.4), sent from a thread so the poll answers now."""
    items = "".join(f"<item><idx>{item['idx']}</idx><article_url><![CDATA[{item['article_url']}]]></article_url></item>"
                    for item in answer.get("article_detail", {}).get("item", []))
    xml = (
        f"<xml><ToUserName><![CDATA[gh_sandbox]]></ToUserName><FromUserName><![CDATA[{app_id}]]></FromUserName>"
        f"<CreateTime>{moment}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo>"
        f"<publish_id>{answer['publish_id']}</publish_id><publish_status>{answer['publish_status']}</publish_status>"
        f"<article_id><![CDATA[{answer.get('article_id', '')}]]></article_id>"
        f"<article_detail><count>{answer.get('article_detail', {}).get('count', 0)}</count>{items}</article_detail>"
        f"<fail_idx>{','.join(map(str, answer['fail_idx']))}</fail_idx></PublishEventInfo></xml>"
    )

    def deliver() -> None:
        try:
            requests.post(url, data=xml.encode("utf-8"), headers={"Content-Type": "text/xml"}, timeout=5)
        except requests.RequestException:
            pass  # the platform does not retry a callback we cannot reach either

    threading.Thread(target=deliver, daemon=True).start()


# --- inspection and control ------------------------------------------------------------------

def _add_inspection_routes(app: Flask, state: WeChatState) -> None:
    @app.get("/_sandbox/drafts")
    def sandbox_drafts():
        with state.lock:
            drafts = [{k: v for k, v in d.items() if k != "serial"} for d in state.drafts.values()]
        return jsonify({"drafts": drafts})

    @app.get("/_sandbox/uploads")
    def sandbox_uploads():
        with state.lock:
            return jsonify({"uploads": list(state.uploads.values()), "materials": list(state.materials.values())})

    @app.get("/_sandbox/media/<sha256>")
    def sandbox_media(sha256: str):
        with state.lock:
            data = state.media_bytes.get(sha256)
        if data is None:
            return jsonify({"error": f"no media {sha256}"}), 404
        with Image.open(io.BytesIO(data)) as image:
            mime = Image.MIME.get(image.format or "", "application/octet-stream")
        return Response(data, content_type=mime)

    @app.get("/_sandbox/published")
    def sandbox_published():
        with state.lock:
            published = [{k: v for k, v in a.items() if k != "serial"} for a in state.published.values()]
            jobs = [dict(job) for job in state.jobs.values()]
        return jsonify({"published": published, "jobs": jobs})

    @app.post("/_sandbox/clock")
    def sandbox_clock():
        advance = (request.get_json(silent=True) or {}).get("advance", 0)
        if not isinstance(advance, (int, float)) or advance < 0:
            return jsonify({"ok": False, "error": "advance must be seconds >= 0"}), 400
        with state.lock:
            state.time_offset += advance
            return jsonify({"ok": True, "now": state.now()})

    @app.post("/_sandbox/config")
    def sandbox_config():
        changes = request.get_json(silent=True) or {}
        known = {f.name for f in fields(WeChatOptions)} - {"clock"}
        unknown = sorted(set(changes) - known)
        if unknown:
            return jsonify({"ok": False, "error": f"unknown option(s) {unknown}; known: {sorted(known)}"}), 400
        if isinstance(changes.get("allowed_ips"), list):
            changes["allowed_ips"] = tuple(changes["allowed_ips"])
        updated = replace(state.options, **changes)
        try:
            updated.check()
        except (TypeError, ValueError) as exc:
            return jsonify({"ok": False, "error": str(exc)}), 400
        with state.lock:
            state.options = updated
        return jsonify({"ok": True, "options": {name: getattr(updated, name) for name in sorted(known)}})

    @app.post("/_sandbox/errcodes")
    def sandbox_errcodes():
        rules = (request.get_json(silent=True) or {}).get("rules", [])
        try:
            parsed = [{"match": str(r.get("match", "")), "errcode": int(r["errcode"]),
                       "times": int(r.get("times", 1)), "fired": 0} for r in rules]
        except (AttributeError, KeyError, TypeError, ValueError):
            return jsonify({"ok": False, "error": 'rules: [{"match": str, "errcode": int, "times": int}]'}), 400
        with state.lock:
            state.errcode_rules = parsed
        return jsonify({"ok": True, "rules": len(parsed)})
