"""Subscribers: validated addresses, CSV import, and signed unsubscribe tokens.

Statuses: active (receives the newsletter), pending (signed up, not confirmed: publisher.signup),
unsubscribed (asked to stop; never resubscribed silently), bounced (the address refused mail). Addresses follow publisher.addresses, the grammar
the mailing sends with.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import delete, func, or_, select

from publisher.addresses import InvalidAddress, normalize_email, smtp_address  # noqa: F401 (re-exported)
from publisher.config import Settings
from publisher.errors import InputError
# The CSV reader lives in publisher.subscriber_csv; its names are imported from here too.
from publisher.subscriber_csv import (  # noqa: F401
    CSV_DELIMITERS, MAX_NAME, BadLine, ImportRow, clean_name, parse_subscriber_csv,
)
from publisher.store import SUBSCRIBER_STATUSES, Store, Subscriber, utcnow
from publisher.unsubscribe_token import address_tag as _address_tag, sign

UNSUBSCRIBE_SALT = "unsubscribe"
IMPORT_CHUNK = 500


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{settings.site_url.rstrip('/')}/unsubscribe/{token}"


# -- results ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AddResult:
    subscriber: Subscriber
    action: str  # added | updated | unchanged | resubscribed | not_resubscribed


@dataclass
class ImportReport:
    path: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    not_resubscribed: int = 0  # valid rows naming someone who unsubscribed or bounced
    bad: list[BadLine] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def taken(self) -> int:
        """Rows that were well-formed and applied (including ones that changed nothing)."""
        return self.added + self.updated + self.unchanged + self.not_resubscribed


# -- the list ----------------------------------------------------------------------------------------

class Subscribers:
    """The subscriber list in a Store, and the tokens of its unsubscribe links."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self._serializer = _token_serializer(settings.secret_key)

    # -- adding -------------------------------------------------------------------------------------

    def add(self, email: str, name: str = "", resubscribe: bool = False) -> AddResult:
        """Add or update one address. Someone who unsubscribed (or bounced) stays so unless
        `resubscribe` is given. An invalid address raises InputError naming it."""
        try:
            address, name = normalize_email(email, smtputf8=self.settings.smtp_utf8), clean_name(name)
        except InvalidAddress as exc:
            raise InputError(f"email {email!r}", str(exc)) from None
        with self.store.session() as session:
            inserted = self._insert_missing(session, [{"email": address, "name": name, "status": "active"}])
            row = session.scalars(select(Subscriber).where(Subscriber.email == address)).one()
            if inserted:
                return AddResult(row, "added")
            return AddResult(row, self._apply(row, name, "active", resubscribe))

    def import_csv(self, path: str | Path) -> ImportReport:
        """Import email[,name][,status] rows. Good rows are applied, bad ones reported by line;
        a file that cannot be read as UTF-8 CSV with an email column raises one InputError.
        Importing the same file twice changes nothing the second time."""
        path = Path(path)
        rows, bad, ignored = parse_subscriber_csv(path, self.settings.smtp_utf8)
        report = ImportReport(path=str(path), bad=bad, ignored_columns=ignored)
        for start in range(0, len(rows), IMPORT_CHUNK):
            self._import_chunk(rows[start:start + IMPORT_CHUNK], report)
        return report

    def _import_chunk(self, rows: Sequence[ImportRow], report: ImportReport) -> None:
        with self.store.session() as session:
            existing = {s.email: s for s in session.scalars(
                select(Subscriber).where(Subscriber.email.in_([row.email for row in rows])))}
            report.added += self._insert_missing(session, [
                {"email": row.email, "name": row.name, "status": row.status or "active"}
                for row in rows if row.email not in existing])
            for row in rows:
                if row.email in existing:
                    action = self._apply(existing[row.email], row.name, row.status, resubscribe=False)
                    setattr(report, action, getattr(report, action) + 1)  # updated|unchanged|not_resubscribed

    def _insert_missing(self, session: Any, values: list[dict[str, str]]) -> int:
        """Insert the addresses not on the list yet; returns how many this call inserted."""
        if not values:
            return 0
        now = utcnow()
        statement = (self.store.insert(Subscriber.__table__)
                     .values([{**value, "created_at": now, "updated_at": now} for value in values])
                     .on_conflict_do_nothing(index_elements=["email"])
                     .returning(Subscriber.__table__.c.id))
        return len(session.connection().execute(statement).all())

    @staticmethod
    def _apply(row: Subscriber, name: str, status: str | None, resubscribe: bool) -> str:
        """Bring an existing row in line with what was asked; returns what happened."""
        changed = False
        if name and name != row.name:
            row.name, changed = name, True
        # A pending row (a sign-up not confirmed yet) is simply made active by whoever adds it.
        if status == "active" and row.status not in ("active", "pending") and not resubscribe:
            if changed:
                row.updated_at = utcnow()
            return "not_resubscribed"
        action = "updated"
        if status is not None and status != row.status:
            action = "resubscribed" if status == "active" and row.status != "pending" else "updated"
            row.status, row.confirm_nonce, changed = status, None, True  # a new status voids sign-up links
        if not changed:
            return "unchanged"
        row.updated_at = utcnow()
        return action

    # -- reading ------------------------------------------------------------------------------------

    def get(self, email: str) -> Subscriber | None:
        try:
            address = normalize_email(email, smtputf8=True)
        except InvalidAddress:
            return None
        with self.store.read_session() as session:
            return session.scalars(select(Subscriber).where(Subscriber.email == address)).one_or_none()

    def list(self, status: str | None = None, search: str | None = None, limit: int = 100,
             offset: int = 0) -> list[Subscriber]:
        """Subscribers in id order, optionally of one status and matching `search` in email or name."""
        query = self._filtered(select(Subscriber), status, search).order_by(Subscriber.id).limit(limit).offset(offset)
        with self.store.read_session() as session:
            return [*session.scalars(query)]

    def matching(self, status: str | None = None, search: str | None = None) -> int:
        """How many subscribers `list` would show across all its pages."""
        query = self._filtered(select(func.count()).select_from(Subscriber), status, search)
        with self.store.read_session() as session:
            return int(session.scalar(query) or 0)

    @staticmethod
    def _filtered(query, status: str | None, search: str | None):
        if status is not None:
            if status not in SUBSCRIBER_STATUSES:
                raise InputError("--status", f"unknown status {status!r}; expected one of "
                                 f"{', '.join(SUBSCRIBER_STATUSES)}")
            query = query.where(Subscriber.status == status)
        if search:
            pattern = "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(Subscriber.email.like(pattern, escape="\\"),
                                    func.lower(Subscriber.name).like(pattern, escape="\\")))
        return query

    def count(self) -> dict[str, int]:
        """Subscribers per status; every status is present."""
        counts = dict.fromkeys(SUBSCRIBER_STATUSES, 0)
        with self.store.read_session() as session:
            query = select(Subscriber.status, func.count()).group_by(Subscriber.status)
            counts.update({status: number for status, number in session.execute(query)})
        return counts

    def active_recipients(self, batch_size: int = 500) -> Iterator[list[Subscriber]]:
        """Active subscribers in batches, in id order (stable across calls; keyset paging, so a
        list of any size is read in constant memory)."""
        return self.active_recipients_in(self.store, batch_size)

    @staticmethod
    def active_recipients_in(store: Store, batch_size: int) -> Iterator[list[Subscriber]]:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        last_id = 0
        while True:
            with store.read_session() as session:
                batch = [*session.scalars(select(Subscriber)
                                          .where(Subscriber.status == "active", Subscriber.id > last_id)
                                          .order_by(Subscriber.id).limit(batch_size))]
            if not batch:
                return
            yield batch
            last_id = batch[-1].id

    # -- removing -----------------------------------------------------------------------------------

    def remove(self, email: str, delete_row: bool = False) -> bool:
        """Mark the address unsubscribed (or delete it entirely); False if it is not on the list."""
        found = self.get(email)
        if found is None:
            return False
        if delete_row:
            with self.store.session() as session:
                session.execute(delete(Subscriber).where(Subscriber.id == found.id))
            return True
        self.set_status(found.id, "unsubscribed")
        return True

    def set_status(self, subscriber_id: int, status: str) -> bool:
        """Set a subscriber's status (e.g. bounced from a mail server's answer); True if it changed."""
        if status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self.store.session() as session:
            row = session.get(Subscriber, subscriber_id)
            if row is None or row.status == status:
                return False
            row.status, row.confirm_nonce, row.updated_at = status, None, utcnow()  # voids sign-up links
            return True

    def unsubscribe(self, subscriber_id: int) -> bool:
        return self.set_status(subscriber_id, "unsubscribed")

    # -- tokens -------------------------------------------------------------------------------------

    def token_for(self, subscriber: Subscriber) -> str:
        """A signed, URL-safe token naming this subscriber; it never expires (old emails keep
        working) and carries a hash of the address, not the address itself."""
        return sign(self.settings.secret_key, subscriber.id, subscriber.email)

    def subscriber_id_for_token(self, token: str) -> int | None:
        """The id a genuine token names, or None if the token was forged or altered."""
        claimed = self._claims(token)
        return None if claimed is None else claimed[0]

    def subscriber_for_token(self, token: str) -> Subscriber | None:
        """The subscriber a genuine token names, or None (forged, altered, or deleted since)."""
        claimed = self._claims(token)
        if claimed is None:
            return None
        with self.store.read_session() as session:
            row = session.get(Subscriber, claimed[0])
        return row if row is not None and _address_tag(row.email) == claimed[1] else None

    def _claims(self, token: str) -> tuple[int, str] | None:
        try:
            payload = self._serializer.loads(token)
        except BadData:
            return None
        if (not isinstance(payload, list) or len(payload) != 2 or type(payload[0]) is not int
                or not isinstance(payload[1], str)):
            return None
        return payload[0], payload[1]


def _token_serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT, signer_kwargs={"digest_method": hashlib.sha256})


# -- module-level shortcuts (what the publisher and the email channel call) ----------------------------

def token_for(settings: Settings, subscriber: Subscriber) -> str:
    """The unsubscribe token of one subscriber (see Subscribers.token_for); no database needed."""
    return sign(settings.secret_key, subscriber.id, subscriber.email)


def subscriber_for_token(store: Store, settings: Settings, token: str) -> Subscriber | None:
    return Subscribers(store, settings).subscriber_for_token(token)


def active_recipients(store: Store, batch_size: int = 500) -> Iterator[list[Subscriber]]:
    """Active subscribers in id-ordered batches (see Subscribers.active_recipients)."""
    return Subscribers.active_recipients_in(store, batch_size)
