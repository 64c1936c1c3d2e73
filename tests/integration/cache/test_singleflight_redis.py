"""Single-flight across replicas on a real redis-server (issue 13): two SingleFlight instances
with Redis clients of their own stand for two replicas.

Lease expiry runs on Redis's clock, which a test cannot move: where a lease must lapse it is
short and real (LAPSING), and the test measures that the take-over came after the lease and
within about it. Everything else is decided by Events and pub/sub; BOUND is only an upper bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.cache import Outcome, Role, SingleFlight
from app.clock import ManualClock
from app.config import CachePolicy
from app.resilience.redis_dependency import redis_guard
from tests.fakes.redis_server import RedisServer
from tests.flight_leader import BOUND, LONG_WAIT, Leader, released, settle
from tests.integration.cache.conftest import ReplicaFactory

pytestmark = pytest.mark.integration

KEY = "question-key"
HELD = CachePolicy(single_flight_lease_seconds=300.0)  # never lapses within a test
LAPSING = CachePolicy(single_flight_lease_seconds=0.5)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll a condition up to BOUND (an upper bound, not a timing)."""
    try:
        async with asyncio.timeout(BOUND):
            while not await check():  # noqa: ASYNC110 - Redis state: no event to await
                await asyncio.sleep(0.005)
    except TimeoutError:
        pytest.fail(f"not within {BOUND} s: {what}")


async def _now(value: bool) -> bool:
    return value


def start(f: SingleFlight, lead: Leader, wait: float = LONG_WAIT) -> asyncio.Task[Outcome]:
    return asyncio.create_task(f.run(KEY, lead, wait_seconds=wait))


async def never_returns(_seconds: float) -> None:
    """A sleep that never ends: the leader's lease is never renewed (a frozen or dead leader)."""
    await asyncio.Event().wait()


async def test_two_replicas_on_one_key_make_one_lead_call_and_all_get_the_payload(
    redis_server: RedisServer, replicas: ReplicaFactory
) -> None:
    a, b = replicas(redis_server.url, HELD), replicas(redis_server.url, HELD)
    lead = Leader()  # shared by both replicas: counts the calls of both
    on_a = [start(a, lead) for _ in range(25)]
    await asyncio.wait_for(lead.entered.wait(), BOUND)
    assert not b.in_flight(KEY) and await b.in_flight_anywhere(KEY)  # a's lease, seen by b
    on_b = [start(b, lead) for _ in range(25)]
    await until(lambda: _now(b.watching_remote(KEY)), "b watches a's flight")
    lead.release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*on_a, *on_b), BOUND)
    assert lead.calls == 1
    assert [o.payload for o in outcomes] == [b"answer"] * 50
    assert [o.role for o in outcomes].count(Role.LEADER) == 1
    assert all(o.remote for o in outcomes[25:])  # b's 25 were served by a's call
    assert not await a.in_flight_anywhere(KEY)  # the leader dropped its lease


async def test_a_leader_that_stops_renewing_is_taken_over_after_its_lease(
    redis_server: RedisServer, replicas: ReplicaFactory
) -> None:
    a = replicas(redis_server.url, LAPSING, sleep=never_returns)
    b = replicas(redis_server.url, LAPSING)
    loop = asyncio.get_running_loop()
    started = loop.time()
    hung = Leader()  # never released: a call that hangs in a frozen replica
    dead = start(a, hung)
    try:
        await asyncio.wait_for(hung.entered.wait(), BOUND)
        second = released(b"second")
        outcome = await asyncio.wait_for(b.run(KEY, second, wait_seconds=30), BOUND)
        took = loop.time() - started
    finally:
        dead.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dead
    assert outcome == Outcome(Role.TOOK_OVER, b"second")
    assert second.calls == 1
    lease = LAPSING.single_flight_lease_seconds
    # Not before the lease lapsed (it was never renewed), and within about it (polls of lease/4).
    assert lease * 0.9 <= took <= lease * 2 + 1.0, took


