"""How the money's SQLite files are opened: the ledger's (both its connections) and the settle
spool's."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

_RETRY_SECONDS = 0.01
# A WAL that grew (a reader elsewhere kept it from starting over) is cut back to this size when
# it next starts over, instead of keeping its largest size on disk until the last connection
# closes. Above what a WAL reaches between checkpoints (the ledger's: ~20 MiB), so it is not cut
# and grown again on every start-over.
WAL_SIZE_LIMIT = 64 * 2**20


def open_durable(
    path: Path, schema: str, *, busy_timeout_seconds: float = 5.0
) -> sqlite3.Connection:
    """A SQLite file for money: WAL, fsync on every commit (synchronous=FULL), autocommit mode
    (callers open their own transactions), usable from the caller's worker thread, `schema`
    applied. Shared by the ledger store and the settle spool."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=busy_timeout_seconds, isolation_level=None, check_same_thread=False
    )
    try:
        _use_wal(conn, busy_timeout_seconds)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        conn.executescript(schema)
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, busy_timeout_seconds: float) -> None:
    """`PRAGMA journal_mode=WAL`, retried for the busy timeout: while another connection (a
    second replica starting on the same new file) is turning it to WAL, SQLite answers
    "database is locked" at once instead of calling the busy handler."""
    deadline = time.monotonic() + busy_timeout_seconds
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(_RETRY_SECONDS)


def open_loop_connection(path: Path) -> sqlite3.Connection:
    """A second connection to a ledger file already set up: busy timeout 0, no fsync, no
    checkpoints (`sqlite_inline.py`)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    except BaseException:
        conn.close()
        raise
    return conn
