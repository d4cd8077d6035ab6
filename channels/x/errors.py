"""Delivery: X's answers and failures -> outcomes (the error table), retry-after, scrubbing.

tweepy's exceptions: https://github.com/tweepy/tweepy/blob/c05ba98/tweepy/errors.py; rate-limit
headers: https://docs.x.com/x-api/fundamentals/rate-limits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import requests
import tweepy
import urllib3

# 403 detail of a repeated text: "You are not allowed to create a Tweet with duplicate content."
# (X documents no wording; as reported in https://github.com/sferik/x-ruby/issues/24)
DUPLICATE_MARK = "duplicate content"

# Outcomes of one request.
TRANSIENT = "transient"      # not accepted, try later (TransientError; part failed retryably)
PERMANENT = "permanent"      # refused for good (PermanentError; part failed)
CREDENTIALS = "credentials"  # 401: X refused the keys (PermanentError naming the settings)
DUPLICATE = "duplicate"      # 403 duplicate content: maybe ours from an earlier attempt; look it up
UNCERTAIN = "uncertain"      # may have been accepted (UncertainError; part uncertain)


@dataclass(frozen=True)
class XFailure:
    """Everything known about a request that did not succeed."""

    status: int | None  # HTTP status; None when no answer arrived
    message: str  # X's own words ("detail" / errors[].message), or the transport error
    exception: BaseException  # tweepy's HTTPException, or the requests error
    headers: Mapping[str, str]


@dataclass(frozen=True)
class ErrorRule:
    matches_what: str  # for people reading the table
    outcome: str
    matches: Callable[[XFailure], bool]


def failure_of(exc: BaseException) -> XFailure | None:
    """The failure `exc` reports, or None for an exception that is not about the request (a bug)."""
    if isinstance(exc, tweepy.HTTPException):
        response = exc.response
        words = [str(m) for m in exc.api_messages] or [f"{response.status_code} {response.reason}"]
        return XFailure(response.status_code, "; ".join(words), exc, response.headers)
    transport = _transport_error(exc)
    if transport is None:
        return None
    return XFailure(None, f"{type(transport).__name__}: {transport}", transport, {})


def _transport_error(exc: BaseException | None) -> requests.RequestException | None:
    # tweepy.API wraps requests' errors in TweepyException("Failed to send request: ...") raised
    # inside the except block, so the original is its __context__; tweepy.Client does not wrap.
    while exc is not None:
        if isinstance(exc, requests.RequestException):
            return exc
        exc = exc.__context__ if isinstance(exc, tweepy.TweepyException) else None
    return None


def _never_left(exc: BaseException) -> bool:
    """True when the request cannot have reached X: connect timeout, refused, DNS failure.

    requests raises the same ConnectionError class for a refused connection and for one dropped
    after the request was sent, so the cause is read from urllib3's chain, not from the class.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.ConnectTimeoutError):  # NewConnectionError included
            return True
        pending += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                                *current.args) if isinstance(e, BaseException)]
    return False


# The first matching row decides. tweepy raises one class per status (400 BadRequest, 401
# Unauthorized, 403 Forbidden, 404 NotFound, 429 TooManyRequests, >=500 TwitterServerError;
# https://github.com/tweepy/tweepy/blob/c05ba98/tweepy/client.py); the rows read the status itself
# rather than rely on class ancestry.
# Anything no row matches (a 3xx, a 2xx without an id) did reach X: UNCERTAIN.
ERROR_TABLE: tuple[ErrorRule, ...] = (
    ErrorRule("connect timeout, connection refused, DNS failure: the request never left",
              TRANSIENT, lambda f: f.status is None and _never_left(f.exception)),
    ErrorRule("a base URL requests cannot use (a configuration mistake)", PERMANENT,
              lambda f: isinstance(f.exception, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                                                 requests.exceptions.InvalidSchema))),
    ErrorRule("read timeout, dropped connection, broken answer: sent, outcome unknown", UNCERTAIN,
              lambda f: f.status is None),
    ErrorRule("429 Too Many Requests (x-rate-limit-reset)", TRANSIENT, lambda f: f.status == 429),
    ErrorRule("401 Unauthorized: the keys or tokens are wrong or revoked", CREDENTIALS, lambda f: f.status == 401),
    ErrorRule("403 duplicate content: the same text is already on the account", DUPLICATE,
              lambda f: f.status == 403 and DUPLICATE_MARK in f.message.lower()),
    ErrorRule("other 4xx: 400 invalid request or media, 403 not allowed / too long, 404", PERMANENT,
              lambda f: f.status is not None and 400 <= f.status < 500),
    ErrorRule("5xx: X may have accepted the request", UNCERTAIN, lambda f: f.status is not None and f.status >= 500),
)


def classify_failure(failure: XFailure) -> str:
    return next((rule.outcome for rule in ERROR_TABLE if rule.matches(failure)), UNCERTAIN)


def failure_text(failure: XFailure) -> str:
    return failure.message if failure.status is None else f"{failure.message} (HTTP {failure.status})"


def retry_after_of(failure: XFailure, now: float) -> float | None:
    """Seconds until x-rate-limit-reset (unix seconds; tweepy reads only this header,
    https://docs.x.com/x-api/fundamentals/rate-limits), at least 1."""
    reset = failure.headers.get("x-rate-limit-reset")
    try:
        return max(1.0, float(reset) - now) if reset is not None else None
    except ValueError:
        return None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without any credential (none is expected in X's answers; this makes sure)."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "<secret>")
    return text
