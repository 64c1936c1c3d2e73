"""What counts against a breaker, end to end through the real SDK (docs/architecture.md): 5xx, 529
overloaded, 429, a dropped connection and a 200 that is not a Message are upstream failures;
a 4xx caused by the request is not. Either way the client gets an answer from the fallback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.resilience.conftest import FALLBACK, PRIMARY, InProcessFactory, question

pytestmark = pytest.mark.integration

WINDOW = 4  # minimum_calls and window_size of the test policy


@pytest.mark.parametrize(
    ("fault", "outcome", "opens"),
    [
        ({"status": 500}, "server_error", True),
        ({"status": 529}, "overloaded", True),
        ({"status": 429}, "rate_limited", True),  # no retry-after: a failure, no hold-off
        ({"reset": True}, "connection", True),
        ({"garbage": True}, "server_error", True),
        ({"status": 400}, "bad_request", False),
        ({"status": 413}, "bad_request", False),
    ],
    ids=["500", "529", "429", "reset", "garbage", "400", "413"],
)
async def test_which_upstream_errors_count_against_the_breaker(
    in_process: InProcessFactory, fault: dict[str, Any], outcome: str, opens: bool
) -> None:
    async with in_process() as svc:
        svc.fake.fail(model=PRIMARY, count=WINDOW, **fault)
        for k in range(WINDOW):
            body = (await svc.ask(question(k))).json()
            assert body["model"] == FALLBACK
            assert body["degraded"]["mode"] == "fallback_model"
            assert body["degraded"]["reason"] == "upstream_error"
        assert svc.sample("ai_upstream_requests_total", model=PRIMARY, outcome=outcome) == WINDOW
        snap = (await svc.client.get("/circuit-breaker")).json()["breakers"][PRIMARY]
        if opens:
            assert (snap["state"], snap["failed_calls"], snap["failure_rate"]) == (
                "open", WINDOW, 100.0)
        else:
            assert (snap["state"], snap["calls_in_window"]) == ("closed", 0)
            # and the primary is still asked: the next request reaches it
            assert (await svc.ask(question(WINDOW))).json()["model"] == PRIMARY
