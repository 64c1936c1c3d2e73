"""Racing for the last dollars: admitted == floor(limit / amount), never more, never fewer.

Within one process (asyncio tasks, and two Ledger objects on one store), and across real
processes sharing one SQLite file or one redis-server.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from app.budget.ledger import Ledger, Reservation
from app.budget.pricing import usd_to_nano
from app.config import Budgets
from app.errors import BudgetExceededError
from tests.fakes.redis_server import RedisServer
from tests.integration.budget.conftest import LedgerFactory

pytestmark = pytest.mark.integration

AMOUNT_USD = 0.07
LIMIT_USD = 1.0
EXPECTED = usd_to_nano(LIMIT_USD) // usd_to_nano(AMOUNT_USD)  # 14
BUDGETS = Budgets(per_request_usd=1, hourly_usd=LIMIT_USD, daily_usd=5, monthly_usd=50)
REPO = Path(__file__).resolve().parents[3]


async def try_reserve(ledger: Ledger) -> Reservation | None:
    try:
        return await ledger.reserve(AMOUNT_USD, BUDGETS)
    except BudgetExceededError:
        return None


async def assert_exact_admission(ledgers: list[Ledger], tasks: int) -> None:
    results = await asyncio.gather(*(try_reserve(ledgers[i % len(ledgers)]) for i in range(tasks)))
    admitted = [r for r in results if r is not None]
    assert len(admitted) == EXPECTED
    await asyncio.gather(*(ledgers[0].settle(r, AMOUNT_USD) for r in admitted))
    hourly = (await ledgers[0].snapshot(BUDGETS))[0]
    assert usd_to_nano(hourly.spent_usd) == EXPECTED * usd_to_nano(AMOUNT_USD)
    assert hourly.spent_usd <= LIMIT_USD
    assert hourly.reserved_usd == 0


async def test_many_tasks_on_one_ledger(ledger_factory: LedgerFactory) -> None:
    await assert_exact_admission([ledger_factory()], tasks=100)


async def test_many_tasks_on_two_ledgers_sharing_a_store(ledger_factory: LedgerFactory) -> None:
    await assert_exact_admission([ledger_factory(), ledger_factory()], tasks=100)


async def run_workers(target: str, prefix: str, workers: int) -> list[int]:
    """Start `workers` processes, wait until each is connected, then release them together."""
    args = ["10", str(AMOUNT_USD), str(LIMIT_USD)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.budget.ledger_worker",
            "race",
            target,
            prefix,
            *args,
            cwd=REPO,
            stdin=PIPE,
            stdout=PIPE,
        )
        for _ in range(workers)
    ]
    for p in procs:
        assert p.stdout is not None
        assert await asyncio.wait_for(p.stdout.readline(), timeout=30) == b"ready\n"
    outputs = await asyncio.gather(*(asyncio.wait_for(p.communicate(b"go\n"), 60) for p in procs))
    assert all(p.returncode == 0 for p in procs)
    return [int(out.decode()) for out, _ in outputs]


async def test_processes_sharing_one_sqlite_file(tmp_path: Path) -> None:
    granted = await run_workers(str(tmp_path / "ledger.sqlite3"), "-", workers=3)
    assert sum(granted) == EXPECTED


async def test_processes_sharing_one_redis(redis_server: RedisServer) -> None:
    prefix = f"race:{uuid.uuid4().hex}"
    granted = await run_workers(redis_server.url, prefix, workers=3)
    assert sum(granted) == EXPECTED
