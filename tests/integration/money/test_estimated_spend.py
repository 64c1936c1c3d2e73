"""Billed but not recorded (issue "the ledger misses money that Anthropic bills", bug 1).

A call that was SENT and ended without usage (timeout, connection dropped mid-response, request
cancelled while in flight) may be billed by Anthropic: it is settled at its reserved worst case,
flagged as estimated in the /ask JSON, the summary log line and the metrics. Errors that prove
nothing was billed (never connected, an error status from the upstream) stay released at $0.

The real service in process (ManualClock) with the real SDK against the fake Anthropic API and
the real SQLite ledger; the worst case is recomputed here from what the fake received.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from app.budget.pricing import nano_to_usd, usd_to_nano, worst_case_usd
from tests.fakes.anthropic_server import FakeAnthropic
from tests.integration.money.conftest import estimated_input_tokens
from tests.integration.resilience.conftest import (
    FALLBACK,
    PRIMARY,
    InProcessFactory,
    InProcessService,
    question,
    summary_line,
)

pytestmark = pytest.mark.integration

ONE_SECOND = {"timeout_seconds": 1}


class ArrivalFake(FakeAnthropic):
    """Says when a call has arrived (so it is in flight): the test waits on an event."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.arrived.set()
        return await super()._answer(request)


@pytest_asyncio.fixture
async def fake_anthropic() -> AsyncIterator[ArrivalFake]:
    """This module's fake (in_process picks it up by name)."""
    async with ArrivalFake() as fake:
        yield fake


def reserved_worst_case(svc: InProcessService, model: str) -> float:
    """What the ledger reserved for the (last) call the fake received for `model`."""
    call = [r for r in svc.fake.requests if r["model"] == model][-1]
    price = svc.runtime.policies.current.policy.models[model]
    tokens_in = estimated_input_tokens(call)
    usd = worst_case_usd(tokens_in, call["max_tokens"], price, prompt_caching=True)
    return nano_to_usd(usd_to_nano(usd))


async def hourly(svc: InProcessService) -> dict[str, Any]:
    body = (await svc.client.get("/cost")).json()
    found: dict[str, Any] = next(w for w in body["windows"] if w["window"] == "hourly")
    return found


@pytest.mark.parametrize(
    ("fault", "reason"),
    [({"hang": True}, "timeout"), ({"trickle": True}, "timeout"),
     ({"reset": True}, "connection"),
     ({"truncated": True}, "server_error")],  # the API's 200, its JSON cut short
    ids=["hang", "trickle-after-headers", "reset-mid-request", "truncated-json"],
)
async def test_a_sent_call_without_usage_is_settled_at_its_worst_case(
    in_process: InProcessFactory, caplog: pytest.LogCaptureFixture, fault: dict[str, Any],
    reason: str,
) -> None:
    caplog.set_level(logging.INFO)
    async with in_process(llm=ONE_SECOND) as svc:
        svc.fake.fail(model=PRIMARY, **fault)
        r = await svc.ask(question(0))
        assert r.status_code == 200
        body = r.json()
        assert body["model"] == FALLBACK  # the fallback answered, the primary may be billed
        estimated = reserved_worst_case(svc, PRIMARY)
        assert estimated > 0
        assert body["cost_estimated"] is True
        fallback_cost = svc.sample("ai_cost_usd_total", model=FALLBACK)
        assert fallback_cost > 0
        assert body["cost_usd"] == pytest.approx(estimated + fallback_cost, abs=1e-9)
        # the ledger holds it as spend, nothing is left reserved
        window = await hourly(svc)
        assert window["spent_usd"] == pytest.approx(estimated + fallback_cost, abs=1e-9)
        assert window["reserved_usd"] == 0
        assert svc.sample("ai_cost_estimated_usd_total", model=PRIMARY) == pytest.approx(estimated)
        assert svc.sample("ai_cost_usd_total", model=PRIMARY) == pytest.approx(estimated)
        assert svc.sample("ai_estimated_settlements_total", model=PRIMARY, reason=reason) == 1
        line = summary_line(caplog)
        assert line["cost_estimated"] is True and line["estimate_reason"] == reason
        assert line["estimated_cost_usd"] == pytest.approx(estimated)
        assert line["cost_usd"] == pytest.approx(body["cost_usd"])


