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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from channels.base import BatchedChannel, Channel, PermanentError, TransientError, UncertainError
from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.errors import InputError, PostError
from publisher.jobs import ChannelOutcome, Job, attempt, plan_mailing, settle
from publisher.outbox import write_outbox
from publisher.post import Post, load_post
from publisher.preview import Rendered, render_all
from publisher.retry import RetryPolicy
from publisher.rounds import delivery_state, nothing_left, round_publication
from publisher.states import DELIVERY_COMPLETE_STATES, DELIVERY_FINISHED_STATES
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
    rounds: dict[str, int] = field(default_factory=dict)  # channel → the publication of its round

    def round_of(self, channel: str) -> int:
        return self.rounds.get(channel, self.publication_id)

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
    pressed = prepare(post_path, settings, again=again, only=only)
    return run(pressed, settings, force=force, only=only, progress=progress, sleep=sleep)


def post_sha256(path: str | Path) -> str:
    """The identity of a post file's content as pressed."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Pressed:
    """A validated, rendered post and its publication rows: everything a press needs to deliver.
    `rounds`: the publication that holds each channel's current round (publisher.rounds)."""

    rendered: Rendered
    store: Store
    publication_id: int
    rounds: dict[str, int] = field(default_factory=dict)

    def round_of(self, channel: str) -> int:
        return self.rounds.get(channel, self.publication_id)


class PressBlocked(InputError):
    """Channels whose checks found problems: the press sends nothing (all or nothing)."""

    def __init__(self, post: Post, problems: dict[str, list[str]]):
        lines = [f"{name}: {problem}" for name, found in problems.items() for problem in found]
        super().__init__(post.source, "nothing was sent; fix these first, or publish with --ready-only (the other "
                         "channels) or --force (everything as it is):\n  " + "\n  ".join(lines))
        self.problems = problems


def refuse_draft(post: Post, doing: str) -> None:
    if post.draft:
        raise PostError(post.source, f"is a draft (draft: true in its front matter): preview works, {doing} "
                        "does not; set draft: false first")


def prepare(post_path: str | Path, settings: Settings, *, again: bool = False, only: Sequence[str] = ()) -> Pressed:
    """Validate and render the post, then find (or, with `again`, start) its publication. With
    `again`, the channels pressed (all, or `only`) start a new round; the others keep theirs."""
    post_path = Path(post_path)
    post = load_post(post_path, settings)
    refuse_draft(post, "publishing")
    learn_before_render(post, settings)
    rendered = render_all(post, settings)
    store = Store(settings.db_url)
    raw = post_path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    # Two --again presses at once (a double click, two terminals) make one round.
    publication = store.get_or_create_publication(post.slug, sha, post.title, again=again,
                                                  join_within=AGAIN_JOIN_SECONDS)
    store.set_publication_source(publication.id, post.source, raw.decode("utf-8-sig"), sha)
    rounds = {name: publication.id if again and (not only or name in only)
              else round_publication(store, post.slug, name, publication.id) for name in CHANNELS}
    for pub_id in set(rounds.values()) - {publication.id}:
        store.set_publication_source(pub_id, post.source, raw.decode("utf-8-sig"), sha)
    return Pressed(rendered, store, publication.id, rounds)


# An --again within this many seconds of the round another --again started joins that round.
AGAIN_JOIN_SECONDS = 60.0


def learn_before_render(post: Post, settings: Settings) -> None:
    """What rendering needs to know of the outside world (the email's image sizes), learned once
    per press by each channel that will send; render itself stays offline."""
    for name, channel in CHANNELS.items():
        if post.channel_enabled(name) and channel.configured(settings):
            channel.learn(post, settings)


def blocking_problems(pressed: Pressed, settings: Settings, only: Sequence[str] = ()) -> dict[str, list[str]]:
    """Per enabled channel of this press that is still to send: what stops it (its checks, and the
    settings a live send of it lacks)."""
    post, found = pressed.rendered.post, {}
    for name, channel in CHANNELS.items():
        if (only and name not in only) or not post.channel_enabled(name):
            continue
        if nothing_left(pressed.store, pressed.round_of(name), channel, pressed.rendered.payloads[name], settings):
            continue
        problems = list(pressed.rendered.problems[name])
        if channel.configured(settings):
            problems += [f"set {variable} before a live send" for variable in channel.missing_settings(settings)]
        if problems:
            found[name] = problems
    return found


def refuse_blocked(pressed: Pressed, settings: Settings, only: Sequence[str], force: bool, ready_only: bool) -> None:
    """All or nothing: a press with a blocked channel sends nothing unless the editor said how."""
    problems = blocking_problems(pressed, settings, only)
    if problems and not (force or ready_only):
        raise PressBlocked(pressed.rendered.post, problems)


def run(pressed: Pressed, settings: Settings, *, force: bool = False, ready_only: bool = False,
        only: Sequence[str] = (), progress: Progress = lambda channel, done, total: None,
        sleep: Callable[[float], None] = time.sleep) -> PublishResult:
    refuse_blocked(pressed, settings, only, force, ready_only)
    outcomes = []
    for name, channel in CHANNELS.items():
        if only and name not in only:
            continue
        outcomes.append(publish_channel(channel, pressed.rendered, settings, pressed.store, pressed.round_of(name),
                                        force=force, progress=progress, sleep=sleep))
    return PublishResult(pressed.rendered.post, pressed.publication_id, outcomes, pressed.rounds)


_running: dict[int, threading.Thread] = {}
_running_lock = threading.Lock()


