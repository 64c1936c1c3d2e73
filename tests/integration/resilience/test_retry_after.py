"""429 with `retry-after`: the model is left alone until the upstream said to come back, and the
answers degrade meanwhile ("honouring retry-after"; issue 5: "do not hammer")."""

from __future__ import annotations

import pytest

from tests.integration.resilience.conftest import (
    FALLBACK,
    PRIMARY,
    InProcessFactory,
    metric_value,
    question,
)

pytestmark = pytest.mark.integration

RETRY_AFTER_SECONDS = 20


async def test_rate_limited_model_is_held_off_until_retry_after_elapses(
    in_process: InProcessFactory,
) -> None:
    async with in_process() as svc:
        svc.fake.fail(429, retry_after=RETRY_AFTER_SECONDS, model=PRIMARY)
        first = (await svc.ask(question(0))).json()
        assert first["model"] == FALLBACK
        assert first["degraded"] == {"mode": "fallback_model", "reason": "upstream_error",
                                     "detail": first["degraded"]["detail"]}
        assert "429" in first["degraded"]["detail"]
        assert svc.upstream_calls(PRIMARY) == 1

        snap = (await svc.client.get("/circuit-breaker")).json()["breakers"][PRIMARY]
        assert snap["state"] == "closed"  # one failure does not open it; the hold-off does refuse
        assert snap["retry_in_seconds"] == RETRY_AFTER_SECONDS
        for k, step in enumerate((1, 10, RETRY_AFTER_SECONDS - 11 - 0.5)):
            svc.advance(step)
            held = (await svc.ask(question(1 + k))).json()
            assert held["model"] == FALLBACK
            assert held["degraded"]["reason"] == "circuit_open"
            assert "retry-after" in held["degraded"]["detail"]
        assert svc.upstream_calls(PRIMARY) == 1  # no call to it before retry-after elapsed

        svc.advance(0.5)
        back = (await svc.ask(question(9))).json()
        assert back["model"] == PRIMARY and back["degraded"] is None
        assert svc.upstream_calls(PRIMARY) == 2


async def test_every_model_rate_limited_degrades_to_offline_without_calls(
    in_process: InProcessFactory,
) -> None:
    async with in_process() as svc:
        svc.fake.fail(429, retry_after=RETRY_AFTER_SECONDS, count=2)  # primary, then fallback
        first = (await svc.ask(question(0))).json()
        assert first["degraded"]["mode"] == "offline"
        calls = svc.upstream_calls()
        assert calls == 2
        svc.advance(RETRY_AFTER_SECONDS - 1)
        held = (await svc.ask(question(1))).json()
        assert held["degraded"]["mode"] == "offline"
        assert svc.upstream_calls() == calls
        metrics = (await svc.client.get("/metrics")).text
        assert 'ai_upstream_requests_total{model="claude-sonnet-4-6",outcome="rate_limited"} 1.0' \
            in metrics


async def test_a_huge_retry_after_holds_only_up_to_the_policy_cap_and_is_visible(
    in_process: InProcessFactory,
) -> None:
    cap = 120
    async with in_process(breaker={"max_retry_after_seconds": cap}) as svc:
        svc.fake.fail(429, retry_after=10**9, model=PRIMARY)  # ~32 years
        first = (await svc.ask(question(0))).json()
        assert first["model"] == FALLBACK

        snap = (await svc.client.get("/circuit-breaker")).json()["breakers"][PRIMARY]
        assert snap["state"] == "closed"
        assert snap["hold_seconds"] == snap["retry_in_seconds"] == cap
        assert snap["held_until"] == "2026-11-27T07:02:00+00:00"  # the ManualClock's 07:00 + cap
        assert "capped at 120s" in snap["hold_reason"]
        metrics = (await svc.client.get("/metrics")).text
        assert metric_value(metrics, "ai_circuit_breaker_retry_after_hold_seconds",
                            model=PRIMARY) == cap
        assert metric_value(metrics, "ai_circuit_breaker_retry_after_hold_seconds",
                            model=FALLBACK) == 0

        svc.advance(cap - 1)
        held = (await svc.ask(question(1))).json()
        assert held["model"] == FALLBACK and held["degraded"]["reason"] == "circuit_open"
        metrics = (await svc.client.get("/metrics")).text
        assert metric_value(metrics, "ai_circuit_breaker_retry_after_hold_seconds",
                            model=PRIMARY) == 1
        svc.advance(1)
        back = (await svc.ask(question(2))).json()
        assert back["model"] == PRIMARY and back["degraded"] is None
        assert svc.upstream_calls(PRIMARY) == 2
        snap = (await svc.client.get("/circuit-breaker")).json()["breakers"][PRIMARY]
        assert (snap["hold_seconds"], snap["held_until"], snap["hold_reason"]) == (0, None, None)


@pytest.mark.parametrize("retry_after", ["inf", "nan", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_an_infinite_or_absurd_retry_after_never_breaks_a_route(
    in_process: InProcessFactory, retry_after: str
) -> None:
    # No free rung: what the client sees comes straight from the breakers and the upstream.
    async with in_process(degradation={"stale_cache": False, "offline": False}) as svc:
        svc.fake.fail(429, retry_after=retry_after, count=2)  # primary, then fallback
        first = await svc.ask(question(0))
        assert first.status_code == 502  # the upstream's error, as designed
        for path in ("/circuit-breaker", "/metrics", "/health/ready", "/cost"):
            assert (await svc.client.get(path)).status_code == 200, path
        second = await svc.ask(question(1))
        assert second.status_code in (200, 503), second.text
        if second.status_code == 503:  # held (the HTTP date): a bounded Retry-After
            assert 1 <= int(second.headers["retry-after"]) <= 300
        else:
            assert svc.upstream_calls(PRIMARY) == 2  # inf/nan are no hint: no hold


async def test_the_clients_retry_after_is_capped_as_the_breakers_hold_is(
    in_process: InProcessFactory,
) -> None:
    """No rung answers (no fallback, no free rungs): the 502 tells the client the capped wait,
    the same the next request's 503 tells it, not the upstream's "a year"."""
    async with in_process(breaker={"max_retry_after_seconds": 60},
                          routing={"default_model": PRIMARY, "fallback_model": None},
                          degradation={"offline": False, "stale_cache": False}) as svc:
        svc.fake.fail(429, retry_after=86400 * 365, model=PRIMARY)
        first = await svc.ask(question(0))
        assert (first.status_code, first.headers["retry-after"]) == (502, "60")
        held = await svc.ask(question(1))
        assert (held.status_code, held.headers["retry-after"]) == (503, "60")
