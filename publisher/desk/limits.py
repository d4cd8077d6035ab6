"""Bounds on what a request may make the server do: the size of a request body (declared or
chunked, checked while it streams in, before the app reads it whole), failed logins per client,
and integer query parameters.

Every route gets a small body limit; only the CSV import takes a file. The same numbers are
enforced twice: by a WSGI guard in front of the app (a chunked body is counted as it is read and
refused the moment it passes the limit, whatever server runs the app) and by Flask's
MAX_CONTENT_LENGTH per request (werkzeug's form parser)."""
from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator

from werkzeug.exceptions import RequestEntityTooLarge

FORM_BYTES = 64 * 1024  # a login, an unsubscribe, a publish form: a few hundred bytes
IMPORT_PATH = "/subscribers/import"
IMPORT_BYTES = 20 * 1024 * 1024  # a 20 MB CSV holds a few hundred thousand addresses
IMPORT_ROWS = 100_000  # parsed in memory (publisher.subscribers); larger lists: `publisher subscribers import`
LOGIN_ATTEMPTS = 10  # failed logins per client ...
LOGIN_WINDOW_SECONDS = 600.0  # ... in this window; then 429 until the oldest failure is this old
TRACKED_CLIENTS = 10_000  # the throttle forgets the stalest clients past this many
LARGEST_PAGE = 10**9


def body_limit(path: str) -> int:
    return IMPORT_BYTES if path.rstrip("/") == IMPORT_PATH else FORM_BYTES


def too_large_text(limit: int) -> str:
    if limit >= 1024 * 1024:
        return (f"The file is over {limit // 1024 // 1024} MB, more than the desk takes; import it with "
                "`publisher subscribers import FILE.csv` on the server.")
    return f"The request is over {limit // 1024} KB, more than this page takes; nothing was changed."


class CappedStream:
    """A body without Content-Length (chunked) as wsgi.input: raises 413 once more than `limit`
    bytes came in, and never reads more than limit + 1 bytes however the app asks (a read() of a
    chunked stream asks for everything). A reader that stops at exactly `limit` bytes (werkzeug's
    own max-length stream does, and then parses a cut body) still gets the 413: reaching the limit
    looks one byte further."""

    def __init__(self, stream, limit: int):
        self._stream, self._limit, self._read, self._looked = stream, limit, 0, False

    def _room(self, size: int | None) -> int:
        room = self._limit + 1 - self._read
        return room if size is None or size < 0 else min(size, room)

    def _count(self, data: bytes) -> bytes:
        self._read += len(data)
        if self._read == self._limit and not self._looked:
            self._looked = True
            self._read += len(self._stream.read(1))
        if self._read > self._limit:
            raise RequestEntityTooLarge(too_large_text(self._limit))
        return data

    def read(self, size: int | None = -1) -> bytes:
        room = self._room(size)
        return self._count(self._stream.read(room)) if room > 0 else b""

    def readline(self, size: int | None = -1) -> bytes:
        room = self._room(size)
        return self._count(self._stream.readline(room)) if room > 0 else b""

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class BodyLimit:
    """The WSGI guard: a declared Content-Length over the route's limit is refused before the app
    runs (the server stops the body at a declared length); a body without one (chunked) is
    counted while the app reads it."""

    def __init__(self, app: Callable, limit_for: Callable[[str], int] = body_limit):
        self.app, self.limit_for = app, limit_for

    def __call__(self, environ: dict, start_response: Callable):
        limit = self.limit_for(environ.get("PATH_INFO") or "/")
        declared = (environ.get("CONTENT_LENGTH") or "").strip()
        if declared:
            if not declared.isdigit():
                return _plain(start_response, "400 Bad Request", "The Content-Length header is not a number.")
            if int(declared) > limit:
                return _plain(start_response, "413 Request Entity Too Large", too_large_text(limit))
        else:
            environ["wsgi.input"] = CappedStream(environ["wsgi.input"], limit)
        return self.app(environ, start_response)


