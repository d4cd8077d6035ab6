"""The publish ledger: exactly-once bookkeeping for the parts of one delivery.

Rules (state words are defined in the glossary of publisher.store):
- `plan` writes every part as "planned" before anything is sent; planning again leaves
  existing rows as they are, so a redelivered task resumes instead of starting over.
- `claim` / `claim_many` move planned (or retryably failed) parts to "sending" with one
  compare-and-set UPDATE ... WHERE state ...; the database decides the winner, so two workers
  never send the same part. The claim is committed (the intent recorded) before the caller
  makes the external call.
- the outcome is written right after the call: `mark_sent`, `mark_failed`, `mark_uncertain`.
  "sent" is final: nothing overwrites it.
- uncertain parts, and "sending" parts left behind by a killed worker (`stale_sending`), are
  reconciled with the platform and settled with `resolve_uncertain`; never sent again on a guess.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError

from publisher.store import LEDGER_STATES, LedgerRow, Store, clip_error, utcnow

# Rows per INSERT/UPDATE statement. SQLite allows 32766 bound variables per statement (since
# 3.32); 1000 parts x 8 columns stays far below it and keeps each write transaction short.
PLAN_CHUNK = 1000
# A plan this large refreshes PostgreSQL's statistics before anyone claims (see plan()).
ANALYZE_AFTER_ROWS = 2000
CLAIM_CHUNK = 1000
# What a person may decide about a part the platform cannot confirm.
PERSON_DECISIONS = ("sent", "resend")
# A claim older than this is presumed abandoned even when its claimer ran on another host.
STALE_CLAIM_SECONDS = 300.0
# PostgreSQL may pick one of two claimers as a deadlock victim; the claim is simply repeated.
DEADLOCK_RETRIES = 5
RETRIABLE_PG_CODES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


@dataclass(frozen=True)
class LedgerEntry:
    """A snapshot of one ledger row."""

    publication_id: int
    channel: str
    part: str
    content_sha256: str
    state: str
    retryable: bool
    remote_id: str | None
    remote_url: str | None
    attempts: int
    last_error: str | None
    updated_at: datetime
    claimed_by: str | None = None

    def abandoned(self, older_than_seconds: float) -> bool:
        """A "sending" part whose claimer is gone: its process on this host has died, or the
        claim is older than `older_than_seconds` (a claimer elsewhere is presumed dead by then).
        Its request may have been accepted: reconcile it, never simply send it again."""
        if self.state != "sending":
            return False
        if claimer_is_dead(self.claimed_by):
            return True
        return (utcnow() - self.updated_at).total_seconds() >= older_than_seconds

    @property
    def claimable(self) -> bool:
        return self.state == "planned" or (self.state == "failed" and self.retryable)

    @classmethod
    def from_row(cls, row: Any) -> "LedgerEntry":
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


ENTRY_COLUMNS = [getattr(LedgerRow, name) for name in LedgerEntry.__dataclass_fields__]


def claim_owner() -> str:
    """Who claims: host and process id, read at each claim (forked workers have their own)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claimer_is_dead(owner: str | None) -> bool:
    """True only when the claimer ran on this host and its process no longer exists."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _unique(parts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(parts))


class Ledger:
    """The ledger rows of one publication on one channel."""

    def __init__(self, store: Store, publication_id: int, channel: str):
        if not channel:
            raise ValueError("a ledger needs a channel name")
        self.store = store
        self.publication_id = publication_id
        self.channel = channel
        # Parts this object recorded as sent: whether an attempt made progress, without a query.
        self.sent_marks = 0

    def __repr__(self) -> str:
        return f"Ledger(publication_id={self.publication_id}, channel={self.channel!r})"

    # -- selection helpers ----------------------------------------------------------------------

    def _mine(self) -> Any:
        return and_(LedgerRow.publication_id == self.publication_id, LedgerRow.channel == self.channel)

    @staticmethod
    def _claimable() -> Any:
        return or_(LedgerRow.state == "planned", and_(LedgerRow.state == "failed", LedgerRow.retryable.is_(True)))

    def _update(self, *parts_filter: Any) -> Any:
        return update(LedgerRow).where(self._mine(), *parts_filter).execution_options(synchronize_session=False)

    # -- planning -------------------------------------------------------------------------------

    def plan(self, parts: Sequence[tuple[str, str]]) -> None:
        """Write (part, content_sha256) pairs as planned; rows that exist already stay untouched."""
        now = utcnow()
        rows = [{"publication_id": self.publication_id, "channel": self.channel, "part": part,
                 "content_sha256": sha, "state": "planned", "retryable": False, "attempts": 0,
                 "updated_at": now} for part, sha in dict(parts).items()]
        statement = self.store.insert(LedgerRow).on_conflict_do_nothing(
            index_elements=["publication_id", "channel", "part"])
        for chunk in _chunks(rows, PLAN_CHUNK):
            with self.store.session() as session:
                session.execute(statement, list(chunk))
        if self.store.dialect == "postgresql" and len(rows) >= ANALYZE_AFTER_ROWS:
            self._refresh_statistics()

    def plan_recipients(self, part_prefix: str, content_sha256: str) -> None:
        """One part per active subscriber, "<prefix><address in lower case>", planned by the database
        in one INSERT ... SELECT (a million parts in seconds, not one round trip per batch). Stored
        addresses are already lower case but for quoted local parts, which are ASCII, so SQL's
        lower() names the parts exactly as the channel's recipient_parts does."""
        from sqlalchemy import false, literal

        from publisher.store import Subscriber

        columns = ["publication_id", "channel", "part", "content_sha256", "state", "retryable", "attempts",
                   "updated_at"]
        rows = select(literal(self.publication_id), literal(self.channel),
                      literal(part_prefix) + func.lower(Subscriber.email), literal(content_sha256),
                      literal("planned"), false(), literal(0), literal(utcnow(), LedgerRow.updated_at.type)
                      ).where(Subscriber.status == "active")
        statement = (self.store.insert(LedgerRow).from_select(columns, rows)
                     .on_conflict_do_nothing(index_elements=["publication_id", "channel", "part"]))
        with self.store.session() as session:
            session.execute(statement)
        if self.store.dialect == "postgresql":
            self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        # Until ANALYZE sees a new publication, PostgreSQL estimates it holds one row and claims
        # `part = ANY(...)` by filtering every row of the publication: 100k parts took minutes.
        with self.store.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE ledger"))

    # -- claims ---------------------------------------------------------------------------------

    def claim(self, part: str) -> LedgerEntry | None:
        """Move one part to "sending" if it is planned or failed retryably; None if someone else
        has it or it is finished (sent, sending, uncertain, failed for good). Raises LookupError
        for a part that was never planned: that is a bug in the caller, not "already sent"."""
        statement = (self._update(LedgerRow.part == part, self._claimable())
                     .values(state="sending", attempts=LedgerRow.attempts + 1, updated_at=utcnow(),
                             claimed_by=claim_owner())
                     .returning(*ENTRY_COLUMNS))
        row = self._with_retries(lambda session: session.execute(statement).one_or_none())
        if row is not None:
            return LedgerEntry.from_row(row)
        self._require(part)
        return None

    def claim_many(self, parts: Sequence[str], sent_before: Sequence[str] = ()) -> list[str]:
        """Claim many parts at once; returns those this caller won, in the order given.
        Parts never planned are simply not won. `sent_before` (at most CLAIM_CHUNK parts the caller
        sent since its last claim) is marked sent in the same transaction: one commit, not two."""
        won: set[str] = set()
        sent = list(_unique(sent_before))
        if len(sent) > CLAIM_CHUNK:
            self.mark_sent_many(sent)
            sent = []
        for chunk in _chunks(sorted(_unique(parts)), CLAIM_CHUNK):
            statement = (self._update(self.store.among(LedgerRow.part, chunk), self._claimable())
                         .values(state="sending", attempts=LedgerRow.attempts + 1, updated_at=utcnow(),
                             claimed_by=claim_owner())
                         .returning(LedgerRow.part))
            settle = self._sent_statement(sent) if sent else None

            def work(session, statement=statement, settle=settle):
                if settle is not None:
                    session.execute(settle)
                return session.scalars(statement).all()

            won.update(self._with_retries(work))
            self.sent_marks += len(sent)
            sent = []
        if sent:  # no parts to claim: the marks alone
            self.mark_sent_many(sent)
        return [part for part in _unique(parts) if part in won]

    def _sent_statement(self, parts: Sequence[str]) -> Any:
        return self._update(self.store.among(LedgerRow.part, parts)).values(
            state="sent", retryable=False, last_error=None, updated_at=utcnow())

    def _with_retries(self, work: Any) -> Any:
        for attempt in range(DEADLOCK_RETRIES):
            try:
                with self.store.session() as session:
                    return work(session)
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None)
                if code not in RETRIABLE_PG_CODES or attempt == DEADLOCK_RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- outcomes -------------------------------------------------------------------------------

    def mark_sent(self, part: str, remote_id: str | None = None, remote_url: str | None = None) -> None:
        """The platform accepted the part. Recorded whatever the row said before: it is the truth."""
        self._settle([part], state="sent", retryable=False, remote_id=remote_id, remote_url=remote_url,
                     last_error=None, overwrite_sent=True)
        self.sent_marks += 1

    def mark_sent_many(self, parts: Sequence[str]) -> None:
        for chunk in _chunks(_unique(parts), CLAIM_CHUNK):
            self._settle(chunk, state="sent", retryable=False, last_error=None, overwrite_sent=True,
                         check=False)
            self.sent_marks += len(chunk)

    def mark_failed(self, part: str, error: str, retryable: bool = False) -> None:
        """The platform refused the part or could not be reached. Retryable failures may be
        claimed again; permanent ones stay failed. A sent part stays sent."""
        self._settle([part], state="failed", retryable=retryable, last_error=clip_error(error))

    def mark_failed_many(self, parts: Sequence[str], error: str, retryable: bool = False) -> None:
        for chunk in _chunks(_unique(parts), CLAIM_CHUNK):
            self._settle(chunk, state="failed", retryable=retryable, last_error=clip_error(error), check=False)

    def mark_uncertain(self, part: str, error: str) -> None:
        """The request may have been accepted; reconcile before anything else happens to it."""
        self._settle([part], state="uncertain", retryable=False, last_error=clip_error(error))

    def resolve_uncertain(self, part: str, remote_id: str | None, sent: bool,
                          remote_url: str | None = None) -> None:
        """Settle an uncertain (or stale sending) part after reconciliation with the platform:
        found there → sent with its id; not found → failed retryably, so it may be claimed again."""
        if sent:
            self.mark_sent(part, remote_id=remote_id, remote_url=remote_url)
            return
        statement = (self._update(LedgerRow.part == part, LedgerRow.state.in_(("uncertain", "sending")))
                     .values(state="failed", retryable=True, updated_at=utcnow(),
                             last_error=func.coalesce(LedgerRow.last_error, "") +
                             " [reconciled: not found on the platform]"))
        with self.store.session() as session:
            changed = session.execute(statement).rowcount
        if not changed:
            self._require(part)

    def _settle(self, parts: Sequence[str], *, state: str, overwrite_sent: bool = False,
                check: bool = True, **values: Any) -> None:
        where = [self.store.among(LedgerRow.part, parts) if len(parts) > 1 else LedgerRow.part == parts[0]]
        if not overwrite_sent:
            where.append(LedgerRow.state != "sent")
        statement = self._update(*where).values(state=state, updated_at=utcnow(), **values)
        with self.store.session() as session:
            changed = session.execute(statement).rowcount
        if check and not changed:
            self._require(parts[0])

    def _require(self, part: str) -> None:
        if self.entry(part) is None:
            raise LookupError(f"{self!r}: part {part!r} was never planned")

    # -- reading --------------------------------------------------------------------------------

    def entry(self, part: str) -> LedgerEntry | None:
        with self.store.read_session() as session:
            row = session.execute(select(*ENTRY_COLUMNS).where(self._mine(), LedgerRow.part == part)).one_or_none()
        return None if row is None else LedgerEntry.from_row(row)

    def entries(self, state: str | None = None) -> list[LedgerEntry]:
        """Every entry in plan order (optionally only those in one state)."""
        query = select(*ENTRY_COLUMNS).where(self._mine()).order_by(LedgerRow.id)
        if state is not None:
            query = query.where(LedgerRow.state == state)
        with self.store.read_session() as session:
            return [LedgerEntry.from_row(row) for row in session.execute(query)]

    def counts(self) -> dict[str, int]:
        """Parts per state; every state is present, zero when none."""
        query = select(LedgerRow.state, func.count()).where(self._mine()).group_by(LedgerRow.state)
        counts = dict.fromkeys(LEDGER_STATES, 0)
        with self.store.read_session() as session:
            counts.update({state: number for state, number in session.execute(query)})
        return counts

    def settle_uncertain(self, decision: str, stale_after: float = STALE_CLAIM_SECONDS) -> list[str]:
        """A person checked the platform: "sent" marks every uncertain part (and every part its
        claimer abandoned) sent, "resend" makes them claimable. Returns the parts settled."""
        if decision not in PERSON_DECISIONS:
            raise ValueError(f"decision must be one of {PERSON_DECISIONS}, got {decision!r}")
        settle = self.entries("uncertain") + [e for e in self.entries("sending") if e.abandoned(stale_after)]
        for entry in settle:
            self.resolve_uncertain(entry.part, entry.remote_id, sent=decision == "sent")
        return [entry.part for entry in settle]

    def reopen_failed(self) -> int:
        """An operator's retry: every failed part (retryable or not) becomes claimable again."""
        statement = (self._update(LedgerRow.state == "failed")
                     .values(state="planned", retryable=False, updated_at=utcnow()))
        return self._with_retries(lambda session: session.execute(statement).rowcount)

    def stale_sending(self, older_than_seconds: float) -> list[LedgerEntry]:
        """Parts claimed at least `older_than_seconds` ago and still "sending": a worker died
        with the request possibly in flight. Reconcile these; do not claim them again."""
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        query = (select(*ENTRY_COLUMNS).where(self._mine(), LedgerRow.state == "sending",
                                              LedgerRow.updated_at <= cutoff).order_by(LedgerRow.id))
        with self.store.read_session() as session:
            return [LedgerEntry.from_row(row) for row in session.execute(query)]
