"""Single-flight within one process (issue 13: "one paid call per question in flight").

No Redis here: SingleFlight(policy) alone. Leaders block on asyncio Events the test sets, so
"concurrent" is decided by the test, not by timing; wall-clock bounds (BOUND) only stop a test
that would otherwise hang when the behaviour is broken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from app.cache import Outcome, Role, SingleFlight
from app.config import CachePolicy
from tests.flight_leader import BOUND, LONG_WAIT, Leader, settle


def flight(**policy: object) -> SingleFlight:
    return SingleFlight(CachePolicy.model_validate(policy))


def start(f: SingleFlight, key: str, lead: Callable[[], Awaitable[bytes | None]],
          wait: float = LONG_WAIT) -> asyncio.Task[Outcome]:
    return asyncio.create_task(f.run(key, lead, wait_seconds=wait))


async def test_fifty_concurrent_calls_of_one_key_run_lead_once_and_all_get_the_payload() -> None:
    f, lead = flight(), Leader()
    tasks = [start(f, "k", lead) for _ in range(50)]
    await settle()
    assert f.in_flight("k") and lead.calls == 1
    lead.release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks), BOUND)
    assert lead.calls == 1
    assert [o.payload for o in outcomes] == [b"answer"] * 50
    assert [o.role for o in outcomes].count(Role.LEADER) == 1
    assert sum(o.coalesced for o in outcomes) == 49
    assert not f.in_flight("k")


async def test_different_keys_run_independently() -> None:
    f, a, b = flight(), Leader(b"a"), Leader(b"b")
    ta, tb = start(f, "ka", a), start(f, "kb", b)
    await asyncio.wait_for(asyncio.gather(a.entered.wait(), b.entered.wait()), BOUND)
    b.release.set()  # the second key finishes while the first is still running
    assert await asyncio.wait_for(tb, BOUND) == Outcome(Role.LEADER, b"b")
    assert not ta.done()
    a.release.set()
    assert await asyncio.wait_for(ta, BOUND) == Outcome(Role.LEADER, b"a")


async def test_a_follower_times_out_and_the_leader_is_unaffected() -> None:
    f, lead = flight(), Leader()
    leader = start(f, "k", lead)
    await asyncio.wait_for(lead.entered.wait(), BOUND)
    late = await asyncio.wait_for(f.run("k", Leader(b"never"), wait_seconds=0.01), BOUND)
    assert late == Outcome(Role.FOLLOWER, None, timed_out=True)
    assert not leader.done() and f.in_flight("k")
    lead.release.set()
    assert await asyncio.wait_for(leader, BOUND) == Outcome(Role.LEADER, b"answer")
    assert lead.calls == 1


async def test_wait_seconds_defaults_to_policy() -> None:
    f, lead = flight(single_flight_wait_seconds=0), Leader()
    leader = asyncio.create_task(f.run("k", lead))
    await asyncio.wait_for(lead.entered.wait(), BOUND)
    assert (await asyncio.wait_for(f.run("k", lead), BOUND)).timed_out
    lead.release.set()
    await leader


async def test_when_lead_raises_the_leader_reraises_and_followers_get_none_at_once() -> None:
    f, lead = flight(), Leader(error=RuntimeError("upstream 529"))
    leader = start(f, "k", lead)
    followers = [start(f, "k", lead) for _ in range(5)]
    await settle()
    lead.release.set()
    with pytest.raises(RuntimeError, match="upstream 529"):
        await asyncio.wait_for(leader, BOUND)
    # Woken at once (their own wait is an hour), told "nothing to share", not "timed out".
    outcomes = await asyncio.wait_for(asyncio.gather(*followers), BOUND)
    assert outcomes == [Outcome(Role.FOLLOWER, None)] * 5
    assert lead.calls == 1 and not f.in_flight("k")


async def test_a_leader_with_nothing_to_share_gives_followers_none() -> None:
    f, lead = flight(), Leader(payload=None)
    tasks = [start(f, "k", lead) for _ in range(3)]
    await settle()
    lead.release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks), BOUND)
    assert [(o.role, o.payload, o.timed_out) for o in outcomes] == [
        (Role.LEADER, None, False), (Role.FOLLOWER, None, False), (Role.FOLLOWER, None, False)]
    assert not any(o.coalesced for o in outcomes)


async def test_a_cancelled_follower_does_not_cancel_the_leader() -> None:
    f, lead = flight(), Leader()
    leader = start(f, "k", lead)
    follower, other = start(f, "k", lead), start(f, "k", lead)
    await settle()
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower
    await settle()
    assert not leader.done() and not other.done()
    lead.release.set()
    assert await asyncio.wait_for(leader, BOUND) == Outcome(Role.LEADER, b"answer")
    assert await asyncio.wait_for(other, BOUND) == Outcome(Role.FOLLOWER, b"answer")
    assert lead.calls == 1


async def test_a_cancelled_leader_hands_over_to_one_follower_the_others_follow_it() -> None:
    f, first = flight(), Leader(b"first")
    leader = start(f, "k", first)
    await asyncio.wait_for(first.entered.wait(), BOUND)
    second = Leader(b"second")
    followers = [start(f, "k", second) for _ in range(4)]
    await settle()
    leader.cancel()  # its client disconnected
    with pytest.raises(asyncio.CancelledError):
        await leader
    await asyncio.wait_for(second.entered.wait(), BOUND)
    second.release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*followers), BOUND)
    assert second.calls == 1
    assert sorted(o.role for o in outcomes) == sorted(
        [Role.TOOK_OVER] + [Role.FOLLOWER] * 3)
    assert {o.payload for o in outcomes} == {b"second"}
    assert not f.in_flight("k")


async def test_disabled_by_policy_every_call_leads() -> None:
    f, lead = flight(single_flight_enabled=False), Leader()
    tasks = [start(f, "k", lead) for _ in range(3)]
    await settle()
    assert lead.calls == 3 and not f.in_flight("k")
    lead.release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks), BOUND)
    assert {o.role for o in outcomes} == {Role.LEADER}


async def test_in_flight_anywhere_without_redis_is_this_process() -> None:
    f, lead = flight(), Leader()
    leader = start(f, "k", lead)
    await settle()
    assert await f.in_flight_anywhere("k") and not await f.in_flight_anywhere("other")
    lead.release.set()
    await leader
    assert not await f.in_flight_anywhere("k")
