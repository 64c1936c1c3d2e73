"""The SQLite store's running totals: exact through every step, the same work per call with 1 or
10,000 holds outstanding (counted in SQLite VM instructions, not time), and a file written
before the totals existed."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
import pytest_asyncio

from app.budget.stores.base import Slot, SlotUsage
from app.budget.stores.sqlite import SqliteStore

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0  # the store judges expiry by the caller's clock: any fixed time will do
WINDOWS = ("hourly:2027-01-15T08", "daily:2027-01-15")
BIG = 10**15


def slots(limit: int = BIG) -> list[Slot]:
    return [Slot(key, limit, NOW + 86_400) for key in WINDOWS]


class CountingStore(SqliteStore):
    """A SqliteStore whose connection counts the SQLite VM instructions it runs."""

    steps = 0

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()

        def tick() -> int:
            self.steps += 1
            return 0

        conn.set_progress_handler(tick, 1)
        return conn


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    opened = CountingStore(tmp_path / "ledger.sqlite3")
    yield opened
    await opened.aclose()


async def assert_totals(store: SqliteStore, reserved: int, spent: int, now: float = NOW) -> None:
    """The snapshot reports `reserved` and `spent` in every window, and the totals table holds
    exactly the sums of the holds left."""
    assert await store.snapshot(slots(), now) == [SlotUsage(spent, reserved)] * len(WINDOWS)
    with closing(sqlite3.connect(store.path)) as conn:
        totals = conn.execute("SELECT period, reserved_nano FROM reserved ORDER BY 1").fetchall()
        sums = conn.execute(
            "SELECT period, sum(amount_nano) FROM reservation GROUP BY period ORDER BY 1"
        ).fetchall()
    assert totals == sums


async def test_the_total_stays_exact_through_every_step(store: CountingStore) -> None:
    s = slots()
    assert await store.reserve("a", 1_000, s, NOW, NOW + 60) is None
    assert await store.reserve("a", 1_000, s, NOW, NOW + 60) is None  # a retry: held once
    assert await store.reserve("b", 20_000, s, NOW, NOW + 60) is None
    assert await store.reserve("c", 300_000, s, NOW, NOW + 10) is None
    await assert_totals(store, reserved=321_000, spent=0)
    assert await store.settle("a", 1_000, 700, s, NOW, NOW + 3600)
    assert not await store.settle("a", 1_000, 700, s, NOW, NOW + 3600)  # duplicate settle
    await store.release("a", 1_000, s)  # release after settle
    await store.release("b", 20_000, s)
    await store.release("b", 20_000, s)  # duplicate release
    await assert_totals(store, reserved=300_000, spent=700)
    await assert_totals(store, reserved=0, spent=700, now=NOW + 10)  # "c" expired
    assert await store.settle("c", 300_000, 50_000, s, NOW + 10, NOW + 3600)
    await assert_totals(store, reserved=0, spent=50_700, now=NOW + 10)


async def test_a_retried_reserve_that_exactly_fits_is_not_refused(store: CountingStore) -> None:
    tight = slots(limit=1_000)
    assert await store.reserve("a", 1_000, tight, NOW, NOW + 60) is None
    assert await store.reserve("a", 1_000, tight, NOW, NOW + 60) is None
    assert await store.reserve("b", 1, tight, NOW, NOW + 60) == 0
    await assert_totals(store, reserved=1_000, spent=0)


def write_holds(path: Path, count: int, *, start: int = 0) -> None:
    """`count` live holds of 7 nano-USD per window, written straight into the file."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(
            "INSERT INTO reservation VALUES (?, ?, 7, ?)",
            [(f"held-{i}", w, NOW + 600) for i in range(start, start + count) for w in WINDOWS],
        )


async def steps_per_pair(store: CountingStore, tmp: Path, count: int) -> int:
    """VM instructions of one reserve + release with `count` holds outstanding."""
    await store.ping()  # schema created
    await store.aclose()
    write_holds(store.path, count)
    reopened = CountingStore(store.path)
    try:
        await assert_totals(reopened, reserved=7 * count, spent=0)  # connected, totals rebuilt
        reopened.steps = 0
        assert await reopened.reserve("probe", 5, slots(), NOW, NOW + 60) is None
        await reopened.release("probe", 5, slots())
        return reopened.steps
    finally:
        await reopened.aclose()


async def test_a_reserve_does_the_same_work_with_10000_holds_outstanding(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    one = await steps_per_pair(CountingStore(tmp_path / "one" / "l.sqlite3"), tmp_path, 1)
    many = await steps_per_pair(CountingStore(tmp_path / "many" / "l.sqlite3"), tmp_path, 10_000)
    # Summing 10,000 holds per window would take tens of thousands of instructions more.
    assert many <= one + 50, (one, many)


async def test_a_file_written_before_the_totals_existed_counts_its_holds(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with closing(sqlite3.connect(path)) as conn, conn:  # the previous version's schema
        conn.executescript(
            """
            CREATE TABLE reservation (
                id TEXT NOT NULL, period TEXT NOT NULL, amount_nano INTEGER NOT NULL,
                expires_at REAL NOT NULL, PRIMARY KEY (period, id));
            """
        )
    write_holds(path, 100)
    store = SqliteStore(path)
    try:
        assert await store.reserve("new", 301, slots(limit=1_000), NOW, NOW + 60) == 0
        await assert_totals(store, reserved=700, spent=0)
        await store.release("held-0", 7, slots())
        assert await store.reserve("new", 300, slots(limit=1_000), NOW, NOW + 60) is None
        await assert_totals(store, reserved=993, spent=0)
    finally:
        await store.aclose()


class TracingStore(SqliteStore):
    """A SqliteStore whose connection records the statements it runs."""

    statements: list[str]

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        self.statements = []
        conn.set_trace_callback(self.statements.append)
        return conn

    def _connect_inline(self) -> sqlite3.Connection:  # the event loop's (holds, reads)
        conn = super()._connect_inline()
        conn.set_trace_callback(lambda statement: self.statements.append(statement))
        return conn


async def test_a_reserve_reads_each_slot_in_one_statement(tmp_path: Path) -> None:
    """Statements, not the lookups in them, are what the store's thread spends a paid answer's
    CPU on: a slot's hold, spend and total are read together (issue 14)."""
    store = TracingStore(tmp_path / "ledger.sqlite3")
    try:
        four = [Slot(f"w{i}", BIG, NOW + 86_400) for i in range(4)]
        await store.ping()
        store.statements.clear()
        assert await store.reserve("r", 5, four, NOW, NOW + 60) is None
        reads = [s for s in store.statements if s.lstrip().upper().startswith("SELECT")]
        assert len(reads) == len(four) + 1, reads  # + the expired holds' lookup
        assert await store.snapshot(four, NOW) == [SlotUsage(0, 5)] * 4
    finally:
        await store.aclose()
