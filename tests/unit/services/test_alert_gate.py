"""The alert gate in one process (no Redis, or Redis failing): an occurrence is claimed once, and
the storm caps on paid answers hold per group and per minute, on the injected clock."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from app.clock import ManualClock
from app.config import AlertsPolicy
from app.metrics import Metrics
from app.resilience.redis_dependency import redis_client, redis_guard
from app.services.alert_gate import ANSWERING_SECONDS, AlertGate
from tests.fakes.service_process import free_port


def gate(clock: ManualClock, redis: Redis | None = None, **policy: float) -> AlertGate:
    p = AlertsPolicy.model_validate(policy)
    guard = redis_guard(clock, Metrics(CollectorRegistry())) if redis is not None else None
    return AlertGate(lambda: p, clock, redis, guard)


async def test_an_occurrence_is_claimed_once_until_released_or_expired() -> None:
    clock = ManualClock()
    g = gate(clock, dedupe_ttl_seconds=600)
    assert await g.claim("fp1", "2026-11-30T10:00:00+00:00")
    assert not await g.claim("fp1", "2026-11-30T10:00:00+00:00")
    assert await g.claim("fp1", "2026-11-30T11:00:00+00:00")  # it fired again: a new one
    await g.release("fp1", "2026-11-30T10:00:00+00:00")
    assert await g.claim("fp1", "2026-11-30T10:00:00+00:00")
    clock.advance(599)
    assert not await g.claim("fp1", "2026-11-30T10:00:00+00:00")
    clock.advance(2)
    assert await g.claim("fp1", "2026-11-30T10:00:00+00:00")


async def test_a_claim_lapses_in_an_hour_unless_its_answer_is_recorded() -> None:
    """Claimed by a pod that died before answering (OOM-killed, a node lost): a re-send an
    hour later is answered, not ignored for the week of the dedupe window."""
    clock = ManualClock()
    g = gate(clock, dedupe_ttl_seconds=7 * 86400)
    assert await g.claim("died", "t0")
    assert await g.claim("answered", "t0")
    await g.answered("answered", "t0")
    clock.advance(ANSWERING_SECONDS + 1)
    assert await g.claim("died", "t0")
    assert not await g.claim("answered", "t0")
    clock.advance(7 * 86400)
    assert await g.claim("answered", "t0")


async def test_the_group_cap_holds_for_its_window_and_other_groups_are_not_charged() -> None:
    clock = ManualClock()
    g = gate(clock, paid_per_group=2, paid_per_minute=100, group_window_seconds=3600)
    assert [await g.paid_slot("g1") for _ in range(4)] == [None, None, "group", "group"]
    assert await g.paid_slot("g2") is None
    clock.advance(3599)
    assert await g.paid_slot("g1") == "group"
    clock.advance(2)
    assert await g.paid_slot("g1") is None


async def test_the_minute_cap_spans_groups_and_a_refusal_uses_up_no_group_slot() -> None:
    clock = ManualClock()
    g = gate(clock, paid_per_group=2, paid_per_minute=3)
    results = [await g.paid_slot(f"g{i}") for i in range(5)]
    assert results == [None, None, None, "minute", "minute"]
    clock.advance(60.5)
    # g3 and g4 were refused by the minute cap: their group allowance is whole
    assert [await g.paid_slot("g3"), await g.paid_slot("g3")] == [None, None]
    assert await g.paid_slot("g3") == "group"


async def test_zero_caps_mean_no_paid_answer_at_all() -> None:
    g = gate(ManualClock(), paid_per_group=0)
    assert await g.paid_slot("g") == "group"


async def test_an_unreachable_redis_falls_back_to_this_process() -> None:
    clock = ManualClock()
    dead = redis_client(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    g = gate(clock, dead, paid_per_group=1)
    try:
        assert await g.claim("fp", "t")
        assert not await g.claim("fp", "t")
        assert await g.paid_slot("g") is None
        assert await g.paid_slot("g") == "group"
    finally:
        await dead.aclose()
