"""The SQLite store's group commit (issue 14): operations that queue while its thread is busy
share ONE transaction and ONE commit (one fsync), each in its own savepoint, and none is told
"done" before that commit. The thread is held busy with a gate on the store's own executor, so
the batch is deterministic (no timing)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from app.budget.stores.base import Slot
from app.budget.stores.sqlite import SqliteStore

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0  # the store judges expiry by the caller's clock: any fixed time will do
SLOTS = [Slot("hourly:2027-01-15T08", 1_000, NOW + 86_400)]


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "ledger.sqlite3")
    await s.ping()
    yield s
    await s.aclose()


async def queued_while_busy(store: SqliteStore, *steps: object) -> list[object]:
    """Run `steps` (awaitables) while the store's thread is held, so they queue together."""
    gate = threading.Event()
    store._executor.submit(gate.wait)
    tasks = [asyncio.ensure_future(step) for step in steps]  # type: ignore[call-overload]
    await asyncio.sleep(0)  # let each reach the queue (no time passes: one loop turn)
    gate.set()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def test_fifty_reserves_queued_together_commit_once_and_decide_exactly(
    store: SqliteStore,
) -> None:
    before = store.commits
    results = await queued_while_busy(store, *(
        store.reserve(f"r{i}", 30, SLOTS, NOW, NOW + 60) for i in range(50)))
    assert store.commits - before == 1  # one transaction, one fsync, for fifty operations
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
    assert store.commits - before == 1
    assert first is None and last is None and isinstance(failed, ValueError)
    [usage] = await store.snapshot(SLOTS, NOW)
    assert usage.reserved_nano == 200  # both neighbours committed
    spent = await store._run(
        lambda conn: conn.execute("SELECT count(*) FROM spend WHERE period='poison'").fetchone())
    assert spent == (0,)  # the failing operation's write was rolled back


async def test_a_caller_cancelled_before_its_turn_holds_nothing(store: SqliteStore) -> None:
    gate = threading.Event()
    store._executor.submit(gate.wait)
    gone = asyncio.ensure_future(store.reserve("gone", 100, SLOTS, NOW, NOW + 60))
    kept = asyncio.ensure_future(store.reserve("kept", 100, SLOTS, NOW, NOW + 60))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    gate.set()
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
    assert (store.commits - before, store.durable_commits - durable) == (1, 0)
    # A settle in the batch: the one commit is fsynced, and covers the holds beside it.
    results = await queued_while_busy(
        store,
        store.reserve("x", 10, SLOTS, NOW, NOW + 60),
        store.settle("h0", 10, 7, SLOTS, NOW, NOW + 3_600),
        store.release("h1", 10, SLOTS),
    )
    assert results == [None, True, None]
    assert (store.commits - before, store.durable_commits - durable) == (2, 1)
