"""Retry policy, in one place, for the in-process press and the Celery tasks alike.

Transient failures are retried with exponential backoff and full jitter until a time budget runs out
(PUBLISHER_RETRY_FOR_SECONDS, default 30 minutes), as mail servers keep retrying a deferred message
for days rather than a fixed number of times. The budget counts from the first failure since the last
progress: an attempt that sent anything starts it again, so a mailing that keeps moving never gives
up. A platform's retry-after always wins over our own backoff. Permanent errors are never retried.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

from publisher.config import Settings


@dataclass(frozen=True)
class RetryPolicy:
    retry_for_seconds: float = 1800.0
    base_seconds: float = 1.0
    cap_seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetryPolicy":
        return cls(settings.retry_for_seconds, settings.retry_base_seconds, settings.retry_cap_seconds)

    def gives_up(self, failing_since: float, now: float | None = None) -> bool:
        """True once failures without progress have lasted the whole budget."""
        return (time.time() if now is None else now) - failing_since >= self.retry_for_seconds

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1`: never less than the platform asked for."""
        backoff = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        jittered = (rng or random).uniform(backoff / 2, backoff)
        return max(float(retry_after or 0), jittered)

    def gave_up_text(self, failing_since: float, error: object, now: float | None = None) -> str:
        minutes = ((time.time() if now is None else now) - failing_since) / 60
        return f"still failing after {minutes:.0f} min of retries without progress: {error}"
