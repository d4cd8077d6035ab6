"""The Bot API error table: what happened to a request -> sent, plain text, transient, permanent or
uncertain (https://core.telegram.org/bots/api#making-requests), retry-after, and token scrubbing."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import quote

import requests
import urllib3


# Outcomes of one Bot API request.
SENT = "sent"                # ok: true; the platform accepted the message
PLAIN_TEXT = "plain_text"    # our HTML was refused; this one message is retried once without it
TRANSIENT = "transient"      # not accepted, try later (TransientError; part failed retryably)
PERMANENT = "permanent"      # refused for good (PermanentError; part failed)
UNCERTAIN = "uncertain"      # may have been accepted (UncertainError; part uncertain)


@dataclass(frozen=True)
class BotApiFailure:
    """Everything known about a request that did not return ok: true."""

    status: int | None  # HTTP status; None when no answer arrived
    description: str  # the platform's own words (scrubbed), or the transport error (scrubbed)
    parameters: Mapping[str, Any]  # the envelope's `parameters` (retry_after, migrate_to_chat_id)
    exception: BaseException | None = None  # the requests exception when no answer arrived
    from_bot_api: bool = False  # the answer was the Bot API's own {"ok": false, ...} envelope


@dataclass(frozen=True)
class ErrorRule:
    matches_what: str  # for people reading the table
    outcome: str
    matches: Callable[[BotApiFailure], bool]


def _never_left(exc: BaseException | None) -> bool:
    """True when the request cannot have reached Telegram: connect timeout, refused, DNS.

    requests wraps urllib3's NewConnectionError/NameResolutionError (both ConnectTimeoutError
    subclasses) inside a ConnectionError, the same class it uses for a connection dropped after
    the request was sent, so the cause is read from the chain rather than from the class.
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
        if isinstance(current, urllib3.exceptions.ConnectTimeoutError):
            return True
        pending += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                                *current.args) if isinstance(e, BaseException)]
    return False


def _description(failure: BotApiFailure) -> str:
    return failure.description.lower()


# The error table (https://core.telegram.org/bots/api#making-requests): the first matching row
# decides. It branches on what happened to the request, then on HTTP status + description; never on
# `error_code` (documented as "subject to change") and never on exception ancestry alone. Anything
# no row matches (a 3xx, a 200 that is not JSON) is treated as UNCERTAIN: the request did reach
# Telegram.
ERROR_TABLE: tuple[ErrorRule, ...] = (
    ErrorRule("connect timeout, connection refused, DNS failure: the request never left",
              TRANSIENT, lambda f: _never_left(f.exception)),
    ErrorRule("a base URL requests cannot use (a configuration mistake)", PERMANENT,
              lambda f: isinstance(f.exception, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                                                 requests.exceptions.InvalidSchema))),
    ErrorRule("read timeout, dropped connection, broken answer: sent, outcome unknown", UNCERTAIN,
              lambda f: f.exception is not None),
    ErrorRule("parameters.migrate_to_chat_id: the group became a supergroup with a new id", PERMANENT,
              lambda f: "migrate_to_chat_id" in f.parameters),
    ErrorRule("429 Too Many Requests (parameters.retry_after)", TRANSIENT, lambda f: f.status == 429),
    ErrorRule("400 can't parse entities: our HTML was refused", PLAIN_TEXT,
              lambda f: f.status == 400 and "can't parse entities" in _description(f)),
    ErrorRule("other 400 (chat not found, message is too long, ...), 401/404 bad token, 403 not allowed",
              PERMANENT, lambda f: f.status is not None and 400 <= f.status < 500),
    # The Bot API answers {"ok": false} only when the method failed ("ok ... false, the request was
    # unsuccessful", core.telegram.org/bots/api#making-requests): nothing was posted, so retrying
    # cannot duplicate. Only an answer that is not the Bot API's own is left uncertain.
    ErrorRule("5xx answered by the Bot API itself ({\"ok\": false}): the method failed", TRANSIENT,
              lambda f: f.status is not None and 500 <= f.status < 600 and f.from_bot_api),
    ErrorRule("5xx not from the Bot API (the front end's 502 HTML page)", UNCERTAIN,
              lambda f: f.status is not None and 500 <= f.status < 600),
)

# What a person should check, by HTTP status (descriptions are just "Unauthorized"/"Forbidden").
STATUS_HINTS = {
    401: "check PUBLISHER_TELEGRAM_BOT_TOKEN",
    404: "check PUBLISHER_TELEGRAM_BOT_TOKEN (malformed token) and PUBLISHER_TELEGRAM_API_BASE",
    403: "add the bot to the chat as an admin allowed to post",
}


def classify_failure(failure: BotApiFailure) -> str:
    return next((rule.outcome for rule in ERROR_TABLE if rule.matches(failure)), UNCERTAIN)


def failure_text(failure: BotApiFailure) -> str:
    """One line: the platform's description, its HTTP status and, where useful, what to check."""
    if failure.status is None:
        return failure.description
    text = f"{failure.description} (HTTP {failure.status})"
    if "migrate_to_chat_id" in failure.parameters:
        text += (f"; the chat moved to id {failure.parameters['migrate_to_chat_id']}: "
                 "set PUBLISHER_TELEGRAM_CHAT_ID to it")
    elif failure.status in STATUS_HINTS:
        text += f"; {STATUS_HINTS[failure.status]}"
    return text


def retry_after_of(failure: BotApiFailure, headers: Mapping[str, str] | None = None) -> float | None:
    value = failure.parameters.get("retry_after")
    if value is None and headers is not None:
        value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# --- secrets ---

def scrub(text: str, token: str) -> str:
    """`text` without the bot token: requests puts the URL, and so the token, in its errors."""
    if token:
        secret = token.split(":", 1)[-1]
        for form in {token, quote(token, safe=""), secret}:
            if form:
                text = text.replace(form, "<token>")
    return re.sub(r"/bot[^/\s'\"]+/", "/bot<token>/", text)
