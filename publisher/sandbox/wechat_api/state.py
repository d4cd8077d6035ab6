"""What the stand-in account holds, the options it runs with, and the platform's error."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from publisher.sandbox.common import SandboxState
from publisher.sandbox.wechat_api.limits import (
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_PUBLISH_POLLS,
    DEFAULT_PUBLISH_STATUS,
    DEFAULT_TOKEN_TTL,
    FOREIGN_IMAGE_MODES,
)


class WeChatError(Exception):
    """A platform answer with a non-zero errcode (always HTTP 200)."""

    def __init__(self, errcode: int, detail: str = ""):
        super().__init__(errcode, detail)
        self.errcode = errcode
        self.detail = detail


@dataclass
class WeChatOptions:
    app_id: str = DEFAULT_APP_ID
    app_secret: str = DEFAULT_APP_SECRET
    token_ttl: int = DEFAULT_TOKEN_TTL
    publish_polls: int = DEFAULT_PUBLISH_POLLS
    publish_status: int = DEFAULT_PUBLISH_STATUS
    foreign_images: str = "reject"
    minute_quota: int | None = None  # per API path, like the platform's per-interface quotas
    day_quota: int | None = None
    publish_authorized: bool = True  # False: freepublish answers 48001 (publishing, 2025-07 change)
    allowed_ips: tuple[str, ...] | None = None  # None: no IP whitelist (40164 on token routes)
    callback_url: str | None = None  # PUBLISHJOBFINISH XML is POSTed here when a job finishes
    # What draft/add's "<20,000 chars" counts: the text (the editor's 正文字数) or the whole HTML string.
    # The doc does not say; "markup" plays a platform that counts the HTML.
    content_count: str = "text"
    clock: Callable[[], float] = time.time

    def check(self) -> None:
        if self.foreign_images not in FOREIGN_IMAGE_MODES:
            raise ValueError(f"foreign_images must be one of {FOREIGN_IMAGE_MODES}, not {self.foreign_images!r}")
        if self.publish_status not in (0, 2, 3, 4, 5, 6):
            raise ValueError(f"publish_status must be 0, 2, 3, 4, 5 or 6, not {self.publish_status!r}")
        if self.content_count not in ("text", "markup"):
            raise ValueError(f"content_count must be 'text' or 'markup', not {self.content_count!r}")
        if self.token_ttl <= 0 or self.publish_polls < 0:
            raise ValueError("token_ttl must be > 0 and publish_polls >= 0")


@dataclass
class IssuedToken:
    value: str
    kind: str  # "token" (/cgi-bin/token) or "stable" (/cgi-bin/stable_token)
    expires_at: float
    revoked: bool = False


@dataclass
class WeChatState(SandboxState):
    """What the account holds: tokens, images, materials, drafts, publish jobs, quota counters."""

    options: WeChatOptions = field(default_factory=WeChatOptions)
    initial_options: WeChatOptions = field(default_factory=WeChatOptions)
    time_offset: float = 0.0
    serial: int = 0
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    stable_token: str | None = None
    force_refreshes: list[float] = field(default_factory=list)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # uploadimg url -> info
    media_bytes: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes
    materials: dict[str, dict[str, Any]] = field(default_factory=dict)  # media_id -> info
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)  # media_id -> draft
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # publish_id -> job
    published: dict[str, dict[str, Any]] = field(default_factory=dict)  # article_id -> article
    calls: Counter = field(default_factory=Counter)  # (path, "minute"|"day", bucket) -> calls
    errcode_rules: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> float:
        return self.options.clock() + self.time_offset

    def next_serial(self) -> int:
        with self.lock:
            self.serial += 1
            return self.serial

    def reset(self) -> None:
        """Forget content, counters and scripted answers; issued tokens stay valid."""
        super().reset()
        with self.lock:
            self.options = replace(self.initial_options)
            self.time_offset = 0.0
            for store in (self.uploads, self.media_bytes, self.materials, self.drafts, self.jobs,
                          self.published, self.calls):
                store.clear()
            self.force_refreshes.clear()
            self.errcode_rules.clear()
