"""A separate process using the ledger, for multi-process and kill -9 tests.

    python -m tests.integration.budget.ledger_worker race <sqlite-path|redis-url> <prefix> \\
        <tasks> <amount_usd> <hourly_usd> [<team> <team_hourly_usd>]
prints "ready", waits for a line on stdin (so every worker starts together), runs <tasks>
concurrent reserve+settle loops until refused, and prints how many reservations it was granted.
With a team, each reservation holds the team's hourly window too (issue 17).

    python -m tests.integration.budget.ledger_worker hold <sqlite-path|redis-url> <prefix> \\
        <spend_usd> <hold_usd>
settles one call of <spend_usd>, reserves <hold_usd> (a call in flight), prints "holding" and
waits on stdin forever: the test kills it with SIGKILL mid-request.

Both run on a ManualClock at NOW, so the test's own clock agrees with them. Holds last
TTL_SECONDS on that clock (SQLite), or REDIS_TTL_SECONDS on the Redis server's clock, which is the
one a Redis store expires holds by (the test waits for it, see server_time.py).
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
from app.config.teams import Limits
from app.errors import BudgetExceededError

NOW = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)
TTL_SECONDS = 600.0
REDIS_TTL_SECONDS = 5.0


def ttl_for(target: str) -> float:
    return REDIS_TTL_SECONDS if target.startswith("redis") else TTL_SECONDS


def open_worker_ledger(target: str, prefix: str) -> Ledger:
    store: LedgerStore = (
        RedisStore(target, prefix=prefix)
        if target.startswith("redis")
        else SqliteStore(Path(target))
    )
    return Ledger(store, ManualClock(NOW), reservation_ttl_seconds=ttl_for(target))


async def race(ledger: Ledger, tasks: int, amount: float, hourly: float,
               team: tuple[str, float] | None = None) -> None:
    budgets: Budgets | list[Limits] = Budgets(
        per_request_usd=amount, hourly_usd=hourly, daily_usd=hourly, monthly_usd=hourly
    )
    if team is not None:
        windows = {"hourly": hourly, "daily": hourly, "monthly": hourly}
        budgets = [Limits("global", amount, windows, False),
                   Limits(team[0], None, {"hourly": team[1]}, False)]
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

    print(sum(await asyncio.gather(*(one_task() for _ in range(tasks)))), flush=True)


async def hold(ledger: Ledger, spend: float, held: float) -> None:
    budgets = Budgets()
    await ledger.settle(await ledger.reserve(spend, budgets), spend)
    await ledger.reserve(held, budgets)
    print("holding", flush=True)
    await asyncio.to_thread(sys.stdin.readline)


async def main(argv: list[str]) -> None:
    mode, target, prefix, *rest = argv
    ledger = open_worker_ledger(target, prefix)
    try:
        if mode == "race":
            team = (rest[3], float(rest[4])) if len(rest) > 3 else None
            await race(ledger, int(rest[0]), float(rest[1]), float(rest[2]), team)
        else:
            await hold(ledger, float(rest[0]), float(rest[1]))
    finally:
        await ledger.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
