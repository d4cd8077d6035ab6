"""Fan-out benchmark: one post mailed to N subscribers through the real queued path, against the
limit of the same mailing sent by a bare smtplib loop. Run by hand (not a test):

    cd /work/main && .venv/bin/python bench/fanout.py                  # 1k, 10k, 100k on SQLite
    .venv/bin/python bench/fanout.py --sizes 1000,10000 --db sqlite,postgres

Per N it
- seeds N active subscribers into a fresh database (a SQLite file, or a fresh PostgreSQL schema),
  starts a real `celery worker -Q email -c CONCURRENCY`, presses publish in a fresh process
  (prepare: render; enqueue: plan one ledger part per subscriber, queue one task per batch), and
  times the sending phase: from the first task queued to the last email the ledger records as sent;
- the limit: the same N messages built beforehand (EmailPayload.personalize, as the worker does),
  sent by `smtplib.SMTP.sendmail` over the same number of connections (one per batch) from the
  same number of processes, to the same sink;
- peak RSS (VmHWM) of the pressing process and of every worker process.

Both runs mail Postfix's `smtp-sink` on a free loopback port: it discards what it receives and
answers at once, so the client is what is measured. Everything started here is stopped at the
end, also on Ctrl-C or a failure. Loopback only.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as `python bench/fanout.py`: the project is one level up

from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

POST = ROOT / "examples" / "2026-01-24-ai-daily.md"
DEFAULT_SIZES = (1_000, 10_000, 100_000)
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"  # flushed before every run
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SITE_URL = "https://bench.example.com"
SECRET_KEY = "fanout-bench-secret"
SMTP_SINK = "/usr/sbin/smtp-sink"
SINK_BACKLOG = 1024
SINK_SETTLE_SECONDS = 2.0
SMTP_TIMEOUT_SECONDS = 30.0  # the limit run's socket timeout, as channels.email's read timeout

# The targets of the issue: emails/s at TARGET_RATIO_AT subscribers is at least TARGET_RATIO of
# the bare smtplib limit, and peak RSS at the largest N is within TARGET_RSS_GROWTH of the smallest.
TARGET_RATIO = 0.9
TARGET_RATIO_AT = 10_000
TARGET_RSS_GROWTH = 1.2

WORKER_READY_SECONDS = 60.0
WORKER_STOP_SECONDS = 15.0
PRESS_SECONDS = 600.0  # render and plan; 100k subscribers take well under a minute
POLL_SECONDS = 0.2
EXTRA_ROUNDS = 2  # rounds tried beyond --repeat when some fail (e.g. a worker killed from outside)
SEED_CHUNK = 5_000  # rows per INSERT (SQLite: 5 columns x 5000 stays below 32766 bound variables)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
out = Console(width=max(120, shutil.get_terminal_size().columns))


# --- results ---------------------------------------------------------------------------------------
@dataclass
class ProjectRun:
    prepare_seconds: float  # load, render every channel, find the publication
    plan_seconds: float  # plan one ledger part per subscriber, up to the first task queued
    send_seconds: float  # first task queued -> last email recorded as sent
    sent: int
    state: str
    press_rss_kib: int
    worker_rss_kib: int  # the largest VmHWM among the worker's processes (main and pool children)
    sink_messages: int
    worker_cpu_seconds: float  # user+system of the worker's processes from ready to the end
    sink_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.send_seconds if self.send_seconds > 0 else 0.0


@dataclass
class LimitRun:
    seconds: float
    sent: int
    connections: int
    sink_messages: int
    cpu_seconds: float  # user+system of the sending processes while sending
    sink_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def median_run(runs: list):
    """The run with the median rate (the lower middle one of an even count)."""
    return sorted(runs, key=lambda run: run.rate)[(len(runs) - 1) // 2] if runs else None


@dataclass
class Row:
    """One N on one database: every repetition of both runs; the figures are their medians."""

    db: str
    n: int
    project_runs: list[ProjectRun] = field(default_factory=list)
    limit_runs: list[LimitRun] = field(default_factory=list)
    paired_ratios: list[float] = field(default_factory=list)  # project / limit of the same round
    notes: list[str] = field(default_factory=list)

    @property
    def project(self) -> ProjectRun | None:
        return median_run(self.project_runs)

    @property
    def limit(self) -> LimitRun | None:
        return median_run(self.limit_runs)

    @property
    def press_rss_kib(self) -> int:
        return max((run.press_rss_kib for run in self.project_runs), default=0)

    @property
    def worker_rss_kib(self) -> int:
        return max((run.worker_rss_kib for run in self.project_runs), default=0)

    @property
    def ratio(self) -> float | None:
        """The median of the rounds' ratios: a round's two runs see the same background load."""
        return statistics.median(self.paired_ratios) if self.paired_ratios else None


# --- processes -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen, grace: float) -> None:
    """Stop a process started here in its own session, with everything it started (SIGTERM, then
    SIGKILL after `grace` seconds)."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Sink:
    """smtp-sink on a free loopback port; -c prints running counters, read to count messages."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.log = workdir / "smtp-sink.out"
        command = [SMTP_SINK, "-c"]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]  # smtp-sink refuses to run as root without it
        command += [f"127.0.0.1:{self.port}", str(SINK_BACKLOG)]
        self.process = subprocess.Popen(command, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"smtp-sink exited: {self.log.read_text(errors='replace')[-500:]}")
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=2) as probe:
                    probe.noop()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not answer within 10 s")

    def received_since(self, before: int, expected: int) -> int:
        """Messages received since the count was `before`, waiting up to SINK_SETTLE_SECONDS for
        the counter line of the last session to be written."""
        deadline = time.monotonic() + SINK_SETTLE_SECONDS
        while self.messages() - before < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages() - before

    def messages(self) -> int:
        """Messages received so far (smtp-sink's counter at the last session end or '.')."""
        found = re.findall(rb"mesg=(\d+)", self.log.read_bytes())
        return int(found[-1]) if found else 0

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        stop_group(self.process, 5.0)


def descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (proc(5) fields 14, 15)


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the process's peak resident set size so far, in KiB (0 if it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) if match else 0


class Worker:
    """A real `celery -A worker worker -Q email` started from the project root with `env`."""

    def __init__(self, env: dict[str, str], concurrency: int, workdir: Path):
        self.concurrency = concurrency
        self.log = workdir / "worker.log"
        command = [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "email", "-c", str(concurrency),
                   "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                   "-n", f"fanout-{os.getpid()}@%h"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log.open("wb"),
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited: {self.tail()}")
            if b" ready." in self.log.read_bytes() and len(descendants(self.process.pid)) >= self.concurrency:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the worker was not ready within {WORKER_READY_SECONDS:.0f} s: {self.tail()}")

    def peak_rss_kib(self) -> int:
        return max(peak_rss_kib(pid) for pid in [self.process.pid, *descendants(self.process.pid)])

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in [self.process.pid, *descendants(self.process.pid)])

    def tail(self) -> str:
        """Its exit code and the last lines of its log, for an error message."""
        lines = self.log.read_text(errors="replace").splitlines()[-3:]
        return f"exit code {self.process.poll()}; log ends: " + " | ".join(lines)

    def stop(self) -> None:
        stop_group(self.process, WORKER_STOP_SECONDS)


# --- the database ----------------------------------------------------------------------------------
@contextmanager
def fresh_database(kind: str, workdir: Path, n: int, pg_url: str, round_no: int) -> Iterator[str]:
    """A database URL nobody used before: a new SQLite file, or a new PostgreSQL schema (dropped
    at the end) that the connection's search_path selects."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'fanout-{n}.db'}"
        return
    import psycopg

    schema = f"fanout_{os.getpid()}_{n}_{round_no}"
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def subscriber_row(i: int) -> dict[str, str]:
    return {"email": f"reader{i:07d}@example.org", "name": f"Reader {i}", "status": "active"}


def seed_subscribers(db_url: str, n: int) -> None:
    from publisher.store import Store, Subscriber

    store = Store(db_url)
    for start in range(0, n, SEED_CHUNK):
        with store.session() as session:
            rows = [subscriber_row(i) for i in range(start, min(n, start + SEED_CHUNK))]
            session.execute(store.insert(Subscriber), rows)
    store.dispose()


def flush_broker(broker_url: str) -> None:
    import redis

    redis.Redis.from_url(broker_url).flushdb()


# --- the project run -------------------------------------------------------------------------------
def press(env: dict[str, str], post: str, answer) -> None:
    """In a fresh process: press publish (email only) on the queued path; send back the times and
    this process's peak RSS. The clock stops for planning at the first task queued."""
    os.environ.update(env)
    try:
        from celery.signals import after_task_publish

        from publisher.config import load_settings
        from publisher.publish import enqueue, prepare

        first_queued: list[float] = []
        after_task_publish.connect(lambda **_: first_queued or first_queued.append(time.time()), weak=False)
        settings = load_settings()
        started = time.time()
        pressed = prepare(post, settings)
        prepared = time.time()
        result = enqueue(pressed, settings, only=("email",))
        answer.send({"started": started, "prepared": prepared, "first_queued": (first_queued or [time.time()])[0],
                     "outcome": [(o.channel, o.state, o.where, o.detail) for o in result.outcomes],
                     "publication_id": pressed.publication_id, "rss_kib": peak_rss_kib(os.getpid())})
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        answer.send({"error": f"{type(exc).__name__}: {exc}"})
        raise


def run_press(env: dict[str, str], post: Path) -> dict:
    spawn = multiprocessing.get_context("spawn")  # a clean interpreter: its RSS is the press's own
    receiving, sending = spawn.Pipe(duplex=False)
    child = spawn.Process(target=press, args=(env, str(post), sending), name="fanout-press")
    child.start()
    deadline = time.monotonic() + PRESS_SECONDS
    try:
        while not receiving.poll(POLL_SECONDS):
            if not child.is_alive():
                raise RuntimeError(f"the press exited without an answer (exit code {child.exitcode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the press did not answer within {PRESS_SECONDS:.0f} s")
        answer = receiving.recv()
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()
            child.join()
    if "error" in answer:
        raise RuntimeError(f"the press failed: {answer['error']}")
    return answer


def follow_delivery(db_url: str, publication_id: int, n: int, timeout: float, worker: Worker) -> tuple[str, int]:
    """Wait until every queued task of the email delivery has finished; the delivery's state and
    the parts the ledger counts as sent. Polls only the delivery row, in a read transaction:
    Store.delivery() writes (it creates a missing row), and a poller taking SQLite's write lock or
    counting the whole ledger ten times a second would slow down the run it measures."""
    from sqlalchemy import select

    from publisher.ledger import Ledger
    from publisher.store import Delivery, Store

    store = Store(db_url)
    query = select(Delivery.state, Delivery.pending_tasks, Delivery.sent_parts).where(
        Delivery.publication_id == publication_id, Delivery.channel == "email")
    deadline = time.monotonic() + timeout
    columns = (TextColumn("  sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=out, transient=True) as bar:
            task = bar.add_task("sent", total=n)
            while True:
                with store.read_session() as session:
                    state, pending, sent = session.execute(query).one()
                bar.update(task, completed=sent or 0)
                if (pending or 0) <= 0 and state in ("sent", "partial", "failed"):
                    return state, Ledger(store, publication_id, "email").counts()["sent"]
                if worker.process.poll() is not None:
                    raise RuntimeError(f"the worker exited mid-run: {worker.tail()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{sent}/{n} sent after {timeout:.0f} s (delivery {state})")
                time.sleep(POLL_SECONDS)
    finally:
        store.dispose()


def last_sent_at(db_url: str, publication_id: int) -> float:
    """When the last email was recorded as sent (the worker's clock, written right after the group
    containing it was accepted)."""
    from sqlalchemy import func, select

    from publisher.store import LedgerRow, Store

    store = Store(db_url)
    with store.read_session() as session:
        latest = session.scalar(select(func.max(LedgerRow.updated_at)).where(
            LedgerRow.publication_id == publication_id, LedgerRow.channel == "email", LedgerRow.state == "sent"))
    store.dispose()
    return latest.timestamp()


def project_run(env: dict[str, str], db_url: str, n: int, args, workdir: Path, sink: Sink) -> ProjectRun:
    flush_broker(args.broker_url)
    worker = Worker(env, args.concurrency, workdir)
    try:
        worker.wait_ready()
        cpu_before, sink_cpu_before = worker.cpu_seconds(), sink.cpu_seconds()
        before = sink.messages()
        pressed = run_press(env, args.post)
        state, sent = follow_delivery(db_url, pressed["publication_id"], n, args.timeout, worker)
        finished = last_sent_at(db_url, pressed["publication_id"]) if sent else pressed["first_queued"]
        worker_rss = worker.peak_rss_kib()
        worker_cpu = worker.cpu_seconds() - cpu_before
    finally:
        worker.stop()
    return ProjectRun(prepare_seconds=pressed["prepared"] - pressed["started"],
                      plan_seconds=pressed["first_queued"] - pressed["prepared"],
                      send_seconds=finished - pressed["first_queued"], sent=sent, state=state,
                      press_rss_kib=pressed["rss_kib"], worker_rss_kib=worker_rss,
                      sink_messages=sink.received_since(before, sent), worker_cpu_seconds=worker_cpu,
                      sink_cpu_seconds=sink.cpu_seconds() - sink_cpu_before)


# --- the limit run ---------------------------------------------------------------------------------
def build_messages(settings, post_path: str, batches: list[range]) -> list[list[tuple[str, bytes]]]:
    """The messages of these batches exactly as the worker builds them (same payload, recipient
    name and signed unsubscribe URL)."""
    import datetime as dt

    from channels.email.channel import CHANNEL
    from publisher import subscribers
    from publisher.post import load_post
    from publisher.store import Subscriber

    payload = CHANNEL.render(load_post(post_path, settings), settings)
    date = None if payload.post_date else dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    built = []
    for batch in batches:
        messages = []
        for i in batch:
            row = subscriber_row(i)
            subscriber = Subscriber(id=i + 1, email=row["email"], name=row["name"])
            url = subscribers.unsubscribe_url(settings, subscribers.token_for(settings, subscriber))
            messages.append((row["email"], payload.personalize(to_email=row["email"], to_name=row["name"],
                                                               unsubscribe_url=url, date=date)))
        built.append(messages)
    return built


def bare_sender(env: dict[str, str], post_path: str, batches: list[range], ready, start, answer) -> None:
    """One limit process: build its messages, wait for the start, then one connection per batch
    and a plain sendmail per message."""
    os.environ.update(env)
    from channels.email.message import _address_of
    from publisher.config import load_settings

    settings = load_settings()
    sender = _address_of(settings.email_from)
    built = build_messages(settings, post_path, batches)
    ready.release()
    start.wait()
    times = os.times()
    sent = 0
    for messages in built:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        smtp.ehlo()
        for to_addr, message in messages:
            smtp.sendmail(sender, [to_addr], message)
            sent += 1
        smtp.quit()
    end = time.time()
    used = os.times()
    answer.put((sent, end, used.user + used.system - times.user - times.system))


def limit_run(env: dict[str, str], n: int, args, sink: Sink) -> LimitRun:
    batches = [range(start, min(n, start + args.batch_size)) for start in range(0, n, args.batch_size)]
    fork = multiprocessing.get_context("fork")
    ready, start, answers = fork.Semaphore(0), fork.Event(), fork.Queue()
    processes = [fork.Process(target=bare_sender, args=(env, str(args.post), batches[k::args.concurrency],
                                                        ready, start, answers), name=f"fanout-limit-{k}")
                 for k in range(min(args.concurrency, len(batches)))]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            if not ready.acquire(timeout=600):
                raise RuntimeError("the limit processes did not build their messages within 600 s")
        before, sink_cpu_before = sink.messages(), sink.cpu_seconds()
        started = time.time()
        start.set()
        results = collect_answers(answers, processes, args.timeout)
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
    return LimitRun(seconds=max(end for _, end, _ in results) - started, sent=sum(s for s, _, _ in results),
                    connections=len(batches), sink_messages=sink.received_since(before, n),
                    cpu_seconds=sum(cpu for _, _, cpu in results),
                    sink_cpu_seconds=sink.cpu_seconds() - sink_cpu_before)


def collect_answers(answers, processes: list, timeout: float) -> list[tuple[int, float, float]]:
    """One (sent, finished at, CPU seconds) per limit process; fails fast if one of them died."""
    import queue

    results, deadline = [], time.monotonic() + timeout
    while len(results) < len(processes):
        try:
            results.append(answers.get(timeout=POLL_SECONDS))
            continue
        except queue.Empty:
            pass
        if any(p.exitcode not in (None, 0) for p in processes):
            raise RuntimeError("a limit process failed: exit codes "
                               + ", ".join(str(p.exitcode) for p in processes))
        if time.monotonic() > deadline:
            raise TimeoutError(f"the limit run did not finish within {timeout:.0f} s")
    return results


# --- one N -----------------------------------------------------------------------------------------
def bench_env(db_url: str, args, sink: Sink, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update({
        "PUBLISHER_DB_URL": db_url, "PUBLISHER_BROKER_URL": args.broker_url,
        "PUBLISHER_SMTP_HOST": "127.0.0.1", "PUBLISHER_SMTP_PORT": str(sink.port),
        "PUBLISHER_SITE_URL": SITE_URL, "PUBLISHER_SECRET_KEY": SECRET_KEY,
        "PUBLISHER_EMAIL_FROM": f"Bench <newsletter@{SITE_URL.split('//', 1)[1]}>",
        "PUBLISHER_EMAIL_BATCH_SIZE": str(args.batch_size), "PUBLISHER_OUTBOX_DIR": str(workdir / "outbox"),
    })
    return env


def bench_one(row: Row, args, sink: Sink, workdir: Path) -> None:
    """args.repeat rounds of (project run, limit run) back to back, so that both see the same
    background load. A failed round is noted and the next one goes on. Results go into `row` as
    they come, so an interrupted N still reports its finished rounds."""
    kind, n = row.db, row.n
    done = 0
    for round_no in range(1, args.repeat + EXTRA_ROUNDS + 1):
        if done == args.repeat:
            break
        tag = f"{label(kind, n)} round {round_no} ({done + 1} of {args.repeat})"
        try:
            bench_round(row, round_no, tag, args, sink, workdir)
            done += 1
        except (RuntimeError, TimeoutError, OSError) as exc:
            row.notes.append(f"round {round_no} failed: {type(exc).__name__}: {str(exc)[:200]}")
            out.print(f"[red]{tag} failed:[/] {escape(str(exc)[-600:])}")


def bench_round(row: Row, round_no: int, tag: str, args, sink: Sink, workdir: Path) -> None:
    """One project run (fresh database, fresh worker) and one limit run."""
    kind, n = row.db, row.n
    run_dir = workdir / f"{kind}-{n}-{round_no}"
    run_dir.mkdir()
    project = limit = None
    with fresh_database(kind, run_dir, n, args.pg_url, round_no) as db_url:
        env = bench_env(db_url, args, sink, run_dir)
        if not args.skip_project:
            with out.status(f"{tag}: seeding {n:,} subscribers"):
                seed_subscribers(db_url, n)
            out.print(f"{tag}: project run (press, then {args.concurrency} worker processes)")
            project = project_run(env, db_url, n, args, run_dir, sink)
            row.project_runs.append(project)
            if project.sent != n or project.sink_messages != n:
                row.notes.append(f"round {round_no} project: {project.sent} sent in the ledger, the sink "
                                 f"counted {project.sink_messages}, expected {n}")
    if not args.skip_limit:
        # No spinner here: its thread would be running while the limit processes are forked.
        out.print(f"{tag}: limit run (building {n:,} messages, then sending)")
        limit = limit_run(env, n, args, sink)
        row.limit_runs.append(limit)
        if limit.sent != n or limit.sink_messages != n:
            row.notes.append(f"round {round_no} limit: {limit.sent} sent, the sink counted "
                             f"{limit.sink_messages}, expected {n}")
    if project and limit and limit.rate:
        row.paired_ratios.append(project.rate / limit.rate)
    out.print(round_line(tag, project, limit))


# --- report ----------------------------------------------------------------------------------------
def label(kind: str, n: int) -> str:
    return escape(f"[{kind} {n:,}]")


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f}"


def round_line(tag: str, project: ProjectRun | None, limit: LimitRun | None) -> str:
    parts = [tag]
    if project:
        parts.append(f"project {project.rate:,.0f}/s (press {project.prepare_seconds:.2f}+"
                     f"{project.plan_seconds:.2f} s, send {project.send_seconds:.2f} s)")
    if limit:
        parts.append(f"limit {limit.rate:,.0f}/s ({limit.seconds:.2f} s)")
    if project and limit and limit.rate:
        parts.append(f"ratio {project.rate / limit.rate:.2f}")
    return " ".join(parts)


def cpu_per_email_ms(cpu_seconds: float, sent: int) -> str:
    return f"{1000 * cpu_seconds / sent:.2f}" if sent else ""


def results_table(kind: str, rows: list[Row], concurrency: int) -> Table:
    table = Table(title=f"fan-out on {kind}, {concurrency} worker processes, one connection per "
                        "batch; emails/s = N / sending phase")
    for column in ("N", "press s\nrender+plan", "send s", "project\nemails/s", "limit\nemails/s", "ratio\n(median)",
                   "CPU ms/email\nproject", "CPU ms/email\nlimit", "press peak\nRSS MiB",
                   "worker peak\nRSS MiB", "notes"):
        table.add_column(column, justify="left" if column == "notes" else "right", overflow="fold")
    for row in rows:
        p, lim = row.project, row.limit
        table.add_row(
            f"{row.n:,}",
            f"{p.prepare_seconds:.2f}+{p.plan_seconds:.2f}" if p else "",
            f"{p.send_seconds:.2f}" if p else "",
            f"{p.rate:,.0f}" if p else "",
            f"{lim.rate:,.0f}" if lim else "",
            f"{row.ratio:.2f}" if row.ratio is not None else "",
            cpu_per_email_ms(p.worker_cpu_seconds, p.sent) if p else "",
            cpu_per_email_ms(lim.cpu_seconds, lim.sent) if lim else "",
            mib(row.press_rss_kib) if p else "",
            mib(row.worker_rss_kib) if p else "",
            escape("; ".join(row.notes)))
    return table


def verdicts(rows: list[Row]) -> list[str]:
    lines = []
    at = next((r for r in rows if r.n == TARGET_RATIO_AT and r.ratio is not None), None)
    if at is None:
        lines.append(f"ratio target: not measured (needs N={TARGET_RATIO_AT:,})")
    else:
        met = "MET" if at.ratio >= TARGET_RATIO else "NOT MET"
        rounds = ", ".join(f"{r:.2f}" for r in at.paired_ratios)
        lines.append(f"ratio at {TARGET_RATIO_AT:,}: {at.ratio:.2f} (rounds {rounds}; target >= {TARGET_RATIO}) {met}")
        if at.project and at.limit and at.project.sent and at.limit.sent:
            project_cpu = at.project.worker_cpu_seconds / at.project.sent
            limit_cpu = at.limit.cpu_seconds / at.limit.sent
            lines.append(f"client CPU per email at {TARGET_RATIO_AT:,}: project {1000 * project_cpu:.2f} ms, limit "
                         f"{1000 * limit_cpu:.2f} ms (limit / project {limit_cpu / project_cpu:.2f}; steadier than "
                         "emails/s on a busy machine)")
    measured = sorted((r for r in rows if r.project), key=lambda r: r.n)
    if len(measured) < 2:
        lines.append("RSS target: needs two sizes")
        return lines
    small, large = measured[0], measured[-1]
    for who, attr in (("press", "press_rss_kib"), ("worker", "worker_rss_kib")):
        growth = getattr(large, attr) / max(1, getattr(small, attr))
        met = "MET" if growth <= TARGET_RSS_GROWTH else "NOT MET"
        lines.append(f"{who} peak RSS {large.n:,} / {small.n:,}: {growth:.2f} (target <= {TARGET_RSS_GROWTH}) {met}")
    return lines


def write_json(path: Path, args, rows: dict[str, list[Row]]) -> None:
    def run_dict(run) -> dict:
        return {**dataclasses.asdict(run), "rate": run.rate}

    document = {"concurrency": args.concurrency, "batch_size": args.batch_size, "post": args.post.name,
                "rows": [{"db": row.db, "n": row.n, "ratio": row.ratio, "paired_ratios": row.paired_ratios,
                          "notes": row.notes,
                          "project_runs": [run_dict(r) for r in row.project_runs],
                          "limit_runs": [run_dict(r) for r in row.limit_runs]}
                         for kind_rows in rows.values() for row in kind_rows]}
    path.write_text(json.dumps(document, indent=1))


# --- main ------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="subscriber counts, comma-separated (default %(default)s)")
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres or both: sqlite,postgres")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2,
                        help="worker processes, and limit processes (default: CPUs, %(default)s)")
    parser.add_argument("--batch-size", type=int, default=500, help="recipients per task and connection")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per sending phase")
    parser.add_argument("--post", type=Path, default=POST)
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of both runs per N; the table shows medians (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write every run's figures to this file")
    parser.add_argument("--skip-limit", action="store_true", help="only the project run")
    parser.add_argument("--skip-project", action="store_true", help="only the limit run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (databases, logs)")
    args = parser.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    args.dbs = [d.strip().replace("postgresql", "postgres") for d in args.db.split(",") if d.strip()]
    if unknown := set(args.dbs) - {"sqlite", "postgres"}:
        parser.error(f"unknown --db {', '.join(sorted(unknown))}")
    return args


def raise_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(SMTP_SINK).exists():
        out.print(f"[red]error:[/] {SMTP_SINK} not found: this benchmark mails Postfix's smtp-sink, which "
                  "answers at once so the client is what is measured. Install it: "
                  "`DEBIAN_FRONTEND=noninteractive apt-get install -y postfix`")
        return 2
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="fanout-"))
    rows: dict[str, list[Row]] = {kind: [] for kind in args.dbs}
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        sink = Sink(workdir)
        stack.callback(sink.stop)
        out.print(f"smtp-sink on 127.0.0.1:{sink.port}; work folder {workdir}; post {args.post.name}")
        try:
            for kind in args.dbs:
                for n in args.sizes:
                    rows[kind].append(Row(kind, n))
                    bench_one(rows[kind][-1], args, sink, workdir)
        except KeyboardInterrupt:
            out.print("[yellow]interrupted: stopping what was started[/]")
        if args.json:
            write_json(args.json, args, rows)
        for kind, kind_rows in rows.items():
            if kind_rows:
                out.print(results_table(kind, kind_rows, args.concurrency))
                for line in verdicts(kind_rows):
                    out.print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
