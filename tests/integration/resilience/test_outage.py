"""A 30-second upstream outage, in simulated time: clients get no 5xx while cached or offline
answers exist, the upstream is probed only once per OPEN period, and the breakers close again
after the upstream recovers (issue 5)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.resilience.conftest import (
    FALLBACK,
    PRIMARY,
    WAIT_IN_OPEN_SECONDS,
    InProcessFactory,
    metric_value,
    question,
)

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 30
STEP_SECONDS = 1.0
WARM = 5  # questions answered (and cached) before the outage


async def test_thirty_second_outage_serves_no_5xx_and_the_breakers_close_after(
    in_process: InProcessFactory,
) -> None:
    # Cached answers go stale 5 s into the outage: the ladder serves them as stale_cache.
    async with in_process(cache={"ttl_seconds": 5}) as svc:
        for k in range(WARM):
            assert (await svc.ask(question(k))).json()["model"] == PRIMARY
        svc.fake.fail(529, until_cleared=True)  # every model overloaded
        calls_before = svc.upstream_calls()
        statuses: Counter[int] = Counter()
        modes: Counter[str] = Counter()
        states: set[tuple[str, str]] = set()
        n = WARM
        t = 0.0
        while t < OUTAGE_SECONDS:
            for q in (question(int(t) % WARM), question(n)):  # one cached, one never seen
                r = await svc.ask(q)
                statuses[r.status_code] += 1
                body = r.json()
                modes[body["degraded"]["mode"] if body.get("degraded") else "fresh"] += 1
            n += 1
            states |= {(PRIMARY, svc.state(PRIMARY)), (FALLBACK, svc.state(FALLBACK))}
            svc.advance(STEP_SECONDS)
            t += STEP_SECONDS
        outage_calls = svc.upstream_calls() - calls_before

        assert set(statuses) == {200}, statuses
        assert modes["offline"] > 0 and modes["stale_cache"] > 0, modes
        assert (PRIMARY, "open") in states and (FALLBACK, "open") in states
        # Not hammered: 4 calls per model to open it, then one trial per OPEN period.
        periods = OUTAGE_SECONDS // WAIT_IN_OPEN_SECONDS + 1
        assert outage_calls <= 2 * (4 + periods), outage_calls

        # Recovery: the upstream answers again; the next trials close both breakers. Once the
        # primary answers, nothing reaches the fallback by itself: ask for it by name.
        svc.fake.clear_faults()
        svc.advance(WAIT_IN_OPEN_SECONDS)
        for model in (PRIMARY, PRIMARY, FALLBACK, FALLBACK):
            r = await svc.ask(question(n), model=model)
            n += 1
            assert r.status_code == 200
            assert r.json()["degraded"] is None and r.json()["model"] == model
        body = (await svc.client.get("/circuit-breaker")).json()["breakers"]
        assert {m: b["state"] for m, b in body.items()} == {PRIMARY: "closed", FALLBACK: "closed"}
        assert body[PRIMARY]["retry_in_seconds"] == 0
        metrics = (await svc.client.get("/metrics")).text
        for model in (PRIMARY, FALLBACK):
            assert metric_value(metrics, "ai_circuit_breaker_state",
                                model=model, state="closed") == 1
            assert metric_value(metrics, "ai_circuit_breaker_state",
                                model=model, state="open") == 0
            for edge in (("closed", "open"), ("open", "half_open"), ("half_open", "closed")):
                assert metric_value(metrics, "ai_circuit_breaker_transitions_total", model=model,
                                    from_state=edge[0], to_state=edge[1]) >= 1, (model, edge)
