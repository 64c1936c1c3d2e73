"""The shared semantic tier against a real redis-server: two tier instances are two replicas.
Bounded (oldest first out), aged by durations only (Redis expires by its own clock, the test
process's clock may be a year ahead), and a Redis failure is the local tier or a miss, never an
error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import numpy as np
import pytest
from redis.asyncio import Redis

from app.cache.semantic import BUCKET_MAX, Vector
from app.cache.semantic_redis import INDEX, PREFIX, RedisSemanticCache, bucket_id
from app.clock import ManualClock
from app.config import CachePolicy
from app.resilience.redis_dependency import redis_client, redis_guard
from tests.fakes.redis_server import RedisServer

pytestmark = pytest.mark.integration

CTX = "claude-sonnet-4-6|v1|sections-a"
POLICY = CachePolicy(semantic_max_entries=3, ttl_seconds=60, stale_ttl_seconds=40)


def unit(*xs: float) -> Vector:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def clock() -> ManualClock:
    # far from the real clock on purpose: nothing may compute Redis expiry from it
    return ManualClock(datetime(2031, 6, 1, tzinfo=UTC))


@pytest.fixture
async def replicas(private_redis_server: RedisServer, clock: ManualClock
                   ) -> AsyncIterator[Callable[..., RedisSemanticCache]]:
    clients: list[Redis] = []

    def replica(policy: CachePolicy = POLICY, **kw: object) -> RedisSemanticCache:
        client = redis_client(private_redis_server.url)
        clients.append(client)
        return RedisSemanticCache(client, policy, clock, **kw)  # type: ignore[arg-type]

    yield replica
    for client in clients:
        await client.aclose()


async def test_an_answer_added_by_one_replica_is_found_by_another(
        replicas: Callable[..., RedisSemanticCache]) -> None:
    a, b = replicas(), replicas()
    await a.add(CTX, "answer-1", "checkout pod restarts keep climbing", unit(1, 0.05, 0))
    found = await b.find(CTX, "restarts keep climbing on the checkout pod", unit(1, 0, 0), 0.9)
    assert found.match is not None and found.match.answer_key == "answer-1"
    assert found.match.question == "checkout pod restarts keep climbing"
    vetoed = await b.find(CTX, "payments pod restarts keep climbing", unit(1, 0, 0), 0.9)
    assert vetoed.match is None and vetoed.rejected == ("entity",)
    assert (await b.find("other-sections", "checkout pod restarts keep climbing",
                         unit(1, 0, 0), 0.9)).best_similarity is None


async def test_bounded_across_replicas_oldest_first(
        replicas: Callable[..., RedisSemanticCache], clock: ManualClock,
        private_redis_server: RedisServer) -> None:
    a, b = replicas(), replicas()
    evicted = 0
    for n in range(5):
        clock.advance(1)
        evicted += await (a if n % 2 else b).add(f"ctx-{n}", f"a{n}", f"question {n}",
                                                  unit(1, n, 0))
    assert evicted == 2
    admin = redis_client(private_redis_server.url)
    try:
        assert await admin.zcard(INDEX) == 3
        assert not await admin.exists(PREFIX + "b:" + bucket_id("ctx-0"))
    finally:
        await admin.aclose()
    fresh = replicas()  # no local copies: what it finds comes from Redis
    assert (await fresh.find("ctx-1", "question 1", unit(1, 1, 0), 0.9)).match is None
    assert (await fresh.find("ctx-2", "question 2", unit(1, 2, 0), 0.9)).match is not None


async def test_expiry_is_a_duration_and_age_is_by_the_replicas_clock(
        replicas: Callable[..., RedisSemanticCache], clock: ManualClock,
        private_redis_server: RedisServer) -> None:
    a = replicas()
    await a.add(CTX, "a", "pods keep crashing", unit(1, 0))
    admin = redis_client(private_redis_server.url)
    try:
        ttl_ms = await admin.pttl(PREFIX + "b:" + bucket_id(CTX))
        assert 0 < ttl_ms <= 100_000  # ttl + stale ttl, counted by Redis from now
    finally:
        await admin.aclose()
    other = replicas()
    clock.advance(99.9)
    assert (await other.find(CTX, "pods keep crashing", unit(1, 0), 0.9)).match is not None
    clock.advance(0.1)
    assert (await other.find(CTX, "pods keep crashing", unit(1, 0), 0.9)).match is None


async def test_remove_and_invalidate_reach_every_replica(
        replicas: Callable[..., RedisSemanticCache]) -> None:
    a, b = replicas(), replicas()
    await a.add(CTX, "a", "pods keep crashing", unit(1, 0))
    await a.add(CTX, "b", "pods crash on boot", unit(1, 0.1))
    await b.remove(CTX, "a")
    fresh = replicas()
    found = await fresh.find(CTX, "pods keep crashing", unit(1, 0), 0.9)
    assert found.match is not None and found.match.answer_key == "b"
    await b.invalidate(CTX)
    assert (await fresh.find(CTX, "pods crash on boot", unit(1, 0.1), 0.9)).match is None


async def test_redis_down_is_the_local_tier_or_a_miss_never_an_error(
        replicas: Callable[..., RedisSemanticCache], clock: ManualClock,
        private_redis_server: RedisServer) -> None:
    errors: list[str] = []
    guard = redis_guard(clock)
    a = replicas(on_error=lambda: errors.append("a"), guard=guard)
    b = replicas(on_error=lambda: errors.append("b"), guard=guard)
    private_redis_server.stop()
    await a.add(CTX, "kept", "pods keep crashing", unit(1, 0))
    found = await a.find(CTX, "pods keep crashing", unit(1, 0), 0.9)
    assert found.match is not None and found.match.answer_key == "kept"  # this replica's own
    assert (await b.find(CTX, "pods keep crashing", unit(1, 0), 0.9)).match is None
    await b.remove(CTX, "kept")
    await b.invalidate(CTX)
    assert errors == ["a", "a", "b", "b", "b"]  # each failure counted, none raised


async def test_an_entry_written_by_another_version_is_a_miss_not_an_error(
        replicas: Callable[..., RedisSemanticCache], private_redis_server: RedisServer) -> None:
    a = replicas()
    await a.add(CTX, "good", "pods keep crashing", unit(1, 0))
    admin = redis_client(private_redis_server.url)
    try:
        await admin.hset(PREFIX + "b:" + bucket_id(CTX), "bad", b"not json\0\x01")
    finally:
        await admin.aclose()
    found = await replicas().find(CTX, "pods keep crashing", unit(1, 0), 0.9)
    assert found.match is not None and found.match.answer_key == "good"


async def test_a_bucket_is_bounded_in_redis_too(
        replicas: Callable[..., RedisSemanticCache], private_redis_server: RedisServer) -> None:
    a = replicas(CachePolicy(semantic_max_entries=10_000))
    evicted = 0
    for i in range(BUCKET_MAX + 5):
        evicted += await a.add(CTX, f"answer-{i}", f"question {i}", unit(1, i, 0))
    client = redis_client(private_redis_server.url)
    try:
        sizes = [await client.hlen(k) for k in await client.keys(PREFIX + "b:*")]
        members = await client.zcard(PREFIX + "index")
    finally:
        await client.aclose()
    assert sizes == [BUCKET_MAX] and members == BUCKET_MAX and evicted == 5
