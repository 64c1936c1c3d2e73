"""The gate and the records on a real redis-server, as two replicas see them: a claim and the
per-minute cap hold across replicas, Redis expires the windows by its own clock (durations
only), and the records ring is capped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from app.clock import ManualClock
from app.config import AlertsPolicy
from app.metrics import Metrics
from app.resilience.redis_dependency import redis_client, redis_guard
from app.services.alert_gate import ANSWERING_SECONDS, MINUTE_MS, PREFIX, AlertGate
from app.services.alert_payload import AlertRecord
from app.services.alert_records import PAGE, AlertRecords
from tests.fakes.redis_server import (
    RedisServer,
    private_redis_server,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.integration
POLICY = AlertsPolicy(paid_per_group=100, paid_per_minute=3, dedupe_ttl_seconds=600,
                      recent_max=5)


@pytest.fixture
async def replicas(private_redis_server: RedisServer  # noqa: F811
                   ) -> AsyncIterator[tuple[Redis, Redis]]:
    # What is shared is under test, not the timeouts: the service's 0.5 s read timeout met a
    # stalled CI VM once (2026-12-02), and the replica kept its record in process, as designed.
    one, two = (redis_client(private_redis_server.url, socket_timeout_seconds=5.0)
                for _ in range(2))
    yield one, two
    await one.aclose()
    await two.aclose()


def gate(redis: Redis) -> AlertGate:
    clock = ManualClock()
    return AlertGate(lambda: POLICY, clock, redis, redis_guard(clock, Metrics(CollectorRegistry())))


async def test_claims_and_the_minute_cap_are_shared_and_expire_by_redis_ttl(
        replicas: tuple[Redis, Redis]) -> None:
    a, b = gate(replicas[0]), gate(replicas[1])
    assert await a.claim("fp", "t0")
    assert not await b.claim("fp", "t0")
    taken = [await g.paid_slot(f"group-{i}") for i, g in enumerate([a, b, a, b, a])]
    assert taken == [None, None, None, "minute", "minute"]
    ttl = await replicas[0].pttl(f"{PREFIX}minute")
    assert 0 < ttl <= MINUTE_MS  # a duration Redis counts down, not a timestamp
    keys = [k async for k in replicas[0].scan_iter(match=f"{PREFIX}seen:*")]
    assert 0 < await replicas[0].pttl(keys[0]) <= 600_000


async def test_a_claim_lasts_an_hour_until_answered_then_the_dedupe_window(
        replicas: tuple[Redis, Redis]) -> None:
    """A pod that dies before answering leaves a claim that lapses in an hour, not a week."""
    week = AlertsPolicy(dedupe_ttl_seconds=7 * 86400)
    clock = ManualClock()
    g = AlertGate(lambda: week, clock, replicas[0],
                  redis_guard(clock, Metrics(CollectorRegistry())))
    assert await g.claim("fp", "t0")
    [key] = [k async for k in replicas[0].scan_iter(match=f"{PREFIX}seen:*")]
    assert 0 < await replicas[0].pttl(key) <= ANSWERING_SECONDS * 1000
    await g.answered("fp", "t0")
    assert ANSWERING_SECONDS * 1000 < await replicas[0].pttl(key) <= 7 * 86400 * 1000


async def test_the_records_ring_is_shared_and_capped(replicas: tuple[Redis, Redis]) -> None:
    one = AlertRecords(lambda: POLICY.recent_max, replicas[0])
    two = AlertRecords(lambda: POLICY.recent_max, replicas[1])
    for i in range(8):
        await (one if i % 2 else two).add(AlertRecord(
            fingerprint=f"f{i}", alertname="A", labels={"namespace": "ns" if i < 6 else "x"},
            status="firing", startsAt="t"))
    seen = await one.recent(limit=50)
    assert [r.fingerprint for r in seen] == ["f7", "f6", "f5", "f4", "f3"]
    assert [r.fingerprint for r in await two.recent(namespace="x")] == ["f7", "f6"]
    assert await replicas[0].llen("sre-ai:alerts:recent") == 5


async def test_a_page_is_read_a_page_at_a_time_and_filters_reach_past_the_first(
        replicas: tuple[Redis, Redis]) -> None:
    """`recent` reads the ring PAGE records at a time until `limit` match: the newest first,
    a filter's matches found beyond the first page, a record another version wrote skipped."""
    records = AlertRecords(lambda: 1000, replicas[0])
    for i in range(2 * PAGE + 50):
        await records.add(AlertRecord(
            fingerprint=f"f{i}", alertname="Rare" if i in (3, 7) else "Common",
            labels={}, status="firing", startsAt="t"))
    await replicas[0].lset("sre-ai:alerts:recent", 1, '{"from": "another version"}')
    await replicas[0].config_resetstat()
    newest = await records.recent(limit=3)
    # one page of the ring was sent, not the whole of it (the cost of a page on the loop)
    sent = (await replicas[0].info("stats"))["total_net_output_bytes"]
    whole = sum(len(r) for r in await replicas[0].lrange("sre-ai:alerts:recent", 0, -1))
    assert sent < whole / 2
    assert [r.fingerprint for r in newest] == [f"f{2 * PAGE + 49}", f"f{2 * PAGE + 47}",
                                               f"f{2 * PAGE + 46}"]
    assert [r.fingerprint for r in await records.recent(alertname="Rare")] == ["f7", "f3"]
    assert len(await records.recent(limit=500)) == 2 * PAGE + 49
