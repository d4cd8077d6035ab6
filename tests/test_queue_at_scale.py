"""One press, 10,000 subscribers, two workers sharing the email queue and one on the social queue,
stand-ins failing 30% of calls, the store on PostgreSQL: every channel ends sent, every subscriber
got exactly one email, the thread is one chain."""
from __future__ import annotations

import csv

import pytest
import redis
import requests

from publisher.sandbox.run import start_sandbox
from tests.conftest import SAMPLE, run_cli
from tests.test_celery_worker import REDIS_URL, Workers
from tests.test_publish_e2e import preview_of, received

SUBSCRIBERS = 10_000


@pytest.fixture
def sandbox():
    with start_sandbox() as running:
        yield running


def chaos(sandbox) -> None:
    """30% of calls fail. Telegram gets only faults the Bot API itself reports (429, JSON 5xx): a
    timeout there cannot be reconciled (no history API) and is held as uncertain by design."""
    rules = {
        "x": [{"match": "/2/tweets", "kind": "429", "ratio": 0.1, "times": 0, "retry_after": 1},
              {"match": "/2/tweets", "kind": "503", "ratio": 0.1, "times": 0},
              {"match": "/2/tweets", "kind": "timeout", "ratio": 0.1, "times": 0, "delay": 3, "after": True}],
        "telegram": [{"match": "send", "kind": "429", "ratio": 0.15, "times": 0, "retry_after": 1},
                     {"match": "send", "kind": "500", "ratio": 0.15, "times": 0}],
        "wechat": [{"match": "/cgi-bin/", "kind": "429", "ratio": 0.1, "times": 0, "retry_after": 1},
                   {"match": "/cgi-bin/", "kind": "502", "ratio": 0.1, "times": 0},
                   {"match": "draft/add", "kind": "timeout", "ratio": 0.3, "times": 0, "delay": 3, "after": True}],
    }
    for name, rule_list in rules.items():
        requests.post(f"{sandbox.servers[name].url}/_sandbox/faults", json={"rules": rule_list},
                      timeout=10).raise_for_status()
    sandbox.smtp.set_faults(temporary_next=3000, disconnect_after=200, disconnect_stage="mail", disconnect_times=0)


def test_ten_thousand_subscribers_two_email_workers_thirty_percent_faults(sandbox, tmp_path, pg_url):
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {**sandbox.env(), "PUBLISHER_DB_URL": pg_url, "PUBLISHER_BROKER_URL": REDIS_URL,
           "PUBLISHER_VISIBILITY_TIMEOUT": "30", "PUBLISHER_X_PAUSE_SECONDS": "0",
           "PUBLISHER_RETRY_BASE_SECONDS": "0.2", "PUBLISHER_RETRY_CAP_SECONDS": "2",
           "PUBLISHER_RETRY_MAX_ATTEMPTS": "30", "PUBLISHER_EMAIL_BATCH_SIZE": "500",
           "PUBLISHER_READ_TIMEOUT_SECONDS": "2"}
    path = tmp_path / "subscribers.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name"])
        writer.writerows([f"reader{i:05d}@example.com", f"Reader {i}"] for i in range(SUBSCRIBERS))
    assert run_cli("subscribers", "import", str(path), env=env).returncode == 0

    pool = Workers(env)
    try:
        pool.start(queues="email", concurrency=2)
        pool.start(queues="email", concurrency=2)
        pool.start(queues="social", concurrency=1)
        chaos(sandbox)
        result = run_cli("publish", str(SAMPLE), env=env, timeout=600)
    finally:
        pool.stop_all()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    got = received(sandbox)
    recipients = [m["rcpt_tos"][0] for m in got["email"]]
    assert len(recipients) == len(set(recipients)) == SUBSCRIBERS
    expected = preview_of(tmp_path)
    tweets = got["x"]
    assert [t["text"] for t in tweets] == [t["text"] for t in expected["x"]]
    for before, after in zip(tweets, tweets[1:]):
        assert after["in_reply_to_tweet_id"] == before["id"]
    assert len(got["telegram"]) == len(expected["telegram"])
    assert len(got["wechat"]) == 1
