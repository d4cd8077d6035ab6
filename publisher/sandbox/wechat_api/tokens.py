"""/cgi-bin/token and /cgi-bin/stable_token:
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html and
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html"""
from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask, request

from publisher.sandbox.wechat_api.answers import _json_answer, _json_body
from publisher.sandbox.wechat_api.checks import _quota_buckets
from publisher.sandbox.wechat_api.limits import (
    FORCE_REFRESH_MIN_GAP,
    FORCE_REFRESH_PER_DAY,
    STABLE_TOKEN_ROTATE_EARLY,
    TOKEN_OVERLAP_SECONDS,
)
from publisher.sandbox.wechat_api.state import IssuedToken, WeChatError, WeChatState


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
    # The old stable token keeps its own expiry, so old and new overlap.
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
