"""How the platform answers (HTTP 200 and errcode/errmsg with a request id, "encoding=utf-8"),
how its gateway fails (HTML pages), and reading a JSON request body as the platform does."""
from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from flask import Response, request

from publisher.sandbox.common import FaultRule
from publisher.sandbox.wechat_api.limits import ERRMSG
from publisher.sandbox.wechat_api.state import WeChatError, WeChatState

# A JSON \uXXXX escape is a backslash-u preceded by an even number of backslashes; "\\u" is a
# literal backslash followed by u (e.g. a code sample), which WeChat has no reason to refuse.
JSON_UNICODE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")


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


def _json_body(refuse_unicode_escapes: bool = False) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise WeChatError(44002)
    if refuse_unicode_escapes and JSON_UNICODE_ESCAPE.search(raw):
        # Draft_Box/Add_draft.html: the draft API refuses \uXXXX escapes, which requests' json= produces by default.
        raise WeChatError(40033)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WeChatError(47001, "body is not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise WeChatError(47001, "body must be a JSON object")
    return body
