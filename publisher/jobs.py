"""One delivery attempt: the unit of work shared by the in-process press (embedded default) and
the Celery tasks. Everything is reloaded from ids: the post as pressed (stored with the
publication), the payload (rendered once per process and cached), the recipients (read at send
time, so someone who unsubscribed after the press is not mailed)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from channels.base import BatchedChannel, Channel, Receipt, Recipient, SendContext
from channels.registry import CHANNELS
from publisher.config import Settings
from publisher.ledger import Ledger
from publisher.post import Post, parse_post
from publisher.store import Store

IN_PROGRESS = ("planned", "sending")


@dataclass
class ChannelOutcome:
    """How one channel stands after a press. `where`: see publisher.states.Where."""

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
        return self.state in ("sent", "drafted", "outbox", "disabled", "queued")


@dataclass
class Job:
    settings: Settings
    store: Store
    publication_id: int
    channel: Channel
    post: Post
    payload: Any

    @property
    def name(self) -> str:
        return self.channel.name

    def context(self, progress: Callable[[int, int], None] = lambda d, t: None,
                sleep: Callable[[float], None] | None = None) -> SendContext:
        ctx = SendContext(self.settings, self.store, Ledger(self.store, self.publication_id, self.name),
                          self.publication_id, progress=progress)
        if sleep is not None:
            ctx.sleep = sleep
        return ctx


@functools.lru_cache(maxsize=64)
def _render(channel_name: str, source_name: str, source_text: str, slug: str, settings: Settings) -> tuple[Post, Any]:
    post = parse_post(source_text, name=source_name, settings=settings, default_slug=slug)
    return post, CHANNELS[channel_name].render(post, settings)


def load_job(settings: Settings, store: Store, publication_id: int, channel_name: str) -> Job:
    publication = store.publication(publication_id)
    if publication is None or publication.source_text is None:
        raise LookupError(f"publication {publication_id} is unknown or has no stored post")
    post, payload = _render(channel_name, publication.source_name or publication.post_slug,
                            publication.source_text, publication.post_slug, settings)
    return Job(settings, store, publication_id, CHANNELS[channel_name], post, payload)


def recipients_by_id(job: Job, subscriber_ids: Sequence[int]) -> list:
    """The email Recipients among these subscribers that are still active now."""
    from sqlalchemy import select

    from publisher import subscribers
    from publisher.store import Subscriber

    # Plain rows, not ORM objects: a batch is read once per task and only these columns are used.
    with job.store.read_session() as session:
        rows = session.execute(select(Subscriber.id, Subscriber.email, Subscriber.name)
                               .where(job.store.among(Subscriber.id, subscriber_ids), Subscriber.status == "active")
                               .order_by(Subscriber.id)).all()
    return [Recipient(s.email, s.name or "",
                      subscribers.unsubscribe_url(job.settings, subscribers.token_for(job.settings, s)))
            for s in rows]


def plan_mailing(job: Job) -> list[list[int]]:
    """Plan one ledger part per active subscriber (idempotent), in the database; the id batches to
    send. A part is named by the address alone, so no token is signed for planning: the unsubscribe
    tokens are signed at send time (recipients_by_id)."""
    from sqlalchemy import select

    from publisher.store import Subscriber

    from publisher.journal import journal_folder, prune

    prune(journal_folder(job.settings))  # marks of mailings settled long ago: once per press, not per email
    from publisher.signup import Signups

    Signups(job.store, job.settings).prune()  # sign-ups never confirmed in time leave the list
    channel = job.channel
    sha = channel.recipient_parts(job.payload, ["planning@example.com"])[0][1]
    Ledger(job.store, job.publication_id, job.name).plan_recipients(channel.part_prefix, sha)
    with job.store.read_session() as session:
        ids = list(session.scalars(select(Subscriber.id).where(Subscriber.status == "active")
                                   .order_by(Subscriber.id)))
    size = max(1, job.settings.email_batch_size)
    return [ids[start:start + size] for start in range(0, len(ids), size)]


def attempt(job: Job, ctx: SendContext, subscriber_ids: Sequence[int] | None = None) -> Receipt:
    """One call of the channel's send (or, for email, send_batch of these subscribers).
    Raises TransientError / UncertainError / PermanentError as the channel does."""
    if isinstance(job.channel, BatchedChannel):
        return job.channel.send_batch(job.payload, ctx, recipients_by_id(job, subscriber_ids or []))
    return job.channel.send(job.payload, ctx)


def settle(job: Job, error: str = "", *, final: bool = True) -> ChannelOutcome:
    """Write the delivery's state from the ledger (the truth). Not final (other tasks of this
    delivery still queued): "sending" unless everything is sent."""
    ledger = Ledger(job.store, job.publication_id, job.name)
    counts = ledger.counts()
    total, sent = sum(counts.values()), counts.get("sent", 0)
    remote_ids: list[str] = []
    remote_urls: list[str] = []
    shown_total, shown_sent = total, sent
    complete = "sent"
    if not isinstance(job.channel, BatchedChannel):
        # People count what the channel sends (tweets, messages, the article), not its steps
        # (image uploads): the CLI, status and the desk say the same numbers.
        entries = ledger.entries()
        complete = job.channel.complete_state([e.part for e in entries])
        counted = [e for e in entries if job.channel.describe_part(e.part, total).counted]
        sent_counted = [e for e in counted if e.state == "sent"]
        shown_total, shown_sent = len(counted), len(sent_counted)
        remote_ids = [e.remote_id for e in sent_counted if e.remote_id]
        remote_urls = [e.remote_url for e in sent_counted if e.remote_url]
    if sent == total:
        state = complete
    elif not final:
        state = "sending"
    else:
        state = "partial" if sent else "failed"
    detail = "" if sent == total else error or ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items()) if s != "sent" and n)
    job.store.set_delivery_state(job.publication_id, job.name, state, error=detail or None,
                                 total_parts=shown_total, sent_parts=shown_sent, failed_parts=shown_total - shown_sent,
                                 remote_ids=remote_ids[-100:], remote_urls=remote_urls[-100:])
    return ChannelOutcome(job.name, state, "sandbox" if job.settings.sandbox else "live", shown_sent, shown_total, detail, remote_ids, remote_urls)
