"""The batch read back from the ledger: entries in chunks, parts a dead worker left in "sending",
and the Receipt of where the batch stands (other workers' results included)."""
from __future__ import annotations

from typing import Iterable, Sequence

from sqlalchemy import select

from channels.base import Receipt, TransientError
from channels.email.limits import (
    DETAIL_EXAMPLES,
    ENTRY_READ_CHUNK,
    PART_PREFIX,
    STALE_SENDING_SECONDS,
)
from publisher.journal import DOT, OK, Journal
from publisher.ledger import ENTRY_COLUMNS, Ledger, LedgerEntry
from publisher.store import LedgerRow, utcnow


def _entries_for(ledger: Ledger, parts: Sequence[str]) -> dict[str, LedgerEntry]:
    """The ledger entries of these parts, one query per ENTRY_READ_CHUNK parts.
    (A candidate for Ledger itself: `entries()` reads the whole publication.)"""
    found: dict[str, LedgerEntry] = {}
    with ledger.store.read_session() as session:
        for start in range(0, len(parts), ENTRY_READ_CHUNK):
            query = select(*ENTRY_COLUMNS).where(
                LedgerRow.publication_id == ledger.publication_id, LedgerRow.channel == ledger.channel,
                ledger.store.among(LedgerRow.part, parts[start:start + ENTRY_READ_CHUNK]))
            found.update((row.part, LedgerEntry.from_row(row)) for row in session.execute(query))
    return found


def _states_for(ledger: Ledger, parts: Sequence[str]) -> dict[str, tuple[str, bool]]:
    """(state, retryable) of these parts: the cheap read a batch makes when nothing needs more."""
    found: dict[str, tuple[str, bool]] = {}
    with ledger.store.read_session() as session:
        for start in range(0, len(parts), ENTRY_READ_CHUNK):
            query = select(LedgerRow.part, LedgerRow.state, LedgerRow.retryable).where(
                LedgerRow.publication_id == ledger.publication_id, LedgerRow.channel == ledger.channel,
                ledger.store.among(LedgerRow.part, parts[start:start + ENTRY_READ_CHUNK]))
            found.update((part, (state, retryable)) for part, state, retryable in session.execute(query))
    return found


def settle_leftovers(ledger: Ledger, entries: Iterable[LedgerEntry], journal: Journal,
                     in_flight: float) -> tuple[list[str], list[str]]:
    """Parts a dead worker left in "sending", settled from its per-message journal (publisher.journal):
    acknowledged → sent; past the final "." without an answer → uncertain (at most one per SMTP
    connection); never completed → claimable again. Without a readable journal (the worker ran on
    another machine and the journal folder is not shared) all of them are held uncertain. Parts of
    a live worker (its claim still within the in-flight window) are left alone.
    Returns (parts held uncertain, parts found sent)."""
    by_claimer: dict[str | None, list[LedgerEntry]] = {}
    for entry in entries:
        if entry.state == "sending" and entry.abandoned(in_flight):
            by_claimer.setdefault(entry.claimed_by, []).append(entry)
    uncertain: list[str] = []
    found_sent: list[str] = []
    for claimer, left in by_claimer.items():
        marks = journal.read(claimer) if claimer else None
        if marks is None:
            for entry in left:
                ledger.mark_uncertain(entry.part, "left in sending by an interrupted attempt whose per-message "
                                                  "journal is not readable here: the server may have taken it")
            uncertain += [entry.part for entry in left]
            continue
        acked = [e.part for e in left if marks.get(e.part) == OK]
        cut = [e.part for e in left if marks.get(e.part) == DOT]
        never = [e.part for e in left if e.part not in marks]
        if acked:
            ledger.mark_sent_many(acked)
        for part in cut:
            ledger.mark_uncertain(part, "the worker stopped after the message's final '.' and before the server's "
                                        "answer: the server may have taken it, and SMTP cannot tell")
        if never:
            ledger.mark_failed_many(never, "not completed by an interrupted attempt: sent again", retryable=True)
        uncertain += cut
        found_sent += acked
    return uncertain, found_sent


BUSY_RECHECK_SECONDS = 5.0


def _batch_receipt(ledger: Ledger, parts: Sequence[str], leftovers: Sequence[str]) -> Receipt:
    """Where the batch stands now, read back from the ledger (other workers' results included)."""
    if not leftovers and all(state == "sent" for state, _ in _states_for(ledger, parts).values()):
        return Receipt(state="sent", sent=len(parts), total=len(parts), detail=f"{len(parts)}/{len(parts)} sent")
    entries = _entries_for(ledger, parts)
    kinds: dict[str, list[LedgerEntry]] = {}
    for part in parts:
        entry = entries[part]
        kind = entry.state if entry.state != "failed" else ("to retry" if entry.retryable else "refused")
        kinds.setdefault("busy" if kind in ("sending", "planned") else kind, []).append(entry)
    total, sent = len(parts), len(kinds.get("sent", ()))
    detail = _receipt_detail(kinds, total, leftovers)
    busy = kinds.get("busy", [])
    if busy or kinds.get("to retry"):
        # A part another worker holds is settled by it (usually within seconds: look again soon), or
        # its claim turns stale and is settled from the journal; never later than that.
        youngest = max((entry.updated_at for entry in busy), default=None)
        retry_after = (min(BUSY_RECHECK_SECONDS,
                           max(1.0, STALE_SENDING_SECONDS - (utcnow() - youngest).total_seconds()))
                       if youngest else None)
        raise TransientError(detail, retry_after)
    if sent == total:
        state = "sent"
    else:
        state = "partial" if sent else ("uncertain" if kinds.get("uncertain") else "failed")
    return Receipt(state=state, sent=sent, total=total, detail=detail)


def _receipt_detail(kinds: dict[str, list[LedgerEntry]], total: int, leftovers: Sequence[str]) -> str:
    lines = [f"{len(kinds.get('sent', ()))}/{total} sent"]
    for kind in ("refused", "uncertain", "to retry", "busy"):
        entries = kinds.get(kind)
        if not entries:
            continue
        label = "held by another worker" if kind == "busy" else kind
        examples = "; ".join(f"{e.part.removeprefix(PART_PREFIX)}: {e.last_error or e.state}"
                             for e in entries[:DETAIL_EXAMPLES])
        more = f"; and {len(entries) - DETAIL_EXAMPLES} more" if len(entries) > DETAIL_EXAMPLES else ""
        lines.append(f"{label} {len(entries)} ({examples}{more})")
    if leftovers:
        lines.append(f"{len(leftovers)} left mid-message by an interrupted attempt, held uncertain (not resent)")
    if kinds.get("uncertain"):
        lines.append("uncertain recipients may or may not have the email; SMTP cannot tell: decide with "
                     "`publisher retry POST --channel email --resolve sent|resend`")
    return "; ".join(lines)
