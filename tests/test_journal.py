"""The per-message journal: marks read back per claimer, and old files pruned."""
from __future__ import annotations

import os
import socket
import time

from publisher.journal import DOT, OK, PRUNE_AFTER_SECONDS, Journal, prune


def test_marks_read_back_per_claimer_and_old_files_pruned(tmp_path):
    me, elsewhere = f"{socket.gethostname()}:1", "other-host:1"
    journal = Journal(tmp_path, 7, "email")
    journal.mark(me, DOT, "to:a@example.org")
    journal.mark(me, OK, "to:a@example.org")
    journal.mark(me, DOT, "to:b@example.org")
    journal.close()
    assert journal.read(me) == {"to:a@example.org": OK, "to:b@example.org": DOT}
    assert journal.read(f"{socket.gethostname()}:2") == {}  # same machine, no file: wrote no mark
    assert journal.read(elsewhere) is None  # another machine's file is not visible here: unknown

    fresh = Journal(tmp_path, 8, "email")
    fresh.mark(me, OK, "to:c@example.org")
    fresh.close()
    old = next((tmp_path / "7-email").glob("*.log"))
    stale = time.time() - PRUNE_AFTER_SECONDS - 60
    os.utime(old, (stale, stale))
    assert prune(tmp_path) == 1
    assert not old.exists() and fresh.read(me) == {"to:c@example.org": OK}
