"""The queued path: a real Redis (127.0.0.1:6379, DB 15, flushed), real `celery worker` processes
started here, the stand-ins on loopback, the real CLI. Crash safety by SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from tests.conftest import ROOT, SAMPLE, live_env, run_cli
from tests.test_publish_e2e import ACTIVE, assert_one_of_everything, preview_of, received

REDIS_URL = "redis://127.0.0.1:6379/15"

try:
    redis.Redis.from_url(REDIS_URL).ping()
except redis.RedisError:  # pragma: no cover - CI starts Redis
    pytest.skip("Redis is not running on 127.0.0.1:6379", allow_module_level=True)


@pytest.fixture
def env(sandbox, tmp_path):
    redis.Redis.from_url(REDIS_URL).flushdb()
    return live_env(sandbox, tmp_path, PUBLISHER_BROKER_URL=REDIS_URL, PUBLISHER_VISIBILITY_TIMEOUT="5",
                    PUBLISHER_EMAIL_BATCH_SIZE="3")


class Workers:
    def __init__(self, env: dict):
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}, **env}
        self.processes: list[subprocess.Popen] = []
        log_path = os.environ.get("PUBLISHER_TEST_WORKER_LOG")  # set it to read what workers say
        self.log = open(log_path, "ab") if log_path else subprocess.DEVNULL

    def start(self, queues: str = "email,social", concurrency: int = 2) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", queues, "-c", str(concurrency),
             "--loglevel", "INFO" if os.environ.get("PUBLISHER_TEST_WORKER_LOG") else "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"w{len(self.processes)}@%h"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log, start_new_session=True)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)  # the worker and its pool children, at once
        process.wait(30)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)


@pytest.fixture
def workers(env):
    pool = Workers(env)
    yield pool
    pool.stop_all()


def test_queued_publish_with_a_real_worker(sandbox, env, workers, tmp_path):
    workers.start()
    result = run_cli("publish", str(SAMPLE), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    got = received(sandbox)
    assert_one_of_everything(got, preview_of(tmp_path))
    again = run_cli("publish", str(SAMPLE), env=env)
    assert again.returncode == 0
    assert {k: len(v) for k, v in received(sandbox).items()} == {k: len(v) for k, v in got.items()}


def test_sigkill_of_the_worker_mid_run_then_restart(sandbox, env, workers, tmp_path):
    slow = {**env, "PUBLISHER_X_PAUSE_SECONDS": "0.3"}
    workers.env.update(slow)
    first = workers.start()
    press = run_cli("publish", str(SAMPLE), "--no-wait", env=slow)
    assert press.returncode in (0, 1), press.stderr
    time.sleep(2.0)  # mid-thread: 10 tweets 0.3 s apart; the email batches are done or running
    workers.kill(first)
    workers.start()
    result = run_cli("publish", str(SAMPLE), env=slow)  # joins the queued deliveries and waits
    got = received(sandbox)
    texts = [t["text"] for t in got["x"]]
    assert len(texts) == len(set(texts))
    assert len({m["rcpt_tos"][0] for m in got["email"]}) == len(got["email"]) <= ACTIVE
    assert result.returncode == 0, result.stdout
    assert_one_of_everything(got, preview_of(tmp_path))


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own (append-only file, fsync always), so it can be restarted."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
               "--appendfsync", "always", "--dir", str(tmp_path)]

    def start():
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                return process
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    holder = {"process": start()}

    def restart(pause: float):
        redis.Redis(port=port).shutdown(nosave=False)
        holder["process"].wait(30)
        time.sleep(pause)
        holder["process"] = start()

    yield f"redis://127.0.0.1:{port}/0", restart
    holder["process"].kill()
    holder["process"].wait(30)


def test_redis_restarted_mid_run(sandbox, env, tmp_path, own_redis):
    url, restart = own_redis
    slow = {**env, "PUBLISHER_BROKER_URL": url, "PUBLISHER_X_PAUSE_SECONDS": "0.3"}
    pool = Workers(slow)
    try:
        pool.start()
        assert run_cli("publish", str(SAMPLE), "--no-wait", env=slow).returncode == 0
        time.sleep(1.5)  # mid-thread
        restart(pause=1.0)
        result = run_cli("publish", str(SAMPLE), env=slow, timeout=300)  # joins and waits
    finally:
        pool.stop_all()
    got = received(sandbox)
    assert result.returncode == 0, result.stdout
    assert_one_of_everything(got, preview_of(tmp_path))
