"""The SQLite store's shortcut (issue 14): on an idle store, a hold, a release and a read run
on the event loop, on a connection of their own, instead of going to the store's thread and
back (a round trip that cost more CPU than the WAL commit itself). A settle never does: it
waits for its fsync on the thread. The loop's connection never waits either: when the file's
write lock is taken, or that connection fails, the operation goes to the thread as before."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from app.budget.stores.base import Slot, SlotUsage
from app.budget.stores.sqlite import SqliteStore

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0  # the store judges expiry by the caller's clock: any fixed time will do
SLOTS = [Slot("hourly:2027-01-15T08", 1_000, NOW + 86_400),
         Slot("daily:2027-01-15", 1_000, NOW + 86_400)]


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "ledger.sqlite3")
    await s.ping()  # the thread opens the file, and the loop's connection with it
    yield s
    await s.aclose()


def held_in_file(path: Path) -> list[tuple[str, int]]:
    """The live holds' totals as another process sees them."""
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT period, reserved_nano FROM reserved"))


async def test_a_hold_on_an_idle_store_commits_on_the_loop(store: SqliteStore) -> None:
    commits, inline = store.commits, store.inline_commits
    assert await store.reserve("r", 300, SLOTS, NOW, NOW + 60) is None
    assert (store.commits - commits, store.inline_commits - inline) == (0, 1)
    # committed: another connection (another worker process) sees it at once
    assert held_in_file(store.path) == sorted((s.key, 300) for s in SLOTS)
    assert await store.snapshot(SLOTS, NOW) == [SlotUsage(0, 300)] * 2
    await store.release("r", 300, SLOTS)
    assert (store.commits - commits, store.inline_commits - inline) == (0, 3)
    assert held_in_file(store.path) == []


async def test_a_settle_always_waits_for_its_fsync_on_the_thread(store: SqliteStore) -> None:
    assert await store.reserve("r", 300, SLOTS, NOW, NOW + 60) is None
    commits, durable, inline = store.commits, store.durable_commits, store.inline_commits
    assert await store.settle("r", 300, 120, SLOTS, NOW, NOW + 3_600) is True
    assert (store.commits - commits, store.durable_commits - durable,
            store.inline_commits - inline) == (1, 1, 0)
    assert await store.snapshot(SLOTS, NOW) == [SlotUsage(120, 0)] * 2


async def test_a_locked_file_sends_the_hold_to_the_thread_without_blocking_the_loop(
    store: SqliteStore,
) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)  # another worker, mid-write
    try:
        other.execute("BEGIN IMMEDIATE")
        commits, inline = store.commits, store.inline_commits
        hold = asyncio.ensure_future(store.reserve("r", 300, SLOTS, NOW, NOW + 60))
        await asyncio.sleep(0)  # one loop turn: the loop is free while the lock is held
        assert not hold.done()
        assert store._batches.busy  # queued on (or waiting in) the store's thread
        other.execute("COMMIT")
        assert await hold is None
    finally:
        other.close()
    assert (store.commits - commits, store.inline_commits - inline) == (1, 0)
    assert held_in_file(store.path) == sorted((s.key, 300) for s in SLOTS)


async def test_a_failing_loop_connection_is_replaced_and_nothing_is_lost(
    store: SqliteStore,
) -> None:
    broken = store._loop_conn._conn
    assert broken is not None
    broken.close()  # the loop's connection fails on its next statement
    assert await store.reserve("a", 300, SLOTS, NOW, NOW + 60) is None  # via the thread
    assert store._loop_conn._conn not in (None, broken)  # reopened there
    inline = store.inline_commits
    assert await store.reserve("b", 300, SLOTS, NOW, NOW + 60) is None
    assert store.inline_commits - inline == 1  # and used again
    assert await store.snapshot(SLOTS, NOW) == [SlotUsage(0, 600)] * 2


async def test_an_error_of_the_operation_itself_rolls_back_and_is_raised(
    store: SqliteStore,
) -> None:
    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO spend VALUES ('poison', 1, ?)", (NOW + 60,))
        raise ValueError("this operation fails after writing")

    inline = store.inline_commits
    with pytest.raises(ValueError):
        await store._run(boom, durable=False)
    assert store.inline_commits == inline
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM spend").fetchone() == (0,)
    assert await store.reserve("r", 300, SLOTS, NOW, NOW + 60) is None  # still usable


async def test_closing_the_store_closes_the_loop_connection(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ledger.sqlite3")
    await store.ping()
    inline = store._loop_conn._conn
    assert inline is not None
    await store.aclose()
    with pytest.raises(sqlite3.ProgrammingError):
        inline.execute("SELECT 1")
