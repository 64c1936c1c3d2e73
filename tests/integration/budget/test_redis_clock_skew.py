"""The Redis store expires by the Redis server's clock alone, whatever the callers' clocks say.

Replicas' clocks drift, and a test's clock is pinned: neither may make the shared ledger forget a
live hold, a settled id (a repeated settle would count twice) or a period's spend. Each caller
clock here is placed relative to the real one, so these tests mean the same on any day.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from app.budget.ledger import Ledger
from app.budget.stores.redis import RedisStore
from app.clock import ManualClock
from app.config import Budgets
from tests.fakes.redis_server import RedisServer

pytestmark = pytest.mark.integration

BUDGETS = Budgets(per_request_usd=1.0, hourly_usd=1.0, daily_usd=2.0, monthly_usd=3.0)


def replica_clock(skew: timedelta) -> ManualClock:
    """A caller's clock `skew` away from the real one, at ten past an hour (so a skew of a few
    minutes stays in the same hourly window)."""
    real = datetime.now(UTC).replace(minute=10, second=0, microsecond=0)
    return ManualClock(real + skew)


async def usage(ledger: Ledger) -> list[tuple[float, float]]:
    return [(s.spent_usd, s.reserved_usd) for s in await ledger.snapshot(BUDGETS)]


@pytest.mark.parametrize("skew_days", [-400, 400])
async def test_a_caller_clock_far_from_redis_keeps_every_key(
    redis_server: RedisServer, skew_days: int
) -> None:
    prefix = f"skew:{uuid.uuid4().hex}"
    ledger = Ledger(
        RedisStore(redis_server.url, prefix=prefix), replica_clock(timedelta(days=skew_days))
    )
    client = Redis.from_url(redis_server.url)
    try:
        reservation = await ledger.reserve(0.5, BUDGETS)
        await ledger.settle(reservation, 0.25)
        await ledger.settle(reservation, 0.25)  # a retry: must not count again
        await ledger.reserve(0.5, BUDGETS)
        assert await usage(ledger) == [(0.25, 0.5)] * 3
        keys = [k async for k in client.scan_iter(match=f"{{{prefix}}}*")]
        assert len(keys) == 10  # spent, res, rsum per window + settled
        for key in keys:  # a lifetime counted by Redis, never "already expired"
            assert await client.ttl(key) > 0, key
    finally:
        await client.aclose()
        await ledger.aclose()


async def test_a_replica_ahead_does_not_purge_another_replicas_hold(
    redis_server: RedisServer,
) -> None:
    prefix = f"skew:{uuid.uuid4().hex}"
    behind = Ledger(
        RedisStore(redis_server.url, prefix=prefix),
        replica_clock(timedelta()),
        reservation_ttl_seconds=60,
    )
    ahead = Ledger(
        RedisStore(redis_server.url, prefix=prefix),
        replica_clock(timedelta(minutes=40)),
        reservation_ttl_seconds=60,
    )
    try:
        await behind.reserve(0.75, BUDGETS)
        # 40 minutes ahead, the hold looks 39 minutes expired to the other replica's clock.
        assert (await ahead.snapshot(BUDGETS))[0].reserved_usd == 0.75
        with pytest.raises(Exception, match="hourly budget"):
            await ahead.reserve(0.5, BUDGETS)  # the hold still counts: no overspend
    finally:
        await behind.aclose()
        await ahead.aclose()


async def test_a_replica_days_ahead_does_not_make_the_others_forget_settled_ids(
    redis_server: RedisServer,
) -> None:
    prefix = f"skew:{uuid.uuid4().hex}"
    first = Ledger(RedisStore(redis_server.url, prefix=prefix), replica_clock(timedelta()))
    # 3 days ahead: past the 2 days a settled id is remembered, by that replica's clock.
    later = Ledger(RedisStore(redis_server.url, prefix=prefix), replica_clock(timedelta(days=3)))
    try:
        reservation = await first.reserve(0.5, BUDGETS)
        await first.settle(reservation, 0.25)
        await later.settle(await later.reserve(0.5, BUDGETS), 0.125)  # its own call
        await first.settle(reservation, 0.25)  # a retry of the first settle: counts once
        # hourly and daily (the month may be shared with the later replica's own call)
        assert (await usage(first))[:2] == [(0.25, 0.0)] * 2
    finally:
        await first.aclose()
        await later.aclose()
