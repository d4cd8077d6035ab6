"""Editor sessions kept on the server, and the password rule for a desk reachable from other
machines.

The signed cookie alone cannot be taken back: whoever copied it stays logged in until it
expires. So each login gets a random session id that this server remembers; logging out forgets
it, and a cookie whose id the server does not know is no login. The cookie also holds an HMAC of
the password (publisher.desk.auth.editor_marker), so a new password ends every session too. The
ids live in this process: restarting `publisher serve` logs everyone out (the desk runs as one
process with threads)."""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from publisher.config import Settings
from publisher.desk.limits import is_loopback
from publisher.errors import InputError

# NIST SP 800-63B asks for at least 8; a shared password that guards mailing lists gets more.
MIN_PASSWORD_CHARS = 12
LIVE_SESSIONS = 10_000  # past this many, the oldest logins end first


class SessionRegistry:
    """The desk's live session ids, each until its login is `lifetime` seconds old."""

    def __init__(self, lifetime: float, clock: Callable[[], float] = time.monotonic, capacity: int = LIVE_SESSIONS):
        self.lifetime, self.clock, self.capacity = lifetime, clock, capacity
        self._ends: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def start(self) -> str:
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            for old in [s for s, end in self._ends.items() if end <= now]:
                del self._ends[old]
            self._ends[sid] = now + self.lifetime
            while len(self._ends) > self.capacity:
                self._ends.popitem(last=False)
        return sid

    def alive(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            end = self._ends.get(sid)
        return end is not None and end > self.clock()

    def end(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._ends.pop(sid, None)


def password_too_short(settings: Settings) -> bool:
    return 0 < len(settings.desk_password) < MIN_PASSWORD_CHARS


def check_serving(settings: Settings, host: str | None, behind_proxy: bool) -> None:
    """Refuse to start a desk that other machines reach (a non-loopback host, or a declared
    proxy) without a password of MIN_PASSWORD_CHARS characters."""
    if host is None and not behind_proxy:
        return
    if host is not None and is_loopback(host) and not behind_proxy:
        return
    where = "behind a proxy (PUBLISHER_TRUST_PROXY)" if behind_proxy else f"on {host}"
    if not settings.desk_password:
        raise InputError("PUBLISHER_DESK_PASSWORD", f"not set; the desk refuses to listen {where} without an "
                         "editor password. Set it, or serve on --host 127.0.0.1 (this machine only).")
    if password_too_short(settings):
        raise InputError("PUBLISHER_DESK_PASSWORD", f"{len(settings.desk_password)} characters; a desk that listens "
                         f"{where} needs at least {MIN_PASSWORD_CHARS} (a passphrase of a few words)")
