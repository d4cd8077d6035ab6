"""Publishing at a time: `publisher schedule` / `unschedule`, the desk's picker, and the due loop of
real `publisher serve` and `publisher worker` processes against the loopback stand-ins, with a
shared state. The claim is a compare-and-set on SQLite and PostgreSQL: exactly one process presses."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from publisher.config import load_settings
from publisher.models import Schedule
from publisher.post import parse_post
from publisher.schedule import ScheduleBook, schedule_post
from publisher.scheduler import Scheduler, late_after_seconds
from publisher.store import Store
from tests.conftest import ROOT, SAMPLE, fresh_redis, live_env, run_cli
from tests.test_publish_e2e import assert_one_of_everything, preview_of, received

POLL = "1"  # seconds between looks for due schedules, in the processes these tests start
ZONE = "Asia/Shanghai"
LONG_TITLE = "A title far too long for WeChat, which takes thirty-two characters at most"


def now() -> datetime:
    return datetime.now(UTC)


def write_post(folder: Path, name: str, when: datetime | None, extra: str = "") -> Path:
    """The example post under another name, with `publish_at:` written in ZONE without a zone (so
    PUBLISHER_TIMEZONE places it) and any `extra` front matter lines."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = extra + (f"publish_at: {when.astimezone(ZoneInfo(ZONE)):%Y-%m-%d %H:%M:%S}\n" if when else "")
    path = folder / name
    path.write_text(SAMPLE.read_text("utf-8").replace("---\n", "---\n" + lines, 1), "utf-8")
    return path


def schedule_row(db_url: str, slug: str) -> Schedule | None:
    return ScheduleBook(Store(db_url)).latest([slug]).get(slug)


