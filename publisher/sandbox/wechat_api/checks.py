"""What happens to every /cgi-bin/ call before its route runs: scripted faults, the access
token, the per-minute and per-day quotas, scripted errcodes (and the faults that answer after)."""
from __future__ import annotations

import re
import time

from flask import Flask, Response, g, request

from publisher.sandbox.common import FaultRule, describe_request, drop_connection
from publisher.sandbox.wechat_api.answers import _error_answer, _gateway_fault
from publisher.sandbox.wechat_api.limits import BEIJING_OFFSET
from publisher.sandbox.wechat_api.state import WeChatError, WeChatState

TOKEN_ROUTES = frozenset({"/cgi-bin/token", "/cgi-bin/stable_token"})
TOKEN_SHAPE = re.compile(r"[0-9A-Za-z_-]{64,512}")


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
