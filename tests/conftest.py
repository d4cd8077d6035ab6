import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "2026-01-24-ai-daily.md"


@pytest.fixture(autouse=True, scope="session")
def _own_default_state(tmp_path_factory):
    """The default state lives in the user's data folder: the suite gets a folder of its own, so
    it never reads or writes the state of the person running it (subprocesses inherit it)."""
    import os

    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))


@pytest.fixture
def settings():
    from publisher.config import load_settings

    return load_settings(env={})


@pytest.fixture
def sample_post(settings):
    from publisher.post import load_post

    return load_post(SAMPLE, settings)


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120):
    """Run the real `publisher` command in a subprocess."""
    import os
    import subprocess

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "publisher", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


PG_URL = __import__("os").environ.get("PUBLISHER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        admin = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with admin.connect():
            pass
    except Exception:  # noqa: BLE001 - any failure to connect means "not here"
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def claim_as_dead_worker(ledger, *parts: str):
    """Claim `parts` the way one worker on this host does, then make that worker a process that has
    ended: what a SIGKILL between the claims and their outcomes leaves in the ledger. Returns the
    dead worker's name (its claims' `claimed_by`)."""
    import socket
    import subprocess

    from sqlalchemy import update

    from publisher.store import LedgerRow

    for part in parts:
        assert ledger.claim(part) is not None, f"{part} could not be claimed"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = f"{socket.gethostname()}:{gone.pid}"
    with ledger.store.session() as session:
        session.execute(update(LedgerRow).where(LedgerRow.publication_id == ledger.publication_id,
                                                LedgerRow.channel == ledger.channel, LedgerRow.part.in_(parts))
                        .values(claimed_by=dead))
    return dead


# -- the platform stand-ins, shared by the end-to-end modules -----------------------------------------

STANDINS = ("x", "telegram", "wechat", "images", "smtp_http")
EXAMPLE_SUBSCRIBERS = ROOT / "examples" / "subscribers.csv"
ACTIVE = 8  # examples/subscribers.csv: 10 rows, one unsubscribed, one bounced
# Pacing and backoff short enough for tests; the behaviour is the same.
FAST = {"PUBLISHER_X_PAUSE_SECONDS": "0", "PUBLISHER_RETRY_BASE_SECONDS": "0.05",
        "PUBLISHER_RETRY_CAP_SECONDS": "0.5"}


@pytest.fixture(scope="module")
def sandbox():
    """Loopback stand-ins of SMTP, X, Telegram and WeChat (and an image host), one set per module."""
    from publisher.sandbox.run import start_sandbox

    with start_sandbox() as running:
        yield running


def fresh_redis(url: str) -> str:
    """`url`'s Redis database, emptied; the test is skipped where no Redis answers."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError:
        pytest.skip(f"Redis is not running at {url}")
    return url


def reset_standins(sandbox, names=STANDINS) -> None:
    import requests

    for name in names:
        requests.post(f"{sandbox.servers[name].url}/_sandbox/reset", timeout=10).raise_for_status()


def live_env(sandbox, tmp_path: Path, *, subscribers: bool = True, reset=STANDINS, **extra: str) -> dict:
    """PUBLISHER_* settings of a live publisher pointed at the (reset) stand-ins, with a state of its
    own in `tmp_path`, the example subscribers imported unless `subscribers` is False."""
    reset_standins(sandbox, reset)
    env = {**sandbox.env(), "PUBLISHER_DB_URL": f"sqlite:///{tmp_path / 'p.db'}",
           "PUBLISHER_OUTBOX_DIR": str(tmp_path / "outbox"), **FAST, **extra}
    if subscribers:
        imported = run_cli("subscribers", "import", str(EXAMPLE_SUBSCRIBERS), env=env)
        assert imported.returncode == 0, imported.stderr
    return env
