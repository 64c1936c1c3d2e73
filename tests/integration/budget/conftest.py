"""Ledger backends for the store contract: the same tests run on memory, SQLite and a real
Redis. `ledger_factory()` opens another Ledger on the SAME storage (a second replica, or the
process after a restart); everything opened is closed at teardown."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from app.budget.ledger import Ledger
from app.budget.stores.base import LedgerStore
from app.budget.stores.memory import MemoryStore
from app.budget.stores.redis import RedisStore
from app.budget.stores.sqlite import SqliteStore
from app.clock import ManualClock
from tests.fakes.redis_server import (  # noqa: F401 - re-exported fixtures
    RedisServer,
    private_redis_server,
    redis_server,
)
from tests.integration.budget.server_time import let_server_time_pass

TTL_SECONDS = 60.0
# Redis expires holds by its own clock, which a test cannot move: its holds are short and real.
REDIS_TTL_SECONDS = 3.0
LedgerFactory = Callable[[], Ledger]
Lapse = Callable[[], Awaitable[None]]


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A SQLite store on a file of its own, open: the thread's connection and, with it, the
    loop's (`sqlite_inline.py`). Closed at teardown (a test may close it first)."""
    s = SqliteStore(tmp_path / "ledger.sqlite3")
    await s.ping()
    yield s
    await s.aclose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 27, 6, 30, tzinfo=UTC))


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ttl_seconds(store_kind: str) -> float:
    return REDIS_TTL_SECONDS if store_kind == "redis" else TTL_SECONDS


@pytest.fixture
def lapse(
    store_kind: str, clock: ManualClock, ttl_seconds: float, request: pytest.FixtureRequest
) -> Lapse:
    """Let every hold taken so far expire: the ManualClock moves by the TTL (memory, SQLite);
    for Redis the test also waits until the TTL has passed on the server's clock."""

    async def run() -> None:
        if store_kind == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            await let_server_time_pass(server.url, ttl_seconds)
        clock.advance(ttl_seconds)

    return run


@pytest_asyncio.fixture
async def ledger_factory(
    store_kind: str,
    clock: ManualClock,
    ttl_seconds: float,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[LedgerFactory]:
    shared_memory = MemoryStore()
    prefix = f"test:{uuid.uuid4().hex}"
    server: RedisServer | None = (
        request.getfixturevalue("redis_server") if store_kind == "redis" else None
    )
    opened: list[Ledger] = []

    def new_ledger() -> Ledger:
        store: LedgerStore
        if store_kind == "memory":
            store = shared_memory
        elif store_kind == "sqlite":
            store = SqliteStore(tmp_path / "ledger.sqlite3")
        else:
            assert server is not None
            store = RedisStore(server.url, prefix=prefix)
        ledger = Ledger(store, clock, reservation_ttl_seconds=ttl_seconds)
        opened.append(ledger)
        return ledger

    yield new_ledger
    for ledger in opened:
        await ledger.aclose()
