"""The client side: pointing a requests session (tweepy's) at the stand-in."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from publisher.sandbox.x_api.limits import X_HOSTS


class SandboxAdapter(requests.adapters.HTTPAdapter):
    """Sends requests meant for an X host to `base_url`; the URL the client signed goes along in
    `X-Original-URL`. `timeout` applies when the client sets none (tweepy.Client
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
