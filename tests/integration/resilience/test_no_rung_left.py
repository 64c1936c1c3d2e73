"""With the free rungs switched off and nothing cached, the ladder ends in an error that says
what to do: breaker open -> 503 with Retry-After; upstream failing -> 502 (docs/architecture.md)."""

from __future__ import annotations

import pytest

from tests.integration.resilience.conftest import (
    FALLBACK,
    PRIMARY,
    WAIT_IN_OPEN_SECONDS,
    InProcessFactory,
    question,
)

pytestmark = pytest.mark.integration

NO_FREE_RUNGS = {"offline": False, "stale_cache": False}


async def test_upstream_errors_are_502_then_open_breakers_are_503_with_retry_after(
    in_process: InProcessFactory,
) -> None:
    async with in_process(degradation=NO_FREE_RUNGS) as svc:
        svc.fake.fail(500, until_cleared=True)
        i = 0
        while svc.state(PRIMARY) != "open" or svc.state(FALLBACK) != "open":
            assert i < 10, "the breakers never opened"
            r = await svc.ask(question(i))
            i += 1
            assert r.status_code == 502
            body = r.json()
            assert body["error"] == "upstream_error"
            assert "500" in body["detail"]
            assert body["request_id"] == r.headers["x-request-id"]
        svc.fake.clear_faults()
        calls = svc.upstream_calls()

        r = await svc.ask(question(i))
        assert r.status_code == 503
        assert r.headers["retry-after"] == str(int(WAIT_IN_OPEN_SECONDS))
        body = r.json()
        assert body["error"] == "service_unavailable"
        assert "circuit open" in body["detail"]
        assert body["request_id"] == r.headers["x-request-id"]

        svc.advance(WAIT_IN_OPEN_SECONDS - 3.5)
        r = await svc.ask(question(i + 1))
        assert (r.status_code, r.headers["retry-after"]) == (503, "4")  # rounded up
        assert svc.upstream_calls() == calls
        metrics = (await svc.client.get("/metrics")).text
        assert 'ai_requests_total{endpoint="/ask",status="503"} 2.0' in metrics


async def test_a_fresh_cached_answer_still_beats_the_503_a_stale_one_does_not(
    in_process: InProcessFactory,
) -> None:
    async with in_process(degradation=NO_FREE_RUNGS, cache={"ttl_seconds": 60},
                          breaker={"wait_in_open_seconds": 3600}) as svc:
        svc.fake.fail(500, model=PRIMARY)
        assert (await svc.ask(question(0))).json()["model"] == FALLBACK  # cached under FALLBACK
        svc.fake.fail(500, until_cleared=True)
        i = 1
        while svc.state(PRIMARY) != "open" or svc.state(FALLBACK) != "open":
            assert i < 10, "the breakers never opened"
            await svc.ask(question(i))
            i += 1
        r = await svc.ask(question(0))
        assert r.status_code == 200
        assert r.json()["degraded"]["mode"] == "cached"
        svc.advance(61)  # stale now, and degradation.stale_cache is off
        r = await svc.ask(question(0))
        assert r.status_code == 503 and r.json()["error"] == "service_unavailable"
