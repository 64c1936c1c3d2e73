"""The SQLite store's group commit (issue 14): operations that queue while its thread is busy
share ONE transaction and ONE commit (one fsync), each in its own savepoint, and none is told
"done" before that commit. The thread is held busy by an operation of the store's own that
waits on a gate inside its transaction, so the batch is deterministic (no timing). (An idle
store runs a hold on the event loop instead: test_sqlite_inline.py.)"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from app.budget.stores.base import Slot
from app.budget.stores.sqlite import SqliteStore

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0  # the store judges expiry by the caller's clock: any fixed time will do
SLOTS = [Slot("hourly:2027-01-15T08", 1_000, NOW + 86_400)]


class Held:
    """The store's thread inside a transaction of its own until `release()`: the store sees
    itself busy, so every operation started meanwhile queues behind it."""

    def __init__(self, store: SqliteStore) -> None:
        self.gate, started = threading.Event(), threading.Event()

        def hold(conn: sqlite3.Connection) -> None:
            started.set()
            self.gate.wait()

        self.done = store._batches.submit(hold, durable=False)
        started.wait()  # its batch has left the queue: what comes next forms the next batch

    async def release(self) -> None:
        self.gate.set()
        await asyncio.wrap_future(self.done)


async def queued_while_busy(store: SqliteStore, *steps: object) -> list[object]:
    """Run `steps` (awaitables) while the store's thread is held, so they queue together. The
    holder's own transaction is one commit; the queued steps' batch is the next."""
    held = Held(store)
    tasks = [asyncio.ensure_future(step) for step in steps]  # type: ignore[call-overload]
    await asyncio.sleep(0)  # let each reach the queue (no time passes: one loop turn)
    await held.release()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def test_fifty_reserves_queued_together_commit_once_and_decide_exactly(
    store: SqliteStore,
) -> None:
    before = store.commits
    results = await queued_while_busy(store, *(
        store.reserve(f"r{i}", 30, SLOTS, NOW, NOW + 60) for i in range(50)))
    # the holder's commit, then one transaction, one commit, for fifty operations
    assert store.commits - before == 2
    admitted = [i for i, r in enumerate(results) if r is None]
    assert len(admitted) == 1_000 // 30  # 33 fit the limit, in queue order; the rest refused
    assert admitted == list(range(33))
    [usage] = await store.snapshot(SLOTS, NOW)
    assert usage.reserved_nano == 33 * 30


async def test_one_failing_operation_rolls_back_alone(store: SqliteStore) -> None:
    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO spend VALUES ('poison', 1, ?)", (NOW + 60,))
        raise ValueError("this operation fails after writing")

    before = store.commits
    first, failed, last = await queued_while_busy(
        store,
        store.reserve("a", 100, SLOTS, NOW, NOW + 60),
        store._run(boom),
        store.reserve("b", 100, SLOTS, NOW, NOW + 60),
    )
    assert store.commits - before == 2  # the holder's, then the three's
    assert first is None and last is None and isinstance(failed, ValueError)
    [usage] = await store.snapshot(SLOTS, NOW)
    assert usage.reserved_nano == 200  # both neighbours committed
    spent = await store._run(
        lambda conn: conn.execute("SELECT count(*) FROM spend WHERE period='poison'").fetchone())
    assert spent == (0,)  # the failing operation's write was rolled back


async def test_a_caller_cancelled_before_its_turn_holds_nothing(store: SqliteStore) -> None:
    held = Held(store)
    gone = asyncio.ensure_future(store.reserve("gone", 100, SLOTS, NOW, NOW + 60))
    kept = asyncio.ensure_future(store.reserve("kept", 100, SLOTS, NOW, NOW + 60))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    await held.release()
    assert await kept is None
    with pytest.raises(asyncio.CancelledError):
        await gone
    [usage] = await store.snapshot(SLOTS, NOW)
    assert usage.reserved_nano == 100  # only the caller still waiting holds budget


async def test_a_batch_is_fsynced_when_any_of_it_is_spend(store: SqliteStore) -> None:
    # Holds alone: one WAL commit, no fsync (test_sqlite_fsyncs.py counts the kernel's view).
    before, durable = store.commits, store.durable_commits
    await queued_while_busy(store, *(store.reserve(f"h{i}", 10, SLOTS, NOW, NOW + 60)
                                     for i in range(3)))
    assert (store.commits - before, store.durable_commits - durable) == (2, 0)  # holder's too
    # A settle in the batch: the one commit is fsynced, and covers the holds beside it.
    results = await queued_while_busy(
        store,
        store.reserve("x", 10, SLOTS, NOW, NOW + 60),
        store.settle("h0", 10, 7, SLOTS, NOW, NOW + 3_600),
        store.release("h1", 10, SLOTS),
    )
    assert results == [None, True, None]
    assert (store.commits - before, store.durable_commits - durable) == (4, 1)
