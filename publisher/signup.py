"""Readers who sign themselves up: double opt-in.

A sign-up (the public form at /subscribe, or `publisher subscribers add --confirm`) writes a new
address as `pending` and yields a confirmation link to mail to it; only someone who can read that
mailbox makes it `active`. The rules:

- pending gets no issue (the mailing selects `active` only) and is deleted once every link mailed to
  it has expired unconfirmed (`prune`, run with every sign-up).
- an active address signing up again: nothing changes and nothing is mailed (the form answers the
  same page whatever the address, so it tells nobody who is on the list).
- unsubscribed or bounced: the row keeps its status until the link is confirmed. A sign-up nobody
  confirms must not erase "unsubscribed", which keeps a later CSV import from adding them back.
- links: [subscriber id, hash of the address, nonce, issued at], signed with PUBLISHER_SECRET_KEY
  (itsdangerous, a salt of its own), valid PUBLISHER_SIGNUP_CONFIRM_HOURS (48). One use: the nonce
  is kept on the row while a link may be used and cleared when one is, or when the status changes
  any other way; activation is a compare-and-set on it, so two clicks activate once.
- rate limits, counted in the store (every thread and process of `publisher serve` counts the
  same): per address, one confirmation mail per 10 minutes and 5 a day (no mail-bombing through
  the form); per client, 10 sign-ups an hour and 30 a day. The client's count is checked first and
  its refusal says so (it reveals nothing about any address); an address over its limit gets the
  same answer as any other, without a mail.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import delete, select, text, update

from publisher.addresses import CONTROL, DOT_ATOM, InvalidAddress, normalize_email
from publisher.config import Settings
from publisher.models import SignupAttempt, Subscriber, utcnow
from publisher.store import Store
from publisher.subscriber_csv import clean_name

CONFIRM_SALT = "subscribe-confirm"
CONFIRM_PATH = "/subscribe/confirm/"
MAX_ADDRESS_CHARS = 320  # longer input is refused before any parsing (RFC 5321 paths are shorter)
ADDRESS_LIMITS = ((1, 600.0), (5, 86_400.0))  # confirmation mails per address: 1 / 10 min, 5 / day
CLIENT_LIMITS = ((10, 3_600.0), (30, 86_400.0))  # sign-ups per client: 10 / hour, 30 / day
KEPT_SECONDS = max(window for _, window in ADDRESS_LIMITS + CLIENT_LIMITS)


class TooManySignups(Exception):
    """This client signed up too often; `retry_after` seconds until it may again."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many sign-ups; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Signup:
    """What one sign-up did. `link`: the confirmation link to mail (None: mail nothing).
    `outcome`: new | again (still pending: the link again) | returning (unsubscribed or bounced,
    active once confirmed) | active (already subscribed: nothing changes) | limited (a link went
    to this address too recently)."""

    address: str
    outcome: str
    link: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """What opening a link found. `outcome`: confirmable (check: the link would confirm) |
    confirmed | invalid (forged, cut off, or its address deleted) | expired | used (confirmed
    already, or made stale by a later change of the address's status)."""

    outcome: str
    address: str = ""


def signup_name(raw: str | None) -> str:
    """A name from a form or the command line: one line of text, never header material."""
    if CONTROL.search(raw or ""):
        raise InvalidAddress("line breaks or control characters in the name")
    return clean_name(raw)


def signup_address(raw: str | None, smtputf8: bool) -> str:
    text_ = raw or ""
    if len(text_) > MAX_ADDRESS_CHARS:
        raise InvalidAddress(f"longer than {MAX_ADDRESS_CHARS} characters")
    address = normalize_email(text_, smtputf8=smtputf8)
    local, _, domain = address.rpartition("@")
    unquoted = _unquoted(local) if local.startswith('"') else ""
    if unquoted and DOT_ATOM.match(unquoted):
        # `"alice"@x` is alice@x (RFC 5321 4.1.2): one row, so an active reader is not signed up twice
        return f"{unquoted.lower()}@{domain}"
    return address


def address_tag(address: str) -> str:
    # Binds a link to the address (a re-used id never matches) and keeps the address itself out of
    # URLs, server logs and the attempts table.
    return hashlib.sha256(address.encode("utf-8")).hexdigest()[:32]


def mailbox_key(address: str) -> str:
    """What the per-address limit counts: the mailbox, not its spellings. `"alice"@x`, `Alice@x` and
    `alice+anything@x` reach one inbox at nearly every provider, so they share one count (else the
    form mails one inbox once per spelling)."""
    local, _, domain = address.rpartition("@")
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        local = _unquoted(local)
    return f"{local.split('+', 1)[0].lower()}@{domain.lower()}"


def _unquoted(local: str) -> str:
    """A quoted local part's mailbox name: `"a\\"b"` is a"b (RFC 5321 4.1.2)."""
    return re.sub(r"\\(.)", r"\1", local[1:-1])


