"""Spend made durable off the event loop, one fsync for every settle waiting (issue 14).

A settle on the loop's connection (`sqlite_inline.py`) commits without an fsync, like a hold.
It then waits here: the store's thread fsyncs the WAL file, and every settle that committed
before that fsync began returns when it ends. This is what `synchronous=FULL` does at COMMIT
(fsync the WAL after writing the transaction's frames), done once for a group and without the
thread running the settle's SQL: on the thread, every statement gives the GIL up and takes it
back from a busy event loop, which cost more CPU than the statements (measured in the service,
issue 14). A settle is acknowledged only after its fsync, so recorded spend survives kill -9
and power loss as before. If the fsync fails the settle is reported as failing (the caller
spools it); replaying it later changes nothing if the commit did reach the disk, because a
settle is idempotent per reservation id.

With every write on the loop's connection, which never checkpoints, the WAL is checkpointed
here too, on the thread, every CHECKPOINT_EVERY commits on the loop: with or without a settle
waiting (holds and releases write pages too: an upstream outage is reserve + release only).
Counted in commits, not fsyncs: under load one fsync covers many settles, and at concurrency 32
1,500 paid answers made 47 fsyncs, none of them a 64th. The checkpoint itself
(`passive_checkpoint`) is PASSIVE, followed by a RESTART (`restart_checkpoint`) when the WAL
has stopped starting over (below, and in those functions).

Why it must be able to escalate: SQLite starts the WAL over from its top only when a writer
begins after a checkpoint has copied every frame back. Under sustained load the loop commits
while the thread checkpoints, so that never happens: measured 2026-12-03, 60,000 paid answers at
concurrency 64 left a 4.2 GB WAL file, and its index (`-shm`, mapped into the worker) added
1.3 MiB of resident memory per 10,000 answers, without end. A RESTART takes the write lock and
waits for the readers to leave the WAL, so that the next writer starts it over; but a thread
polling for the lock never gets it between the loop's back-to-back transactions (measured: it
timed out while the WAL grew sixfold). So while one is queued or running, `restarting` is set
and the store sends its operations to its thread, behind it, instead of committing on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from app.errors import LedgerUnavailableError

# commits on the loop; a hold or a settle writes ~8 WAL pages: ~1,000 pages, SQLite's own default
CHECKPOINT_EVERY = 128
# WAL frames (pages of 4 KiB) after which a checkpoint makes sure the WAL starts over: 16 MiB
RESTART_FRAMES = 4096
RESTART_WAIT_MS = 200


class WalSync:
    def __init__(self, wal_path: Path, executor: Executor, lock: threading.Lock,
                 checkpoint: Callable[[], bool], restart: Callable[[], None]) -> None:
        """`executor`/`lock`: the store's thread and its connection lock; `checkpoint`: a
        PASSIVE checkpoint on the thread's connection, True when the WAL is to be made to start
        over; `restart`: that (both called with `lock` held)."""
        self._path = wal_path
        self._executor = executor
        self._lock = lock
        self._checkpoint = checkpoint
        self._restart = restart
        self.restarting = False  # a RESTART queued or running: no commits on the loop
        self._fd: int | None = None
        self._waiting: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._commits = 0  # on the loop, since the last checkpoint began
        self.syncs = 0
        self.checkpoints = 0
        self.restarts = 0

    def file_bytes(self) -> int:
        try:
            return os.stat(self._path).st_size
        except FileNotFoundError:
            return 0

    def committed(self) -> None:
        """A commit on the loop's connection: one more toward the next checkpoint, which starts
        at once when due and no fsync is under way to carry it."""
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and self._task is None:
            self._task = asyncio.create_task(self._drain(), name="ledger-wal-sync")

    async def sync(self) -> None:
        """Return once everything committed before this call is on the disk."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append(done)
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="ledger-wal-sync")
        await done

    async def aclose(self) -> None:
        """Let a sync in flight finish (a settle waiting on it), then close the file."""
        if self._task is not None:
            await asyncio.shield(self._task)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting or self._commits >= CHECKPOINT_EVERY:
                batch, self._waiting = self._waiting, []
                checkpoint = self._commits >= CHECKPOINT_EVERY
                if checkpoint:
                    self._commits = 0
                error: BaseException | None = None
                restart = False
                try:
                    restart = await loop.run_in_executor(self._executor, self._fsync,
                                                         bool(batch), checkpoint)
                    self.syncs += bool(batch)
                    self.checkpoints += checkpoint
                except Exception as exc:  # a failing disk, or a store closing under it
                    error = LedgerUnavailableError(f"SQLite ledger {self._path}: fsync: {exc}")
                except BaseException:  # cancelled (the loop is ending): nobody waits forever
                    _tell(batch, LedgerUnavailableError("SQLite ledger: fsync cancelled"))
                    raise
                _tell(batch, error)
                if restart:  # the settles above do not wait for it
                    self.restarting = True
                    self.restarts += 1
                    try:
                        await loop.run_in_executor(self._executor, self._restart_locked)
                    finally:
                        self.restarting = False
        finally:
            self._task = None

    def _fsync(self, sync: bool, checkpoint: bool) -> bool:
        """On the store's thread. True: the checkpoint asks for a RESTART."""
        with self._lock:
            try:
                fd = self._current_fd() if sync else None
                if fd is not None:
                    os.fsync(fd)
            except OSError:
                self._close_fd()  # reopened next time
                raise
            return self._checkpoint() if checkpoint else False

    def _restart_locked(self) -> None:
        with self._lock:
            self._restart()

    def _current_fd(self) -> int | None:
        """The WAL file's descriptor, reopened if the file was replaced (SQLite deletes it when
        the last connection closes, after checkpointing it into the database file). None when
        there is no WAL file: then every commit is already in the (synced) database file."""
        try:
            on_disk = os.stat(self._path).st_ino
        except FileNotFoundError:
            self._close_fd()
            return None
        if self._fd is not None and os.fstat(self._fd).st_ino != on_disk:
            self._close_fd()
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDONLY)  # fsync needs no write access
        return self._fd

    def _close(self) -> None:
        with self._lock:
            self._close_fd()

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def passive_checkpoint(conn: sqlite3.Connection) -> bool:
    """WAL into the database, PASSIVE (it never waits). True when the WAL should now be made to
    start over (`restart_checkpoint`): it holds RESTART_FRAMES frames, all of them copied. A
    frame not copied means a reader held the copy back (another process in a long read): a
    RESTART would wait for it, so none is asked for; the WAL grows until that reader ends, as
    SQLite documents, and is cut back to WAL_SIZE_LIMIT (`sqlite_files.py`) when it next starts
    over."""
    try:
        _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        return False
    return bool(frames >= RESTART_FRAMES and copied == frames)


def restart_checkpoint(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """A RESTART checkpoint, with no commits on the loop meanwhile (`WalSync.restarting`): it
    keeps other writers out until the readers have left the WAL, so that the next writer starts
    it over from its top. Its wait for another process is bounded by RESTART_WAIT_MS, not the
    connection's busy timeout (`busy_timeout_ms`, put back after): the operations queued behind
    it wait with it."""
    with contextlib.suppress(sqlite3.Error):
        conn.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
        try:
            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        finally:
            conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")


def _tell(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
