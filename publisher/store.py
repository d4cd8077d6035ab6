"""The status store: publications, deliveries, the publish ledger, subscribers and shared caches.

State words and their meaning: publisher.states (the glossary).

SQLite (the default, one file) runs in WAL mode with a busy timeout; write transactions start
with BEGIN IMMEDIATE so two processes never deadlock upgrading a read lock. PostgreSQL runs
through psycopg 3. Tables are created on first use; concurrent first uses are serialised
(SQLite: the write lock; PostgreSQL: an advisory lock).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Iterator, Sequence

from sqlalchemy import ARRAY, any_, bindparam, create_engine, func, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from publisher.errors import ConfigError
from publisher.sqlite_engine import sqlite_engine
# The tables live in publisher.models; they are imported from here too, as they always were.
from publisher.models import (  # noqa: F401
    Base, CachedToken, Delivery, LedgerRow, Publication, Subscriber, Upload, UTCDateTime, _add_missing_columns,
    utcnow,
)

DEFAULT_DB_URL = "sqlite:///publisher.db"

from publisher.states import DELIVERY_COMPLETE_STATES, DELIVERY_FINISHED_STATES, DELIVERY_STATES, LEDGER_STATES, SUBSCRIBER_STATUSES  # noqa: E402,F401

# Errors are stored for people to read; a whole HTML error page is not useful there.
MAX_ERROR_CHARS = 4000
# Arbitrary constant naming the PostgreSQL advisory lock that serialises schema creation.
SCHEMA_LOCK_ID = 0x7075626C  # "publ"


def clip_error(message: str | None) -> str | None:
    return None if message is None else message[:MAX_ERROR_CHARS]


def publication_key(slug: str, generation: int) -> str:
    return f"{slug}:{generation}"


def normalise_db_url(db_url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if db_url.startswith(prefix):
            return "postgresql+psycopg://" + db_url[len(prefix):]
    return db_url


class Store:
    """Engine, sessions and small helpers over the status tables.

    `session()` is a write transaction (committed on exit, rolled back on error);
    `read_session()` is for reads only (on SQLite it does not take the write lock).
    Do not open a write session inside another one in the same thread: SQLite has one writer,
    so the inner one would wait for the outer one until the busy timeout.
    Objects returned by the helpers are detached snapshots: read their attributes freely.
    A forked process (a Celery prefork worker) gets fresh connections automatically.
    """

    def __init__(self, db_url: str = DEFAULT_DB_URL):
        self.db_url = normalise_db_url(db_url)
        try:
            self._url = make_url(self.db_url)
        except ArgumentError:
            raise ConfigError("PUBLISHER_DB_URL", f"not a database URL: {db_url!r}; expected e.g. "
                              f"{DEFAULT_DB_URL} or postgresql://user@host/db") from None
        self.dialect = self._url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigError("PUBLISHER_DB_URL", f"unsupported database {self.dialect!r}; "
                              "expected sqlite or postgresql")
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._engine: Engine | None = None
        self._schema_ready = False

    def among(self, column: Any, values: Sequence[Any]) -> Any:
        """`column IN values`; on PostgreSQL `column = ANY(:array)`: one parameter, so the statement
        is the same text whatever the number of values (cached compiled, prepared once by psycopg)
        instead of one bound parameter rendered per value."""
        if self.dialect == "postgresql":
            return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        return column.in_(list(values))

    @property
    def masked_url(self) -> str:
        return self._url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Store({self.masked_url!r})"

    # -- engine ---------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine of this process (a forked worker gets its own connections, never the parent's)."""
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    self._engine.dispose(close=False)  # the parent's connections stay the parent's
                self._engine = self._build_engine()
                self._pid = os.getpid()
                self._writer = sessionmaker(bind=self._engine, expire_on_commit=False)
                self._reader = sessionmaker(
                    bind=self._engine.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False)
            return self._engine

    def _build_engine(self) -> Engine:
        try:
            if self.dialect == "sqlite":
                return sqlite_engine(self.db_url, self._url.database or "")
            return create_engine(self.db_url, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ConfigError("PUBLISHER_DB_URL", f"cannot use {self.masked_url}: {exc}") from None

    def create_schema(self) -> None:
        """Create missing tables; idempotent and safe when several processes start at once."""
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SCHEMA_LOCK_ID})
            Base.metadata.create_all(connection)
            _add_missing_columns(connection)
        self._schema_ready = True

    def _ready(self) -> None:
        self.engine  # noqa: B018 - (re)builds the engine and session factories for this process
        if not self._schema_ready:
            self.create_schema()

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not reachable" for a health check
            return False

    # -- sessions -------------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        self._ready()
        with self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        self._ready()
        with self._reader() as session, session.begin():
            yield session

    def insert(self, table: Any) -> Any:
        """An INSERT that understands ON CONFLICT on this dialect."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    # -- publications and deliveries ------------------------------------------------------------

    def get_or_create_publication(self, slug: str, sha: str, title: str, again: bool = False,
                                  join_within: float = 0.0) -> Publication:
        """The publication of this post: the latest one for the slug, or a new generation.

        Without `again`, pressing publish twice returns the same publication (even if the post
        changed since: compare `post_sha256` to warn); with `again` a new generation starts, so
        every channel is sent afresh, unless another `again` started one less than `join_within`
        seconds ago (two presses at once make one round). Two processes racing get the same row:
        the read and the insert are one write transaction.
        """
        with self.session() as session:
            newest = session.execute(select(Publication.generation, Publication.created_at)
                                     .where(Publication.post_slug == slug)
                                     .order_by(Publication.generation.desc()).limit(1)).one_or_none()
            latest = newest.generation if newest is not None else None
            just_started = (newest is not None and newest.generation > 1
                            and (utcnow() - newest.created_at).total_seconds() < join_within)
            if latest is not None and (not again or just_started):
                generation = latest
            else:
                generation = (latest or 0) + 1
                key = publication_key(slug, generation)
                session.execute(self.insert(Publication).values(
                    post_slug=slug, post_sha256=sha, key=key, generation=generation, title=title,
                    created_at=utcnow()).on_conflict_do_nothing(index_elements=["key"]))
            return session.scalars(select(Publication)
                                   .where(Publication.key == publication_key(slug, generation))).one()

    def set_publication_source(self, publication_id: int, name: str, text: str, sha: str) -> None:
        """Keep the post as last pressed: workers render from it."""
        with self.session() as session:
            row = session.get(Publication, publication_id)
            row.source_name, row.source_text, row.post_sha256 = name, text, sha

    def add_pending_tasks(self, publication_id: int, channel: str, count: int) -> None:
        self.delivery(publication_id, channel)
        with self.session() as session:
            session.execute(update(Delivery).where(Delivery.publication_id == publication_id,
                                                   Delivery.channel == channel)
                            .values(pending_tasks=func.coalesce(Delivery.pending_tasks, 0) + count))

    def reset_pending_tasks(self, publication_id: int, channel: str) -> None:
        """Forget queued tasks (they were lost with a broker that kept nothing): the next press
        queues the delivery again; a task that does turn up finds its parts settled."""
        with self.session() as session:
            session.execute(update(Delivery).where(Delivery.publication_id == publication_id,
                                                   Delivery.channel == channel).values(pending_tasks=0))

    def task_finished(self, publication_id: int, channel: str) -> int:
        """One queued task of this delivery is finished for good; returns how many remain."""
        with self.session() as session:
            remaining = session.execute(
                update(Delivery).where(Delivery.publication_id == publication_id, Delivery.channel == channel)
                .values(pending_tasks=func.coalesce(Delivery.pending_tasks, 1) - 1)
                .returning(Delivery.pending_tasks)).scalar_one()
        return remaining

    def publication(self, publication_id: int) -> Publication | None:
        with self.read_session() as session:
            return session.get(Publication, publication_id)

    def delivery(self, publication_id: int, channel: str) -> Delivery:
        """The delivery row of this channel, created as queued if missing."""
        with self.session() as session:
            session.execute(self.insert(Delivery).values(
                publication_id=publication_id, channel=channel, state="queued", attempts=0,
                total_parts=0, sent_parts=0, failed_parts=0, remote_ids=[], remote_urls=[],
                created_at=utcnow()).on_conflict_do_nothing(index_elements=["publication_id", "channel"]))
            return self._delivery_row(session, publication_id, channel)

    def deliveries(self, publication_id: int) -> list[Delivery]:
        with self.read_session() as session:
            return list(session.scalars(select(Delivery).where(Delivery.publication_id == publication_id)
                                        .order_by(Delivery.channel)))

    def set_delivery_state(
        self, publication_id: int, channel: str, state: str, *, error: str | None = None,
        total_parts: int | None = None, sent_parts: int | None = None, failed_parts: int | None = None,
        remote_ids: list[str] | None = None, remote_urls: list[str] | None = None,
    ) -> Delivery:
        """Move a delivery to `state`, keeping its timestamps and attempt count right.

        Entering "sending" counts an attempt and sets started_at (first time only); sent,
        drafted, partial and failed set finished_at; "sent" and "drafted" clear the last error.
        """
        if state not in DELIVERY_STATES:
            raise ValueError(f"unknown delivery state {state!r}; expected one of {DELIVERY_STATES}")
        self.delivery(publication_id, channel)
        with self.session() as session:
            row = self._delivery_row(session, publication_id, channel)
            now = utcnow()
            if state == "sending" and row.state != "sending":
                row.attempts += 1
                row.started_at = row.started_at or now
            row.finished_at = now if state in DELIVERY_FINISHED_STATES else None
            if error is not None:
                row.last_error = clip_error(error)
            elif state in DELIVERY_COMPLETE_STATES:
                row.last_error = None
            row.state = state
            for name, value in (("total_parts", total_parts), ("sent_parts", sent_parts),
                                ("failed_parts", failed_parts), ("remote_ids", remote_ids),
                                ("remote_urls", remote_urls)):
                if value is not None:
                    setattr(row, name, list(value) if isinstance(value, (list, tuple)) else value)
            session.flush()
            return row

    @staticmethod
    def _delivery_row(session: Session, publication_id: int, channel: str) -> Delivery:
        return session.scalars(select(Delivery).where(Delivery.publication_id == publication_id,
                                                      Delivery.channel == channel)).one()

    # -- token cache ----------------------------------------------------------------------------

    def token_get(self, key: str, min_ttl_seconds: float = 0) -> str | None:
        """The cached value if it stays valid for at least `min_ttl_seconds` more, else None."""
        with self.read_session() as session:
            row = session.get(CachedToken, key)
            if row is None:
                return None
            if row.expires_at is not None and row.expires_at <= utcnow() + timedelta(seconds=min_ttl_seconds):
                return None
            return row.value

    def token_put(self, key: str, value: str, expires_at: datetime | None = None,
                  ttl_seconds: float | None = None) -> None:
        if ttl_seconds is not None:
            expires_at = utcnow() + timedelta(seconds=ttl_seconds)
        statement = self.insert(CachedToken).values(key=key, value=value, expires_at=expires_at)
        statement = statement.on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "expires_at": expires_at})
        with self.session() as session:
            session.execute(statement)

    def token_delete(self, key: str) -> None:
        """Evict a token the platform rejected (e.g. WeChat 40001/42001)."""
        with self.session() as session:
            row = session.get(CachedToken, key)
            if row is not None:
                session.delete(row)

    # -- uploads cache --------------------------------------------------------------------------

    def upload_get(self, namespace: str, sha256: str, kind: str) -> Upload | None:
        with self.read_session() as session:
            return session.scalars(select(Upload).where(
                Upload.namespace == namespace, Upload.sha256 == sha256, Upload.kind == kind)).one_or_none()

    def upload_put(self, namespace: str, sha256: str, kind: str, media_id: str, url: str | None = None) -> Upload:
        statement = self.insert(Upload).values(namespace=namespace, sha256=sha256, kind=kind,
                                               media_id=media_id, url=url, created_at=utcnow())
        statement = statement.on_conflict_do_update(
            index_elements=["namespace", "sha256", "kind"], set_={"media_id": media_id, "url": url})
        with self.session() as session:
            session.execute(statement)
        found = self.upload_get(namespace, sha256, kind)
        assert found is not None
        return found


__all__ = [
    "Store", "Publication", "Delivery", "LedgerRow", "Subscriber", "CachedToken", "Upload",
    "LEDGER_STATES", "DELIVERY_STATES", "SUBSCRIBER_STATUSES", "DEFAULT_DB_URL", "utcnow",
    "publication_key", "clip_error",
]
