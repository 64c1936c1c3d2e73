"""How the money's SQLite files are opened: the ledger's (both its connections) and the settle
spool's."""

from __future__ import annotations

import sqlite3
from pathlib import Path


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
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(schema)
    except BaseException:
        conn.close()
        raise
    return conn


def open_loop_connection(path: Path) -> sqlite3.Connection:
    """A second connection to a ledger file already set up: busy timeout 0, no fsync, no
    checkpoints (`sqlite_inline.py`)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
    except BaseException:
        conn.close()
        raise
    return conn
