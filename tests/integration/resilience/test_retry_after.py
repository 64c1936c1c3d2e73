"""429 with `retry-after`: the model is left alone until the upstream said to come back, and the
answers degrade meanwhile (DESIGN §4: "honouring retry-after"; issue 5: "do not hammer")."""

from __future__ import annotations

import pytest

from tests.integration.resilience.conftest import (
    FALLBACK,
    PRIMARY,
    InProcessFactory,
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
