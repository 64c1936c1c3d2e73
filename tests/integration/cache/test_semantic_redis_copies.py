"""A replica's decoded copy of a shared semantic bucket (app/cache/semantic_mirror.py) against a
real redis-server: a lookup is one round trip that reads no entry when the bucket is unchanged and
only the changed entries otherwise (counted with Redis's own commandstats), and the copy never
hides another replica's add, removal or invalidation, nor an expired bucket created again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import cast

import numpy as np
import pytest
from redis.asyncio import Redis

from app.cache.semantic import BUCKET_MAX, Vector
from app.cache.semantic_redis import LOG_MAX, PREFIX, RedisSemanticCache, bucket_id
from app.clock import ManualClock
from app.config import CachePolicy
from app.resilience.redis_dependency import redis_client
from tests.fakes.redis_server import RedisServer

pytestmark = pytest.mark.integration

CTX = "claude-sonnet-4-6|v1|runbooks-a"
POLICY = CachePolicy(semantic_max_entries=10_000, ttl_seconds=3600, stale_ttl_seconds=0)


def vectors(n: int, seed: int = 7) -> list[Vector]:
    m = np.random.default_rng(seed).standard_normal((n, 32)).astype(np.float32)
    return list(m / np.linalg.norm(m, axis=1, keepdims=True))


V = vectors(BUCKET_MAX + 8)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2031, 6, 1, tzinfo=UTC))


@pytest.fixture
async def admin(private_redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = redis_client(private_redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def replicas(private_redis_server: RedisServer, clock: ManualClock
                   ) -> AsyncIterator[Callable[..., RedisSemanticCache]]:
    clients: list[Redis] = []

    def replica(policy: CachePolicy = POLICY) -> RedisSemanticCache:
        client = redis_client(private_redis_server.url)
        clients.append(client)
        return RedisSemanticCache(client, policy, clock)

    yield replica
    for client in clients:
        await client.aclose()


async def calls(admin: Redis) -> dict[str, int]:
    stats = await admin.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def finds(tier: RedisSemanticCache, i: int) -> str | None:
    found = await tier.find(CTX, f"question {i}", V[i], 0.999)
    return found.match.answer_key if found.match else None


async def test_a_lookup_of_an_unchanged_bucket_reads_no_entry(
        replicas: Callable[..., RedisSemanticCache], admin: Redis) -> None:
    """It used to HGETALL the bucket (128 entries of 1 KB) and decode every one, each time."""
    a, b = replicas(), replicas()
    for i in range(BUCKET_MAX):
        await b.add(CTX, f"k{i}", f"question {i}", V[i])
    assert await finds(a, 5) == "k5"  # the first lookup reads the whole bucket
    await admin.config_resetstat()
    for i in range(5):
        assert await finds(a, i) == f"k{i}"
    used = await calls(admin)
    assert used["evalsha"] == 5  # one round trip per lookup
    assert used["hmget"] == 5  # the bucket's version, nothing else
    assert "hgetall" not in used and "lrange" not in used


async def test_a_copy_reads_only_what_another_replica_changed(
        replicas: Callable[..., RedisSemanticCache], admin: Redis) -> None:
    a, b = replicas(), replicas()
    for i in range(BUCKET_MAX):
        await b.add(CTX, f"k{i}", f"question {i}", V[i])
    assert await finds(a, 0) == "k0"
    await b.add(CTX, "new", f"question {BUCKET_MAX}", V[BUCKET_MAX])
    await admin.config_resetstat()
    assert await finds(a, BUCKET_MAX) == "new"
    used = await calls(admin)
    assert "hgetall" not in used and used["lrange"] == 1 and used["evalsha"] == 1


async def test_a_copy_sees_every_add_removal_and_invalidation_of_another_replica(
        replicas: Callable[..., RedisSemanticCache]) -> None:
    a, b = replicas(), replicas()
    await b.add(CTX, "k0", "question 0", V[0])
    assert await finds(a, 0) == "k0" and await finds(a, 1) is None
    await b.add(CTX, "k1", "question 1", V[1])
    assert await finds(a, 1) == "k1"
    await b.remove(CTX, "k0")
    assert await finds(a, 0) is None and await finds(a, 1) == "k1"
    await b.invalidate(CTX)
    assert (await a.find(CTX, "question 1", V[1], 0.999)).best_similarity is None
    await b.add(CTX, "k2", "question 2", V[2])
    assert await finds(a, 2) == "k2" and await finds(a, 1) is None


async def test_a_bucket_that_expired_and_was_created_again_is_read_anew(
        replicas: Callable[..., RedisSemanticCache], admin: Redis) -> None:
    """Created again with as many changes as the old one had: only its epoch tells them apart."""
    a, b = replicas(), replicas()
    await b.add(CTX, "old-0", "question 0", V[0])
    await b.add(CTX, "old-1", "question 1", V[1])
    assert await finds(a, 0) == "old-0"
    bucket = bucket_id(CTX)
    await admin.delete(*(PREFIX + kind + bucket for kind in ("b:", "v:", "l:")))  # expired
    await b.add(CTX, "new-2", "question 2", V[2])
    await b.add(CTX, "new-3", "question 3", V[3])
    assert await finds(a, 0) is None and await finds(a, 1) is None
    assert await finds(a, 2) == "new-2" and await finds(a, 3) == "new-3"


async def test_a_copy_further_behind_than_the_log_reads_the_whole_bucket(
        replicas: Callable[..., RedisSemanticCache], admin: Redis) -> None:
    a, b = replicas(), replicas()
    await b.add(CTX, "k0", "question 0", V[0])
    assert await finds(a, 0) == "k0"
    await b.remove(CTX, "k0")  # a change the log will no longer hold
    for _ in range(LOG_MAX // 2 + 1):  # two changes each
        await b.add(CTX, "k1", "question 1", V[1])
        await b.remove(CTX, "k1")
    await b.add(CTX, "k2", "question 2", V[2])
    await admin.config_resetstat()
    assert await finds(a, 2) == "k2"
    assert (await calls(admin))["hgetall"] == 1
    assert await finds(a, 0) is None and await finds(a, 1) is None


async def test_entries_of_another_replica_s_clock_age_out_of_a_warm_copy(
        replicas: Callable[..., RedisSemanticCache], clock: ManualClock) -> None:
    a, b = replicas(), replicas()
    await b.add(CTX, "k0", "question 0", V[0])
    assert await finds(a, 0) == "k0"
    clock.advance(3600)  # as old as the lifetime, by the readers' clock
    assert await finds(a, 0) is None


async def test_a_copy_loses_what_another_replica_s_add_evicted_for_room(
        replicas: Callable[..., RedisSemanticCache], clock: ManualClock) -> None:
    """The add script's evictions, in other buckets too, are changes of those buckets."""
    bounded = POLICY.model_copy(update={"semantic_max_entries": 2})
    a, b = replicas(bounded), replicas(bounded)
    await b.add(CTX, "k0", "question 0", V[0])
    assert await finds(a, 0) == "k0"
    for n in (1, 2):
        clock.advance(1)
        await b.add(f"other-{n}", f"o{n}", f"question {n}", V[n])
    assert await finds(a, 0) is None


async def test_every_key_of_the_tier_expires(
        replicas: Callable[..., RedisSemanticCache], admin: Redis, clock: ManualClock) -> None:
    """Versions and logs too, whichever script wrote them last (Redis expires by its clock)."""
    bounded = POLICY.model_copy(update={"semantic_max_entries": 3})
    a = replicas(bounded)
    for n in range(6):
        clock.advance(1)
        await a.add(f"ctx-{n % 4}", f"k{n}", f"question {n}", V[n])
    await a.remove("ctx-1", "k5")
    await a.invalidate("ctx-2")
    keys = cast(list[bytes], await admin.keys(PREFIX + "*"))
    assert any(k.startswith((PREFIX + "l:").encode()) for k in keys)
    ttls = {k: await admin.pttl(k) for k in keys}
    assert all(0 < ttl <= 3_600_000 for ttl in ttls.values()), ttls
