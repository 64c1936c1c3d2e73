"""The SQLite ledger's operations on the event loop (issue 14).

A ledger operation is a few statements and a WAL commit (a write to the page cache): tens of
microseconds. Run on the store's thread, each statement gave the GIL up and took it back from a
busy event loop, and the trip there and back cost ~200 us more (two thread wake-ups on a 2-vCPU
VM): in the service, the SQLite ledger cost ~1 ms of CPU per paid answer against the in-memory
store. So while the store's thread is idle, an operation runs here, on the loop, on a second
connection to the same file; a settle then waits for its fsync on the thread (`sqlite_sync.py`).
This connection never makes the loop wait:

- its busy timeout is 0: when any process holds the file's write lock, BEGIN IMMEDIATE fails at
  once and the operation queues on the store's thread as before (which may wait for the lock);
- it never checkpoints (`wal_autocheckpoint=0`) and never fsyncs (`synchronous=NORMAL`): the
  thread does both;
- any error of the file sends the operation to the thread too, and the connection is given up
  (the thread opens a new one): the loop's way is only ever a shortcut.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NotNow(Exception):
    """The loop cannot run this operation now: queue it on the store's thread."""


class LoopConnection:
    def __init__(self, opener: Callable[[], sqlite3.Connection]) -> None:
        self._opener = opener
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self.commits = 0  # operations committed on the loop (bench/tests)

    @property
    def ready(self) -> bool:
        return self._conn is not None

    def open(self) -> None:
        """On the store's thread, after its own connection opened the file (WAL, schema). A
        file that refuses a second connection leaves the shortcut off; the thread serves all."""
        if self._conn is None and not self._closed:
            with contextlib.suppress(sqlite3.Error, OSError):
                self._conn = self._opener()

    def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` in one transaction on the loop, or NotNow. An exception of `work` itself (not
        of the file) is rolled back and raised, as on the thread."""
        conn = self._conn
        if conn is None:
            raise NotNow
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                self._give_up()
            raise NotNow from exc
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._give_up()  # closing rolls back what is open; the thread does it afresh
            raise NotNow from exc
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        self.commits += 1
        return result

    def close(self) -> None:
        self._closed = True
        self._give_up()

    def _give_up(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
