"""The shared limiter's Lua script on a real redis-server: the GCRA of gcra.py on the server's
clock, one hash tag per caller, keys that expire once their bucket is full again, token debt;
and the limiter failing open to the in-process one when Redis is down."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from app.clock import ManualClock
from app.config import RateLimitsPolicy
from app.metrics import Metrics
from app.ratelimit import RateLimiter, RedisRateStore
from app.ratelimit.memory import MemoryRateStore
from app.resilience.redis_dependency import redis_client, redis_guard
from tests.fakes.redis_server import RedisServer

pytestmark = pytest.mark.integration

# The test's own round trips happen in real time on the server's clock: allow for them.
SLACK_SECONDS = 1.0


@pytest_asyncio.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    redis = redis_client(redis_server.url)
    yield redis
    await redis.aclose()


@pytest_asyncio.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisRateStore]:
    shared = RedisRateStore(redis_server.url, None, prefix=f"test-{uuid.uuid4().hex}")
    yield shared
    await shared.aclose()


async def test_a_burst_admits_exactly_the_limit_and_retry_after_is_one_interval(
    store: RedisRateStore,
) -> None:
    decisions = [await store.admit("alice", 5, 0) for _ in range(8)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.requests.remaining for d in decisions if d.requests] == [4, 3, 2, 1, 0, 0, 0, 0]
    refused = decisions[-1]
    assert refused.refused_by == "requests"
    assert 12.0 - SLACK_SECONDS <= refused.retry_after_seconds <= 12.0
    assert refused.requests is not None
    assert 60.0 - SLACK_SECONDS <= refused.requests.reset_seconds <= 60.0
    # Another caller has a bucket of its own.
    assert (await store.admit("bob", 5, 0)).allowed


async def test_it_decides_as_the_in_process_limiter_does(store: RedisRateStore) -> None:
    local = MemoryRateStore(ManualClock())
    # Bursts far shorter than one interval, so the real time they take gives nothing back.
    for rpm, tpm, n in ((3, 0, 5), (30, 0, 33), (0, 100, 2)):
        caller = f"c{rpm}-{tpm}"
        shared = [(await store.admit(caller, rpm, tpm)) for _ in range(n)]
        mine = [local.admit(caller, rpm, tpm) for _ in range(n)]
        assert [d.allowed for d in shared] == [d.allowed for d in mine], (rpm, tpm)
        assert [d.refused_by for d in shared] == [d.refused_by for d in mine]


async def test_both_keys_share_a_hash_tag_and_expire_once_the_bucket_is_full(
    store: RedisRateStore, client: Redis,
) -> None:
    requests_key, tokens_key = store.keys("alice")
    tag = requests_key[: requests_key.index("}") + 1]
    assert tag.startswith("{") and tokens_key.startswith(tag) and "alice" in tag
    await store.admit("alice", 60_000, 6_000)  # one request fills back in 1 ms
    assert 0 < await client.pttl(requests_key) <= 1001
    assert await client.exists(tokens_key) == 0  # admission writes no token state
    await store.charge("alice", 6_000, 12_000)  # two minutes' worth: 120 s until full
    assert 120_000 - 1000 * SLACK_SECONDS <= await client.pttl(tokens_key) <= 121_000


async def test_token_debt_refuses_until_paid_back(store: RedisRateStore) -> None:
    assert (await store.admit("alice", 0, 60)).allowed
    ahead = await store.charge("alice", 60, 150)  # 60 per minute: 150 s ahead, 90 s of debt
    assert 150 - SLACK_SECONDS <= ahead <= 150
    refused = await store.admit("alice", 10, 60)
    assert not refused.allowed and refused.refused_by == "tokens"
    assert 91 - SLACK_SECONDS <= refused.retry_after_seconds <= 91
    assert refused.tokens is not None and refused.tokens.remaining == 0
    assert refused.requests is not None and refused.requests.remaining == 10  # none spent


async def test_with_redis_down_the_limiter_fails_open_to_its_own_buckets(
    private_redis_server: RedisServer, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    metrics = Metrics(CollectorRegistry())
    policy = RateLimitsPolicy.model_validate({"default": {"requests_per_minute": 2}})
    limiter = RateLimiter(lambda: policy, clock, metrics,
                          RedisRateStore(private_redis_server.url, redis_guard(clock, metrics)))
    try:
        assert (await limiter.admit("alice")) is not None
        assert metrics.registry.get_sample_value("ai_rate_limit_local_decisions_total") == 0
        private_redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="app.ratelimit"):
            decisions = [await limiter.admit("alice") for _ in range(5)]
        # Per replica now: this process's own bucket, full at the switch.
        assert [d.allowed for d in decisions if d] == [True, True, False, False, False]
        assert metrics.registry.get_sample_value("ai_rate_limit_local_decisions_total") == 5
        warnings = [r for r in caplog.records if r.name == "app.ratelimit"]
        assert len(warnings) == 1  # once a minute, not once a request
        await limiter.charge("alice", 10)  # tokens: no limit here, and never raises
    finally:
        await limiter.aclose()
