"""A Redis that may evict the ledger's keys is reported (app/budget/redis_eviction.py): a real
redis-server of the test's own, its memory settings changed with CONFIG SET as an operator (or a
managed service's defaults) would, read back through the service's own Redis client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry, Gauge
from redis.asyncio import Redis

from app.budget.redis_eviction import EvictionWatch
from app.resilience.redis_dependency import redis_client
from tests.fakes.redis_server import RedisServer, private_redis_server  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def client(private_redis_server: RedisServer) -> AsyncIterator[Redis]:  # noqa: F811
    redis = redis_client(private_redis_server.url)
    yield redis
    await redis.aclose()


METRIC = "ai_ledger_evictable"


def watch_of(client: Redis) -> tuple[EvictionWatch, CollectorRegistry]:
    registry = CollectorRegistry()
    return EvictionWatch(client, Gauge(METRIC, "test", registry=registry)), registry


def value(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value(METRIC)


def unsafe_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.levelno == logging.ERROR and "may evict the budget ledger" in r.getMessage()]


async def configure(client: Redis, maxmemory: str, policy: str) -> None:
    await client.config_set("maxmemory", maxmemory)
    await client.config_set("maxmemory-policy", policy)


async def test_redis_without_a_memory_limit_is_safe_whatever_its_policy(client: Redis) -> None:
    watch, registry = watch_of(client)
    setting = await watch.check()
    assert setting is not None and setting.maxmemory == 0 and not setting.evictable
    await configure(client, "0", "allkeys-lru")  # no limit: never full, never evicts
    setting = await watch.check()
    assert setting is not None and setting.policy == "allkeys-lru" and not setting.evictable
    assert value(registry) == 0


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "volatile-ttl",
                                    "allkeys-random"])
async def test_a_memory_limit_with_an_evicting_policy_is_reported_once_until_it_is_fixed(
    client: Redis, caplog: pytest.LogCaptureFixture, policy: str,
) -> None:
    """volatile-* counts: every ledger key has a TTL (a window's spend expires after it)."""
    caplog.set_level(logging.INFO, logger="app.budget")
    watch, registry = watch_of(client)
    await configure(client, "64mb", policy)
    setting = await watch.check()
    assert setting is not None and setting.evictable and value(registry) == 1
    await watch.check()  # still unsafe: said once, not every minute
    assert len(unsafe_lines(caplog)) == 1
    assert unsafe_lines(caplog)[0].__dict__["fields"] == {
        "maxmemory": 64 * 1024 * 1024, "maxmemory_policy": policy}

    await configure(client, "64mb", "noeviction")  # the fix: full means refused writes
    setting = await watch.check()
    assert setting is not None and not setting.evictable and value(registry) == 0
    assert any("no longer evicts" in r.getMessage() for r in caplog.records)


async def test_an_unreachable_redis_keeps_the_last_reading(
    client: Redis, private_redis_server: RedisServer,  # noqa: F811
) -> None:
    watch, registry = watch_of(client)
    await configure(client, "64mb", "allkeys-lru")
    assert await watch.check() is not None and value(registry) == 1
    private_redis_server.stop()
    assert await watch.check() is None
    assert value(registry) == 1  # unknown now: the outage has its own alert


async def test_a_user_not_allowed_info_gets_one_warning(
    client: Redis, private_redis_server: RedisServer, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    """INFO is in ACL category @dangerous: a locked-down application user may lack it."""
    caplog.set_level(logging.DEBUG, logger="app.budget")
    await client.acl_setuser("ledger", enabled=True, passwords=["+s3cret"], keys=["*"],
                             commands=["+@all", "-info"])
    limited = redis_client(private_redis_server.url.replace("redis://", "redis://ledger:s3cret@"))
    try:
        watch, _ = watch_of(limited)
        assert await watch.check() is None and await watch.check() is None
    finally:
        await limited.aclose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot read Redis' maxmemory-policy" in warnings[0].getMessage()
    assert "NoPermissionError" in warnings[0].__dict__["fields"]["error"]
