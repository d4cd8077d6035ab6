"""Loopback stand-in of the X API v2 (posts, users) and of the media upload endpoints
(PLATFORMS.md 1.1-1.8), served on one address.

Routes: POST /2/tweets, DELETE /2/tweets/<id>, GET /2/users/me, GET /2/users/<id>/tweets,
POST /1.1/media/upload.json (simple upload), POST /2/media/upload (simple upload);
GET /_sandbox/tweets plus the control routes of common.py.

Clients reach it through `route_session_to(session, base_url)`: tweepy hard-codes
https://api.twitter.com (1.2), so an adapter rewrites the URL and keeps the signed one in
`X-Original-URL`, over which the OAuth 1.0a signature is verified.

Faults (common.py rules) hit every platform route: "429" (X's problem body and x-rate-limit-*
headers), "500"/"502"/"503" (problem body), "expire_token" (401), "drop" (connection closed),
"timeout" (sleeps `delay`, then answers 504 without processing; with "after" the request is
processed, then the normal answer comes `delay` seconds late). With "after": true the request is
processed and stored first, then the fault answers.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests
from flask import Flask, Response, jsonify, request
from PIL import Image, UnidentifiedImageError
from twitter_text import parse_tweet

from publisher.sandbox.common import (
    FaultRule,
    SandboxState,
    add_control_routes,
    describe_request,
    drop_connection,
    quiet_app,
)

DEFAULT_CONSUMER_KEY = "sandbox-consumer-key"
DEFAULT_CONSUMER_SECRET = "sandbox-consumer-secret"
DEFAULT_USER_ID = "1500000000000000001"
DEFAULT_ACCESS_TOKEN = f"{DEFAULT_USER_ID}-sandbox-access-token"
DEFAULT_ACCESS_TOKEN_SECRET = "sandbox-access-token-secret"
DEFAULT_USER_NAME = "Sandbox Newsletter"
DEFAULT_USERNAME = "sandbox_news"
# Real POST /2/tweets allows 100 per 15 min per user on paid tiers (1.6); the default is generous
# so tests never trip it by accident. Both are per user token and per endpoint.
DEFAULT_RATE_LIMIT = 1000
DEFAULT_RATE_WINDOW_SECS = 900
MEDIA_EXPIRES_AFTER_SECS = 86400  # 1.4: simple-upload "expires_after_secs"
MAX_MEDIA_PER_POST = 4  # 1.1: at most 4 photos per post
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # v1.1 simple upload: images up to 5 MB
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
TIMELINE_MAX_RESULTS = (5, 100)  # GET /2/users/:id/tweets max_results bounds, default 10
FIRST_TWEET_ID = 1_881_000_000_000_000_000  # 19-digit snowflake-like ids, as X issues
FIRST_MEDIA_ID = 1_880_000_000_000_000_000
SNOWFLAKE_MS = 1 << 22  # one millisecond in a snowflake: ids increase like real ones
X_HOSTS = ("https://api.twitter.com", "https://upload.twitter.com", "https://api.x.com", "https://upload.x.com")
PROBLEMS = "https://api.twitter.com/2/problems/"


class XApiError(Exception):
    """An answer the platform gives instead of a result."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}


def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> XApiError:
    """RFC 7807 body as X v2 sends it (1.5)."""
    return XApiError(status, {"title": title, "detail": detail, "type": type_, "status": status})


