"""Money through the real service (issue 4): three uvicorn replicas share one redis-server ledger.

Each test starts from an empty ledger and a policy of its own; the replicas are shared by the
module (a start costs seconds of CPU on this machine).
"""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from tests.fakes.service_process import wait_until
from tests.integration.money.conftest import (
    HAIKU,
    SONNET,
    Burst,
    Fleet,
    ask,
    metric_sum,
    policy_yaml,
    price_usage,
    ready,
    seconds_to_next_hour,
    window,
    worst_case,
)

pytestmark = pytest.mark.integration

HOURLY_USD = 0.25
DECIDE_TIMEOUT_SECONDS = 300.0


def questions(tag: str, n: int) -> list[str]:
    """Distinct questions (so no cache answers them) of one length that retrieve the same
    runbook context: every paid call has the same worst case."""
    return [f"pod OOMKilled, what now? ticket {tag}{i:04d}" for i in range(n)]


def hourly_rejections(fleet: Fleet) -> float:
    series = 'ai_budget_rejections_total{window="hourly"}'
    return sum(metric_sum(svc, series) for svc in fleet.replicas)


def usd(value: float) -> Decimal:
    return Decimal(repr(value))


@pytest.mark.parametrize(
    ("offline", "n"), [(False, 200), (True, 60)], ids=["refused-with-429", "offline-rung"]
)
def test_concurrent_asks_never_overspend_and_admit_all_the_budget_allows(
    fleet: Fleet, offline: bool, n: int
) -> None:
    fleet.apply(policy_yaml(hourly_usd=HOURLY_USD, offline=offline))
    limit = usd(HOURLY_USD)
    rejected_before = hourly_rejections(fleet)
    fleet.fake.hold()  # the slowest upstream: admitted calls stay in flight until released
    before_hour_end = seconds_to_next_hour()
    burst = Burst(fleet.replicas, questions("c" if offline else "r", n))
    try:
        # Every request is decided: held at the upstream (admitted) or answered without it.
        wait_until(lambda: len(burst.done) + fleet.fake.held == n,
                   timeout=DECIDE_TIMEOUT_SECONDS, what="every ask admitted or refused")
        held = fleet.fake.arrived
        peak = [window(svc) for svc in fleet.replicas]
        gauges = [(metric_sum(svc, 'ai_budget_reserved_usd{window="hourly"}'),
                   metric_sum(svc, "ai_budget_reservations_outstanding"))
                  for svc in fleet.replicas]
    finally:
        fleet.fake.release()
    outcomes = burst.finish(timeout=DECIDE_TIMEOUT_SECONDS)
    after_hour_end = seconds_to_next_hour()

    # At the peak every admitted call holds its worst case; the replicas read one ledger.
    assert all(p == peak[0] for p in peak), peak
    models = Counter(call["model"] for call in held)
    assert set(models) <= {SONNET, HAIKU} and models[SONNET] > 0
    w = {m: worst_case(m, held[0]) for m in (SONNET, HAIKU)}  # same prompt, either model
    assert {worst_case(c["model"], c) for c in held} <= set(w.values())
    reserved = usd(peak[0]["reserved_usd"])
    assert reserved == models[SONNET] * w[SONNET] + models[HAIKU] * w[HAIKU]
    assert reserved <= limit and peak[0]["spent_usd"] == 0
    # /metrics agrees on every replica (read from the ledger); each holds its own calls.
    assert all(g == pytest.approx(float(reserved), abs=1e-9) for g, _ in gauges), gauges
    assert sum(outstanding for _, outstanding in gauges) == len(held)
    # ...and as many as the reservations allow: the primary until it no longer fits, then
    # the cheaper fallback, and what is left cannot cover even one more fallback call.
    assert models[SONNET] == math.floor(limit / w[SONNET])
    assert models[HAIKU] == math.floor((limit - models[SONNET] * w[SONNET]) / w[HAIKU])
    assert limit - reserved < w[HAIKU]

    admitted = [o for o in outcomes if o.body.get("cost_usd", 0) > 0]
    refused = [o for o in outcomes if o not in admitted]
    assert len(outcomes) == n and len(admitted) == len(held)
    assert all(o.status == 200 and o.body["model"] in (SONNET, HAIKU) for o in admitted)
    for o in admitted:
        if o.body["model"] == HAIKU:
            assert o.body["degraded"]["mode"] == "fallback_model"
            assert o.body["degraded"]["reason"] == "budget_exhausted"
        else:
            assert o.body["degraded"] is None
    for o in refused:
        if offline:
            assert o.status == 200, o.body
            assert o.body["model"] == "offline" and o.body["cost_usd"] == 0
            assert o.body["degraded"]["mode"] == "offline"
            assert o.body["degraded"]["reason"] == "budget_exhausted"
            assert o.body["sources"]
        else:
            assert o.status == 429, o.body
            assert o.body["error"] == "budget_exhausted" and "hourly" in o.body["detail"]
            assert o.headers["x-budget-window"] == "hourly"
            assert after_hour_end - 1 <= int(o.headers["retry-after"]) <= before_hour_end + 1

    # Settled: what the fake billed, priced here from the policy's prices, is what every
    # replica's /cost and the answers report, and it is within the limit.
    billed = fleet.fake.billed
    assert len(billed) == len(admitted)
    billed_usd = sum((price_usage(b["model"], b["usage"]) for b in billed), Decimal(0))
    assert sum((usd(o.body["cost_usd"]) for o in admitted), Decimal(0)) == billed_usd
    final = [window(svc) for svc in fleet.replicas]
    assert all(f == final[0] for f in final), final
    assert usd(final[0]["spent_usd"]) == billed_usd <= limit
    assert final[0]["reserved_usd"] == 0
    # Each refused ask was refused twice (primary, then fallback), each fallback answer once.
    rejected = hourly_rejections(fleet) - rejected_before
    assert rejected == 2 * len(refused) + models[HAIKU]


