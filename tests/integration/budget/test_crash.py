"""kill -9: a process dies mid-request. Its settled spend is intact, and its reservation (the
call in flight) keeps counting until it expires, then is released. Same for SQLite and Redis,
and for redis-server itself being killed (AOF, fsync always)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from app.budget.ledger import Ledger
from app.budget.stores.base import LedgerStore
from app.budget.stores.redis import RedisStore
from app.budget.stores.sqlite import SqliteStore
from app.clock import ManualClock
from app.config import Budgets
from tests.fakes.redis_server import RedisServer
from tests.integration.budget.ledger_worker import NOW, REDIS_TTL_SECONDS, TTL_SECONDS, ttl_for
from tests.integration.budget.server_time import let_server_time_pass

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
BUDGETS = Budgets()


async def kill_mid_request(target: str, prefix: str) -> None:
    """Run a worker that spent $0.25 and holds $0.50, then SIGKILL it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.budget.ledger_worker", "hold", target, prefix,
        "0.25", "0.5", cwd=REPO, stdin=PIPE, stdout=PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), timeout=30) == b"holding\n"
    proc.kill()
    await proc.communicate()
    assert proc.returncode == -9


async def assert_spend_kept_and_hold_lapses(store: LedgerStore, target: str) -> None:
    clock = ManualClock(NOW)
    ledger = Ledger(store, clock, reservation_ttl_seconds=ttl_for(target))
    try:
        states = await ledger.snapshot(BUDGETS)
        assert [(s.spent_usd, s.reserved_usd) for s in states] == [(0.25, 0.5)] * 3
        if target.startswith("redis"):  # Redis expires holds by its own clock
            await let_server_time_pass(target, REDIS_TTL_SECONDS)
        else:
            clock.advance(TTL_SECONDS - 0.001)
            assert (await ledger.snapshot(BUDGETS))[0].reserved_usd == 0.5
            clock.advance(0.001)
        states = await ledger.snapshot(BUDGETS)
        assert [(s.spent_usd, s.reserved_usd) for s in states] == [(0.25, 0.0)] * 3
    finally:
        await ledger.aclose()


async def test_sqlite_survives_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    await kill_mid_request(str(path), "-")
    await assert_spend_kept_and_hold_lapses(SqliteStore(path), str(path))


async def test_redis_survives_a_killed_process(redis_server: RedisServer) -> None:
    prefix = f"crash:{uuid.uuid4().hex}"
    await kill_mid_request(redis_server.url, prefix)
    await assert_spend_kept_and_hold_lapses(
        RedisStore(redis_server.url, prefix=prefix), redis_server.url
    )


async def test_spend_survives_redis_server_being_killed(
    private_redis_server: RedisServer,
) -> None:
    prefix = f"crash:{uuid.uuid4().hex}"
    await kill_mid_request(private_redis_server.url, prefix)
    private_redis_server.stop(kill=True)
    private_redis_server.restart()
    await assert_spend_kept_and_hold_lapses(
        RedisStore(private_redis_server.url, prefix=prefix), private_redis_server.url
    )