def invalid_request(message: str, parameters: dict[str, list[Any]]) -> XApiError:
    return XApiError(400, {
        "errors": [{"parameters": parameters, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    })


UNAUTHORIZED = ("Unauthorized", "Unauthorized")
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
APP_ONLY_DETAIL = (
    "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
    "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."
)


@dataclass
class XAccount:
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str
    oauth2_user_token: str | None
    user: dict[str, str]


@dataclass
class XStore:
    """Everything the stand-in remembers; guarded by SandboxState.lock."""

    tweets: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # -> [start, used]

    def clear(self) -> None:
        self.tweets.clear()
        self.media.clear()
        self.windows.clear()

    def tweet(self, tweet_id: str) -> dict[str, Any] | None:
        return next((t for t in self.tweets if t["id"] == tweet_id and not t["deleted"]), None)


# ---------------------------------------------------------------- client side: reaching the stand-in

class SandboxAdapter(requests.adapters.HTTPAdapter):
    """Sends requests meant for an X host to `base_url`; the URL the client signed goes along in
    `X-Original-URL` (PLATFORMS.md 1.2). `timeout` applies when the client sets none (tweepy.Client
    never does)."""

    def __init__(self, base_url: str, timeout: float | tuple[float, float] | None = None):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        original = request.url or ""
        parts = urlsplit(original)
        request.headers["X-Original-URL"] = original
        request.url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def route_session_to(session: requests.Session, base_url: str,
                     timeout: float | tuple[float, float] | None = None) -> None:
    """Point every X host used by tweepy (and the v2 upload host) at `base_url`."""
    for host in X_HOSTS:
        session.mount(host, SandboxAdapter(base_url, timeout))


# ---------------------------------------------------------------- OAuth 1.0a (RFC 5849 section 3.4)

def _pct(value: str) -> str:
    return quote(value, safe="~")


def _oauth_header_params(header: str) -> dict[str, str]:
    return {unquote(k): unquote(v) for k, v in re.findall(r'([\w.-]+)="([^"]*)"', header[len("OAuth "):])}


def _base_string_uri(url: str) -> str:
    parts = urlsplit(url)
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def oauth1_signature(method: str, url: str, oauth: dict[str, str], form: list[tuple[str, str]],
                     consumer_secret: str, token_secret: str) -> str:
    """HMAC-SHA1 over method, base URI and the query, oauth_* and form-urlencoded parameters
    (JSON and multipart bodies are not signed, 1.3)."""
    params = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    params += [(k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")]
    params += form
    normalized = "&".join(f"{k}={v}" for k, v in sorted((_pct(k), _pct(v)) for k, v in params))
    base = "&".join((method.upper(), _pct(_base_string_uri(url)), _pct(normalized)))
    key = f"{_pct(consumer_secret)}&{_pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


def _signed_url() -> str:
    original = request.headers.get("X-Original-URL")
    if original:
        return original
    raw = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
    return f"{request.scheme}://{request.host}{raw}"


def authenticate(account: XAccount) -> str:
    """The user token of a properly signed request, or XApiError 401/403 (1.3, 1.5)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header[len("Bearer "):].strip()
        if account.oauth2_user_token and hmac.compare_digest(token, account.oauth2_user_token):
            return token
        raise problem(403, "Unsupported Authentication", APP_ONLY_DETAIL, PROBLEMS + "unsupported-authentication")
    if not header.startswith("OAuth "):
        raise problem(401, *UNAUTHORIZED)
    oauth = _oauth_header_params(header)
    if (oauth.get("oauth_consumer_key") != account.consumer_key or oauth.get("oauth_token") != account.access_token
            or oauth.get("oauth_signature_method") != "HMAC-SHA1"):
        raise problem(401, *UNAUTHORIZED)
    form = list(request.form.items(multi=True)) if request.mimetype == "application/x-www-form-urlencoded" else []
    expected = oauth1_signature(request.method, _signed_url(), oauth, form,
                                account.consumer_secret, account.access_token_secret)
    if not hmac.compare_digest(expected, oauth.get("oauth_signature", "")):
        raise problem(401, *UNAUTHORIZED)
    return account.access_token


# ---------------------------------------------------------------- the app

def make_app(
    *,
    consumer_key: str = DEFAULT_CONSUMER_KEY,
    consumer_secret: str = DEFAULT_CONSUMER_SECRET,
    access_token: str = DEFAULT_ACCESS_TOKEN,
    access_token_secret: str = DEFAULT_ACCESS_TOKEN_SECRET,
    oauth2_user_token: str | None = None,
    user_id: str = DEFAULT_USER_ID,
    user_name: str = DEFAULT_USER_NAME,
    username: str = DEFAULT_USERNAME,
    rate_limit: int = DEFAULT_RATE_LIMIT,
    rate_window_secs: float = DEFAULT_RATE_WINDOW_SECS,
    media_expires_after_secs: int = MEDIA_EXPIRES_AFTER_SECS,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """The X stand-in. `clock` drives rate windows, media expiry and created_at."""
    app = quiet_app("sandbox_x")
    app.json.sort_keys = False
    state = SandboxState()
    store = XStore()
    account = XAccount(consumer_key, consumer_secret, access_token, access_token_secret, oauth2_user_token,
                       {"id": user_id, "name": user_name, "username": username})
    app.extensions["sandbox"] = state
    app.extensions["sandbox_x"] = store
    add_control_routes(app, state, on_reset=lambda: _locked(state, store.clear))

    def take_rate_limit(token: str, endpoint: str) -> dict[str, str]:
        """Count one request in this token's fixed window for the endpoint; the x-rate-limit-*
        headers (1.5), or 429 once the window is used up."""
        now = clock()
        window = store.windows.get((token, endpoint))
        if window is None or now >= window[0] + rate_window_secs:
            window = store.windows[(token, endpoint)] = [now, 0]
        headers = {"x-rate-limit-limit": str(rate_limit),
                   "x-rate-limit-reset": str(math.ceil(window[0] + rate_window_secs))}
        if window[1] >= rate_limit:
            headers["x-rate-limit-remaining"] = "0"
            raise XApiError(429, problem(429, "Too Many Requests", "Too Many Requests").body, headers)
        window[1] += 1
        headers["x-rate-limit-remaining"] = str(max(rate_limit - int(window[1]), 0))
        return headers

    def fault_response(rule: FaultRule, processed: Response | None) -> Response:
        if rule.kind == "drop":
            return drop_connection()
        if rule.kind == "timeout":
            time.sleep(rule.delay)
            if processed is not None:
                return processed
            return _error_json(problem(504, "Gateway Timeout", "Gateway Timeout"))
        if rule.kind == "429":
            reset = math.ceil(clock() + rule.retry_after)
            headers = {"x-rate-limit-limit": str(rate_limit), "x-rate-limit-remaining": "0",
                       "x-rate-limit-reset": str(reset)}
            return _json(429, problem(429, "Too Many Requests", "Too Many Requests").body, headers)
        if rule.kind == "expire_token":
            return _error_json(problem(401, *UNAUTHORIZED))
        reason = {"500": "Internal Server Error", "502": "Bad Gateway", "503": "Service Unavailable"}[rule.kind]
        return _error_json(problem(int(rule.kind), reason, reason))

    def platform_route(rule: str, methods: list[str], endpoint: str):
        def register(handler: Callable[..., tuple[int, dict[str, Any], dict[str, str]]]):
            def view(**kwargs: Any) -> Response:
                state.record(describe_request())
                fault = state.next_fault(request.path)
                if fault and not fault.after:
                    return fault_response(fault, None)
                with state.lock:
                    response = answer(handler, endpoint, kwargs)
                return fault_response(fault, response) if fault else response

            app.add_url_rule(rule, endpoint, view, methods=methods)
            return handler
        return register

    def answer(handler: Callable[..., Any], endpoint: str, kwargs: dict[str, Any]) -> Response:
        headers: dict[str, str] = {}
        try:
            token = authenticate(account)
            headers = take_rate_limit(token, endpoint)
            status, body, extra = handler(**kwargs)
            return _json(status, body, {**headers, **extra})
        except XApiError as error:
            return _json(error.status, error.body, {**headers, **error.headers})

    @platform_route("/2/tweets", ["POST"], "create_tweet")
    def create_tweet() -> tuple[int, dict[str, Any], dict[str, str]]:
        tweet = _validated_tweet(request.get_json(silent=True), store, account, media_expires_after_secs, clock())
        tweet["id"] = str(FIRST_TWEET_ID + len(store.tweets) * SNOWFLAKE_MS)
        tweet["edit_history_tweet_ids"] = [tweet["id"]]
        parent = store.tweet(tweet["in_reply_to_tweet_id"] or "")
        tweet["conversation_id"] = parent["conversation_id"] if parent else tweet["id"]
        store.tweets.append(tweet)
        data = {"id": tweet["id"], "text": tweet["text"], "edit_history_tweet_ids": tweet["edit_history_tweet_ids"]}
        return 201, {"data": data}, {"Location": f"https://api.twitter.com/2/tweets/{tweet['id']}"}

    @platform_route("/2/tweets/<tweet_id>", ["DELETE"], "delete_tweet")
    def delete_tweet(tweet_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        tweet = store.tweet(tweet_id)
        if tweet is None or tweet["author_id"] != account.user["id"]:
            raise _not_found("tweet", "id", tweet_id)
        tweet["deleted"] = True
        return 200, {"data": {"deleted": True}}, {}

    @platform_route("/2/users/me", ["GET"], "users_me")
    def users_me() -> tuple[int, dict[str, Any], dict[str, str]]:
        return 200, {"data": dict(account.user)}, {}

    @platform_route("/2/users/<user_id>/tweets", ["GET"], "user_tweets")
    def user_tweets(user_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        if user_id != account.user["id"]:
            return 200, {"errors": [_not_found("user", "id", user_id).body]}, {}
        return 200, _timeline(store, user_id), {}

    @platform_route("/1.1/media/upload.json", ["POST"], "media_upload_v1")
    def media_upload_v1() -> tuple[int, dict[str, Any], dict[str, str]]:
        def refuse(message: str) -> XApiError:
            return XApiError(400, {"request": "/1.1/media/upload.json", "error": message})

        if request.form.get("command"):
            raise refuse("chunked upload is not implemented by the sandbox.")
        media = _store_upload(store, _upload_bytes(), request.form.get("media_category"), clock(),
                              media_expires_after_secs, refuse)
        body: dict[str, Any] = {"media_id": int(media["id"]), "media_id_string": media["id"], "size": media["size"],
                                "expires_after_secs": media_expires_after_secs,
                                "image": {"image_type": media["type"], "w": media["w"], "h": media["h"]}}
        if media["category"]:
            body["media_key"] = media["media_key"]
        return 200, body, {}

    @platform_route("/2/media/upload", ["POST"], "media_upload_v2")
    def media_upload_v2() -> tuple[int, dict[str, Any], dict[str, str]]:
        def refuse(message: str) -> XApiError:
            return invalid_request(message, {"media": []})

        media = _store_upload(store, _upload_bytes(), request.form.get("media_category") or "tweet_image", clock(),
                              media_expires_after_secs, refuse)
        return 200, {"data": {"id": media["id"], "media_key": media["media_key"],
                              "expires_after_secs": media_expires_after_secs, "size": media["size"]}}, {}

    @app.get("/_sandbox/tweets")
    def sandbox_tweets() -> Response:
        with state.lock:
            return jsonify({"tweets": [dict(t) for t in store.tweets]})

    return app


def _locked(state: SandboxState, action: Callable[[], None]) -> None:
    with state.lock:
        action()


def _json(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def _error_json(error: XApiError) -> Response:
    return _json(error.status, error.body, error.headers)


def _not_found(resource: str, parameter: str, value: str) -> XApiError:
    return XApiError(404, {
        "value": value, "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error", "resource_type": resource, "parameter": parameter, "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    })


def _validated_tweet(body: Any, store: XStore, account: XAccount, media_ttl: float, now: float) -> dict[str, Any]:
    """The post to store, or the error X answers for this body (1.1, 1.5, 1.7)."""
    if not isinstance(body, dict):
        raise invalid_request("Request body must be a JSON object.", {"body": []})
    text = body.get("text") or ""
    media_ids = [str(m) for m in (body.get("media") or {}).get("media_ids") or []]
    reply_to = str((body.get("reply") or {}).get("in_reply_to_tweet_id") or "") or None
    if not isinstance(text, str) or (not text and not media_ids):
        raise invalid_request("Post text is required when no media is attached.", {"text": [text]})
    if len(media_ids) > MAX_MEDIA_PER_POST:
        raise invalid_request(f"[media.media_ids] size must be between 1 and {MAX_MEDIA_PER_POST}.",
                              {"media.media_ids": media_ids})
    for media_id in media_ids:
        media = store.media.get(media_id)
        if media is None or now >= media["created"] + media_ttl:
            raise invalid_request("Your media IDs are invalid.", {"media.media_ids": media_ids})
    if reply_to is not None and store.tweet(reply_to) is None:
        raise invalid_request("The Tweet you are replying to has been deleted or is not visible to you.",
                              {"reply.in_reply_to_tweet_id": [reply_to]})
    if text and not parse_tweet(text).valid:
        raise problem(403, "Forbidden", "You are not permitted to create a Tweet with more than 280 weighted "
                      "characters or with invalid characters.")
    author = account.user["id"]
    if text and any(t["text"] == text and t["author_id"] == author and not t["deleted"] for t in store.tweets):
        raise problem(403, "Forbidden", DUPLICATE_DETAIL)
    created_at = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"text": text, "author_id": author, "created_at": created_at, "in_reply_to_tweet_id": reply_to,
            "media_ids": media_ids, "deleted": False}


def _timeline(store: XStore, user_id: str) -> dict[str, Any]:
    """GET /2/users/:id/tweets: newest first, default fields plus the tweet.fields asked for."""
    raw_max = request.args.get("max_results", "10")
    low, high = TIMELINE_MAX_RESULTS
    if not raw_max.isdigit() or not low <= int(raw_max) <= high:
        raise invalid_request(f"The `max_results` query parameter value [{raw_max}] is not between {low} and {high}",
                              {"max_results": [raw_max]})
    wanted = set(filter(None, request.args.get("tweet.fields", "").split(",")))
    posts = [t for t in reversed(store.tweets) if t["author_id"] == user_id and not t["deleted"]]
    token = request.args.get("pagination_token", "")
    start = int(token[len("page"):]) if token.startswith("page") and token[4:].isdigit() else 0
    page = posts[start:start + int(raw_max)]
    meta: dict[str, Any] = {"result_count": len(page)}
    if page:
        meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
    if start + len(page) < len(posts):
        meta["next_token"] = f"page{start + len(page)}"
    if start:
        meta["previous_token"] = f"page{max(start - int(raw_max), 0)}"
    body: dict[str, Any] = {"data": [_public_tweet(t, wanted, store) for t in page]} if page else {}
    body["meta"] = meta
    return body


_LINK = re.compile(r"https?://\S+")


def _as_x_shows(tweet: dict[str, Any]) -> str:
    """A post's text as X answers reads: &, < and > escaped, every link a t.co link, and one more
    t.co link for attached media (https://developer.x.com/en/docs/x-api/data-dictionary/object-model/tweet)."""
    text = _LINK.sub(lambda m: "https://t.co/" + hashlib.sha256(m.group(0).encode()).hexdigest()[:10], tweet["text"])
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if tweet["media_ids"]:
        text += f" https://t.co/m{tweet['id'][-9:]}"
    return text


def _public_tweet(tweet: dict[str, Any], wanted: set[str], store: XStore) -> dict[str, Any]:
    public = {"id": tweet["id"], "text": _as_x_shows(tweet), "edit_history_tweet_ids": tweet["edit_history_tweet_ids"]}
    reply_to, media_ids = tweet["in_reply_to_tweet_id"], tweet["media_ids"]
    optional = {
        "author_id": tweet["author_id"],
        "created_at": tweet["created_at"],
        "conversation_id": tweet["conversation_id"],
        "attachments": {"media_keys": [store.media[m]["media_key"] for m in media_ids]} if media_ids else None,
        "referenced_tweets": [{"type": "replied_to", "id": reply_to}] if reply_to else None,
        "in_reply_to_user_id": tweet["author_id"] if reply_to else None,
    }
    public.update({k: v for k, v in optional.items() if k in wanted and v is not None})
    return public


def _upload_bytes() -> bytes | None:
    upload = request.files.get("media")
    if upload is not None:
        return upload.read()
    encoded = request.form.get("media_data")
    return base64.b64decode(encoded) if encoded else None


def _store_upload(store: XStore, data: bytes | None, category: str | None, now: float, ttl: float,
                  refuse: Callable[[str], XApiError]) -> dict[str, Any]:
    """Decode the image with Pillow and remember it; non-images are refused (1.4)."""
    if not data:
        raise refuse("media parameter is missing.")
    if len(data) > MAX_IMAGE_BYTES:
        raise refuse(f"File size exceeds {MAX_IMAGE_BYTES} bytes.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format, image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise refuse("media type unrecognized.") from None
    if image_format not in IMAGE_FORMATS:
        raise refuse("media type unrecognized.")
    media_id = str(FIRST_MEDIA_ID + len(store.media) * SNOWFLAKE_MS)
    media = {"id": media_id, "media_key": f"3_{media_id}", "size": len(data), "type": IMAGE_FORMATS[image_format],
             "w": width, "h": height, "category": category, "created": now}
    store.media[media_id] = media
    return media