def _plain(start_response: Callable, status: str, text: str) -> list[bytes]:
    body = (text + "\n").encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            ("X-Frame-Options", "DENY"), ("Content-Security-Policy", "frame-ancestors 'none'"),
                            ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store")])
    return [body]


def client_key(address: str | None) -> str:
    """Who a failed login is counted against: the address, or its /64 for IPv6 (one host holds a
    whole /64, so counting single IPv6 addresses would count nothing)."""
    text = (address or "").strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def is_loopback(address: str | None) -> bool:
    text = (address or "").strip().strip("[]")
    if text == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


class LoginThrottle:
    """At most `attempts` failed logins per client in `window` seconds. A client past that is
    refused (429, whatever password it sends: nothing is checked) until `lockout` seconds (default:
    the window) passed since its last failure or refused try, so a client that ignores Retry-After
    stays refused; then one more try, and a failure while still over the limit locks it again."""

    def __init__(self, attempts: int = LOGIN_ATTEMPTS, window: float = LOGIN_WINDOW_SECONDS,
                 lockout: float | None = None, clock: Callable[[], float] = time.monotonic,
                 capacity: int = TRACKED_CLIENTS):
        self.attempts, self.window, self.clock, self.capacity = attempts, window, clock, capacity
        self.lockout = window if lockout is None else lockout
        self._clients: OrderedDict[str, tuple[deque[float], float]] = OrderedDict()  # failures, last refusal
        self._lock = threading.Lock()

    def _state(self, key: str, now: float) -> tuple[deque[float], float]:
        times, refused = self._clients.get(key) or (deque(), 0.0)
        while times and times[0] <= now - self.window:
            times.popleft()
        return times, refused

    def _keep(self, key: str, times: deque[float], refused: float) -> None:
        while len(times) > self.attempts:  # more are never needed to decide
            times.popleft()
        self._clients[key] = (times, refused)
        self._clients.move_to_end(key)
        while len(self._clients) > self.capacity:
            self._clients.popitem(last=False)

    def retry_after(self, address: str | None) -> int:
        """0 when the client may try; else the seconds to wait (for the Retry-After header)."""
        key, now = client_key(address), self.clock()
        with self._lock:
            times, refused = self._state(key, now)
            if len(times) < self.attempts:
                return 0
            free_at = max(times[-1], refused) + self.lockout
            return max(1, math.ceil(free_at - now)) if free_at > now else 0

    def refused(self, address: str | None) -> None:
        key, now = client_key(address), self.clock()
        with self._lock:
            times, _ = self._state(key, now)
            self._keep(key, times, now)

    def failed(self, address: str | None) -> None:
        key, now = client_key(address), self.clock()
        with self._lock:
            times, refused = self._state(key, now)
            times.append(now)
            self._keep(key, times, refused)

    def succeeded(self, address: str | None) -> None:
        with self._lock:
            self._clients.pop(client_key(address), None)


def bounded_int(raw: str | None, default: int, low: int, high: int) -> int:
    """A query parameter as an int within [low, high]: anything else (text, a sign, a number of
    any length) lands on the default or the nearest bound; never an error and never an integer
    the database cannot hold."""
    text = (raw or "").strip()
    if not text:
        return default
    if not text.isdigit() or not text.isascii():
        return low if text.startswith("-") and text[1:].isdigit() else default
    if len(text) > len(str(high)):
        return high
    return max(low, min(high, int(text)))


class Pages:
    """One page of a list: which rows, and the words "showing N of M"."""

    def __init__(self, total: int, per_page: int, raw_page: str | None):
        self.total, self.per_page = total, per_page
        self.count = max(1, math.ceil(total / per_page))
        self.number = bounded_int(raw_page, 1, 1, LARGEST_PAGE)
        self.number = min(self.number, self.count)
        self.offset = (self.number - 1) * per_page

    def shown(self, rows: int) -> str:
        if not self.total:
            return "showing 0 of 0"
        first = self.offset + 1
        return f"showing {rows} of {self.total} ({first}–{self.offset + rows})"