def test_per_request_cap_clamps_max_tokens_and_refuses_a_prompt_it_cannot_cover(
    fleet: Fleet,
) -> None:
    svc = fleet.replicas[0]
    qs = iter(questions("p", 10))
    fleet.apply(policy_yaml())
    probe = ask(svc, next(qs))
    assert probe.status_code == 200 and probe.json()["model"] == SONNET
    call = fleet.fake.arrived[-1]
    assert call["max_tokens"] == 1024  # the policy's, untouched: 0.50 USD covers it

    # The input side of the worst case alone, per model (max_tokens 0).
    prompt_only = {m: worst_case(m, call | {"max_tokens": 0}) for m in (SONNET, HAIKU)}
    out_rate = Decimal("15") / 1_000_000
    # Room for about 200 output tokens on the primary model.
    cap = float(prompt_only[SONNET] + 200 * out_rate + Decimal("0.000005"))
    expected = math.floor((usd(cap) - prompt_only[SONNET]) / out_rate)
    assert 16 <= expected < 1024
    fleet.apply(policy_yaml(per_request_usd=cap))
    r = ask(svc, next(qs))
    assert r.status_code == 200 and r.json()["model"] == SONNET, r.text
    assert fleet.fake.arrived[-1]["max_tokens"] == expected
    assert 0 < r.json()["cost_usd"] <= cap

    # Too small for the primary's prompt, enough for the cheaper fallback's.
    cap = float((prompt_only[SONNET] + prompt_only[HAIKU]) / 2)
    fleet.apply(policy_yaml(per_request_usd=cap))
    r = ask(svc, next(qs))
    assert r.status_code == 200 and r.json()["model"] == HAIKU, r.text
    assert r.json()["degraded"]["mode"] == "fallback_model"
    assert r.json()["degraded"]["reason"] == "budget_exhausted"
    assert "per-request limit" in r.json()["degraded"]["detail"]
    assert fleet.fake.arrived[-1]["model"] == HAIKU

    # Too small for any model's prompt: refused with the reason, nothing sent upstream.
    cap = float(prompt_only[HAIKU] / 2)
    upstream_calls = len(fleet.fake.arrived)
    fleet.apply(policy_yaml(per_request_usd=cap))
    r = ask(svc, next(qs))
    assert r.status_code == 429, r.text
    assert r.headers["x-budget-window"] == "per_request"
    assert r.json()["error"] == "budget_exhausted"
    assert "per_request" in r.json()["detail"] and "per-request limit" in r.json()["detail"]
    fleet.apply(policy_yaml(per_request_usd=cap, offline=True))
    r = ask(svc, next(qs))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "offline" and body["cost_usd"] == 0
    assert body["degraded"]["mode"] == "offline"
    assert body["degraded"]["reason"] == "budget_exhausted"
    assert "per-request limit" in body["degraded"]["detail"]
    assert len(fleet.fake.arrived) == upstream_calls
    assert window(svc)["reserved_usd"] == 0


