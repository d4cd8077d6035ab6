"""The stand-in app: the platform routes, each behind OAuth, a per-token rate window and the
scripted faults."""
from __future__ import annotations

import math
import time
from typing import Any, Callable

from flask import Flask, Response, jsonify, request

from publisher.sandbox.common import (
    FaultRule,
    SandboxState,
    add_control_routes,
    describe_request,
    drop_connection,
    quiet_app,
)
from publisher.sandbox.x_api.errors import (
    UNAUTHORIZED, XApiError, _error_json, _json, _not_found, invalid_request, problem,
)
from publisher.sandbox.x_api.limits import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_ACCESS_TOKEN_SECRET,
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RATE_WINDOW_SECS,
    DEFAULT_USER_ID,
    DEFAULT_USER_NAME,
    DEFAULT_USERNAME,
    FIRST_TWEET_ID,
    MEDIA_EXPIRES_AFTER_SECS,
    SNOWFLAKE_MS,
)
from publisher.sandbox.x_api.oauth import authenticate
from publisher.sandbox.x_api.posts import _store_upload, _timeline, _upload_bytes, _validated_tweet
from publisher.sandbox.x_api.state import XAccount, XStore


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
        headers (https://developer.x.com/en/docs/x-api/rate-limits),
        or 429 once the window is used up."""
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
