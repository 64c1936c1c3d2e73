"""The SQLite store on the event loop (issue 14): on an idle store every operation's SQL runs
on the loop, on a connection of its own, instead of on the store's thread (where each statement
gave the GIL up and took it back from a busy loop). A settle is then fsynced on the thread, one
fsync for every settle waiting, and returns only after it. The loop's connection never waits:
when the file's write lock is taken, or that connection fails, the operation goes to the
thread as before."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from app.budget.stores.base import Slot, SlotUsage
from app.budget.stores.sqlite import SqliteStore
from app.budget.stores.sqlite_sync import CHECKPOINT_EVERY, RESTART_FRAMES
from app.errors import LedgerUnavailableError

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0  # the store judges expiry by the caller's clock: any fixed time will do
SLOTS = [Slot("hourly:2027-01-15T08", 1_000, NOW + 86_400),
         Slot("daily:2027-01-15", 1_000, NOW + 86_400)]
ROOMY = [Slot(s.key, 10**12, s.keep_until) for s in SLOTS]  # for thousands of operations
# a checkpointed WAL: up to RESTART_FRAMES pages, and what is written until the next checkpoint
WAL_BOUND = 2 * RESTART_FRAMES * 4_096


def held_in_file(path: Path) -> list[tuple[str, int]]:
    """The live holds' totals as another process sees them."""
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT period, reserved_nano FROM reserved"))


def wal_bytes(path: Path) -> int:
    return Path(f"{path}-wal").stat().st_size


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


async def test_a_settle_commits_on_the_loop_and_returns_after_its_fsync(
    store: SqliteStore,
) -> None:
    assert await store.reserve("r", 300, SLOTS, NOW, NOW + 60) is None
    commits, inline, syncs = store.commits, store.inline_commits, store.wal_syncs
    assert await store.settle("r", 300, 120, SLOTS, NOW, NOW + 3_600) is True
    assert (store.commits - commits, store.inline_commits - inline,
            store.wal_syncs - syncs) == (0, 1, 1)
    assert await store.snapshot(SLOTS, NOW) == [SlotUsage(120, 0)] * 2
    # a hold is not fsynced (test_sqlite_fsyncs.py counts the kernel's view of both)
    assert await store.reserve("s", 300, SLOTS, NOW, NOW + 60) is None
    assert store.wal_syncs - syncs == 1


async def test_settles_waiting_together_share_one_fsync(store: SqliteStore) -> None:
    ids = [f"r{i}" for i in range(20)]
    for rid in ids:
        assert await store.reserve(rid, 10, SLOTS, NOW, NOW + 60) is None
    syncs = store.wal_syncs
    settled = await asyncio.gather(*(store.settle(rid, 10, 5, SLOTS, NOW, NOW + 3_600)
                                     for rid in ids))
    assert settled == [True] * 20
    assert store.wal_syncs - syncs == 1  # all twenty committed before the one fsync began
    assert await store.snapshot(SLOTS, NOW) == [SlotUsage(100, 0)] * 2


async def test_a_failed_fsync_fails_the_settle_and_its_replay_counts_once(
    store: SqliteStore,
) -> None:
    assert await store.reserve("r", 300, SLOTS, NOW, NOW + 60) is None
    assert await store.settle("x", 0, 0, SLOTS, NOW, NOW + 3_600) is True  # opens the WAL
    fd = store._wal._fd
    assert fd is not None
    os.close(fd)  # the next fsync fails (EBADF), as a failing disk's would
    with pytest.raises(LedgerUnavailableError, match="fsync"):
        await store.settle("r", 300, 120, SLOTS, NOW, NOW + 3_600)
    # the caller spools it and replays it: the commit was made, so nothing is counted twice
    assert await store.settle("r", 300, 120, SLOTS, NOW, NOW + 3_600) is False
    assert await store.snapshot(SLOTS, NOW) == [SlotUsage(120, 0)] * 2
    syncs = store.wal_syncs
    assert await store.reserve("s", 300, SLOTS, NOW, NOW + 60) is None
    assert await store.settle("s", 300, 30, SLOTS, NOW, NOW + 3_600) is True
    assert store.wal_syncs - syncs == 1  # the WAL reopened


