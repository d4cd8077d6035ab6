"""The WeChat API client: the access token shared through the store, raw UTF-8 JSON bodies, and
every failure turned into an outcome by errors.py.

access token: https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
"""
from __future__ import annotations

import json
import re
from typing import Any

import requests

from channels.base import TransientError, UncertainError
from channels.wechat.errors import (
    TOKEN_ERRCODES,
    _errcode,
    read_answer,
    refusal,
    transport_error,
)
from channels.wechat.parts import sha256_of
from publisher.config import Settings

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
DEFAULT_TIMEOUTS = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)

# The platform rotates a stable token 5 minutes before it expires; we stop using it then.
TOKEN_EXPIRY_MARGIN_SECONDS = 300

_ACCESS_TOKEN_IN_TEXT = re.compile(r"(access_token=)[^&\s'\"]+")
# json.dumps writes these as \u00XX even with ensure_ascii=False, and WeChat refuses \u escapes
# with 40033 (https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html);
# lone surrogates cannot be encoded as UTF-8 at all.
_UNSENDABLE_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}

_sha256 = sha256_of

def sendable_text(value: Any) -> Any:
    """`value` with every string stripped of the characters JSON would send as \\u escapes."""
    if isinstance(value, str):
        return _UNSENDABLE_CHARACTERS.sub("", value)
    if isinstance(value, dict):
        return {key: sendable_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [sendable_text(item) for item in value]
    return value


def json_body_bytes(body: dict) -> bytes:
    """Raw UTF-8 JSON, never \\uXXXX escapes (requests' json= would make WeChat answer 40033)."""
    return json.dumps(sendable_text(body), ensure_ascii=False).encode("utf-8")


class WechatClient:
    """requests against settings.wechat_api_base: the access token shared through the store,
    raw UTF-8 JSON, and every failure turned into TransientError / PermanentError / UncertainError
    by one table (errors.py), with the token and the app secret scrubbed from every message."""

    def __init__(self, settings: Settings, store: Any, timeouts: tuple[float, float] = DEFAULT_TIMEOUTS):
        self.settings = settings
        self.base = settings.wechat_api_base.rstrip("/")
        self.app_id = settings.wechat_app_id
        self._secret = settings.wechat_app_secret
        self.store = store
        self.timeouts = timeouts
        self.token_key = f"wechat:{self.app_id}"
        self._known_tokens: set[str] = set()
        self.session = requests.Session()

    # messages

    def scrub(self, text: str) -> str:
        text = _ACCESS_TOKEN_IN_TEXT.sub(r"\1***", text)
        for secret in (self._secret, *self._known_tokens):
            if secret:
                text = text.replace(secret, "***")
        return text

    # the platform's calls

    def call(self, path: str, body: dict | None = None, *, params: dict | None = None,
             files: dict | None = None, accept: frozenset[int] = frozenset()) -> dict:
        """One API call with the shared access token. On a token errcode the token is evicted, a
        fresh one fetched once and the call repeated once. Errcodes in `accept` are returned."""
        token = self.access_token()
        answer = self._post(path, token, body, params, files)
        if _errcode(answer) in TOKEN_ERRCODES:
            self.store.token_delete(self.token_key)
            token = self._refresh_token(rejected=token)
            answer = self._post(path, token, body, params, files)
        code = _errcode(answer)
        if code and code not in accept:
            raise self.refusal_error(path, answer)
        return answer

    def access_token(self) -> str:
        token = self.store.token_get(self.token_key)
        if token:
            self._known_tokens.add(token)
            return token
        return self._refresh_token(rejected=None)

    def _refresh_token(self, rejected: str | None) -> str:
        """stable_token in normal mode first (another process may already have a newer one);
        force_refresh only when the platform hands back the very token it just refused."""
        token, expires_in = self._fetch_token(force_refresh=False)
        if rejected is not None and token == rejected:
            token, expires_in = self._fetch_token(force_refresh=True)
        margin = min(TOKEN_EXPIRY_MARGIN_SECONDS, expires_in / 2)
        self.store.token_put(self.token_key, token, ttl_seconds=max(0.0, expires_in - margin))
        return token

    def _fetch_token(self, force_refresh: bool) -> tuple[str, int]:
        path = "/cgi-bin/stable_token"
        body = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret,
                "force_refresh": force_refresh}
        try:
            answer = self._exchange(path, data=json_body_bytes(body), headers=_JSON_HEADERS)
        except UncertainError as exc:
            # Asking for a token changes nothing we could duplicate: just try again later.
            raise TransientError(str(exc)) from None
        if _errcode(answer) or not isinstance(answer.get("access_token"), str):
            raise self.refusal_error(path, answer)
        self._known_tokens.add(answer["access_token"])
        return answer["access_token"], int(answer.get("expires_in") or 0)

    def _post(self, path: str, token: str, body: dict | None, params: dict | None, files: dict | None) -> dict:
        query = {**(params or {}), "access_token": token}
        if files is not None:
            return self._exchange(path, params=query, files=files)
        return self._exchange(path, params=query, data=json_body_bytes(body or {}), headers=_JSON_HEADERS)

    def _exchange(self, path: str, **request: Any) -> dict:
        """POST and read the JSON answer; transport failures and HTTP statuses mapped by errors.py."""
        try:
            response = self.session.post(self.base + path, timeout=self.timeouts, **request)
        except requests.RequestException as exc:
            raise transport_error(path, exc, self.scrub) from None
        return read_answer(path, response, self.scrub)

    def refusal_error(self, path: str, answer: dict) -> Exception:
        return refusal(path, answer, self.scrub)

    def close(self) -> None:
        self.session.close()
