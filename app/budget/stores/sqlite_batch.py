"""Group commit for the SQLite ledger store (issue 14): the operations that queue while the
store's one thread is busy run together in ONE transaction, each inside its own SAVEPOINT (so
one that fails rolls back alone), and one COMMIT (one fsync) makes them all durable; no caller
hears "done" before that commit. One request alone still commits on its own.

A batch's commit is fsynced (synchronous=FULL) when any operation in it asked for durability
(a settle: spend); otherwise it is an ordinary WAL commit (synchronous=NORMAL), which a killed
process keeps but a power loss may undo. WAL frames reach the disk in order, so a durable commit
makes every commit before it durable too (docs/architecture.md, "The SQLite ledger's commits")."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]


@dataclass(frozen=True)
class _Pending:
    work: Work
    done: Future[Any]
    durable: bool


class GroupCommit:
    def __init__(self, executor: Executor,
                 transaction: Callable[[Callable[[sqlite3.Connection], None], bool], None]
                 ) -> None:
        """`executor`: the store's single thread; `transaction(fn, durable)` runs `fn` in one
        BEGIN IMMEDIATE ... COMMIT on it, fsynced when `durable`."""
        self._executor = executor
        self._transaction = transaction
        # Operations waiting for the thread; a drain is queued on it whenever this fills.
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._draining = False
        self.commits = 0
        self.durable_commits = 0  # of `commits`, those fsynced

    @property
    def busy(self) -> bool:
        """Operations are queued or a batch is running (read without the lock: a hint for the
        store's inline path, which falls back to the queue whenever the file is locked)."""
        return self._draining or bool(self._queue)

    def submit(self, work: Callable[[sqlite3.Connection], T], *, durable: bool) -> Future[T]:
        done: Future[T] = Future()
        with self._queue_lock:
            self._queue.append(_Pending(work, done, durable))
            first = len(self._queue) == 1
        if first:  # otherwise a drain is already queued and will take this one too
            self._executor.submit(self._drain)
        return done

    def _drain(self) -> None:
        """On the store's thread: every queued operation in one transaction, one commit. No
        caller hears of it before the store is idle again: its next step may then run inline."""
        self._draining = True
        try:
            batch, outcomes = self._commit_batch()
        finally:
            self._draining = False
        for item, (result, error) in zip(batch, outcomes, strict=True):
            if error is None:
                item.done.set_result(result)
            else:
                item.done.set_exception(error)

    def _commit_batch(self) -> tuple[list[_Pending], list[tuple[object, BaseException | None]]]:
        with self._queue_lock:
            batch, self._queue = self._queue, []
        # A caller that went away before its turn (a cancelled request) runs nothing, as a
        # cancelled executor job never started; from here on none can be cancelled.
        batch = [item for item in batch if item.done.set_running_or_notify_cancel()]
        outcomes: list[tuple[object, BaseException | None]] = []
        if not batch:
            return batch, outcomes

        def run_all(conn: sqlite3.Connection) -> None:
            if len(batch) == 1:  # alone: the transaction is its savepoint (2 statements less)
                outcomes.append((batch[0].work(conn), None))
                return
            for item in batch:
                conn.execute("SAVEPOINT op")
                try:
                    result = item.work(conn)
                except (sqlite3.Error, OSError):
                    raise  # the file is failing: the whole batch fails (and reconnects)
                except Exception as exc:  # this operation alone rolls back
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((None, exc))
                    continue
                conn.execute("RELEASE op")
                outcomes.append((result, None))

        durable = any(item.durable for item in batch)
        try:
            self._transaction(run_all, durable)
        except BaseException as exc:  # nothing of the batch reached the disk
            return batch, [(None, exc)] * len(batch)
        self.commits += 1
        self.durable_commits += durable
        return batch, outcomes
