"""A separate process racing for budget: `python -m tests.integration.budget.race_worker
<sqlite-path|redis-url> <prefix> <tasks> <amount_usd> <hourly_usd>`.

It prints "ready", waits for a line on stdin (so every worker starts together), runs <tasks>
concurrent reserve+settle loops until refused, and prints how many reservations it was
granted. Used by the multi-process tests; service-level tests can reuse it as a load generator.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from app.budget.ledger import Ledger
from app.budget.stores.base import LedgerStore
from app.budget.stores.redis import RedisStore
from app.budget.stores.sqlite import SqliteStore
from app.clock import ManualClock
from app.config import Budgets
from app.errors import BudgetExceededError

NOW = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)


async def race(target: str, prefix: str, tasks: int, amount: float, hourly: float) -> int:
    store: LedgerStore = (
        RedisStore(target, prefix=prefix)
        if target.startswith("redis")
        else SqliteStore(Path(target))
    )
    ledger = Ledger(store, ManualClock(NOW), reservation_ttl_seconds=600)
    budgets = Budgets(
        per_request_usd=amount, hourly_usd=hourly, daily_usd=hourly, monthly_usd=hourly
    )
    await ledger.ping()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)

    async def one_task() -> int:
        granted = 0
        while True:
            try:
                reservation = await ledger.reserve(amount, budgets)
            except BudgetExceededError:
                return granted
            granted += 1
            await ledger.settle(reservation, amount)

    try:
        return sum(await asyncio.gather(*(one_task() for _ in range(tasks))))
    finally:
        await ledger.aclose()


def main() -> None:
    target, prefix, tasks, amount, hourly = sys.argv[1:6]
    granted = asyncio.run(race(target, prefix, int(tasks), float(amount), float(hourly)))
    print(granted, flush=True)


if __name__ == "__main__":
    main()
