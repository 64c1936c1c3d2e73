"""HALF_OPEN lets at most `permitted_in_half_open` trial calls through, however many requests
arrive at once, then closes when they succeed (docs/architecture.md; issue 5)."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.resilience.conftest import (
    FALLBACK,
    PERMITTED_IN_HALF_OPEN,
    PRIMARY,
    WAIT_IN_OPEN_SECONDS,
    InProcessFactory,
    question,
)

pytestmark = pytest.mark.integration

BURST = 50
# How long each trial call is held at the fake. The other requests are refused in microseconds;
# this only has to outlast the burst's arrival (well under a second here) on a busy machine.
TRIAL_SECONDS = 3.0


async def test_fifty_concurrent_requests_get_at_most_n_trials_then_it_closes(
    in_process: InProcessFactory,
) -> None:
    # No fallback model: every upstream call the fake sees is a trial of the one breaker.
    async with in_process(routing={"default_model": PRIMARY, "fallback_model": None},
                          llm={"timeout_seconds": 10}) as svc:
        i = await svc.trip(PRIMARY, first_index=0)
        svc.advance(WAIT_IN_OPEN_SECONDS)
        assert svc.state(PRIMARY) == "half_open"
        svc.fake.reset()  # stats from zero; no faults
        svc.fake.fail(delay_seconds=TRIAL_SECONDS, count=BURST)
        refused = svc.sample("ai_circuit_breaker_not_permitted_calls_total", model=PRIMARY)

        responses = await asyncio.gather(*(svc.ask(question(i + k)) for k in range(BURST)))

        stats = svc.fake.stats
        assert stats["total"] == PERMITTED_IN_HALF_OPEN
        assert stats["max_in_flight"] == PERMITTED_IN_HALF_OPEN  # the trials ran concurrently
        assert all(r.status_code == 200 for r in responses)
        bodies = [r.json() for r in responses]
        fresh = [b for b in bodies if b["degraded"] is None]
        assert len(fresh) == PERMITTED_IN_HALF_OPEN
        assert all(b["model"] == PRIMARY for b in fresh)
        assert sum(b["degraded"] is not None and b["degraded"]["mode"] == "offline"
                   for b in bodies) == BURST - PERMITTED_IN_HALF_OPEN
        assert svc.sample("ai_circuit_breaker_not_permitted_calls_total",
                          model=PRIMARY) == refused + BURST - PERMITTED_IN_HALF_OPEN
        assert svc.state(PRIMARY) == "closed"
        assert svc.sample("ai_circuit_breaker_transitions_total", model=PRIMARY,
                          from_state="half_open", to_state="closed") == 1


async def test_with_a_fallback_the_refused_requests_go_to_it_while_n_trials_run(
    in_process: InProcessFactory,
) -> None:
    async with in_process(llm={"timeout_seconds": 10}) as svc:
        svc.fake.fail(500, model=PRIMARY, until_cleared=True)
        i = await svc.trip(PRIMARY, first_index=0)
        svc.advance(WAIT_IN_OPEN_SECONDS)
        svc.fake.fail(delay_seconds=TRIAL_SECONDS, model=PRIMARY, count=BURST)
        primary, fallback = svc.upstream_calls(PRIMARY), svc.upstream_calls(FALLBACK)

        responses = await asyncio.gather(*(svc.ask(question(i + k)) for k in range(BURST)))

        bodies = [r.json() for r in responses]
        assert svc.upstream_calls(PRIMARY) - primary == PERMITTED_IN_HALF_OPEN
        assert svc.upstream_calls(FALLBACK) - fallback == BURST - PERMITTED_IN_HALF_OPEN
        assert sorted(b["model"] for b in bodies) == sorted(
            [PRIMARY] * PERMITTED_IN_HALF_OPEN + [FALLBACK] * (BURST - PERMITTED_IN_HALF_OPEN))
        assert svc.state(PRIMARY) == "closed"


async def test_a_failed_trial_reopens_and_refuses_again(in_process: InProcessFactory) -> None:
    async with in_process(routing={"default_model": PRIMARY, "fallback_model": None}) as svc:
        i = await svc.trip(PRIMARY, first_index=0)
        svc.advance(WAIT_IN_OPEN_SECONDS)
        svc.fake.fail(529, model=PRIMARY)
        r = await svc.ask(question(i))
        assert r.json()["degraded"]["mode"] == "offline"
        assert svc.state(PRIMARY) == "open"
        calls = svc.upstream_calls()
        again = await svc.ask(question(i + 1))
        assert again.json()["degraded"]["reason"] == "circuit_open"
        assert svc.upstream_calls() == calls
        assert svc.sample("ai_circuit_breaker_transitions_total", model=PRIMARY,
                          from_state="half_open", to_state="open") == 1
