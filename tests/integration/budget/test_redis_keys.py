"""The Redis layout: one hash tag for every key (Redis Cluster safe), a TTL on every key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from app.budget.ledger import Ledger, open_ledger
from app.budget.stores.redis import RedisStore
from app.clock import ManualClock
from app.config import Budgets, Settings
from tests.fakes.redis_server import RedisServer

pytestmark = pytest.mark.integration

BUDGETS = Budgets(hourly_usd=1.0, daily_usd=2.0, monthly_usd=3.0)


async def test_every_key_shares_one_slot_and_expires(redis_server: RedisServer) -> None:
    prefix = f"layout:{uuid.uuid4().hex}"
    clock = ManualClock(datetime.now(UTC))  # real time: Redis expires keys by its own clock
    ledger = Ledger(RedisStore(redis_server.url, prefix=prefix), clock)
    client = Redis.from_url(redis_server.url)
    try:
        await ledger.settle(await ledger.reserve(0.5, BUDGETS), 0.25)
        await ledger.reserve(0.5, BUDGETS)
        keys = sorted([k.decode() async for k in client.scan_iter(match=f"{{{prefix}}}*")])
        assert len(keys) == 10  # spent, res and rsum for 3 windows, and the settled set
        assert len({key_slot(k.encode()) for k in keys}) == 1
        for key in keys:
            assert await client.ttl(key) > 0, key
    finally:
        await client.aclose()
        await ledger.aclose()


async def test_open_ledger_uses_redis_when_configured(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = Settings(redis_url=redis_server.url, ledger_path=tmp_path / "unused.sqlite3")
    ledger = open_ledger(settings, ManualClock(datetime(2026, 11, 27, tzinfo=UTC)))
    try:
        assert isinstance(ledger.store, RedisStore)
        await ledger.ping()
        assert not (tmp_path / "unused.sqlite3").exists()
    finally:
        await ledger.aclose()