def wait_for_state(db_url: str, slug: str, states: tuple[str, ...], timeout: float) -> Schedule:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = schedule_row(db_url, slug)
        if row is not None and row.state in states:
            return row
        time.sleep(0.5)
    raise AssertionError(f"{slug}: schedule still {row.state if row else None} after {timeout} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """`publisher serve` / `publisher worker` subprocesses of one test, each in its own process group."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}, **env}
        self.log_dir = log_dir
        self.running: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        log = open(self.log_dir / f"process-{len(self.running)}.log", "wb")
        process = subprocess.Popen([sys.executable, "-m", "publisher", *args], cwd=ROOT, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append(process)
        return process

    def serve(self) -> tuple[subprocess.Popen, int]:
        port = free_port()
        process = self.start("serve", "--port", str(port), "--workers", "2")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    return process, port
            except requests.ConnectionError:
                time.sleep(0.3)
        raise AssertionError(self.logs())

    def logs(self) -> str:
        return "\n".join(path.read_text("utf-8", "replace") for path in sorted(self.log_dir.glob("process-*.log")))

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(20)


@pytest.fixture
def env(sandbox, tmp_path):
    return live_env(sandbox, tmp_path, PUBLISHER_TIMEZONE=ZONE, PUBLISHER_SCHEDULE_POLL_SECONDS=POLL,
                    PUBLISHER_DESK_PASSWORD="schedule-test-password", PUBLISHER_CONTENT_DIR=str(tmp_path / "posts"))


@pytest.fixture
def processes(env, tmp_path):
    started = Processes(env, tmp_path)
    yield started
    started.stop_all()


def test_two_serve_processes_publish_a_due_post_once_and_an_unscheduled_one_never(sandbox, env, processes, tmp_path):
    (first, _), (second, _) = processes.serve(), processes.serve()
    posts = tmp_path / "posts"
    due = now() + timedelta(seconds=20)
    post = write_post(posts, SAMPLE.name, due)  # same slug and content as the example, plus publish_at
    other = write_post(posts, "another-issue.md", due + timedelta(seconds=10))
    scheduled = run_cli("schedule", str(post), env=env)
    assert scheduled.returncode == 0, scheduled.stdout + scheduled.stderr
    assert ZONE in scheduled.stdout and "UTC" in scheduled.stdout
    assert run_cli("schedule", str(other), env=env).returncode == 0
    cancelled = run_cli("unschedule", str(other), env=env)
    assert cancelled.returncode == 0 and "nothing will be sent" in cancelled.stdout, cancelled.stderr
    assert received(sandbox) == {"email": [], "x": [], "telegram": [], "wechat": []}  # a schedule sends nothing now

    db_url = env["PUBLISHER_DB_URL"]
    row = wait_for_state(db_url, "2026-01-24-ai-daily", ("published", "failed"), timeout=90)
    assert row.state == "published", (row.last_error, processes.logs())
    assert row.claimed_by in {f"{socket.gethostname()}:{p.pid}" for p in (first, second)}
    assert row.published_at >= row.due_at and abs((row.due_at - due).total_seconds()) < 1
    time.sleep(3 * float(POLL) + 1)  # both processes looked again: nothing more is sent
    assert_one_of_everything(received(sandbox), preview_of(tmp_path))
    assert schedule_row(db_url, "another-issue").state == "unscheduled"

    report = json.loads(run_cli("status", str(post), "--json", env=env).stdout)
    assert {c["channel"]: c["state"] for c in report[0]["channels"]} == {
        "email": "sent", "telegram": "sent", "x": "sent", "wechat": "drafted"}
    plan = report[0]["schedule"]
    assert plan["state"] == "published" and plan["due_local"].endswith(ZONE) and plan["due_utc"].endswith("UTC")
    assert plan["published_at"] and plan["note"] is None and plan["last_error"] is None
    text = run_cli("status", str(post), env={**env, "COLUMNS": "200"}).stdout
    assert "published" in text and plan["due_local"] in text and plan["published_utc"] in text, text


def test_a_schedule_due_while_nothing_ran_is_pressed_at_once_with_a_note(sandbox, env, processes, tmp_path):
    post = write_post(tmp_path / "posts", SAMPLE.name, None)
    due = now() + timedelta(seconds=10)  # room for the schedule command on a loaded machine
    scheduled = run_cli("schedule", str(post), "--at", due.strftime("%Y-%m-%dT%H:%M:%SZ"), env=env)
    assert scheduled.returncode == 0, scheduled.stderr
    time.sleep(max(0.0, (due - now()).total_seconds()) + late_after_seconds(float(POLL)) + 2)
    assert received(sandbox)["email"] == []  # no process was running at the due time
    processes.serve()
    row = wait_for_state(env["PUBLISHER_DB_URL"], "2026-01-24-ai-daily", ("published", "failed"), timeout=90)
    assert row.state == "published", (row.last_error, processes.logs())
    assert "late" in row.note and "no `publisher serve` or `publisher worker` was running" in row.note
    assert_one_of_everything(received(sandbox), preview_of(tmp_path))
    status = json.loads(run_cli("status", str(post), "--json", env=env).stdout)[0]["schedule"]
    assert status["note"] == row.note


def test_a_worker_presses_due_schedules_too(sandbox, env, processes, tmp_path):
    broker = fresh_redis("redis://127.0.0.1:6379/13")
    queued = {**env, "PUBLISHER_BROKER_URL": broker, "PUBLISHER_VISIBILITY_TIMEOUT": "5"}
    processes.env.update(queued)
    post = write_post(tmp_path / "posts", SAMPLE.name, now() + timedelta(seconds=8))
    assert run_cli("schedule", str(post), env=queued).returncode == 0
    processes.start("worker", "-Q", "email,social", "-c", "2")
    row = wait_for_state(env["PUBLISHER_DB_URL"], "2026-01-24-ai-daily", ("published", "failed"), timeout=120)
    assert row.state == "published" and row.last_error is None, (row.last_error, processes.logs())
    assert_one_of_everything(received(sandbox), preview_of(tmp_path))


# -- scheduling checks, offline (no credentials: a press would write the outbox) -------------------------

@pytest.fixture
def offline(tmp_path):
    return {"PUBLISHER_DB_URL": f"sqlite:///{tmp_path / 'state.db'}", "PUBLISHER_OUTBOX_DIR": str(tmp_path / "out"),
            "PUBLISHER_TIMEZONE": ZONE}


def test_a_post_whose_checks_fail_is_scheduled_only_with_force(offline, tmp_path):
    post = write_post(tmp_path, "long-title.md", now() + timedelta(hours=1))
    post.write_text(post.read_text("utf-8").replace("title: ", f"title: {LONG_TITLE} #", 1), "utf-8")
    refused = run_cli("schedule", str(post), env=offline)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "wechat" in refused.stderr and "--force" in refused.stderr
    assert schedule_row(offline["PUBLISHER_DB_URL"], "long-title") is None
    forced = run_cli("schedule", str(post), "--force", env=offline)
    assert forced.returncode == 0, forced.stderr
    assert schedule_row(offline["PUBLISHER_DB_URL"], "long-title").force is True


def test_a_draft_cannot_be_scheduled(offline, tmp_path):
    post = write_post(tmp_path, "draft-issue.md", now() + timedelta(hours=1), extra="draft: true\n")
    result = run_cli("schedule", str(post), env=offline)
    assert result.returncode == 2 and "draft" in result.stderr and "draft-issue.md" in result.stderr
    assert "Traceback" not in result.stderr
    assert schedule_row(offline["PUBLISHER_DB_URL"], "draft-issue") is None


def test_times_in_the_past_without_a_time_or_unknown_zones_are_refused(offline, tmp_path):
    post = write_post(tmp_path, "issue.md", None)
    for args, words in ((("--at", "2020-01-01 08:00"), "is in the past"), ((), "has no publish_at"),
                        (("--at", "2030-01-01 08:00 Mars/Olympus"), "unknown time zone"),
                        (("--at", "2030-01-01"), "expected a date and time")):
        result = run_cli("schedule", str(post), *args, env=offline)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, args
    gone = run_cli("unschedule", str(post), env=offline)
    assert gone.returncode == 2 and "is not scheduled" in gone.stderr


def test_the_due_press_takes_the_current_file_and_records_a_file_that_is_gone(offline, tmp_path):
    settings = load_settings(env=offline)
    changed = write_post(tmp_path, "changed.md", None)
    vanished = write_post(tmp_path, "vanished.md", None)
    for path in (changed, vanished):
        schedule_post(path, settings, at=(now() + timedelta(seconds=30)).isoformat())
    changed.write_text(changed.read_text("utf-8") + "\nOne more line.\n", "utf-8")
    vanished.unlink()
    pressed = Scheduler(settings, poll_seconds=1).run_due(now=now() + timedelta(seconds=31))
    assert len(pressed) == 2
    book = ScheduleBook(Store(settings.db_url)).latest()
    assert book["changed"].state == "published" and "current version was pressed" in book["changed"].note
    assert (tmp_path / "out" / "changed" / "email").is_dir()  # no credentials: the outbox
    assert book["vanished"].state == "failed" and "the file is gone" in book["vanished"].last_error
    assert not (tmp_path / "out" / "vanished").exists()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'claims.db'}"
    return request.getfixturevalue("pg_url")


def test_exactly_one_of_many_claimers_wins_a_due_schedule(db_url, tmp_path):
    settings = load_settings(env={"PUBLISHER_DB_URL": db_url})
    post = parse_post("---\ntitle: Claimed\n---\nBody.\n", name="claimed.md", settings=settings, default_slug="claimed")
    due = now() + timedelta(seconds=5)
    row = ScheduleBook(Store(db_url)).put(post, tmp_path / "claimed.md", "0" * 64, due, "UTC", False).row
    later = due + timedelta(seconds=1)
    assert ScheduleBook(Store(db_url)).claim(row.id, "early", due - timedelta(seconds=1), due - timedelta(hours=1)) \
        is None  # not due yet

    def race(names: list[str], when: datetime, stale_before: datetime) -> list[str]:
        won, start = [], threading.Barrier(len(names))

        def claim(name: str) -> None:
            book = ScheduleBook(Store(db_url))  # an engine of its own, as another process has
            start.wait()
            if book.claim(row.id, name, when, stale_before) is not None:
                won.append(name)

        threads = [threading.Thread(target=claim, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        return won

    winners = race([f"p{i}" for i in range(8)], later, later - timedelta(minutes=2))
    assert len(winners) == 1
    assert race([f"q{i}" for i in range(8)], later, later - timedelta(minutes=2)) == []  # a fresh claim stands
    takeover = race([f"r{i}" for i in range(8)], later + timedelta(minutes=5), later + timedelta(minutes=3))
    assert len(takeover) == 1  # a claim not renewed (its process died) is taken over by exactly one
    assert schedule_row(db_url, "claimed").claimed_by == takeover[0]


# -- the desk ------------------------------------------------------------------------------------------------

def test_the_desk_schedules_lists_and_unschedules_a_post(tmp_path):
    import re

    from publisher.web import create_app

    posts = tmp_path / "posts"
    write_post(posts, SAMPLE.name, None)
    write_post(posts, "draft-issue.md", None, extra="draft: true\n")
    settings = load_settings(env={"PUBLISHER_DB_URL": f"sqlite:///{tmp_path / 'desk.db'}", "PUBLISHER_TIMEZONE": ZONE,
                                  "PUBLISHER_CONTENT_DIR": str(posts), "PUBLISHER_DESK_PASSWORD": "desk-password-12",
                                  "PUBLISHER_OUTBOX_DIR": str(tmp_path / "out")})
    client = create_app(settings, Store(settings.db_url)).test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"password": "desk-password-12", "csrf_token": token}).status_code == 303
    slug = "2026-01-24-ai-daily"
    page = client.get(f"/posts/{slug}").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # the session's, after the login
    assert 'type="datetime-local"' in page and f'value="{ZONE}"' in page and 'data-testid="unschedule"' not in page
    assert 'data-testid="schedule-form"' not in client.get("/posts/draft-issue").get_data(as_text=True)

    at = (now() + timedelta(days=1)).astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%dT%H:%M")
    json_headers = {"Accept": "application/json"}
    refused = client.post(f"/posts/{slug}/schedule", data={"at": at, "zone": "Nowhere/Else", "csrf_token": token},
                          headers=json_headers)
    assert refused.status_code == 422 and "unknown time zone" in refused.get_json()["error"]
    done = client.post(f"/posts/{slug}/schedule", data={"at": at, "zone": "Europe/Paris", "csrf_token": token},
                       headers=json_headers)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["schedule"]["due_local"] == at.replace("T", " ") + " Europe/Paris"
    listed = client.get("/posts").get_data(as_text=True)
    assert "scheduled: due " + at.replace("T", " ") + " Europe/Paris" in listed
    page = client.get(f"/posts/{slug}").get_data(as_text=True)
    assert 'data-testid="unschedule"' in page and f'value="{at}"' in page
    assert client.post(f"/posts/{slug}/unschedule", data={"csrf_token": token}).status_code == 303
    assert schedule_row(settings.db_url, slug).state == "unscheduled"
    assert "scheduled: due" not in client.get("/posts").get_data(as_text=True)
