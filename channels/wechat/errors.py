"""WeChat's answers mapped to TransientError / PermanentError / UncertainError, in one place: the
transport failure, the HTTP status, the JSON reply and its errcode.

errcodes: https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
access token: https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
quotas (45009, 45011): https://developers.weixin.qq.com/doc/offiaccount/Message_Management/API_Call_Limits.html
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

import requests
from urllib3.exceptions import NewConnectionError

from channels.base import PermanentError, TransientError, UncertainError

TOKEN_ERRCODES = frozenset({40001, 40014, 42001})  # access token errcodes: refresh the token and retry once
MINUTE_QUOTA_RETRY_SECONDS = 60  # 45011: "retry next minute"
BEIJING = timezone(timedelta(hours=8))  # 45009: daily quotas reset at midnight Beijing time
MIN_DAILY_QUOTA_RETRY_SECONDS = 60

# One table for every errcode answer (token, uploads, drafts, publishing). "token": refresh once and
# retry, permanent if it comes back. Codes not listed are permanent, with the platform's errmsg.
ERRCODE_OUTCOMES: dict[int, str] = {
    -1: "transient",  # system busy
    45011: "transient",  # api minute-quota reach limit
    45009: "transient",  # reach max api daily quota limit: retried after midnight Beijing time
    40001: "token",  # invalid credential / access_token not latest
    40014: "token",  # invalid access_token
    42001: "token",  # access_token expired
    40013: "permanent",  # invalid appid
    40125: "permanent",  # invalid appsecret
    40164: "permanent",  # caller IP not in the account's whitelist
    48001: "permanent",  # api unauthorized (e.g. freepublish for unverified accounts since 2025-07)
    40005: "permanent",  # invalid file type
    40009: "permanent",  # invalid image size
    40007: "permanent",  # invalid media_id
    40033: "permanent",  # \uXXXX escapes in the body
    45002: "permanent",  # content size out of limit
    45003: "permanent",  # title size out of limit
    45004: "permanent",  # description (digest) size out of limit
    45110: "permanent",  # author size out of limit
    45166: "permanent",  # invalid content
}

_BAD_URL_ERRORS = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                   requests.exceptions.InvalidSchema)
MAX_CAUSE_DEPTH = 8  # how deep requests' wrapped exceptions are searched for "never connected"


def transport_error(path: str, exc: requests.RequestException, scrub: Callable[[str], str]) -> Exception:
    """The outcome of a request that got no HTTP answer."""
    if isinstance(exc, _BAD_URL_ERRORS):
        return PermanentError(scrub(f"WeChat {path}: bad wechat_api_base: {exc}"))
    if _reached_server(exc):
        return UncertainError(scrub(
            f"WeChat {path}: no answer ({type(exc).__name__}: {exc}); the request may have "
            "been accepted"))
    return TransientError(scrub(f"WeChat {path}: could not connect ({exc})"))


def read_answer(path: str, response: requests.Response, scrub: Callable[[str], str]) -> dict:
    """The JSON answer of an HTTP response; any other status or body raised as its outcome."""
    if response.status_code == 429:
        raise TransientError(f"WeChat {path}: HTTP 429 too many requests",
                             retry_after=_retry_after(response.headers.get("Retry-After")))
    if response.status_code >= 500:
        raise UncertainError(f"WeChat {path}: HTTP {response.status_code} from the gateway; the "
                             "request may have been accepted")
    if response.status_code != 200:
        raise PermanentError(scrub(f"WeChat {path}: HTTP {response.status_code}: {response.text[:300]}"))
    try:
        answer = response.json()
    except ValueError:
        raise UncertainError(f"WeChat {path}: the answer is not JSON; the request may have been "
                             "accepted") from None
    if not isinstance(answer, dict):
        raise UncertainError(f"WeChat {path}: unexpected answer {str(answer)[:200]!r}")
    return answer


def refusal(path: str, answer: dict, scrub: Callable[[str], str]) -> Exception:
    """The outcome of an answer with an errcode (or without the field the call needs)."""
    code = _errcode(answer)
    errmsg = str(answer.get("errmsg", "")) if code else f"unexpected answer {str(answer)[:200]}"
    message = scrub(f"WeChat {path} refused: errcode {code} {errmsg}".rstrip())
    outcome = ERRCODE_OUTCOMES.get(code, "permanent")
    if outcome == "transient":
        if code == 45011:
            return TransientError(message, retry_after=MINUTE_QUOTA_RETRY_SECONDS)
        if code == 45009:
            return TransientError(message, retry_after=_seconds_to_beijing_midnight())
        return TransientError(message)
    if outcome == "token":
        return PermanentError(message + " (again after a fresh access token)")
    return PermanentError(message)


def _seconds_to_beijing_midnight() -> float:
    now = datetime.now(BEIJING)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(MIN_DAILY_QUOTA_RETRY_SECONDS, (midnight - now).total_seconds())


def _reached_server(exc: requests.RequestException) -> bool:
    """False when the request certainly never reached the server (refused, unresolvable, connect
    timeout); True when it may have been read (a read timeout, a connection dropped mid-answer)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if not isinstance(exc, requests.ConnectionError):
        return True
    cause: BaseException | None = exc
    for _ in range(MAX_CAUSE_DEPTH):
        if cause is None:
            break
        if isinstance(cause, (NewConnectionError, ConnectionRefusedError)):
            return False
        cause = _wrapped(cause)
    return True


def _wrapped(exc: BaseException) -> BaseException | None:
    """The exception inside a requests / urllib3 wrapper (MaxRetryError.reason, args, __cause__)."""
    for candidate in (getattr(exc, "reason", None), *exc.args, exc.__cause__, exc.__context__):
        if isinstance(candidate, BaseException):
            return candidate
    return None


def _errcode(answer: dict) -> int:
    code = answer.get("errcode", 0)
    return code if isinstance(code, int) else -1


def _retry_after(header: str | None) -> float | None:
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None
