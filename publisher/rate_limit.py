"""Platform rate limits shared by every worker: "at most one call per `interval` for this key"
(Telegram per chat, X per user, SMTP per server). On Redis the turn is a key set with NX and a
expiry of `interval`, so all processes on all machines take turns; in one process, a lock and a
clock do the same."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Protocol

import redis

KEY_PREFIX = "publisher:pace:"
log = logging.getLogger(__name__)


class Pacer(Protocol):
    def __call__(self, key: str, interval: float) -> None: ...


class LocalPacer:
    """Turns within one process (the embedded default)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def __call__(self, key: str, interval: float) -> None:
        if interval <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next.get(key, now))
            self._next[key] = start + interval
        if start > now:
            self._sleep(start - now)


class RedisPacer:
    """Turns shared by every process that uses the same Redis."""

    def __init__(self, url: str, sleep: Callable[[float], None] = time.sleep):
        self._redis = redis.Redis.from_url(url)
        self._sleep = sleep

    def __call__(self, key: str, interval: float) -> None:
        if interval <= 0:
            return
        name = KEY_PREFIX + key
        milliseconds = max(1, int(interval * 1000))
        try:
            while not self._redis.set(name, b"1", nx=True, px=milliseconds):
                wait = self._redis.pttl(name)
                self._sleep(max(wait, 1) / 1000)
        except redis.RedisError as exc:
            # Redis away (restarting): keep this process's own turns rather than fail the send.
            log.warning("rate limit %s: Redis unavailable (%s); pacing this process alone", key, type(exc).__name__)
            local_pacer(key, interval)


local_pacer = LocalPacer()  # the one of this process


def pacer_for(broker_url: str) -> Pacer:
    """Redis turns when the broker is Redis, else this process's own."""
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisPacer(broker_url)
    return local_pacer
