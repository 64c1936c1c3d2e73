"""Once a breaker is OPEN, /ask is answered from a lower rung without touching the upstream:
the fake Anthropic server's call counter does not move (issue 5). Nor the spend
ledger: a refused call reserves no money, so an outage adds no ledger writes."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from tests.integration.resilience.conftest import (
    FALLBACK,
    PRIMARY,
    InProcessFactory,
    question,
)

pytestmark = pytest.mark.integration


async def test_open_primary_goes_straight_to_the_fallback_model(
    in_process: InProcessFactory,
) -> None:
    async with in_process() as svc:
        svc.fake.fail(500, model=PRIMARY, until_cleared=True)
        i = await svc.trip(PRIMARY, first_index=0)
        assert svc.state(FALLBACK) == "closed"
        primary_calls, fallback_calls = svc.upstream_calls(PRIMARY), svc.upstream_calls(FALLBACK)
        degraded = svc.degraded("fallback_model")
        refused = svc.sample("ai_circuit_breaker_not_permitted_calls_total", model=PRIMARY)

        r = await svc.ask(question(i))

        assert r.status_code == 200
        body = r.json()
        assert body["model"] == FALLBACK and body["cached"] is False
        assert body["degraded"]["mode"] == "fallback_model"
        assert body["degraded"]["reason"] == "circuit_open"
        assert svc.upstream_calls(PRIMARY) == primary_calls  # not one call to the open model
        assert svc.upstream_calls(FALLBACK) == fallback_calls + 1
        assert svc.degraded("fallback_model") == degraded + 1
        assert svc.sample(
            "ai_circuit_breaker_not_permitted_calls_total", model=PRIMARY) == refused + 1


async def test_both_open_answers_cached_stale_or_offline_with_zero_upstream_calls(
    in_process: InProcessFactory,
) -> None:
    # A long OPEN wait: the clock moves past the cache TTL while both breakers stay OPEN.
    async with in_process(breaker={"wait_in_open_seconds": 3600},
                          cache={"ttl_seconds": 60, "stale_ttl_seconds": 3600}) as svc:
        by_primary, by_fallback, unseen = question(0), question(1), question(2)
        assert (await svc.ask(by_primary)).json()["model"] == PRIMARY
        svc.fake.fail(500, model=PRIMARY)
        assert (await svc.ask(by_fallback)).json()["model"] == FALLBACK
        svc.fake.fail(529, until_cleared=True)
        i = 3
        while not (svc.state(PRIMARY) == svc.state(FALLBACK) == "open"):
            assert i < 20, "the breakers never opened"
            assert (await svc.ask(question(i))).status_code == 200
            i += 1
        svc.fake.clear_faults()  # a healthy upstream now: any call would succeed and show
        calls = svc.upstream_calls()
        before = {m: svc.degraded(m) for m in ("cached", "stale_cache", "offline")}

        with contextlib.closing(sqlite3.connect(svc.runtime.settings.ledger_path)) as ledger:
            # data_version moves when another connection commits (a reserve, a release).
            writes = ledger.execute("PRAGMA data_version").fetchone()[0]
            cached = (await svc.ask(by_fallback)).json()
            offline = (await svc.ask(unseen)).json()
            svc.advance(61)  # both cached answers are stale now; the breakers still OPEN
            stale = (await svc.ask(by_primary)).json()
            assert ledger.execute("PRAGMA data_version").fetchone()[0] == writes

        assert svc.upstream_calls() == calls  # zero calls while OPEN
        assert (cached["degraded"]["mode"], cached["model"], cached["cached"]) == (
            "cached", FALLBACK, True)
        assert (offline["degraded"]["mode"], offline["model"], offline["cached"]) == (
            "offline", "offline", False)
        assert offline["sources"] and offline["cost_usd"] == 0
        assert (stale["degraded"]["mode"], stale["model"], stale["cached"]) == (
            "stale_cache", PRIMARY, True)
        for body in (cached, offline, stale):
            assert body["degraded"]["reason"] == "circuit_open"
        for mode in ("cached", "stale_cache", "offline"):
            assert svc.degraded(mode) == before[mode] + 1, mode
        assert svc.state(PRIMARY) == svc.state(FALLBACK) == "open"


async def test_a_repeated_question_while_the_primary_is_down_is_not_paid_twice(
    in_process: InProcessFactory,
) -> None:
    async with in_process() as svc:
        svc.fake.fail(500, model=PRIMARY, until_cleared=True)
        i = await svc.trip(PRIMARY, first_index=0)
        first = (await svc.ask(question(i))).json()
        assert (first["model"], first["cached"]) == (FALLBACK, False)
        calls, cost = svc.upstream_calls(), svc.sample("ai_cost_usd_total", model=FALLBACK)

        again = (await svc.ask(question(i))).json()

        assert svc.upstream_calls() == calls  # the fallback's own fresh answer, from the cache
        assert svc.sample("ai_cost_usd_total", model=FALLBACK) == cost
        assert (again["model"], again["cached"], again["cost_usd"]) == (FALLBACK, True, 0)
        assert again["answer"] == first["answer"]
        assert again["degraded"]["mode"] == "cached"
        assert again["degraded"]["reason"] == "circuit_open"
        assert svc.degraded("cached") == 1
