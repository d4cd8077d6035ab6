"""Per-message marks for batched sends: what the ledger does not know yet when a worker is killed.

The ledger records email outcomes a group at a time (one write for many messages). Between two
writes, a killed worker would leave the whole group "sending", and SMTP cannot be asked which of
them it took. So each message also gets two cheap marks, appended to a file of the claiming
process before the ledger hears of them:

- `dot <part>`: written just before the final "." of DATA is sent. A message without it never
  completed: servers discard an unfinished DATA (RFC 5321 §4.1.1.4,
  https://www.rfc-editor.org/rfc/rfc5321#section-4.1.1.4), so it is safe to send again.
- `ok <part>`: the server acknowledged the message (250 after the "."). Never send it again.

A part with `dot` and no `ok` is the one message that may be in the server's hands unacknowledged:
at most one per SMTP connection, and it stays uncertain. Marks go to the kernel with one unbuffered
write each, which survives a SIGKILL of the process (not a crash of the machine: then the ledger's
own group claims decide, and the whole group is held uncertain).

The journal lives in a folder of the state (PUBLISHER_JOURNAL_DIR, default: beside the SQLite
database, else the user's data folder); a worker on another machine sees it only through a shared
folder. Files of publications are removed with `prune`.
"""
from __future__ import annotations

import hashlib
import re
import socket
import time
from pathlib import Path

DOT = "dot"
OK = "ok"
MARKS = (DOT, OK)
# Journal folders of claimers that ended this long ago are no longer needed by anyone.
PRUNE_AFTER_SECONDS = 7 * 24 * 3600
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _file_name(claimer: str) -> str:
    return _UNSAFE.sub("_", claimer) + ".log"


class Journal:
    """The marks of one publication's channel, written by this process and read for any claimer."""

    def __init__(self, folder: str | Path, publication_id: int, channel: str):
        self.folder = Path(folder) / f"{publication_id}-{_UNSAFE.sub('_', channel)}"
        self._file = None
        self._claimer: str | None = None

    def mark(self, claimer: str, mark: str, part: str) -> None:
        if self._file is None or self._claimer != claimer:  # a forked worker writes its own file
            self.close()
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file = open(self.folder / _file_name(claimer), "ab", buffering=0)  # noqa: SIM115
            self._claimer = claimer
        self._file.write(f"{mark} {part}\n".encode("utf-8", "surrogateescape"))

    def read(self, claimer: str) -> dict[str, str] | None:
        """{part: last mark} written by `claimer`; None when no journal of it can be read here."""
        path = self.folder / _file_name(claimer)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            # On this machine, no file means the claimer wrote no mark: it completed no message. A
            # claimer elsewhere may have written a file we cannot see (an unshared folder): unknown.
            return {} if claimer.rpartition(":")[0] == socket.gethostname() else None
        marks: dict[str, str] = {}
        for line in data.decode("utf-8", "surrogateescape").splitlines():
            mark, _, part = line.partition(" ")
            if mark in MARKS and part and marks.get(part) != OK:
                marks[part] = mark
        return marks

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def journal_folder(settings) -> Path:
    if settings.journal_dir:
        return Path(settings.journal_dir)
    database = _sqlite_file(settings.db_url)
    if database is not None:
        # Not "<db>-journal": that is the name of SQLite's own rollback journal.
        return database.parent / (database.name + ".marks")
    from publisher.config import state_dir

    # Publication ids repeat across databases: one folder per database.
    return state_dir() / "journal" / hashlib.sha256(settings.db_url.encode()).hexdigest()[:12]


def _sqlite_file(db_url: str) -> Path | None:
    if not db_url.startswith("sqlite:///"):
        return None
    path = db_url[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path).resolve()


def prune(folder: str | Path, now: float | None = None) -> int:
    """Remove journal files not written for PRUNE_AFTER_SECONDS; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    root = Path(folder)
    if not root.is_dir():
        return 0
    for path in root.glob("*/*.log"):
        try:
            if now - path.stat().st_mtime > PRUNE_AFTER_SECONDS:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed
