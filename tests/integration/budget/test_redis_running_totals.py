"""The Redis store's running totals: exact through every step, O(1) work per call, bounded reclaim
of expired holds, and upgrades from the version before running totals (its replicas still running
beside the new ones, or its holds left in Redis).

The key layout is the one documented in app/budget/stores/redis_scripts.py; these tests read it
directly to check the total against the set it summarises.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import cast

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from app.budget.stores.base import Slot, SlotUsage
from app.budget.stores.redis import RedisStore
from app.budget.stores.redis_scripts import RECLAIM_BATCH
from tests.fakes.redis_server import RedisServer
from tests.integration.budget.legacy_redis import RedisStoreBefore
from tests.integration.budget.server_time import let_server_time_pass, server_time

pytestmark = pytest.mark.integration

DAY = 86_400.0
BIG = 10**15  # a limit nothing here reaches
WINDOWS = ("hourly:2026-11-27T06", "daily:2026-11-27")


def slots(limit: int = BIG, now: float | None = None) -> list[Slot]:
    keep = (now or time.time()) + DAY
    return [Slot(key, limit, keep) for key in WINDOWS]


class Harness:
    """One RedisStore on its own prefix, and a raw client to read the keys it writes."""

    def __init__(self, server: RedisServer) -> None:
        self.prefix = f"totals:{uuid.uuid4().hex}"
        self.store = RedisStore(server.url, prefix=self.prefix)
        self.client: Redis = Redis.from_url(server.url, decode_responses=True)

    def key(self, kind: str, window: str) -> str:
        return f"{{{self.prefix}}}:{kind}:{window}"

    async def reserve(self, rid: str, amount: int, hold: float = 60.0, limit: int = BIG) -> bool:
        now = time.time()  # the caller's clock: only the duration `hold` reaches Redis
        return await self.store.reserve(rid, amount, slots(limit, now), now, now + hold) is None

    async def settle(self, rid: str, reserved: int, actual: int) -> bool:
        now = time.time()
        return await self.store.settle(rid, reserved, actual, slots(), now, now + DAY)

    async def release(self, rid: str, reserved: int) -> None:
        await self.store.release(rid, reserved, slots())

    async def snapshot(self) -> list[SlotUsage]:
        return await self.store.snapshot(slots(), time.time())

    async def assert_totals(self, reserved: int, spent: int) -> None:
        """The snapshot reports `reserved` and `spent` in every window, and then each window's
        running total equals the sum of the holds left in its set."""
        assert await self.snapshot() == [SlotUsage(spent, reserved)] * len(WINDOWS)
        for window in WINDOWS:
            members = cast(list[str], await self.client.zrange(self.key("holds", window), 0, -1))
            total = int(await self.client.get(self.key("rsum", window)) or 0)
            assert total == sum(int(m.rsplit(":", 1)[1]) for m in members), window

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.store.aclose()


@pytest_asyncio.fixture
async def ledger(redis_server: RedisServer) -> AsyncIterator[Harness]:
    harness = Harness(redis_server)
    yield harness
    await harness.aclose()


async def test_the_total_stays_exact_through_every_step(
    ledger: Harness, redis_server: RedisServer
) -> None:
    assert await ledger.reserve("a", 1_000)
    assert await ledger.reserve("a", 1_000)  # a retried reserve: held once
    assert await ledger.reserve("b", 20_000)
    assert await ledger.reserve("c", 300_000, hold=1.0)
    await ledger.assert_totals(reserved=321_000, spent=0)
    assert await ledger.settle("a", 1_000, 700)
    assert not await ledger.settle("a", 1_000, 700)  # duplicate settle
    await ledger.release("a", 1_000)  # release after settle
    await ledger.assert_totals(reserved=320_000, spent=700)
    await ledger.release("b", 20_000)
    await ledger.release("b", 20_000)  # duplicate release
    await ledger.assert_totals(reserved=300_000, spent=700)
    await let_server_time_pass(redis_server.url, 1.1)
    await ledger.assert_totals(reserved=0, spent=700)  # "c" expired and was reclaimed
    assert await ledger.settle("c", 300_000, 50_000)  # settle after expiry: spend, no subtract
    await ledger.release("c", 300_000)
    await ledger.assert_totals(reserved=0, spent=50_700)
    assert await ledger.reserve("d", 4_000)
    await ledger.assert_totals(reserved=4_000, spent=50_700)


async def test_a_retried_reserve_that_exactly_fits_is_not_refused(ledger: Harness) -> None:
    """A reserve whose reply was lost is sent again (the client retries timeouts): the hold it
    already took must not count against it, or the call is refused and its hold leaks."""
    assert await ledger.reserve("a", 1_000, limit=1_000)
    assert await ledger.reserve("a", 1_000, limit=1_000)
    assert not await ledger.reserve("b", 1, limit=1_000)
    await ledger.assert_totals(reserved=1_000, spent=0)


async def test_a_burst_of_expired_holds_is_reclaimed_a_bounded_batch_per_call(
    ledger: Harness, redis_server: RedisServer
) -> None:
    """A dead replica's holds expire together: each call reclaims at most RECLAIM_BATCH of them
    per window, so no call does unbounded work; until the rest are reclaimed the total
    over-counts (it may refuse, never overspend), and the next calls drain it."""
    burst = RECLAIM_BATCH * 2 + RECLAIM_BATCH // 2
    for i in range(burst):
        assert await ledger.reserve(f"dead-{i}", 10, hold=1.0)
    await let_server_time_pass(redis_server.url, 1.1)
    left = burst
    while left:
        left = max(0, left - RECLAIM_BATCH)
        assert await ledger.snapshot() == [SlotUsage(0, left * 10)] * len(WINDOWS)
        for window in WINDOWS:
            assert await ledger.client.zcard(ledger.key("holds", window)) == left
    await ledger.assert_totals(reserved=0, spent=0)


async def commands_per_operation(harness: Harness) -> dict[str, int]:
    """Redis commands (calls from inside the scripts included) of one reserve, settle, release
    and snapshot, by name."""
    await harness.client.config_resetstat()
    assert await harness.reserve("probe", 5)
    assert await harness.settle("probe", 5, 5)
    assert await harness.reserve("probe-2", 5)
    await harness.release("probe-2", 5)
    await harness.snapshot()
    stats = await harness.client.info("commandstats")
    return {name: int(s["calls"]) for name, s in stats.items() if name != "cmdstat_config"}


async def hold_outstanding(harness: Harness, count: int) -> None:
    """`count` live holds of 7 nano-USD in every window, written in one go in the store's
    layout (as `count` reserves would leave them, without waiting for them)."""
    assert await harness.reserve("warm", 1)  # scripts loaded, totals exist: a running fleet
    await harness.release("warm", 1)
    assert await harness.reserve("warm-2", 1)
    assert await harness.settle("warm-2", 1, 0)
    expires = await server_time(harness.client) + 600
    for window in WINDOWS:
        holds = {f"held-{i}:7": expires for i in range(count)}
        await harness.client.zadd(harness.key("holds", window), holds)
        await harness.client.incrby(harness.key("rsum", window), 7 * count)
    await harness.assert_totals(reserved=7 * count, spent=0)


async def test_each_operation_runs_the_same_commands_with_10000_holds_outstanding(
    private_redis_server: RedisServer,
) -> None:
    """The cost of a call does not grow with the calls in flight: with 10,000 live holds the
    scripts run exactly the commands they run with one, and none of them reads a whole set (no
    ZRANGE; ZRANGEBYSCORE reads at most RECLAIM_BATCH expired members)."""
    one, many = Harness(private_redis_server), Harness(private_redis_server)
    try:
        await hold_outstanding(one, 1)
        await hold_outstanding(many, 10_000)
        baseline = await commands_per_operation(one)
        loaded = await commands_per_operation(many)
        assert loaded == baseline
        assert "cmdstat_zrange" not in loaded
        assert "cmdstat_zrangebyscore" in loaded
    finally:
        await one.aclose()
        await many.aclose()


async def test_a_rolling_upgrade_keeps_the_totals_exact_beside_old_replicas(
    ledger: Harness, redis_server: RedisServer
) -> None:
    """Old replicas (the scripts before running totals) keep reserving, settling, releasing and
    purging in their own set while new ones run: the new replicas count both, and the totals
    never drift (an old replica purging a new hold, or a new one reclaiming an old hold, would
    make a shared total wrong for the rest of the day or month)."""
    old = RedisStoreBefore(redis_server.url, prefix=ledger.prefix)
    now = time.time()
    try:
        for rid, amount, hold in (("old-1", 400, 60.0), ("old-2", 500, 1.0)):
            assert await old.reserve(rid, amount, slots(), now, now + hold) is None
        assert await ledger.reserve("new-1", 20_000, hold=1.0)
        assert await ledger.reserve("new-2", 3_000)
        await ledger.assert_totals(reserved=23_900, spent=0)
        assert not await ledger.reserve("big", 1_000, limit=24_000)  # the old holds count
        await let_server_time_pass(redis_server.url, 1.1)
        # The old replica purges every expired hold it sees (old-2) on its next reserve; the
        # new replicas reclaim new-1 and count what is left of both.
        assert await old.reserve("old-3", 60, slots(), time.time(), time.time() + 60) is None
        await ledger.assert_totals(reserved=3_460, spent=0)
        assert await old.settle("old-1", 400, 300, slots(), time.time(), time.time() + DAY)
        await old.release("old-3", 60, slots())
        await ledger.release("new-2", 3_000)
        await ledger.assert_totals(reserved=0, spent=300)
        for window in WINDOWS:  # the old set is gone with its last hold
            assert not await ledger.client.exists(ledger.key("res", window))
    finally:
        await old.aclose()


async def test_holds_written_before_running_totals_are_counted_from_the_first_call(
    ledger: Harness, redis_server: RedisServer
) -> None:
    """An upgrade onto a Redis holding the previous version's sets (its replicas stopped): their
    holds count until they are released or expire, and a late settle or release of one (a
    replayed spool) removes it."""
    now = await server_time(ledger.client)
    for window in WINDOWS:
        res = ledger.key("res", window)
        await ledger.client.zadd(res, {"old-1:400": now + 600, "old-2:500": now + 600})
        await ledger.client.zadd(res, {"old-expired:9000": now - 1})
        await ledger.client.expire(res, 3600)
        await ledger.client.set(ledger.key("spent", window), 100)
    await ledger.release("old-1", 400)
    assert not await ledger.reserve("new", 1_000, limit=1_500)  # 100 + 500 + 1000 > 1500
    await ledger.assert_totals(reserved=500, spent=100)
    assert await ledger.reserve("new", 900, limit=1_500)
    assert await ledger.settle("old-2", 500, 450)
    await ledger.assert_totals(reserved=900, spent=550)


async def test_a_total_lost_from_its_set_is_rebuilt_once(ledger: Harness) -> None:
    """A total evicted or deleted by hand while its set lives: summed again, once."""
    assert await ledger.reserve("a", 1_000)
    assert await ledger.reserve("b", 2_000)
    for window in WINDOWS:
        await ledger.client.delete(ledger.key("rsum", window))
    await ledger.assert_totals(reserved=3_000, spent=0)
    await ledger.release("a", 1_000)
    await ledger.assert_totals(reserved=2_000, spent=0)
    for window in WINDOWS:
        assert await ledger.client.ttl(ledger.key("rsum", window)) > 0
