"""The account the stand-in serves and everything it remembers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class XAccount:
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str
    oauth2_user_token: str | None
    user: dict[str, str]


@dataclass
class XStore:
    """Everything the stand-in remembers; guarded by SandboxState.lock."""

    tweets: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # -> [start, used]

    def clear(self) -> None:
        self.tweets.clear()
        self.media.clear()
        self.windows.clear()

    def tweet(self, tweet_id: str) -> dict[str, Any] | None:
        return next((t for t in self.tweets if t["id"] == tweet_id and not t["deleted"]), None)
