"""The Bot API client: JSON requests to {api_base}/bot{token}/{method}, every outcome a BotReply."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

import requests

from channels.telegram.errors import SENT, BotApiFailure, classify_failure, retry_after_of, scrub
from channels.telegram.payload import _plain
from publisher.config import Settings


@dataclass(frozen=True)
class BotReply:
    """The answer to one request: the Message on success, else the failure and its outcome."""

    outcome: str
    result: Any = None
    failure: BotApiFailure | None = None
    retry_after: float | None = None


class BotApiClient:
    """requests against {api_base}/bot{token}/{method} with JSON bodies
    (https://core.telegram.org/bots/api#making-requests).

    Never raises: every outcome, transport errors included, comes back as a BotReply whose
    texts are already scrubbed of the token.
    """

    def __init__(self, settings: Settings, timeout: tuple[float, float]):
        self.token = settings.telegram_bot_token
        self.base = settings.telegram_api_base.rstrip("/")
        self.chat_id = chat_id_param(settings.telegram_chat_id)
        self.timeout = timeout
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, params: Mapping[str, Any]) -> BotReply:
        body = json.dumps({"chat_id": self.chat_id, **_plain(params)}, ensure_ascii=False).encode("utf-8")
        try:
            response = self.session.post(f"{self.base}/bot{self.token}/{method}", data=body, timeout=self.timeout,
                                         headers={"Content-Type": "application/json"})
        except requests.exceptions.RequestException as exc:
            failure = BotApiFailure(None, scrub(f"{type(exc).__name__}: {exc}", self.token), {}, exc)
            return BotReply(classify_failure(failure), failure=failure)
        envelope = _json_or_none(response)
        if response.status_code == 200 and envelope and envelope.get("ok") is True:
            return BotReply(SENT, result=envelope.get("result"))
        failure = self._failure(response, envelope)
        return BotReply(classify_failure(failure), failure=failure,
                        retry_after=retry_after_of(failure, response.headers))

    def _failure(self, response: requests.Response, envelope: dict[str, Any] | None) -> BotApiFailure:
        if envelope is not None and isinstance(envelope.get("description"), str):
            parameters = envelope.get("parameters")
            return BotApiFailure(response.status_code, scrub(envelope["description"], self.token),
                                 parameters if isinstance(parameters, dict) else {}, from_bot_api=True)
        # Not the Bot API's JSON: e.g. the front end's nginx "502 Bad Gateway" page.
        reason = response.reason or "no Bot API answer"
        return BotApiFailure(response.status_code, scrub(f"{reason} (not a Bot API answer)", self.token), {})


def _json_or_none(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def chat_id_param(chat_id: str) -> int | str:
    """Numeric ids as integers, public chats as "@username" (https://core.telegram.org/bots/api#sendmessage)."""
    chat_id = chat_id.strip()
    return int(chat_id) if re.fullmatch(r"-?\d+", chat_id) else chat_id
