"""Single-flight in the ask pipeline, one process: concurrent asks of one question pay once;
waiters whose leader fails, or who stop waiting, take the free rungs and never pay."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.errors import ServiceUnavailableError, UpstreamError
from app.llm.base import Completion, CompletionRequest
from tests.unit.services.test_answer_ladder import FALLBACK, PRIMARY, Harness, Q
from tests.unit.services.test_semantic_reuse import count_semantic_adds


class Gate:
    """Holds the provider's calls until opened; counts the calls that arrived."""

    def __init__(self, h: Harness) -> None:
        self.open = asyncio.Event()
        self.arrived = asyncio.Event()
        complete = h.provider.complete

        async def gated(request: CompletionRequest) -> Completion:
            self.arrived.set()
            await self.open.wait()
            return await complete(request)

        h.provider.complete = gated  # type: ignore[method-assign]


class Searches:
    """Counts the asks that have searched and reached the flight (the coalescer), the last
    step on the event loop before it: once n have, each is in (or a few coroutine steps from)
    the flight, with no I/O and no thread in between. (Counting the searches themselves
    raced: they run in worker threads, which the event loop can outpace.)"""

    def __init__(self, h: Harness, n: int) -> None:
        self._n, self._count = n, 0
        self._done = asyncio.Event()
        coalescer = h.service._coalescer
        assert coalescer is not None
        answer = coalescer.answer

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._count += 1
            if self._count >= self._n:
                self._done.set()
            return await answer(*args, **kwargs)

        coalescer.answer = counted  # type: ignore[method-assign]

    async def all_done(self) -> None:
        await self._done.wait()
        for _ in range(20):
            await asyncio.sleep(0)


async def test_ten_concurrent_asks_of_one_question_make_one_call() -> None:
    h = Harness()
    gate, searches = Gate(h), Searches(h, 10)
    asks = [asyncio.create_task(h.service.ask(Q)) for _ in range(10)]
    await gate.arrived.wait()
    await searches.all_done()
    gate.open.set()
    answers = await asyncio.gather(*asks)
    assert len(h.provider.calls) == 1
    assert len({a.answer for a in answers}) == 1
    paid = [a for a in answers if not a.cached]
    assert len(paid) == 1 and paid[0].cost_usd > 0
    assert all(a.cost_usd == 0 for a in answers if a is not paid[0])
    assert h.sample("ai_cache_lookups_total", outcome="coalesced") == 9
    assert h.sample("ai_cache_saved_usd_total", kind="coalesced") == pytest.approx(
        9 * paid[0].cost_usd)


async def test_only_the_caller_that_pays_writes_a_semantic_entry() -> None:
    """Waiters announce nothing: their question is the leader's, and an entry of theirs would
    point at an answer nobody stores."""
    h = Harness()
    adds = count_semantic_adds(h)
    gate, searches = Gate(h), Searches(h, 10)
    asks = [asyncio.create_task(h.service.ask(Q)) for _ in range(10)]
    await gate.arrived.wait()
    await searches.all_done()
    assert adds == [Q]  # the leader's, before its call
    gate.open.set()
    await asyncio.gather(*asks)
    assert adds == [Q]  # and not again with the answer


async def test_when_the_leader_fails_the_waiters_take_the_free_rungs_and_never_pay() -> None:
    h = Harness("degradation: {offline: false, stale_cache: false}\n")
    for model in (PRIMARY, FALLBACK):
        h.provider.failures[model] = UpstreamError("boom", kind="server_error", status=500)
    gate, searches = Gate(h), Searches(h, 5)
    asks = [asyncio.create_task(h.service.ask(Q)) for _ in range(5)]
    await gate.arrived.wait()
    await searches.all_done()
    gate.open.set()
    results = await asyncio.gather(*asks, return_exceptions=True)
    assert len(h.provider.calls) == 2  # the leader's primary and fallback, nobody else's
    leader = [r for r in results if isinstance(r, UpstreamError)]
    waiters = [r for r in results if isinstance(r, ServiceUnavailableError)]
    assert len(leader) == 1 and len(waiters) == 4
    assert {w.code for w in waiters} == {"coalesced_wait"}


async def test_a_waiter_that_stops_waiting_gets_runbook_excerpts_at_no_cost() -> None:
    h = Harness("cache: {single_flight_wait_seconds: 0}\n")
    gate = Gate(h)
    leader = asyncio.create_task(h.service.ask(Q))
    await gate.arrived.wait()
    async with asyncio.timeout(30):  # without single-flight it would wait for the gate
        waiter = await h.service.ask(Q)
    assert waiter.degraded is not None and waiter.degraded.mode == "offline"
    assert waiter.degraded.reason == "coalesced_wait" and waiter.cost_usd == 0
    gate.open.set()
    assert not (await leader).cached
    assert len(h.provider.calls) == 1
