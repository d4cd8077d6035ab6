"""Celery tasks: thin. They take ids, reload everything (publisher.jobs), make one attempt, and
leave retry timing to publisher.retry, the one policy the in-process press uses too."""
from __future__ import annotations

import logging
import time

from channels.base import PermanentError, TransientError, UncertainError
from publisher.config import load_settings
from publisher.jobs import attempt, load_job, settle
from publisher.rate_limit import pacer_for
from publisher.retry import RetryPolicy
from publisher.store import Store
from worker import app

log = logging.getLogger(__name__)
_stores: dict[str, Store] = {}


def _store(db_url: str) -> Store:
    if db_url not in _stores:
        _stores[db_url] = Store(db_url)
    return _stores[db_url]


@app.task(bind=True, name="publisher.deliver_channel", max_retries=None)  # publisher.retry's time budget ends retries
def deliver_channel(self, publication_id: int, channel: str, failing_since: float | None = None) -> str:
    """Send one channel (X thread, Telegram calls, WeChat draft) of a publication."""
    return run_attempt(self, publication_id, channel, None, failing_since)


@app.task(bind=True, name="publisher.deliver_batch", max_retries=None)
def deliver_batch(self, publication_id: int, channel: str, subscriber_ids: list[int],
                  failing_since: float | None = None) -> str:
    """Send one batch of subscribers of a batched channel (email: over one SMTP connection)."""
    return run_attempt(self, publication_id, channel, subscriber_ids, failing_since)


def run_attempt(task, publication_id: int, channel: str, subscriber_ids: list[int] | None,
                failing_since: float | None) -> str:
    """One attempt; a transient failure schedules the next one (publisher.retry) and carries the
    time failures began, which any progress resets."""
    settings = load_settings()
    store = _store(settings.db_url)
    job = load_job(settings, store, publication_id, channel)
    policy = RetryPolicy.from_settings(settings)
    store.set_delivery_state(publication_id, channel, "sending")
    error = ""
    ctx = job.context()
    try:
        ctx.pace = pacer_for(settings.broker_url)
        receipt = attempt(job, ctx, subscriber_ids)
        error = receipt.detail if receipt.state != "sent" else ""
    except (TransientError, UncertainError) as exc:
        now = time.time()
        if failing_since is None or ctx.ledger.sent_marks > 0:
            failing_since = now
        if not policy.gives_up(failing_since, now):
            store.set_delivery_state(publication_id, channel, "retrying", error=str(exc))
            kwargs = {**(task.request.kwargs or {}), "failing_since": failing_since}
            raise task.retry(countdown=policy.delay(task.request.retries + 1, getattr(exc, "retry_after", None)),
                             kwargs=kwargs)
        error = policy.gave_up_text(failing_since, exc, now)
    except PermanentError as exc:
        error = str(exc)
    remaining = store.task_finished(publication_id, channel)
    if remaining > 0:  # other batches still queued: the last one to finish settles the delivery
        store.set_delivery_state(publication_id, channel, "sending", error=error or None)
        return "sending"
    return settle(job, error).state
