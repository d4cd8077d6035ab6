"""The due loop: every `publisher serve` and `publisher worker` process looks for due schedules
every PUBLISHER_SCHEDULE_POLL_SECONDS (one indexed read), claims each with a compare-and-set
(publisher.schedule.ScheduleBook.claim: of several processes exactly one wins) and presses it
through the press of `publisher publish --yes` (prepare, refuse_blocked, then run here or
enqueue for the workers and wait). The ledger makes the press itself idempotent too.

- Late: a schedule found due well after its time (no process was running then, or the machine
  was down) is pressed at once, and its row notes how late.
- Restart: a claimer renews its claim while pressing; a claim not renewed for STALE_CLAIM_SECONDS
  (its process died mid-press) is claimed again, and the press resumes where the ledger stopped.
- Changed file: the current file is pressed if it still passes its checks (--force applies only
  to the content that was scheduled); a file that is gone, a draft, or one whose checks now find
  problems is recorded as failed on the row, and nothing is sent.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from publisher.config import Settings
from publisher.errors import InputError
from publisher.models import Schedule, utcnow
from publisher.schedule import ScheduleBook, in_words, shown, stale_cutoff
from publisher.secrets import redact
from publisher.states import ScheduleState
from publisher.store import Store

log = logging.getLogger(__name__)

# A claim is renewed this often while its press runs, and taken over when not renewed for
# STALE_CLAIM_SECONDS (a renewal can wait up to SQLite's 30 s busy timeout behind a writer).
RENEW_SECONDS = 15.0
STALE_CLAIM_SECONDS = 120.0


def late_after_seconds(poll_seconds: float) -> float:
    """Found due later than this after its time: nothing was looking for it then (worth a note)."""
    return 3 * poll_seconds + 5


@dataclass(frozen=True)
class DueOutcome:
    state: ScheduleState
    publication_id: int | None = None
    note: str | None = None
    error: str | None = None


def press_due(row: Schedule, settings: Settings) -> DueOutcome:
    """Press a claimed schedule's post as `publisher publish POST --yes` would (without a terminal)."""
    from publisher.publish import (NoWorker, PressBlocked, enqueue, post_sha256, prepare, refuse_blocked, run,
                                   wait_for)

    path = Path(row.post_path)
    if not path.is_file():
        return DueOutcome(ScheduleState.FAILED, error=f"{path}: the file is gone (moved or deleted after it was "
                          "scheduled); nothing was sent")
    changed = post_sha256(path) != row.content_sha256
    note = "The file changed after it was scheduled; its current version was pressed." if changed else None
    force = bool(row.force) and not changed
    try:
        pressed = prepare(path, settings)
        if pressed.rendered.post.slug != row.post_slug:
            return DueOutcome(ScheduleState.FAILED, error=f"{path}: its slug is now {pressed.rendered.post.slug!r}, "
                              f"not {row.post_slug!r} as scheduled; nothing was sent")
        refuse_blocked(pressed, settings, (), force, False)
    except PressBlocked as exc:
        lines = "; ".join(f"{name}: {problem}" for name, found in exc.problems.items() for problem in found)
        return DueOutcome(ScheduleState.FAILED, note=note, error=f"its checks found problems at the due time, so "
                          f"nothing was sent: {lines}")
    except InputError as exc:
        return DueOutcome(ScheduleState.FAILED, note=note, error=f"{exc.where}: {exc.what}; nothing was sent")
    if settings.broker_url:
        result = enqueue(pressed, settings, force=force)
        try:
            result = wait_for(result, settings)
        except NoWorker as exc:
            return DueOutcome(ScheduleState.PUBLISHED, pressed.publication_id, note, f"{exc.what}")
    else:
        result = run(pressed, settings, force=force)
    not_sent = [f"{o.channel}: {o.state}" + (f" ({o.detail})" if o.detail else "")
                for o in result.outcomes if not o.ok]
    return DueOutcome(ScheduleState.PUBLISHED, result.publication_id, note, "; ".join(not_sent) or None)


class Scheduler:
    """One per process: a daemon thread that presses due schedules."""

    def __init__(self, settings: Settings, poll_seconds: float | None = None):
        self.settings = settings
        self.poll_seconds = settings.schedule_poll_seconds if poll_seconds is None else poll_seconds
        self.book = ScheduleBook(Store(settings.db_url))
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Scheduler:
        self._thread = threading.Thread(target=self._loop, name="publisher-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the loop; the next poll tries again
                log.exception("scheduler: looking for due schedules failed")
            self._stop.wait(self.poll_seconds)

    def run_due(self, now: datetime | None = None) -> list[int]:
        """Claim and press every schedule due now; returns the ids this process pressed."""
        pressed = []
        for schedule_id in self.book.due(now or utcnow(), stale_cutoff(now or utcnow(), STALE_CLAIM_SECONDS)):
            claimed_at = now or utcnow()
            row = self.book.claim(schedule_id, self.me, claimed_at, stale_cutoff(claimed_at, STALE_CLAIM_SECONDS))
            if row is None:
                continue  # another process won the claim
            self._note_lateness(row, claimed_at)
            self._press(row)
            pressed.append(schedule_id)
        return pressed

    def _note_lateness(self, row: Schedule, claimed_at: datetime) -> None:
        late = (claimed_at - row.due_at).total_seconds()
        if row.started_at is not None and row.started_at < claimed_at:
            self.book.add_note(row.id, f"The process pressing it stopped; {self.me} took it over at "
                               f"{shown(claimed_at, row.zone)} and the press resumed where its ledger stopped.")
        elif late > late_after_seconds(self.poll_seconds):
            self.book.add_note(row.id, f"Pressed {in_words(late)} late, at {shown(claimed_at, row.zone)}: no "
                               "`publisher serve` or `publisher worker` was running at the due time.")

    def _press(self, row: Schedule) -> None:
        log.info("scheduler: pressing %s (due %s)", row.post_path, row.due_at.isoformat())
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(row.id, done), daemon=True,
                                   name=f"publisher-schedule-{row.id}")
        renewer.start()
        try:
            outcome = press_due(row, self.settings)
        except Exception as exc:  # noqa: BLE001 - recorded on the row; the ledger keeps what was sent
            log.exception("scheduler: pressing %s stopped", row.post_path)
            outcome = DueOutcome(ScheduleState.FAILED, error=redact(f"the press stopped: {exc}; `publisher publish "
                                 f"{row.post_path}` resumes it (what was sent is not sent again)", self.settings))
        finally:
            done.set()
            renewer.join(RENEW_SECONDS)
        self.book.finish(row.id, self.me, outcome.state, publication_id=outcome.publication_id,
                         note=outcome.note, error=outcome.error)
        log.info("scheduler: %s %s", row.post_path, outcome.state)

    def _renew(self, schedule_id: int, done: threading.Event) -> None:
        while not done.wait(RENEW_SECONDS):
            try:
                self.book.renew(schedule_id, self.me)
            except Exception:  # noqa: BLE001 - the next renewal tries again
                log.warning("scheduler: renewing the claim of schedule %s failed", schedule_id)


_started: Scheduler | None = None
_started_lock = threading.Lock()


def start_scheduler(settings: Settings) -> Scheduler | None:
    """Start this process's due loop (once); None when PUBLISHER_SCHEDULE_POLL_SECONDS is 0."""
    global _started
    if settings.schedule_poll_seconds <= 0:
        return None
    with _started_lock:
        if _started is None:
            _started = Scheduler(settings).start()
        return _started
