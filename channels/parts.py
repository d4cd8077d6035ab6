"""The part protocol, written once: claim → call → settle → reconcile → receipt.

A delivery is a list of ledger parts (a tweet, a Telegram call, a WeChat upload or draft, an email
recipient), each planned before anything is sent (`Ledger.plan`). For every part, every channel:

1. **Leftovers.** A part found "sending" belongs to a live worker while its claimer's process lives
   and the claim is younger than the in-flight window (`in_flight_seconds`: the configured connect
   and read timeouts plus a margin, the longest one call can take). Such a part is left alone: the
   caller gets a TransientError that retries after the rest of the window. Past the window, or with
   its claimer's process gone, the part was interrupted and its request may have been accepted: it
   is reconciled exactly like an uncertain part.
2. **Reconcile.** An uncertain part is looked up in the platform's own record by the channel's
   `find` (X: the account's posts; WeChat: the draft box). Found: sent, with its id. Not found:
   claimable again. A read that fails is retried (TransientError), never turned into a guess; a
   record that cannot tell (`find` raises PermanentError) leaves the part uncertain for a person.
   A platform with no record to read (SMTP, the Telegram Bot API) keeps the part uncertain until a
   person decides: `publisher retry POST --resolve sent|resend`.
3. **Claim** with a compare-and-set; the intent is committed before the call.
4. **Call**, and **settle** the outcome at once: success → sent (final); TransientError → failed,
   retryable; UncertainError → uncertain; PermanentError → failed for good. Anything else (a bug, a
   kill) leaves the part "sending", to be reconciled as a leftover.
5. **Receipt** read back from the ledger.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from channels.errors import PermanentError, TransientError, UncertainError

if TYPE_CHECKING:
    from channels.base import SendContext
    from publisher.config import Settings
    from publisher.ledger import Ledger, LedgerEntry

# Added to connect + read timeout: the time a worker needs between its claim and its call, and
# between the answer and recording it.
IN_FLIGHT_MARGIN_SECONDS = 5.0
RESOLVE_COMMAND = "publisher retry POST --channel {channel} --resolve sent|resend"


def in_flight_seconds(settings: "Settings", default_timeouts: tuple[float, float], calls: int = 1) -> float:
    """How long a claim may be in flight: `calls` requests under the configured timeouts, plus a margin."""
    connect, read = settings.timeouts(default_timeouts)
    return connect + calls * read + IN_FLIGHT_MARGIN_SECONDS


@dataclass(frozen=True)
class Sent:
    """What the platform gave back for an accepted part."""

    remote_id: str | None = None
    remote_url: str | None = None


Find = Callable[["LedgerEntry"], "Sent | None"]


class PartRun:
    """The protocol over one channel's ledger for one send(). `describe(part)` names a part for
    people ("tweet 3", "message 2", "the draft")."""

    def __init__(self, ctx: "SendContext", channel_label: str, in_flight: float,
                 describe: Callable[[str], str]):
        self.ctx = ctx
        self.ledger: Ledger = ctx.ledger
        self.label = channel_label
        self.in_flight = in_flight
        self.describe = describe
        self.notes: list[str] = []

    # -- 1. leftovers and changed content ----------------------------------------------------------

    def refuse_changed(self, planned: Sequence[tuple[str, str]]) -> dict[str, "LedgerEntry"]:
        """Entries of the plan; a part whose content changed after it left this machine cannot be
        resumed as the same publication."""
        entries = {entry.part: entry for entry in self.ledger.entries()}
        for part, sha in planned:
            entry = entries.get(part)
            if entry is not None and entry.content_sha256 != sha and entry.state in ("sent", "sending", "uncertain"):
                raise PermanentError(f"{self.label}: {self.describe(part)} changed after it was sent; publish "
                                     "again as a new publication (--again) to send the new version")
        return entries

    def held_elsewhere(self, entry: "LedgerEntry") -> TransientError | None:
        """A TransientError when a live worker may have this part's request in flight, else None."""
        if entry.state != "sending" or entry.abandoned(self.in_flight):
            return None
        age = (_now() - entry.updated_at).total_seconds()
        return TransientError(f"{self.label}: {self.describe(entry.part)} is being sent by another worker",
                              retry_after=max(1.0, self.in_flight - age))

    # -- 2. reconcile -------------------------------------------------------------------------------

    def reconcile(self, entry: "LedgerEntry", find: Find | None) -> "LedgerEntry":
        """Settle a part left "sending" or "uncertain"; returns its entry afterwards. `find` None:
        the platform keeps no record we can read, so the part stays uncertain for a person."""
        if entry.state not in ("sending", "uncertain"):
            return entry
        held = self.held_elsewhere(entry)
        if held is not None:
            raise held
        if find is None:
            if entry.state == "sending":
                self.ledger.mark_uncertain(entry.part, "the attempt that sent it was interrupted (a worker "
                                                       "stopped mid-request)")
            return self._current(entry.part)
        try:
            found = find(entry)
        except UncertainError as exc:  # a read changes nothing on the platform: simply read again later
            raise TransientError(f"{self.label}: could not check {self.describe(entry.part)}: {exc}") from None
        except PermanentError:  # the record cannot tell: a person decides, meanwhile nothing is resent
            if entry.state == "sending":
                self.ledger.mark_uncertain(entry.part, "the attempt that sent it was interrupted")
            raise
        if found is None:
            self.ledger.resolve_uncertain(entry.part, None, sent=False)
        else:
            self.ledger.resolve_uncertain(entry.part, found.remote_id, sent=True, remote_url=found.remote_url)
            self.notes.append(f"{self.describe(entry.part)} was found on the platform (sent by an earlier attempt)")
        return self._current(entry.part)

    def needs_person(self, entry: "LedgerEntry") -> PermanentError:
        return PermanentError(f"{self.label}: {self.describe(entry.part)} may or may not have been accepted "
                              f"({entry.last_error or 'an attempt was interrupted'}); the platform offers no way "
                              f"to check, so it is not resent on a guess. Look at the platform, then run "
                              f"`{RESOLVE_COMMAND.format(channel=self.label)}`")

    # -- 3/4. claim, call, settle -------------------------------------------------------------------

    def send(self, part: str, call: Callable[[], Sent]) -> Sent:
        """The part once sent: skipped when sent already, else claimed, called and settled."""
        entry = self.ledger.claim(part)
        if entry is None:
            return self._not_claimed(part)
        try:
            sent = call()
        except TransientError as exc:
            self.ledger.mark_failed(part, str(exc), retryable=True)
            raise
        except UncertainError as exc:
            self.ledger.mark_uncertain(part, str(exc))
            raise
        except PermanentError as exc:
            self.ledger.mark_failed(part, str(exc), retryable=False)
            raise
        self.ledger.mark_sent(part, remote_id=sent.remote_id, remote_url=sent.remote_url)
        return sent

    def _not_claimed(self, part: str) -> Sent:
        current = self._current(part)
        if current.state == "sent":
            return Sent(current.remote_id, current.remote_url)
        if current.state == "failed" and not current.retryable:
            raise PermanentError(f"{self.label}: {self.describe(part)} was refused earlier: {current.last_error}")
        if current.state == "uncertain":
            raise self.needs_person(current)
        raise self.held_elsewhere(current) or TransientError(
            f"{self.label}: {self.describe(part)} is being sent by another worker", retry_after=self.in_flight)

    def _current(self, part: str) -> "LedgerEntry":
        entry = self.ledger.entry(part)
        if entry is None:
            raise LookupError(f"{self.ledger!r}: part {part!r} was never planned")
        return entry

    # -- 5. receipt ---------------------------------------------------------------------------------

    def receipt(self, parts: Iterable[str], detail: str = "", url: str | None = None):
        from channels.base import Receipt

        entries = {entry.part: entry for entry in self.ledger.entries()}
        chosen = [entries[part] for part in parts]
        sent = [e for e in chosen if e.state == "sent"]
        notes = "; ".join([*self.notes, *([detail] if detail else [])])
        return Receipt(state="sent" if len(sent) == len(chosen) else "partial", sent=len(sent),
                       total=len(chosen), detail=notes, remote_ids=tuple(e.remote_id for e in sent if e.remote_id),
                       url=url or next((e.remote_url for e in sent if e.remote_url), None))


def _now():
    from publisher.store import utcnow

    return utcnow()
