"""SMTP delivery of one recipient batch: plan, claim, send, settle, receipt.

The orchestrator splits a mailing into recipient batches and calls `send_batch` once per batch
(one Celery task and one SMTP connection each); `EmailChannel.send` is not used for email.

Exactly once, as far as SMTP allows it:
- each recipient is one ledger part, "to:<address in lower case>", whose content hash is the hash
  of the post's message template. The orchestrator plans every part of the mailing up front;
  send_batch plans the parts it finds missing (none then) so that it also works alone.
- parts are claimed SETTLE_EVERY at a time (compare-and-set in the database), sent, and recorded
  sent in the transaction that claims the next group (one commit a group). Between those writes every message gets two cheap marks in the
  claimer's journal (publisher.journal): "dot" just before the final "." of DATA and "ok" once the
  server acknowledged it. A worker killed at any moment leaves its group "sending"; the next
  attempt reads the journal: acknowledged → sent, never completed → sent now, and only a message
  cut between its "." and the answer (at most one per SMTP connection) is held uncertain.
- SMTP cannot be asked "did you take message X?". A message whose connection dropped after the
  final "." is held uncertain and never resent on a guess; a person settles it with
  `publisher retry POST --channel email --resolve sent|resend`. A drop before the "." cannot have
  delivered anything (servers discard an unfinished DATA): that message goes out again.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from channels.base import (
    PermanentError,
    Receipt,
    Recipient,
    SendContext,
    TransientError,
)
from channels.email.client import _Connection, _envelope_sender
from channels.email.errors import (
    REFUSED,
    RETRY,
    SENT,
    STOP_FAIL,
    STOP_RETRY,
    UNCERTAIN,
    _is_unknown_mailbox,
    _scrub,
)
from channels.email.limits import SETTLE_EVERY, SMTP_CONNECT_TIMEOUT, SMTP_READ_TIMEOUT
from channels.email.message import EmailPayload
from channels.email.parts import content_sha256, recipient_part
from channels.email.receipt import _batch_receipt, _entries_for, _states_for, settle_leftovers
from channels.parts import in_flight_seconds
from publisher.addresses import wire_address
from publisher.journal import DOT, OK, Journal, journal_folder
from publisher.ledger import claim_owner
from publisher.subscribers import Subscribers


def send_batch(payload: EmailPayload, ctx: SendContext, recipients: Sequence[Recipient]) -> Receipt:
    """Mail one batch of recipients over one SMTP connection, each at most once.

    Returns a Receipt once every recipient is settled: "sent" (all sent), "partial" (some refused
    for good or uncertain), "failed" (all refused), "uncertain" (none sent, some uncertain). Raises
    TransientError when some recipients must be tried again (4xx, the server closing, connection
    refused, a part held by another worker): calling again sends only those. Raises PermanentError
    when nothing can get through (bad credentials, the sender refused): nothing is lost, the claims
    are released, so a run after fixing the settings resumes.
    """
    settings = ctx.settings
    sender = _envelope_sender(settings)
    batch = {recipient_part(r.email): r for r in reversed(recipients)}  # the first of duplicates wins
    parts = [part for part in dict.fromkeys(recipient_part(r.email) for r in recipients)]
    states = _states_for(ctx.ledger, parts)
    unplanned = [part for part in parts if part not in states]
    if unplanned:  # a batch sent on its own; the orchestrator plans a whole mailing up front
        sha = content_sha256(payload)
        ctx.ledger.plan([(part, sha) for part in unplanned])
        states.update(_states_for(ctx.ledger, unplanned))
    journal = Journal(journal_folder(settings), ctx.publication_id, ctx.ledger.channel)
    # A group of claims is in flight while its worker sends SETTLE_EVERY messages one by one.
    in_flight = in_flight_seconds(settings, (SMTP_CONNECT_TIMEOUT, SMTP_READ_TIMEOUT), calls=SETTLE_EVERY)
    sending = [part for part in parts if states[part][0] == "sending"]
    leftovers: list[str] = []
    if sending:  # only parts left "sending" need their whole entries, and only they can change
        leftovers, _ = settle_leftovers(ctx.ledger, _entries_for(ctx.ledger, sending).values(), journal, in_flight)
        states = _states_for(ctx.ledger, parts)
    todo = [part for part in parts if _claimable(*states[part])]
    finished = sum(1 for state, retryable in states.values()
                   if state not in ("planned", "sending") and not _claimable(state, retryable))
    run = _BatchRun(payload, ctx, batch, sender, total=len(parts), done=finished, journal=journal)
    try:
        run.send(todo)
    finally:
        journal.close()
    return _batch_receipt(ctx.ledger, parts, leftovers)


def _claimable(state: str, retryable: bool) -> bool:
    return state == "planned" or (state == "failed" and retryable)  # as LedgerEntry.claimable


# --- one batch ------------------------------------------------------------------------------------
class _BatchRun:
    """Claims, sends and records the recipients of one send_batch call, group by group."""

    def __init__(self, payload: EmailPayload, ctx: SendContext, batch: dict[str, Recipient], sender: str,
                 total: int, done: int, journal: Journal):
        self.payload = payload
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.batch = batch
        self.total = total
        self.done = done
        self.sent_now = 0
        self.connection = _Connection(ctx.settings, sender, ctx.pace)
        self.journal = journal
        self.claimer = claim_owner()  # the name this process's claims carry, and its journal's
        # Date: is the moment of sending (RFC 5322 3.6.1: "the date and time at which the creator ...
        # indicated that the message was complete and ready to enter the mail delivery system").
        self.date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def send(self, todo: Sequence[str]) -> None:
        sent: list[str] = []  # sent by the last group, recorded with the next group's claims
        try:
            for start in range(0, len(todo), SETTLE_EVERY):
                won = self.ledger.claim_many(todo[start:start + SETTLE_EVERY], sent_before=sent)
                self.sent_now, sent = self.sent_now + len(sent), []
                if won:
                    sent = self._send_group(won)
                self.ctx.progress(self.done, self.total)
        finally:
            if sent:
                self.ledger.mark_sent_many(sent)
                self.sent_now += len(sent)
            self.connection.close()

    def _send_group(self, won: list[str]) -> list[str]:
        """Send a group; returns the parts sent, left for the caller to record (with its next claims).
        On an exception they are recorded here, before it propagates."""
        sent: list[str] = []
        finished = False
        settled = 0  # won[:settled] have an outcome: recorded already, or waiting in `sent`
        try:
            for part in won:
                outcome, reply = self._attempt(part)
                if outcome == SENT:
                    self.journal.mark(self.claimer, OK, part)
                    sent.append(part)
                elif outcome in (STOP_RETRY, STOP_FAIL):
                    self.ledger.mark_failed(part, reply, retryable=True)  # not this recipient's fault
                    settled += 1
                    raise (TransientError if outcome == STOP_RETRY else PermanentError)(reply)
                else:
                    self._record_failure(part, outcome, reply)
                settled += 1
                self.done += 1
            finished = True
            return sent
        except (TransientError, PermanentError) as exc:
            # Raised before the current message left, or after its refusal was recorded: nothing
            # from here on went out, so those recipients are released for the next attempt.
            self._release(won[settled:])
            raise self._with_counts(exc, len(sent)) from None
        except BaseException:
            # Anything else may have struck mid-transaction: that message stays "sending" and is
            # reconciled as a leftover; the ones after it never left.
            self._release(won[settled + 1:])
            raise
        finally:
            if sent and not finished:
                self.ledger.mark_sent_many(sent)
                self.sent_now += len(sent)

    def _release(self, parts: Sequence[str]) -> None:
        if parts:
            self.ledger.mark_failed_many(parts, "not attempted: the batch stopped early", retryable=True)

    def _with_counts(self, exc: TransientError | PermanentError, sent_in_group: int) -> Exception:
        sent = self.sent_now + sent_in_group
        if isinstance(exc, TransientError):
            return TransientError(f"{exc} ({sent} sent in this attempt; the rest is retried)", exc.retry_after)
        return PermanentError(f"{exc} ({sent} sent in this attempt; the rest waits for the settings to be "
                              "fixed)")

    def _attempt(self, part: str) -> tuple[str, str]:
        recipient = self.batch[part]
        try:
            message = self.payload.personalize(to_email=recipient.email, to_name=recipient.name,
                                               unsubscribe_url=recipient.unsubscribe_url, date=self.date)
            # an IDN domain goes in punycode, as in To: (any other address exactly as listed)
            envelope_to = recipient.email if recipient.email.rpartition("@")[2].isascii() else \
                wire_address(recipient.email)
        except ValueError as exc:
            return REFUSED, f"not sent: {exc}"
        outcome, reply = self.connection.deliver(envelope_to, message,
                                                 before_dot=lambda: self.journal.mark(self.claimer, DOT, part))
        return outcome, self._scrub(reply)

    def _record_failure(self, part: str, outcome: str, reply: str) -> None:
        if outcome == UNCERTAIN:
            self.ledger.mark_uncertain(part, reply)
            return
        self.ledger.mark_failed(part, reply, retryable=outcome == RETRY)
        if outcome == REFUSED and _is_unknown_mailbox(reply):
            _mark_bounced(self.ctx, self.batch[part].email)

    def _scrub(self, text: str) -> str:
        return _scrub(text, self.ctx.settings)


def _mark_bounced(ctx: SendContext, address: str) -> None:
    """Stop mailing an address the receiving server says does not exist (active subscribers only;
    an address that is not on the list, e.g. a test send, is left alone)."""
    subscribers = Subscribers(ctx.store, ctx.settings)
    subscriber = subscribers.get(address)
    if subscriber is not None and subscriber.status == "active":
        subscribers.set_status(subscriber.id, "bounced")
