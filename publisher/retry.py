"""Retry policy, in one place: exponential backoff with full jitter, the platform's retry-after
honoured, a bounded number of attempts. Used in-process and by the Celery tasks alike."""
from __future__ import annotations

import random
from dataclasses import dataclass

from publisher.config import Settings


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 1.0
    cap_seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetryPolicy":
        return cls(settings.retry_max_attempts, settings.retry_base_seconds, settings.retry_cap_seconds)

    def gives_up_after(self, attempt: int) -> bool:
        return attempt >= self.max_attempts

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1`: never less than the platform asked for."""
        backoff = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        jittered = (rng or random).uniform(backoff / 2, backoff)
        return max(float(retry_after or 0), jittered)