def retry_failed(post_path: str | Path, settings: Settings, channels: Sequence[str] = (),
                 resolve: str | None = None) -> Pressed:
    """`publisher retry`: reopen failed parts (and, with `resolve`, settle uncertain ones as
    "sent" or "resend" after a person checked the platform), so the next press sends them."""
    from publisher.ledger import Ledger

    pressed = prepare(post_path, settings)
    for name in channels or CHANNELS:
        ledger = Ledger(pressed.store, pressed.round_of(name), name)
        if resolve:
            ledger.settle_uncertain(resolve)
        ledger.reopen_failed()
        if delivery_state(pressed.store, pressed.round_of(name), name) not in (None, *DELIVERY_COMPLETE_STATES):
            pressed.store.reset_pending_tasks(pressed.round_of(name), name)
    return pressed


def press_in_background(post_path: str | Path, settings: Settings, *, force: bool = False,
                        ready_only: bool = False, again: bool = False) -> int:
    """Start publishing and return the publication id at once (the web desk's button).

    In-process: one background thread per publication; pressing again while it runs joins the
    running press instead of starting a second one. Statuses are read from the store."""
    pressed = prepare(post_path, settings, again=again)
    refuse_blocked(pressed, settings, (), force, ready_only)
    if settings.broker_url:
        return enqueue(pressed, settings, force=force, ready_only=ready_only).publication_id
    with _running_lock:
        thread = _running.get(pressed.publication_id)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_run_logged, args=(pressed, settings, force, ready_only), daemon=True,
                                      name=f"publish-{pressed.publication_id}")
            _running[pressed.publication_id] = thread
            thread.start()
    return pressed.publication_id


def _run_logged(pressed: Pressed, settings: Settings, force: bool, ready_only: bool) -> None:
    try:
        run(pressed, settings, force=force, ready_only=ready_only)
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
    if problems and not force:  # only with --ready-only: refuse_blocked stopped the press otherwise
        return ChannelOutcome(name, "blocked", "blocked", detail="; ".join(problems) + " (fix the post, then publish "
                              "again; --force sends it as it is)")
    if not channel.configured(settings):
        folder = write_outbox(channel, rendered.payloads[name], post, settings, store)
        return ChannelOutcome(name, "outbox", "outbox", detail=f"no credentials; written to {folder}")
    missing = channel.missing_settings(settings)
    if missing and not force:
        return ChannelOutcome(name, "blocked", "blocked", detail=f"set {', '.join(missing)} before a live send")
    complete = nothing_left(store, publication_id, channel, rendered.payloads[name], settings)
    if complete:
        delivery = store.delivery(publication_id, name)
        return ChannelOutcome(name, complete, "skipped", delivery.sent_parts, delivery.total_parts,
                              f"already {complete} by an earlier press; nothing sent again (use --again to republish)",
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


def enqueue(pressed: Pressed, settings: Settings, *, force: bool = False, ready_only: bool = False,
            only: Sequence[str] = ()) -> PublishResult:
    """Queue one task per channel (email: one per batch) and return at once. A delivery whose
    tasks are still queued or running is joined, not queued twice."""
    from publisher import tasks

    refuse_blocked(pressed, settings, only, force, ready_only)
    store = pressed.store
    outcomes = []
    for name, channel in CHANNELS.items():
        if only and name not in only:
            continue
        pub = pressed.round_of(name)
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
    return PublishResult(pressed.rendered.post, pressed.publication_id, outcomes, pressed.rounds)


class NoWorker(InputError):
    """Queued work that no worker took: it stays queued; start a worker (exit 3)."""

    exit_code = 3


def wait_for(result: PublishResult, settings: Settings, progress: Progress = lambda c, d, t: None,
             poll_seconds: float = 0.5, timeout: float | None = None) -> PublishResult:
    """Follow queued deliveries in the store until every one is finished; returns final outcomes.
    Raises NoWorker when none of them started within PUBLISHER_WORKER_WAIT_SECONDS."""
    from publisher.ledger import Ledger

    store = Store(settings.db_url)
    queued = {o.channel for o in result.outcomes if o.where == "queued"}
    started_by = time.monotonic() + settings.worker_wait_seconds
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        finished = {}
        rows = {d.channel: d for pub in {result.round_of(n) for n in queued}
                for d in store.deliveries(pub) if result.round_of(d.channel) == pub}  # reads, no write lock
        for name in queued:
            counts = Ledger(store, result.round_of(name), name).counts()
            progress(name, counts.get("sent", 0), sum(counts.values()))
            delivery = rows[name]
            if (delivery.pending_tasks or 0) <= 0 and delivery.state in DELIVERY_FINISHED_STATES:
                finished[name] = ChannelOutcome(name, delivery.state, "sandbox" if settings.sandbox else "live",
                                                delivery.sent_parts,
                                                delivery.total_parts, delivery.last_error or "",
                                                list(delivery.remote_ids or []), list(delivery.remote_urls or []))
        if len(finished) == len(queued) or (deadline and time.monotonic() > deadline):
            outcomes = [finished.get(o.channel, o) for o in result.outcomes]
            return PublishResult(result.post, result.publication_id, outcomes, result.rounds)
        if started_by is not None and any(rows[n].state != "queued" or rows[n].attempts for n in queued):
            started_by = None  # a worker is on it
        if started_by is not None and time.monotonic() > started_by:
            queues = ",".join(sorted({CHANNELS[n].queue for n in queued}))
            raise NoWorker("PUBLISHER_BROKER_URL", f"no worker took the queued work within "
                           f"{settings.worker_wait_seconds:g} s; it stays queued. Start one: "
                           f"`publisher worker -Q {queues}` (same PUBLISHER_* settings), then "
                           "`publisher status POST` to follow it")
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