@pytest.mark.parametrize(
    "status", [400, 401, 429, 500, 529], ids=lambda s: str(s))
async def test_an_error_status_from_the_upstream_is_released_at_zero(
    in_process: InProcessFactory, status: int
) -> None:
    async with in_process() as svc:
        svc.fake.fail(status, model=PRIMARY)
        body = (await svc.ask(question(1))).json()
        assert body["model"] == FALLBACK and body["cost_estimated"] is False
        fallback_cost = svc.sample("ai_cost_usd_total", model=FALLBACK)
        assert body["cost_usd"] == pytest.approx(fallback_cost, abs=1e-9)
        window = await hourly(svc)
        assert window["spent_usd"] == pytest.approx(fallback_cost, abs=1e-9)
        assert window["reserved_usd"] == 0
        assert svc.sample("ai_cost_usd_total", model=PRIMARY) == 0
        assert svc.sample("ai_cost_estimated_usd_total", model=PRIMARY) == 0


async def test_a_connection_never_made_is_released_at_zero(
    in_process: InProcessFactory
) -> None:
    async with in_process() as svc:
        await svc.fake.stop()  # nothing listens on the port any more: connection refused
        body = (await svc.ask(question(2))).json()
        assert body["model"] == "offline" and body["cost_estimated"] is False
        assert body["cost_usd"] == 0
        window = await hourly(svc)
        assert (window["spent_usd"], window["reserved_usd"]) == (0, 0)
        assert svc.sample("ai_upstream_requests_total", model=PRIMARY, outcome="connection") == 1


async def test_a_request_cancelled_while_its_call_is_in_flight_is_settled(
    in_process: InProcessFactory
) -> None:
    """The HTTP client went away (or shutdown): the handler is cancelled mid-call. The call
    was sent; the settle at the worst case runs shielded, to the end."""
    async with in_process(llm={"timeout_seconds": 30}) as svc:
        svc.fake.fail(model=PRIMARY, hang=True)
        assert isinstance(svc.fake, ArrivalFake)
        task = asyncio.create_task(svc.ask(question(3)))
        async with asyncio.timeout(10):
            await svc.fake.arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        estimated = reserved_worst_case(svc, PRIMARY)
        assert svc.sample("ai_estimated_settlements_total", model=PRIMARY,
                          reason="cancelled") == 1
        window = await hourly(svc)
        assert window["spent_usd"] == pytest.approx(estimated, abs=1e-9)
        assert window["reserved_usd"] == 0
        assert svc.sample("ai_cost_estimated_usd_total", model=PRIMARY) == pytest.approx(estimated)
        assert svc.fake.stats["by_model"].get(FALLBACK, 0) == 0


async def test_when_no_rung_answers_the_estimated_spend_is_still_recorded_and_logged(
    in_process: InProcessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Both models drop the connection mid-request and no free rung is allowed: the client
    gets the error, and both calls are in the ledger and in the request's summary line."""
    caplog.set_level(logging.INFO)
    async with in_process(degradation={"offline": False, "stale_cache": False}) as svc:
        svc.fake.fail(reset=True, count=2)
        r = await svc.ask(question(4))
        assert r.status_code == 502 and r.json()["error"] == "upstream_error"
        both = reserved_worst_case(svc, PRIMARY) + reserved_worst_case(svc, FALLBACK)
        window = await hourly(svc)
        assert window["spent_usd"] == pytest.approx(both, abs=1e-9)
        assert window["reserved_usd"] == 0
        line = summary_line(caplog)
        assert line["status"] == 502 and line["cost_estimated"] is True
        assert line["estimated_cost_usd"] == pytest.approx(both, abs=1e-9)