async def test_a_renewing_leader_keeps_its_lease_every_third_of_it(
    redis_server: RedisServer, replicas: ReplicaFactory, admin: Redis, prefix: str
) -> None:
    ticks: asyncio.Queue[None] = asyncio.Queue()
    slept: list[float] = []

    async def ticking(seconds: float) -> None:
        slept.append(seconds)
        await ticks.get()

    a = replicas(redis_server.url, HELD, sleep=ticking)
    lead = Leader()
    leader = start(a, lead)
    await asyncio.wait_for(lead.entered.wait(), BOUND)
    lease_key = f"{prefix}:lease:{{{KEY}}}"
    await admin.pexpire(lease_key, 10_000)  # as if most of the lease had passed
    ticks.put_nowait(None)  # a third of the lease later: the renewal
    await until(lambda: _above(admin.pttl(lease_key), 200_000), "the lease renewed")
    assert slept[0] == pytest.approx(HELD.single_flight_lease_seconds / 3)
    lead.release.set()
    assert await asyncio.wait_for(leader, BOUND) == Outcome(Role.LEADER, b"answer")


async def test_a_wakeup_is_published_only_for_a_flight_another_replica_watches(
    redis_server: RedisServer, replicas: ReplicaFactory, admin: Redis, prefix: str
) -> None:
    """Every replica that ever watched keeps its subscription: a wake-up for every finished
    flight would reach each of them once per paid answer of the deployment."""
    a, b = replicas(redis_server.url, HELD), replicas(redis_server.url, HELD)
    listener = admin.pubsub()
    await listener.psubscribe(f"{prefix}:done:*")
    try:
        alone = await asyncio.wait_for(a.run("alone", released(b"x"), wait_seconds=LONG_WAIT),
                                       BOUND)
        assert alone.role is Role.LEADER
        lead = Leader()
        leader = start(a, lead)
        await asyncio.wait_for(lead.entered.wait(), BOUND)
        waiter = start(b, released(b"never called"))
        await until(lambda: _now(b.watching_remote(KEY)), "b watches a's flight")
        lead.release.set()
        outcomes = await asyncio.wait_for(asyncio.gather(leader, waiter), BOUND)
        assert [o.payload for o in outcomes] == [b"answer", b"answer"]
        # Published in order: the first wake-up is the watched flight's, none came for "alone".
        message = None
        async with asyncio.timeout(BOUND):
            while message is None:
                message = await listener.get_message(ignore_subscribe_messages=True,
                                                     timeout=BOUND)
        assert message["channel"] == f"{prefix}:done:{{{KEY}}}".encode()
        assert message["data"] == b"done"
    finally:
        await listener.aclose()  # type: ignore[no-untyped-call]


async def _above(value: Awaitable[int], floor: int) -> bool:
    return await value > floor


async def test_a_cancelled_leader_hands_over_to_the_other_replica_at_once(
    redis_server: RedisServer, replicas: ReplicaFactory
) -> None:
    a, b = replicas(redis_server.url, HELD), replicas(redis_server.url, HELD)
    leader = start(a, Leader())
    await until(lambda: a.in_flight_anywhere(KEY), "a leads")
    second = released(b"second")
    waiter = start(b, second)
    await until(lambda: _now(b.watching_remote(KEY)), "b watches a's flight")
    leader.cancel()  # a's client went away mid-call; the lease had 300 s left
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await asyncio.wait_for(waiter, BOUND) == Outcome(Role.TOOK_OVER, b"second")


async def test_a_cancelled_watcher_hands_its_watch_to_another_waiter_of_its_replica(
    redis_server: RedisServer, replicas: ReplicaFactory
) -> None:
    a, b = replicas(redis_server.url, HELD), replicas(redis_server.url, HELD)
    lead = Leader()
    leader = start(a, lead)
    await asyncio.wait_for(lead.entered.wait(), BOUND)
    watcher = start(b, lead)
    await until(lambda: _now(b.watching_remote(KEY)), "b watches a's flight")
    waiters = [start(b, lead) for _ in range(3)]
    await settle()
    watcher.cancel()  # the client of b's first asker went away
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(watcher, BOUND)
    await until(lambda: _now(b.watching_remote(KEY)), "another of b's waiters watches")
    lead.release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(leader, *waiters), BOUND)
    assert [o.payload for o in outcomes] == [b"answer"] * 4
    assert lead.calls == 1


