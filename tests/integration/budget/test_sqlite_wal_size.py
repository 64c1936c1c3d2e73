"""The SQLite ledger reports its WAL file's size (`SqliteStore.wal_bytes`, exported as
`ai_ledger_wal_bytes`, alert AILedgerWALGrowing): the one thing the checkpoints cannot keep
small, a read held open on the file by another process, shows there, and so does its end.
Real SQLite files, real connections."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.budget.stores.base import Slot
from app.budget.stores.sqlite import SqliteStore
from app.budget.stores.sqlite_files import WAL_SIZE_LIMIT
from app.budget.stores.sqlite_sync import CHECKPOINT_EVERY

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0  # the store judges expiry by the caller's clock: any fixed time will do
SLOTS = [Slot("hourly:2027-01-15T08", 10**12, NOW + 86_400),
         Slot("daily:2027-01-15", 10**12, NOW + 86_400)]


def file_size(store: SqliteStore) -> int:
    return Path(f"{store.path}-wal").stat().st_size


def wal_exists(store: SqliteStore) -> bool:
    return Path(f"{store.path}-wal").exists()


class Answers:
    """Paid answers as the ledger sees them: a hold, then its settle."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.n = 0

    async def one(self) -> None:
        self.n += 1
        rid = f"a{self.n}"
        assert await self.store.reserve(rid, 1, SLOTS, NOW, NOW + 60) is None
        assert await self.store.settle(rid, 1, 1, SLOTS, NOW, NOW + 3_600) is True


async def test_a_wal_held_by_a_reader_shows_and_is_cut_back_once_the_reader_ends(
    store: SqliteStore,
) -> None:
    answers = Answers(store)
    await answers.one()
    assert store.wal_bytes() == file_size(store) > 0

    reader = sqlite3.connect(store.path, isolation_level=None)  # a backup, a sqlite3 shell
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM spend").fetchone()
    try:
        while store.wal_bytes() <= WAL_SIZE_LIMIT + 2**20:  # beyond what checkpoints allow
            await answers.one()
        assert store.wal_bytes() == file_size(store)
    finally:
        reader.close()

    for _ in range(4 * CHECKPOINT_EVERY):  # the next checkpoint, its RESTART, a new start
        await answers.one()
        if store.wal_restarts and store.wal_bytes() <= WAL_SIZE_LIMIT:
            break
    assert store.wal_bytes() == file_size(store) <= WAL_SIZE_LIMIT


async def test_no_wal_file_reads_zero(tmp_path: Path) -> None:
    """The last connection to close folds the WAL into the database and deletes it."""
    store = SqliteStore(tmp_path / "ledger.sqlite3")
    await store.ping()
    await Answers(store).one()
    assert store.wal_bytes() > 0
    await store.aclose()
    assert not wal_exists(store)
    assert store.wal_bytes() == 0
