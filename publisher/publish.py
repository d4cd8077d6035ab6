"""Press publish once: render, refuse what the checks refuse, and deliver every enabled channel
exactly once (the ledger remembers what earlier presses finished).

Two ways to run the same jobs (publisher.jobs):
- embedded default (no PUBLISHER_BROKER_URL): in this process, with the retry policy of
  publisher.retry, waiting for the result;
- queued: one Celery task per channel, email split into one task per batch of recipients
  (publisher.tasks), on the `social` and `email` queues.
A channel without credentials goes to the outbox folder instead (and says so).
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from channels.base import BatchedChannel, Channel, PermanentError, TransientError, UncertainError
from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.jobs import ChannelOutcome, Job, attempt, plan_mailing, settle
from publisher.outbox import write_outbox
from publisher.post import Post, load_post
from publisher.preview import Rendered, render_all
from publisher.retry import RetryPolicy
from publisher.store import Store

if TYPE_CHECKING:
    from publisher.ledger import Ledger

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # channel, parts done, parts total


@dataclass
class PublishResult:
    post: Post
    publication_id: int
    outcomes: list[ChannelOutcome]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def publish(
    post_path: str | Path,
    settings: Settings,
    *,
    force: bool = False,
    again: bool = False,
    only: Sequence[str] = (),
    progress: Progress = lambda channel, done, total: None,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishResult:
    """Publish in this process and wait: what `publisher publish` runs on the embedded default."""
    pressed = prepare(post_path, settings, again=again)
    return run(pressed, settings, force=force, only=only, progress=progress, sleep=sleep)


def post_sha256(path: str | Path) -> str:
    """The identity of a post file's content as pressed."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Pressed:
    """A validated, rendered post and its publication row: everything a press needs to deliver."""

    rendered: Rendered
    store: Store
    publication_id: int


def prepare(post_path: str | Path, settings: Settings, *, again: bool = False) -> Pressed:
    """Validate and render the post, then find (or, with `again`, start) its publication."""
    post_path = Path(post_path)
    post = load_post(post_path, settings)
    rendered = render_all(post, settings)
    store = Store(settings.db_url)
    raw = post_path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    publication = store.get_or_create_publication(post.slug, sha, post.title, again=again)
    store.set_publication_source(publication.id, post.source, raw.decode("utf-8-sig"), sha)
    return Pressed(rendered, store, publication.id)


def run(pressed: Pressed, settings: Settings, *, force: bool = False, only: Sequence[str] = (),
        progress: Progress = lambda channel, done, total: None,
        sleep: Callable[[float], None] = time.sleep) -> PublishResult:
    outcomes = []
    for name, channel in CHANNELS.items():
        if only and name not in only:
            continue
        outcomes.append(publish_channel(channel, pressed.rendered, settings, pressed.store, pressed.publication_id,
                                        force=force, progress=progress, sleep=sleep))
    return PublishResult(pressed.rendered.post, pressed.publication_id, outcomes)


_running: dict[int, threading.Thread] = {}
_running_lock = threading.Lock()


def retry_failed(post_path: str | Path, settings: Settings, channels: Sequence[str] = (),
                 resolve: str | None = None) -> Pressed:
    """`publisher retry`: reopen failed parts (and, with `resolve`, settle uncertain ones as
    "sent" or "resend" after a person checked the platform), so the next press sends them."""
    from publisher.ledger import Ledger

    pressed = prepare(post_path, settings)
    for name in channels or CHANNELS:
        ledger = Ledger(pressed.store, pressed.publication_id, name)
        if resolve:
            ledger.settle_uncertain(resolve)
        ledger.reopen_failed()
        delivery = pressed.store.delivery(pressed.publication_id, name)
        if delivery.state != "sent":
            pressed.store.reset_pending_tasks(pressed.publication_id, name)
    return pressed


def press_in_background(post_path: str | Path, settings: Settings, *, force: bool = False,
                        again: bool = False) -> int:
    """Start publishing and return the publication id at once (the web desk's button).

    In-process: one background thread per publication; pressing again while it runs joins the
    running press instead of starting a second one. Statuses are read from the store."""
    pressed = prepare(post_path, settings, again=again)
    if settings.broker_url:
        return enqueue(pressed, settings, force=force).publication_id
    with _running_lock:
        thread = _running.get(pressed.publication_id)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_run_logged, args=(pressed, settings, force), daemon=True,
                                      name=f"publish-{pressed.publication_id}")
            _running[pressed.publication_id] = thread
            thread.start()
    return pressed.publication_id


def _run_logged(pressed: Pressed, settings: Settings, force: bool) -> None:
    try:
        run(pressed, settings, force=force)
    except Exception:  # the thread has no caller to raise to; the store keeps the states
        log.exception("publishing publication %s stopped", pressed.publication_id)


def gate(channel: Channel, rendered: Rendered, settings: Settings, store: Store,
         publication_id: int, force: bool) -> ChannelOutcome | None:
    """The outcome for a channel that is not to be sent now (disabled, blocked by its checks,
    without credentials, already sent), or None when it should be sent."""
    name, post = channel.name, rendered.post
    if not post.channel_enabled(name):
        return ChannelOutcome(name, "disabled", "disabled", detail="channels." + name + ".enabled is false")
    problems = rendered.problems[name]
    if problems and not force:
        return ChannelOutcome(name, "blocked", "blocked",
                              detail="; ".join(problems) + " (fix the post, or publish with --force)")
    if not channel.configured(settings):
        folder = write_outbox(channel, rendered.payloads[name], post, settings, store)
        return ChannelOutcome(name, "outbox", "outbox", detail=f"no credentials; written to {folder}")
    delivery = store.delivery(publication_id, name)
    if delivery.state == "sent":
        return ChannelOutcome(name, "sent", "skipped", delivery.sent_parts, delivery.total_parts,
                              "already sent by an earlier press; nothing sent again (use --again to republish)",
                              list(delivery.remote_ids or []), list(delivery.remote_urls or []))
    return None


