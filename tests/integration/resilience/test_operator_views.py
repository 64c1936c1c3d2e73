"""What an operator sees of the breakers: /health/ready stays 200 while a breaker is OPEN and
reports the states; /circuit-breaker shows the numbers; rate-limit headroom gauges
follow Anthropic's `anthropic-ratelimit-*` headers."""

from __future__ import annotations

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


async def test_ready_stays_200_while_open_and_circuit_breaker_shows_the_numbers(
    in_process: InProcessFactory,
) -> None:
    async with in_process() as svc:
        assert (await svc.ask(question(0))).json()["model"] == PRIMARY  # 1 success
        svc.fake.fail(500, model=PRIMARY, until_cleared=True)
        for k in range(1, 4):  # 3 failures: 3 of 4 calls failed = 75% >= 50%
            assert (await svc.ask(question(k))).status_code == 200
        assert svc.state(PRIMARY) == "open"

        ready = await svc.client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"
        assert ready.json()["circuit_breaker"] == {PRIMARY: "open", FALLBACK: "closed"}

        svc.advance(4)
        breakers = (await svc.client.get("/circuit-breaker")).json()["breakers"]
        primary, fallback = breakers[PRIMARY], breakers[FALLBACK]
        assert primary["state"] == "open"
        assert primary["failure_rate"] == 75.0
        assert primary["slow_call_rate"] == 0.0
        assert primary["calls_in_window"] == 4
        assert primary["failed_calls"] == 3
        assert primary["retry_in_seconds"] == WAIT_IN_OPEN_SECONDS - 4
        assert fallback["state"] == "closed"
        assert fallback["calls_in_window"] == 3
        assert fallback["failure_rate"] is None  # fewer calls than minimum_calls: not known yet
        assert fallback["retry_in_seconds"] == 0

        svc.advance(WAIT_IN_OPEN_SECONDS)
        ready = (await svc.client.get("/health/ready")).json()
        assert ready["circuit_breaker"][PRIMARY] == "half_open"
        metrics = (await svc.client.get("/metrics")).text
        assert metric_value(metrics, "ai_circuit_breaker_state",
                            model=PRIMARY, state="half_open") == 1


async def test_slow_replies_open_the_breaker_on_the_slow_call_rate(
    in_process: InProcessFactory,
) -> None:
    # Real time here: the breaker times the call; the fake answers 200, just late.
    async with in_process(real_time=True, breaker={"slow_call_duration_seconds": 0.3,
                                                   "slow_call_rate_threshold": 75}) as svc:
        svc.fake.fail(delay_seconds=0.4, model=PRIMARY, count=4)
        for k in range(4):
            body = (await svc.ask(question(k))).json()
            assert body["model"] == PRIMARY and body["degraded"] is None  # slow, not failed
        snap = (await svc.client.get("/circuit-breaker")).json()["breakers"][PRIMARY]
        assert snap["state"] == "open"
        assert (snap["slow_call_rate"], snap["failure_rate"]) == (100.0, 0.0)
        assert (snap["slow_calls"], snap["failed_calls"]) == (4, 0)
        after = (await svc.ask(question(4))).json()
        assert after["model"] == FALLBACK and after["degraded"]["reason"] == "circuit_open"


async def test_ratelimit_headroom_gauges_follow_the_response_headers(
    in_process: InProcessFactory,
) -> None:
    async with in_process() as svc:
        svc.fake.set_rate_limit("requests", limit=50, remaining=7)
        svc.fake.set_rate_limit("tokens", limit=100_000, remaining=90_000)
        await svc.ask(question(0))
        requests_left = svc.fake.rate_limits.headers()["anthropic-ratelimit-requests-remaining"]
        tokens_left = svc.fake.rate_limits.headers()["anthropic-ratelimit-tokens-remaining"]
        assert int(requests_left) == 6  # the fake counts down per call
        metrics = (await svc.client.get("/metrics")).text

        def gauge(name: str, kind: str) -> float:
            return metric_value(metrics, name, model=PRIMARY, kind=kind)

        assert gauge("ai_upstream_ratelimit_limit", "requests") == 50
        assert gauge("ai_upstream_ratelimit_remaining", "requests") == 6
        assert gauge("ai_upstream_ratelimit_limit", "tokens") == 100_000
        assert gauge("ai_upstream_ratelimit_remaining", "tokens") == float(tokens_left) < 90_000

        svc.fake.set_rate_limit("requests", limit=50, remaining=1)
        await svc.ask(question(1))
        metrics = (await svc.client.get("/metrics")).text
        assert gauge("ai_upstream_ratelimit_remaining", "requests") == 0