async def test_a_failing_leader_gives_the_other_replica_none_at_once(
    redis_server: RedisServer, replicas: ReplicaFactory
) -> None:
    a, b = replicas(redis_server.url, HELD), replicas(redis_server.url, HELD)
    failing = Leader(error=RuntimeError("upstream 529"))
    leader = start(a, failing)
    await asyncio.wait_for(failing.entered.wait(), BOUND)
    never = Leader()
    waiter = start(b, never)
    await until(lambda: _now(b.watching_remote(KEY)), "b watches a's flight")
    failing.release.set()
    with pytest.raises(RuntimeError):
        await leader
    assert await asyncio.wait_for(waiter, BOUND) == Outcome(Role.FOLLOWER, None, remote=True)
    assert never.calls == 0  # b takes the free rungs: it does not pay again


async def test_a_later_ask_is_not_refused_by_an_earlier_flight_with_nothing_to_share(
    redis_server: RedisServer, replicas: ReplicaFactory
) -> None:
    a, b = replicas(redis_server.url, HELD), replicas(redis_server.url, HELD)
    assert await a.run(KEY, released(None)) == Outcome(Role.LEADER, None)
    assert await b.run(KEY, released(b"later")) == Outcome(Role.LEADER, b"later")
    # A payload, though, is the answer to the same question: a late arrival takes it.
    assert await a.run(KEY, released(b"third")) == Outcome(Role.FOLLOWER, b"later", remote=True)


async def test_a_waiter_on_another_replica_times_out(
    redis_server: RedisServer, replicas: ReplicaFactory
) -> None:
    a, b = replicas(redis_server.url, HELD), replicas(redis_server.url, HELD)
    lead = Leader()
    leader = start(a, lead)
    await asyncio.wait_for(lead.entered.wait(), BOUND)
    late = await asyncio.wait_for(b.run(KEY, lead, wait_seconds=0.05), BOUND)
    assert late == Outcome(Role.FOLLOWER, None, timed_out=True)
    lead.release.set()
    assert await asyncio.wait_for(leader, BOUND) == Outcome(Role.LEADER, b"answer")
    assert lead.calls == 1


@pytest.mark.parametrize("guarded", [False, True], ids=["no-breaker", "breaker"])
async def test_redis_down_falls_back_to_in_process_without_errors(
    private_redis_server: RedisServer, replicas: ReplicaFactory, guarded: bool
) -> None:
    guard = redis_guard(ManualClock(datetime.now(UTC))) if guarded else None
    f = replicas(private_redis_server.url, HELD, guard=guard)
    private_redis_server.stop()
    for _ in range(3):  # with the breaker: it opens, and the later rounds are refused at once
        lead = Leader()
        tasks = [start(f, lead) for _ in range(10)]
        await asyncio.wait_for(lead.entered.wait(), BOUND)
        assert await f.in_flight_anywhere(KEY)
        lead.release.set()
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks), BOUND)
        assert lead.calls == 1
        assert [o.payload for o in outcomes] == [b"answer"] * 10
        assert not await f.in_flight_anywhere("another-key")  # Redis cannot say: False
    if guard is not None:
        assert guard.state.value == "open"


async def test_the_wakeup_listener_subscribes_again_after_a_redis_restart(
    private_redis_server: RedisServer, replicas: ReplicaFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def briefly(_seconds: float) -> None:  # the listener's retry pause, shortened
        await asyncio.sleep(0.01)

    server = private_redis_server
    a, b = replicas(server.url, HELD), replicas(server.url, HELD, sleep=briefly)
    admin = Redis.from_url(server.url)
    try:
        lead = Leader()
        leader = start(a, lead)
        await asyncio.wait_for(lead.entered.wait(), BOUND)
        waiter = start(b, released(b"b's own"))
        await until(lambda: _now(b.watching_remote(KEY)), "b watches a's flight")
        assert await admin.pubsub_numpat() == 1
        server.stop()  # b's listener loses its connection and keeps retrying
        await until(lambda: _now("wake-ups unavailable" in caplog.text), "b's listener noticed")
        server.restart()
        await until(lambda: _is(admin.pubsub_numpat(), 1),
                    "b's listener subscribed again")
        lead.release.set()
        await asyncio.wait_for(leader, BOUND)
        # Whether b's watcher met the outage (took over) or not (followed) is timing: either
        # way it answers.
        assert (await asyncio.wait_for(waiter, BOUND)).payload in (b"answer", b"b's own")
    finally:
        await admin.aclose()


async def _is(value: Awaitable[int], expected: int) -> bool:
    try:
        return int(await value) == expected
    except RedisError:  # the admin's own connection, across the restart
        return False