def publish_channel(
    channel: Channel, rendered: Rendered, settings: Settings, store: Store, publication_id: int, *,
    force: bool, progress: Progress, sleep: Callable[[float], None],
) -> ChannelOutcome:
    """Deliver one channel in this process, waiting for the end."""
    stopped = gate(channel, rendered, settings, store, publication_id, force)
    if stopped is not None:
        return stopped
    name = channel.name
    job = Job(settings, store, publication_id, channel, rendered.post, rendered.payloads[name])
    ctx = job.context(progress=lambda done, total: progress(name, done, total), sleep=sleep)
    if not isinstance(channel, BatchedChannel):
        return settle(job, deliver_with_retries(job, lambda: attempt(job, ctx), ctx.sleep, ctx.ledger))
    errors = []
    for batch in plan_mailing(job):
        error = deliver_with_retries(job, lambda: attempt(job, ctx, batch), ctx.sleep, ctx.ledger)
        if error:
            errors.append(error)
    return settle(job, "; ".join(dict.fromkeys(errors))[:2000])


def enqueue(pressed: Pressed, settings: Settings, *, force: bool = False,
            only: Sequence[str] = ()) -> PublishResult:
    """Queue one task per channel (email: one per batch) and return at once. A delivery whose
    tasks are still queued or running is joined, not queued twice."""
    from publisher import tasks

    store, pub = pressed.store, pressed.publication_id
    outcomes = []
    for name, channel in CHANNELS.items():
        if only and name not in only:
            continue
        stopped = gate(channel, pressed.rendered, settings, store, pub, force)
        if stopped is not None:
            outcomes.append(stopped)
            continue
        delivery = store.delivery(pub, name)
        if (delivery.pending_tasks or 0) > 0:
            outcomes.append(ChannelOutcome(name, delivery.state, "queued", detail="already queued by an earlier press"))
            continue
        job = Job(settings, store, pub, channel, pressed.rendered.post, pressed.rendered.payloads[name])
        if isinstance(channel, BatchedChannel):
            batches = plan_mailing(job)
            if not batches:
                outcomes.append(settle(job))
                continue
            store.add_pending_tasks(pub, name, len(batches))
            store.set_delivery_state(pub, name, "queued")
            for batch in batches:
                tasks.deliver_batch.apply_async((pub, name, batch), queue=channel.queue)
        else:
            store.add_pending_tasks(pub, name, 1)
            store.set_delivery_state(pub, name, "queued")
            tasks.deliver_channel.apply_async((pub, name), queue=channel.queue)
        outcomes.append(ChannelOutcome(name, "queued", "queued"))
    return PublishResult(pressed.rendered.post, pub, outcomes)


def wait_for(result: PublishResult, settings: Settings, progress: Progress = lambda c, d, t: None,
             poll_seconds: float = 0.5, timeout: float | None = None) -> PublishResult:
    """Follow queued deliveries in the store until every one is finished; returns final outcomes."""
    from publisher.ledger import Ledger

    store = Store(settings.db_url)
    queued = {o.channel for o in result.outcomes if o.where == "queued"}
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        finished = {}
        rows = {d.channel: d for d in store.deliveries(result.publication_id)}  # a read, no write lock
        for name in queued:
            counts = Ledger(store, result.publication_id, name).counts()
            progress(name, counts.get("sent", 0), sum(counts.values()))
            delivery = rows[name]
            if (delivery.pending_tasks or 0) <= 0 and delivery.state in ("sent", "partial", "failed"):
                finished[name] = ChannelOutcome(name, delivery.state, "live", delivery.sent_parts,
                                                delivery.total_parts, delivery.last_error or "",
                                                list(delivery.remote_ids or []), list(delivery.remote_urls or []))
        if len(finished) == len(queued) or (deadline and time.monotonic() > deadline):
            outcomes = [finished.get(o.channel, o) for o in result.outcomes]
            return PublishResult(result.post, result.publication_id, outcomes)
        time.sleep(poll_seconds)


def deliver_with_retries(job: Job, attempt_once: Callable, sleep: Callable[[float], None],
                         ledger: "Ledger | None" = None) -> str:
    """Attempt until finished, retrying transient and uncertain outcomes with backoff until the
    retry budget passes without progress (the in-process twin of the Celery task's retry).
    `ledger` is the one the attempts record into: what it marks sent counts as progress.
    Returns the error that ended it, or ""."""
    store, pub, name = job.store, job.publication_id, job.name
    policy = RetryPolicy.from_settings(job.settings)
    attempt_no, failing_since = 0, None
    while True:
        attempt_no += 1
        marks_before = ledger.sent_marks if ledger is not None else 0
        store.set_delivery_state(pub, name, "sending")
        try:
            receipt = attempt_once()
        except (TransientError, UncertainError) as exc:
            now = time.time()
            if failing_since is None or (ledger is not None and ledger.sent_marks > marks_before):
                failing_since = now
            if policy.gives_up(failing_since, now):
                return policy.gave_up_text(failing_since, exc, now)
            store.set_delivery_state(pub, name, "retrying", error=str(exc))
            sleep(policy.delay(attempt_no, getattr(exc, "retry_after", None)))
            continue
        except PermanentError as exc:
            return str(exc)
        return receipt.detail if receipt.state != "sent" else ""
