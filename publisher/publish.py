"""Press publish once: render, refuse what the checks refuse, and deliver every enabled channel
exactly once (the ledger remembers what earlier presses finished).

Embedded default: everything runs in this process with the retry policy of publisher.retry.
A channel without credentials goes to the outbox folder instead (and says so).
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from channels.base import Channel, DeliveryError, PermanentError, SendContext, TransientError, UncertainError
from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.ledger import Ledger
from publisher.outbox import write_outbox
from publisher.post import Post, load_post
from publisher.preview import Rendered, render_all
from publisher.retry import RetryPolicy
from publisher.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # channel, parts done, parts total


@dataclass
class ChannelOutcome:
    """How one channel ended for this press. `where`: live, outbox, refused, disabled, skipped."""

    channel: str
    state: str
    where: str
    sent: int = 0
    total: int = 0
    detail: str = ""
    remote_ids: list[str] = field(default_factory=list)
    remote_urls: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state in ("sent", "outbox", "disabled")


@dataclass
class PublishResult:
    post: Post
    publication_id: int
    outcomes: list[ChannelOutcome]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def post_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    publication = store.get_or_create_publication(post.slug, post_sha256(post_path), post.title, again=again)
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


def press_in_background(post_path: str | Path, settings: Settings, *, force: bool = False,
                        again: bool = False) -> int:
    """Start publishing and return the publication id at once (the web desk's button).

    In-process: one background thread per publication; pressing again while it runs joins the
    running press instead of starting a second one. Statuses are read from the store."""
    pressed = prepare(post_path, settings, again=again)
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


def publish_channel(
    channel: Channel, rendered: Rendered, settings: Settings, store: Store, publication_id: int, *,
    force: bool, progress: Progress, sleep: Callable[[float], None],
) -> ChannelOutcome:
    name, post = channel.name, rendered.post
    if not post.channel_enabled(name):
        return ChannelOutcome(name, "disabled", "disabled", detail="channels." + name + ".enabled is false")
    problems = rendered.problems[name]
    if problems and not force:
        return ChannelOutcome(name, "refused", "refused",
                              detail="; ".join(problems) + " (fix the post, or publish with --force)")
    payload = rendered.payloads[name]
    if not channel.configured(settings):
        folder = write_outbox(channel, payload, post, settings, store)
        return ChannelOutcome(name, "outbox", "outbox", detail=f"no credentials; written to {folder}")

    delivery = store.delivery(publication_id, name)
    if delivery.state == "sent":
        return ChannelOutcome(name, "sent", "skipped", delivery.sent_parts, delivery.total_parts,
                              "already sent by an earlier press; nothing sent again (use --again to republish)",
                              list(delivery.remote_ids or []), list(delivery.remote_urls or []))
    ledger = Ledger(store, publication_id, name)
    ctx = SendContext(settings, store, ledger, publication_id,
                      progress=lambda done, total: progress(name, done, total), sleep=sleep)
    if name == "email":
        return deliver_email(channel, payload, ctx)
    return deliver_with_retries(name, lambda: channel.send(payload, ctx), ctx)


def deliver_with_retries(name: str, attempt_send: Callable, ctx: SendContext) -> ChannelOutcome:
    """Call send until it finishes, retrying transient and uncertain outcomes with backoff."""
    store, pub = ctx.store, ctx.publication_id
    policy = RetryPolicy.from_settings(ctx.settings)
    attempt = 0
    while True:
        attempt += 1
        store.set_delivery_state(pub, name, "sending")
        try:
            receipt = attempt_send()
        except (TransientError, UncertainError) as exc:
            if policy.gives_up_after(attempt):
                return finish(name, ctx, f"gave up after {attempt} attempts: {exc}")
            store.set_delivery_state(pub, name, "retrying", error=str(exc))
            ctx.sleep(policy.delay(attempt, getattr(exc, "retry_after", None)))
            continue
        except PermanentError as exc:
            return finish(name, ctx, str(exc))
        return finish(name, ctx, receipt.detail if receipt.state != "sent" else "", receipt)


def finish(name: str, ctx: SendContext, error: str, receipt=None) -> ChannelOutcome:
    """Record the delivery's final state from the ledger (the truth), not from hopes."""
    counts = ctx.ledger.counts()
    total = sum(counts.values())
    sent = counts.get("sent", 0)
    entries = [e for e in ctx.ledger.entries("sent")]
    remote_ids = [e.remote_id for e in entries if e.remote_id]
    remote_urls = [e.remote_url for e in entries if e.remote_url]
    if total and sent == total:
        state = "sent"
    elif sent:
        state = "partial"
    else:
        state = "failed"
    detail = error or (receipt.detail if receipt else "")
    if state != "sent" and not detail:
        detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "sent")
    ctx.store.set_delivery_state(ctx.publication_id, name, state, error=(detail or None) if state != "sent" else None,
                                 total_parts=total,
                                 sent_parts=sent, failed_parts=total - sent,
                                 remote_ids=remote_ids[-100:], remote_urls=remote_urls[-100:])
    return ChannelOutcome(name, state, "live", sent, total, detail, remote_ids, remote_urls)


def deliver_email(channel, payload, ctx: SendContext) -> ChannelOutcome:
    """Plan every active subscriber up front, then send batch by batch (one SMTP connection each)."""
    from channels.email import mailing_parts

    batches = list(recipient_batches(ctx))
    ctx.ledger.plan(mailing_parts(payload, [r for batch in batches for r in batch]))
    total = sum(len(batch) for batch in batches)
    if not total:
        ctx.store.set_delivery_state(ctx.publication_id, "email", "sent", total_parts=0, sent_parts=0)
        return ChannelOutcome("email", "sent", "live", 0, 0, "no active subscribers")
    sent_before = {"n": ctx.ledger.counts().get("sent", 0)}
    ctx.progress(sent_before["n"], total)
    batch_ctx = SendContext(ctx.settings, ctx.store, ctx.ledger, ctx.publication_id, sleep=ctx.sleep,
                            progress=lambda done, _n: ctx.progress(min(total, sent_before["n"] + done), total))
    errors = []
    for batch in batches:
        outcome = deliver_with_retries("email", lambda: channel.send_batch(payload, batch_ctx, batch), batch_ctx)
        sent_before["n"] = ctx.ledger.counts().get("sent", 0)
        if outcome.state != "sent" and outcome.detail:
            errors.append(outcome.detail)
    return finish("email", ctx, "; ".join(dict.fromkeys(errors))[:2000])


def recipient_batches(ctx: SendContext) -> Iterable[list]:
    """Active subscribers as email Recipients, in batches of PUBLISHER_EMAIL_BATCH_SIZE."""
    from channels.email import Recipient
    from publisher import subscribers

    for batch in subscribers.active_recipients(ctx.store, ctx.settings.email_batch_size):
        yield [Recipient(s.email, s.name or "", subscribers.unsubscribe_url(ctx.settings, subscribers.token_for(ctx.settings, s)))
               for s in batch]