async def test_the_wal_is_checkpointed_though_the_loop_never_checkpoints(
    store: SqliteStore,
) -> None:
    for i in range(10 * CHECKPOINT_EVERY):
        assert await store.reserve(f"r{i}", 1, ROOMY, NOW, NOW + 60) is None
        assert await store.settle(f"r{i}", 1, 1, ROOMY, NOW, NOW + 3_600) is True
    assert store.commits <= 1 and store.inline_commits >= 20 * CHECKPOINT_EVERY
    # Without checkpoints the WAL would hold every page written (~10 per settle, 4 KiB each:
    # ~25 MB here); checkpointed, SQLite restarts it from the top.
    assert wal_bytes(store.path) < 8 * 2**20, wal_bytes(store.path)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT sum(spent_nano) FROM spend").fetchone() == (
            len(SLOTS) * 10 * CHECKPOINT_EVERY,)


async def test_holds_and_releases_alone_are_checkpointed(store: SqliteStore) -> None:
    """An upstream outage is reserve + release on every request, and no settle: no fsync for a
    checkpoint to ride on. Its pages are checkpointed all the same (~100 MB of WAL without)."""
    for i in range(20 * CHECKPOINT_EVERY):
        assert await store.reserve(f"r{i}", 1, ROOMY, NOW, NOW + 60) is None
        await store.release(f"r{i}", 1, ROOMY)
        await asyncio.sleep(0)  # the rest of a request: the loop runs its other tasks
    assert store.wal_syncs == 0 and store.wal_checkpoints > 0
    assert wal_bytes(store.path) < WAL_BOUND, wal_bytes(store.path)
    assert held_in_file(store.path) == []


async def test_the_wal_stays_small_under_concurrent_settles(store: SqliteStore) -> None:
    """Many settles share an fsync under load (here 1,500 in ~50 fsyncs): checkpoints are
    counted in commits, so they still come (101 MiB of WAL when they were counted in fsyncs)."""
    asked = iter(range(1_500))

    async def client() -> None:
        for i in asked:
            assert await store.reserve(f"c{i}", 1, ROOMY, NOW, NOW + 60) is None
            assert await store.settle(f"c{i}", 1, 1, ROOMY, NOW, NOW + 3_600) is True
            await asyncio.sleep(0)  # the rest of a request: the loop runs its other tasks

    await asyncio.gather(*(client() for _ in range(32)))
    assert store.wal_syncs < 1_500 // 4  # they did share fsyncs
    assert wal_bytes(store.path) < WAL_BOUND, wal_bytes(store.path)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT sum(spent_nano) FROM spend").fetchone() == (
            len(ROOMY) * 1_500,)


async def test_a_long_reader_is_not_waited_for_and_the_wal_starts_over_after_it(
    store: SqliteStore,
) -> None:
    """A RESTART checkpoint waits for readers. While another process reads the WAL, the
    checkpoints stay PASSIVE (no stall: every operation still commits on the loop); once it
    has gone, the WAL, by then over RESTART_FRAMES, is made to start over from its top."""
    reader = sqlite3.connect(store.path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM spend").fetchone()  # a snapshot: the WAL held back
    pairs = 0

    async def pair() -> None:
        nonlocal pairs
        pairs += 1
        assert await store.reserve(f"p{pairs}", 1, ROOMY, NOW, NOW + 60) is None
        assert await store.settle(f"p{pairs}", 1, 1, ROOMY, NOW, NOW + 3_600) is True
        await asyncio.sleep(0)  # the rest of a request: the loop runs its other tasks

    try:
        while wal_bytes(store.path) < (RESTART_FRAMES + 1_000) * 4_096:
            await pair()
        assert store.wal_checkpoints >= 4 and store.wal_restarts == 0
        assert store.commits <= 1  # nothing was sent to the thread: the loop never waited
    finally:
        reader.close()
    for _ in range(2 * CHECKPOINT_EVERY):  # up to the next checkpoint, and its RESTART
        await pair()
        if store.wal_restarts:
            break
    assert store.wal_restarts == 1
    for _ in range(CHECKPOINT_EVERY):  # those queued behind it, and more
        await pair()
    grown = wal_bytes(store.path)
    for _ in range(2 * CHECKPOINT_EVERY):
        await pair()
    assert wal_bytes(store.path) == grown  # written again from the top, not appended to


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
