"""The SQLite engine of the status store: WAL, a busy timeout, and write transactions that take the
write lock at BEGIN so two processes never deadlock upgrading a read lock."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

# How long a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_engine(db_url: str, database: str) -> Engine:
    in_memory = database in ("", ":memory:")
    if in_memory:
        engine = create_engine(db_url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(db_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below); pysqlite's implicit transactions would defer the
        # write lock to the first write and fail with "database is locked" under contention.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not in_memory:
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe in WAL
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine



def _use_wal(cursor: Any) -> None:
    """Switch a file database to WAL, waiting out other connections that switch it at the same time.

    The switch takes an exclusive lock and SQLite does not call the busy handler for it, so several
    processes opening a new database at once get "database is locked" at once; the mode is stored in
    the file, so only the first switch matters and the others find it done.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
