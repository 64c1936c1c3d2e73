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
here too, every CHECKPOINT_EVERY syncs (PASSIVE: it never waits for readers or writers).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from app.errors import LedgerUnavailableError

CHECKPOINT_EVERY = 64  # syncs; a settle writes ~10 WAL pages, SQLite's own default is 1,000


class WalSync:
    def __init__(self, wal_path: Path, executor: Executor, lock: threading.Lock,
                 checkpoint: Callable[[], None]) -> None:
        """`executor`/`lock`: the store's thread and its connection lock; `checkpoint`: a
        PASSIVE checkpoint on the thread's connection (called with `lock` held)."""
        self._path = wal_path
        self._executor = executor
        self._lock = lock
        self._checkpoint = checkpoint
        self._fd: int | None = None
        self._waiting: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self.syncs = 0

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
            while self._waiting:
                batch, self._waiting = self._waiting, []
                checkpoint = (self.syncs + 1) % CHECKPOINT_EVERY == 0
                error: BaseException | None = None
                try:
                    await loop.run_in_executor(self._executor, self._fsync, checkpoint)
                    self.syncs += 1
                except Exception as exc:  # a failing disk, or a store closing under it
                    error = LedgerUnavailableError(f"SQLite ledger {self._path}: fsync: {exc}")
                except BaseException:  # cancelled (the loop is ending): nobody waits forever
                    _tell(batch, LedgerUnavailableError("SQLite ledger: fsync cancelled"))
                    raise
                _tell(batch, error)
        finally:
            self._task = None

    def _fsync(self, checkpoint: bool) -> None:
        """On the store's thread."""
        with self._lock:
            try:
                fd = self._current_fd()
                if fd is not None:
                    os.fsync(fd)
            except OSError:
                self._close_fd()  # reopened next time
                raise
            if checkpoint:
                self._checkpoint()

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


def _tell(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
