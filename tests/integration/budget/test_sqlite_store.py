"""SQLite specifics: durability of a settle, and fail-closed when the file is locked or broken."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from app.budget.ledger import Ledger, open_ledger
from app.budget.stores.sqlite import SqliteStore
from app.clock import ManualClock
from app.config import Budgets, Settings
from app.errors import LedgerUnavailableError

pytestmark = pytest.mark.integration

BUDGETS = Budgets(hourly_usd=1.0, daily_usd=2.0, monthly_usd=3.0)
NOW = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)


@pytest_asyncio.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    store = SqliteStore(tmp_path / "ledger.sqlite3", busy_timeout_seconds=0.05)
    ledger = Ledger(store, ManualClock(NOW))
    yield ledger
    await ledger.aclose()


@pytest.fixture
def other_writer(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection to the same file (autocommit; the test opens transactions)."""
    with closing(sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)) as conn:
        yield conn


async def test_a_settle_is_on_disk_when_it_returns(
    ledger: Ledger, other_writer: sqlite3.Connection
) -> None:
    await ledger.settle(await ledger.reserve(0.5, BUDGETS), 0.25)
    rows = other_writer.execute("SELECT period, spent_nano FROM spend ORDER BY period").fetchall()
    assert rows == [
        ("daily:2026-11-27", 250_000_000),
        ("hourly:2026-11-27T06", 250_000_000),
        ("monthly:2026-11", 250_000_000),
    ]
    assert other_writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_file_locked_by_another_writer_fails_closed_then_recovers(
    ledger: Ledger, other_writer: sqlite3.Connection
) -> None:
    await ledger.ping()  # schema exists
    other_writer.execute("BEGIN IMMEDIATE")
    with pytest.raises(LedgerUnavailableError, match="locked"):
        await ledger.reserve(0.1, BUDGETS)
    other_writer.execute("ROLLBACK")
    await ledger.release(await ledger.reserve(0.1, BUDGETS))


async def test_an_unusable_path_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    ledger = Ledger(SqliteStore(tmp_path / "file" / "ledger.sqlite3"), ManualClock(NOW))
    try:
        with pytest.raises(LedgerUnavailableError):
            await ledger.ping()
    finally:
        await ledger.aclose()


async def test_a_closed_ledger_refuses_work(ledger: Ledger) -> None:
    await ledger.aclose()
    with pytest.raises(LedgerUnavailableError, match="closed"):
        await ledger.reserve(0.1, BUDGETS)


async def test_open_ledger_uses_sqlite_without_redis_and_creates_the_directory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "var" / "nested" / "ledger.sqlite3"
    ledger = open_ledger(
        Settings(ledger_path=path, redis_url=None, reservation_ttl_seconds=5), ManualClock(NOW)
    )
    try:
        assert isinstance(ledger.store, SqliteStore)
        await ledger.reserve(0.1, BUDGETS)
        assert path.exists()
    finally:
        await ledger.aclose()
