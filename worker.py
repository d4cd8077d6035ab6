"""The Celery app: `celery -A worker worker`. Broker from PUBLISHER_BROKER_URL."""
import os

from celery import Celery

app = Celery("publisher", broker=os.environ.get("PUBLISHER_BROKER_URL") or "memory://")
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, task_default_queue="social")
