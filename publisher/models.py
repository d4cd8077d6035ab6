"""The tables of the status store (publisher.store): publications, deliveries, the publish ledger,
subscribers and the shared caches, as SQLAlchemy models; the same on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database (same on SQLite and PostgreSQL)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Publication(Base):
    """One press of "publish" for one post. `key` is the idempotency key: slug + generation."""

    __tablename__ = "publications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_slug: Mapped[str] = mapped_column(String(200), index=True)
    post_sha256: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(220), unique=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The post as pressed, so a worker on any machine renders exactly what the editor saw.
    source_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_text: Mapped[str | None] = mapped_column(Text, nullable=True)


class Delivery(Base):
    """One channel of one publication; its state is one of DELIVERY_STATES."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("publication_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    total_parts: Mapped[int] = mapped_column(Integer, default=0)
    sent_parts: Mapped[int] = mapped_column(Integer, default=0)
    failed_parts: Mapped[int] = mapped_column(Integer, default=0)
    remote_ids: Mapped[list] = mapped_column(JSON, default=list)
    remote_urls: Mapped[list] = mapped_column(JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Queued tasks of this delivery not yet finished for good (retries do not count twice).
    pending_tasks: Mapped[int | None] = mapped_column(Integer, nullable=True, default=0)


class LedgerRow(Base):
    """One part of one delivery; see publisher.ledger for the rules of its state."""

    __tablename__ = "ledger"
    __table_args__ = (
        # The only index: a second one led by (publication_id, channel) tempts PostgreSQL, with
        # fresh statistics after a bulk plan, to filter `part = ANY(...)` row by row (100x slower).
        UniqueConstraint("publication_id", "channel", "part", name="uq_ledger_part"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(40))
    part: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(20), default="planned")
    retryable: Mapped[bool] = mapped_column(Boolean, default=False)
    remote_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # "host:pid" of the claimer


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # normalised, lowercase
    name: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The one-use part of a sign-up's confirmation link (publisher.signup); cleared when it is used
    # or when the status changes by any other way.
    confirm_nonce: Mapped[str | None] = mapped_column(String(32), nullable=True)


class SignupAttempt(Base):
    """One sign-up counted against a rate limit (publisher.signup): `key` names a client or a hashed
    address. In the store, so every thread and process of `publisher serve` counts the same."""

    __tablename__ = "signup_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class CachedToken(Base):
    """Short-lived secrets shared by every process (the WeChat access token)."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Upload(Base):
    """A file a platform already holds (e.g. a WeChat media id), so it is never uploaded twice."""

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("namespace", "sha256", "kind", name="uq_upload"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    media_id: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TestSend(Base):
    """One `publisher test` (or the desk's "Send a test"): the post's email to one address and, if
    asked, its Telegram messages to one private chat. Its ledger rows belong to a publication of
    its own (post_slug "test-send:<slug>", publisher.test_send), never to the post's delivery.
    The rows of the last hour are the test-send rate limit, shared by every process."""

    __tablename__ = "test_sends"
    __test__ = False  # not a pytest class, whatever its name

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    post_slug: Mapped[str] = mapped_column(String(200), index=True)
    to_email: Mapped[str] = mapped_column(String(320))
    telegram_chat: Mapped[str | None] = mapped_column(String(100), nullable=True)
    requested_by: Mapped[str] = mapped_column(String(20), default="cli")  # cli | desk
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Schedule(Base):
    """A post an editor scheduled (publisher.schedule); its state is a ScheduleState. The first
    process to move it from scheduled to publishing (a compare-and-set) presses it."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_slug: Mapped[str] = mapped_column(String(200), index=True)
    # The slug while scheduled or publishing, else NULL: at most one live schedule per post.
    active_slug: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    post_path: Mapped[str] = mapped_column(Text)  # absolute
    title: Mapped[str] = mapped_column(Text, default="")
    content_sha256: Mapped[str] = mapped_column(String(64))  # the file as scheduled
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    zone: Mapped[str] = mapped_column(String(64), default="UTC")  # the IANA zone the time was given in
    state: Mapped[str] = mapped_column(String(20), default="scheduled", index=True)
    force: Mapped[bool] = mapped_column(Boolean, default=False)  # scheduled with --force
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # "host:pid"
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # renewed while pressing
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    publication_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


def _add_missing_columns(connection: Any) -> None:
    """The automatic migration: columns added to a model since a database was created are added
    to its table (nullable, so old rows stay valid). Dropping or renaming is never automatic."""
    from sqlalchemy import inspect

    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=connection.dialect)
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}'))
