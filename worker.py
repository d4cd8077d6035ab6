"""The Celery app: `celery -A worker worker -Q email,social` (or `publisher worker`).

Broker and results from PUBLISHER_BROKER_URL (Redis in production). Tasks are in
publisher.tasks: thin, they take ids, reload, and call publisher.jobs.
"""
from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready
from kombu import Queue

# Redis hands a message that no worker acknowledged (its worker was killed: acks_late) to another
# worker after this many seconds. Short enough that a crash heals within minutes; a message held
# longer (a retry's countdown) may run twice, which the ledger makes harmless (Celery docs:
# "long countdowns re-execute"). PUBLISHER_VISIBILITY_TIMEOUT overrides it.
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 300


def redis_transport_options() -> dict:
    visibility = int(os.environ.get("PUBLISHER_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT_SECONDS))
    # kombu sweeps for expired unacknowledged messages every interval x throttle seconds (100 s by
    # default); sweep every few seconds instead so a dead worker's task comes back promptly.
    return {"visibility_timeout": visibility, "unacked_restore_interval": max(1, min(10, visibility // 2)),
            "unacked_restore_throttle": 1}


def make_app(broker_url: str | None = None) -> Celery:
    broker = broker_url or os.environ.get("PUBLISHER_BROKER_URL") or "memory://"
    celery = Celery("publisher", broker=broker, include=["publisher.tasks"])
    celery.conf.update(
        task_acks_late=True,  # a killed worker's task is redelivered; the ledger makes that harmless
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a batch waits in the queue, not behind a busy worker
        task_queues=(Queue("social"), Queue("email")),
        task_default_queue="social",
        # Each task is sent to its channel's queue (Channel.queue): email on "email", the rest on "social".
        broker_transport_options=redis_transport_options(),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
    )
    return celery


app = make_app()


def _redact_logs() -> None:
    """Secrets masked in every log record of the worker and its forked pool (publisher.log_redaction)."""
    from publisher.config import load_settings
    from publisher.errors import ConfigError
    from publisher.log_redaction import redact_log_records

    try:
        redact_log_records(load_settings())
    except ConfigError:  # the tasks say so; nothing secret was loaded to leak
        pass


_redact_logs()


@worker_ready.connect
def start_due_loop(**_: object) -> None:
    """A worker presses due schedules too (publisher.scheduler; the claim makes one process press each)."""
    import logging

    from publisher.config import load_settings
    from publisher.errors import ConfigError
    from publisher.scheduler import start_scheduler

    try:
        start_scheduler(load_settings())
    except ConfigError as exc:  # the tasks will say so too; the worker itself still runs
        logging.getLogger(__name__).error("schedules are not pressed by this worker: %s: %s", exc.where, exc.what)