class Signups:
    """Sign-ups and their confirmation links in a Store. `clock`: the time (tests move it)."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], datetime] = utcnow):
        self.store, self.settings, self.clock = store, settings, clock
        self.valid_for = timedelta(hours=settings.signup_confirm_hours)
        self._serializer = URLSafeSerializer(settings.secret_key, salt=CONFIRM_SALT,
                                             signer_kwargs={"digest_method": hashlib.sha256})

    # -- signing up ---------------------------------------------------------------------------------

    def request(self, email: str, name: str = "", client: str | None = None) -> Signup:
        """Sign up one address (InvalidAddress when it or the name is unusable). `client`: the key of
        the web client asking (publisher.desk.limits.client_key); None from the command line.
        Raises TooManySignups before anything is written when the client is over its limit."""
        address = signup_address(email, self.settings.smtp_utf8)
        name = signup_name(name)
        self.prune()
        now = self.clock()
        address_key = f"address:{address_tag(mailbox_key(address))}"
        with self.store.session() as session:
            self._serialise(session, [address_key] + ([f"client:{client}"] if client is not None else []))
            if client is not None:
                wait = self._wait(session, f"client:{client}", CLIENT_LIMITS, now)
                if wait:
                    raise TooManySignups(wait)
                session.add(SignupAttempt(key=f"client:{client}", at=now))
            row = session.scalars(select(Subscriber).where(Subscriber.email == address)).one_or_none()
            if row is not None and row.status == "active":
                return Signup(address, "active")
            if self._wait(session, address_key, ADDRESS_LIMITS, now):
                return Signup(address, "limited")
            if row is None:
                outcome = "new"
                # ON CONFLICT: an editor's `subscribers add` of the same address may land first.
                session.execute(self.store.insert(Subscriber.__table__).values(
                    email=address, name=name, status="pending", created_at=now, updated_at=now,
                    confirm_nonce=secrets.token_urlsafe(12)).on_conflict_do_nothing(index_elements=["email"]))
                row = session.scalars(select(Subscriber).where(Subscriber.email == address)).one()
                if row.status == "active":
                    return Signup(address, "active")
            elif row.status == "pending":
                outcome = "again"
                row.updated_at = now  # its life runs from the newest link
            else:
                outcome = "returning"
            row.confirm_nonce = row.confirm_nonce or secrets.token_urlsafe(12)  # every link of a row shares it
            session.add(SignupAttempt(key=address_key, at=now))
            token = self._serializer.dumps([row.id, address_tag(address), row.confirm_nonce,
                                            int(now.timestamp())])
        return Signup(address, outcome, self.confirm_url(token))

    def confirm_url(self, token: str) -> str:
        return f"{self.settings.site_url.rstrip('/')}{CONFIRM_PATH}{token}"

    def _serialise(self, session, keys: list[str]) -> None:
        """Two sign-ups of one address or client take turns. SQLite: every write transaction holds
        the database's write lock already (BEGIN IMMEDIATE); PostgreSQL: a transaction lock per key."""
        if self.store.dialect != "postgresql":
            return
        for key in sorted(keys):
            number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
            session.execute(text("SELECT pg_advisory_xact_lock(:number)"), {"number": number})

    @staticmethod
    def _wait(session, key: str, limits: tuple[tuple[int, float], ...], now: datetime) -> int:
        """Seconds until `key` may count once more under every (count, window) limit; 0: now."""
        longest = max(window for _, window in limits)
        times = list(session.scalars(select(SignupAttempt.at).where(
            SignupAttempt.key == key, SignupAttempt.at > now - timedelta(seconds=longest))
            .order_by(SignupAttempt.at.desc()).limit(max(count for count, _ in limits))))
        wait = 0.0
        for count, window in limits:
            recent = [at for at in times if at > now - timedelta(seconds=window)]
            if len(recent) >= count:
                wait = max(wait, (recent[count - 1] + timedelta(seconds=window) - now).total_seconds())
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def prune(self) -> int:
        """Delete sign-ups whose every link has expired unconfirmed, and attempts no limit counts
        any more; returns how many sign-ups went."""
        now = self.clock()
        with self.store.session() as session:
            session.execute(delete(SignupAttempt).where(SignupAttempt.at < now - timedelta(seconds=KEPT_SECONDS)))
            gone = session.execute(delete(Subscriber).where(Subscriber.status == "pending",
                                                            Subscriber.updated_at < now - self.valid_for))
        return gone.rowcount or 0

    # -- confirming ---------------------------------------------------------------------------------

    def check(self, token: str) -> Confirmation:
        """What confirming this link would do, changing nothing (the page a GET shows)."""
        return self._open(token, activate=False)

    def confirm(self, token: str) -> Confirmation:
        """Make the link's address active: once, within its time, and only with its newest nonce."""
        return self._open(token, activate=True)

    def _open(self, token: str, activate: bool) -> Confirmation:
        claims = self._claims(token)
        if claims is None:
            return Confirmation("invalid")
        subscriber_id, tag, nonce, issued = claims
        if self.clock().timestamp() - issued > self.valid_for.total_seconds():
            return Confirmation("expired")
        with self.store.session() as session:
            row = session.get(Subscriber, subscriber_id)
            if row is None or not hmac.compare_digest(address_tag(row.email), tag):
                return Confirmation("invalid")
            if not row.confirm_nonce or not hmac.compare_digest(row.confirm_nonce, nonce):
                return Confirmation("used", row.email)
            if not activate:
                return Confirmation("confirmable", row.email)
            changed = session.execute(update(Subscriber).where(
                Subscriber.id == subscriber_id, Subscriber.confirm_nonce == nonce)
                .values(status="active", confirm_nonce=None, updated_at=self.clock()))
            return Confirmation("confirmed" if changed.rowcount == 1 else "used", row.email)

    def _claims(self, token: str) -> tuple[int, str, str, int] | None:
        if not token or len(token) > 400:
            return None
        try:
            payload = self._serializer.loads(token)
        except BadData:
            return None
        if (not isinstance(payload, list) or len(payload) != 4 or type(payload[0]) is not int
                or not isinstance(payload[1], str) or not isinstance(payload[2], str)
                or type(payload[3]) is not int):
            return None
        return payload[0], payload[1], payload[2], payload[3]
