"""One paid call's ledger steps on the SQLite store, each after a marker line on stderr, for
test_sqlite_fsyncs.py: it runs this under strace and counts the fsyncs of each step.

    python -m tests.integration.budget.fsync_worker <sqlite-path>
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from app.budget.ledger import Ledger
from app.budget.stores.sqlite import SqliteStore
from app.clock import ManualClock
from app.config import Budgets
from tests.integration.budget.ledger_worker import NOW, TTL_SECONDS

MARK = "fsync-worker step "


def mark(step: str) -> None:
    os.write(2, f"{MARK}{step}\n".encode())


async def main(path: str) -> None:
    ledger = Ledger(SqliteStore(Path(path)), ManualClock(NOW), reservation_ttl_seconds=TTL_SECONDS)
    budgets = Budgets()
    try:
        await ledger.ping()  # opens the file: schema, WAL (not a step of a call)
        mark("reserve")
        paid = await ledger.reserve(0.5, budgets)
        mark("settle")
        await ledger.settle(paid, 0.25)
        mark("reserve")
        failed = await ledger.reserve(0.5, budgets)
        mark("release")
        await ledger.release(failed)
        mark("snapshot")
        await ledger.snapshot(budgets)
        mark("end")
    finally:
        await ledger.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
