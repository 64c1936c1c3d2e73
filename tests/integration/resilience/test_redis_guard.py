"""The Redis client's own bounds and the breaker shared by the answer cache and the ledger,
against a real redis-server that is paused (SIGSTOP: a hung server).

Counted at the server, not timed: a reconnect after a timeout shows up in the server's
`total_connections_received` once it runs again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from prometheus_client import CollectorRegistry
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.budget.ledger import Ledger
from app.budget.stores.redis import RedisStore
from app.cache import CachedAnswer, RedisAnswerCache
from app.clock import ManualClock
from app.config import Budgets, CachePolicy
from app.errors import LedgerUnavailableError
from app.metrics import Metrics
from app.resilience.redis_dependency import (
    CONNECT_TIMEOUT_SECONDS,
    REDIS_BREAKER_POLICY,
    SOCKET_TIMEOUT_SECONDS,
    redis_client,
    redis_guard,
)
from tests.fakes.redis_server import RedisServer

pytestmark = pytest.mark.integration

BUDGETS = Budgets(hourly_usd=1.0, daily_usd=2.0, monthly_usd=3.0)


@pytest.fixture
def admin(private_redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A connection of the test's own, opened before anything is paused."""
    client = redis.Redis.from_url(private_redis_server.url, decode_responses=True)
    client.ping()
    yield client
    client.close()


def connections_received(admin: redis.Redis) -> int:
    return int(admin.info("stats")["total_connections_received"])


def test_the_first_operation_of_an_ask_meets_a_hung_redis_within_a_second() -> None:
    # Every /ask starts with a cache lookup: one socket (or connect) timeout, never retried.
    assert SOCKET_TIMEOUT_SECONDS < 1.0 and CONNECT_TIMEOUT_SECONDS < 1.0
    assert REDIS_BREAKER_POLICY.permitted_in_half_open == 1


async def test_a_timeout_is_not_retried(
    private_redis_server: RedisServer, admin: redis.Redis
) -> None:
    client = redis_client(private_redis_server.url)
    try:
        await client.ping()
        before = connections_received(admin)
        private_redis_server.pause()
        try:
            with pytest.raises(RedisTimeoutError):
                await client.get("k")
        finally:
            private_redis_server.resume()
        # A retry would have dropped the timed-out connection and opened another one (and
        # waited a second socket timeout on it).
        assert connections_received(admin) == before
    finally:
        await client.aclose()


async def test_the_ledger_retries_a_timeout_once(
    private_redis_server: RedisServer, admin: redis.Redis
) -> None:
    """Its scripts are idempotent, and a reserve lost to one slow reply refuses a paid call."""
    clock = ManualClock(datetime.now(UTC))
    ledger = Ledger(RedisStore(private_redis_server.url), clock)
    try:
        await ledger.ping()
        before = connections_received(admin)
        private_redis_server.pause()
        try:
            with pytest.raises(LedgerUnavailableError, match="Timeout"):
                await ledger.ping()
        finally:
            private_redis_server.resume()
        assert connections_received(admin) == before + 1  # the retry's fresh connection
    finally:
        await ledger.aclose()


async def test_a_dropped_connection_is_retried_once_on_a_fresh_one(
    private_redis_server: RedisServer, admin: redis.Redis
) -> None:
    client = redis_client(private_redis_server.url, decode_responses=True)
    try:
        await client.set("k", "v")
        admin.client_kill_filter(_id=str(await client.client_id()))
        assert await client.get("k") == "v"  # the server closed it; the retry reconnected
    finally:
        await client.aclose()


async def test_the_cache_and_the_ledger_share_one_breaker(
    private_redis_server: RedisServer,
) -> None:
    """Cache lookups detect the hung server; the ledger's next reserve is refused without a
    socket timeout (and vice versa: it is one breaker)."""
    metrics = Metrics(CollectorRegistry())
    clock = ManualClock(datetime.now(UTC))  # the ledger's keys expire on Redis's clock
    guard = redis_guard(clock, metrics)
    cache_client = redis_client(private_redis_server.url)
    cache = RedisAnswerCache(cache_client, CachePolicy(), clock, guard=guard)
    ledger = Ledger(RedisStore(private_redis_server.url, guard=guard), clock, metrics=metrics)
    entry = CachedAnswer("restart it", "claude-x", ("pod-oomkilled",), clock.now().timestamp())
    try:
        await cache.put("q", entry)
        held = await ledger.reserve(0.1, BUDGETS)  # a paid call in flight during the outage
        private_redis_server.pause()
        for _ in range(REDIS_BREAKER_POLICY.minimum_calls):
            found = await cache.get("q", allow_stale=False)  # a timeout, then the local tier
            assert found is not None and found.entry == entry
        assert guard.snapshot().state == "open"

        reached = metrics.registry.get_sample_value(
            "ai_dependency_calls_total", {"dependency": "redis", "outcome": "failure"})
        with pytest.raises(LedgerUnavailableError, match="skipped: circuit breaker for redis"):
            await ledger.reserve(0.1, BUDGETS)
        assert metrics.registry.get_sample_value(
            "ai_dependency_calls_total", {"dependency": "redis", "outcome": "failure"}) == reached
        assert metrics.registry.get_sample_value(
            "ai_ledger_errors_total", {"operation": "reserve"}) == 1

        private_redis_server.resume()
        # Still OPEN, but the call that was in flight gets its spend recorded: a settle is
        # always tried (it records money already spent).
        await ledger.settle(held, 0.1)
        assert guard.snapshot().state == "open"
        with pytest.raises(LedgerUnavailableError, match="skipped"):
            await ledger.snapshot(BUDGETS)
        clock.advance(REDIS_BREAKER_POLICY.wait_in_open_seconds)
        await ledger.ping()  # the half-open probe, through the ledger this time
        assert guard.snapshot().state == "closed"
        assert await cache.get("q", allow_stale=False) is not None
        assert [w.spent_usd for w in await ledger.snapshot(BUDGETS)] == [0.1] * 3
    finally:
        await ledger.aclose()
        await cache_client.aclose()