def test_budget_lowered_below_spend_refuses_at_once_and_raised_readmits(fleet: Fleet) -> None:
    qs = iter(questions("b", 10))
    fleet.apply(policy_yaml(hourly_usd=10))
    for svc in fleet.replicas:
        r = ask(svc, next(qs))
        assert r.status_code == 200 and r.json()["cost_usd"] > 0, r.text
    spent = window(fleet.replicas[0])["spent_usd"]
    upstream_calls = len(fleet.fake.arrived)

    fleet.apply(policy_yaml(hourly_usd=round(spent / 2, 9)))  # every replica runs it now
    for svc in fleet.replicas:
        r = ask(svc, next(qs))
        assert r.status_code == 429, r.text
        assert r.headers["x-budget-window"] == "hourly"
        hourly = window(svc)
        assert hourly["spent_usd"] == spent and hourly["remaining_usd"] == 0
    assert len(fleet.fake.arrived) == upstream_calls

    fleet.apply(policy_yaml(hourly_usd=10))
    for svc in fleet.replicas:
        r = ask(svc, next(qs))
        assert r.status_code == 200 and r.json()["model"] == SONNET, r.text
    assert len(fleet.fake.arrived) == upstream_calls + len(fleet.replicas)


def test_redis_outage_fails_paid_calls_closed_serves_cache_and_recovers(fleet: Fleet) -> None:
    svc = fleet.replicas[0]
    qs = iter(questions("o", 10))
    fleet.apply(policy_yaml())
    cached_question = next(qs)
    first = ask(svc, cached_question)
    assert first.status_code == 200 and first.json()["cost_usd"] > 0
    spent_before = window(svc)["spent_usd"]
    upstream_calls = len(fleet.fake.arrived)

    fleet.redis.stop()
    r = ask(svc, next(qs))
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "ledger_unavailable" and "retry-after" in r.headers
    again = ask(svc, cached_question)
    assert again.status_code == 200, again.text
    assert again.json()["cached"] is True and again.json()["answer"] == first.json()["answer"]
    health = ready(svc)
    assert health.status_code == 200
    assert health.json()["ledger"].startswith("unavailable")
    r = httpx.get(svc.url + "/cost", timeout=30)
    assert r.status_code == 503 and r.json()["error"] == "ledger_unavailable"

    fleet.apply(policy_yaml(offline=True))
    r = ask(svc, next(qs))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "offline" and body["cost_usd"] == 0
    assert body["degraded"]["mode"] == "offline"
    assert body["degraded"]["reason"] == "ledger_unavailable"
    assert len(fleet.fake.arrived) == upstream_calls  # nothing paid while the ledger was down

    fleet.redis.restart()  # same port, same data (AOF): the service is not restarted
    wait_until(lambda: ready(svc).json()["ledger"] == "ok", timeout=30, what="ledger back")
    r = ask(svc, next(qs))
    assert r.status_code == 200, r.text
    assert r.json()["model"] == SONNET and r.json()["degraded"] is None
    assert window(svc)["spent_usd"] == pytest.approx(
        spent_before + r.json()["cost_usd"], abs=1e-9)
