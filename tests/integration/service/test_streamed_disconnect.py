"""A streamed answer whose client hangs up, against the real service under uvicorn (the real
server's disconnect, not a simulated one) with the real SDK and the fake Anthropic process:
the paid call is cancelled at once (not at the timeout), settled at its worst case, nothing
stays reserved and nothing is cached. And a stream whose upstream goes quiet keeps its
connection alive with comment lines that reach the client through the real server."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.anthropic_control import FakeAnthropicControl, fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.resilience.conftest import PRIMARY, metric_value, question, write_policy

pytestmark = pytest.mark.integration

TIMEOUT_SECONDS = 60.0  # far beyond the test's waits: only the disconnect can end the call
SETTLED_WITHIN_SECONDS = 15.0
KEEPALIVE_SECONDS = 0.2  # short, so the test sees several; production's default is 15


@pytest.fixture(scope="module")
def service_on_fake(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServiceProcess, FakeAnthropicControl]]:
    workdir = tmp_path_factory.mktemp("stream")
    policy = write_policy(workdir / "policy.yaml", llm={"timeout_seconds": TIMEOUT_SECONDS},
                          breaker={"slow_call_duration_seconds": 120})
    with fake_anthropic_process() as (url, control):
        svc = ServiceProcess({"ANTHROPIC_API_KEY": FAKE_API_KEY, "ANTHROPIC_BASE_URL": url,
                              "SRE_AI_POLICY_FILE": str(policy),
                              "SRE_AI_STREAM_KEEPALIVE_SECONDS": str(KEEPALIVE_SECONDS)},
                             workdir, name="stream")
        svc.start(ready_timeout=60)
        try:
            yield svc, control
        finally:
            svc.stop()


def hourly(client: httpx.Client) -> dict[str, Any]:
    windows = client.get("/cost").json()["windows"]
    found: dict[str, Any] = next(w for w in windows if w["window"] == "hourly")
    return found


def cut_calls(client: httpx.Client) -> float:
    """Paid calls settled at their worst case because the request went away (0 before any)."""
    value = metric_value(client.get("/metrics").text, "ai_estimated_settlements_total",
                         model=PRIMARY, reason="cancelled")
    return 0.0 if math.isnan(value) else value


def wait_settled(client: httpx.Client, cut_before: float) -> None:
    """The one call cut since `cut_before` was read settles, and nothing stays reserved."""
    wait_until(lambda: cut_calls(client) == cut_before + 1, timeout=SETTLED_WITHIN_SECONDS,
               what="the cut call settled")
    assert hourly(client)["reserved_usd"] == 0


def test_a_client_that_hangs_up_mid_stream_ends_the_paid_call_and_leaks_nothing(
    service_on_fake: tuple[ServiceProcess, FakeAnthropicControl],
) -> None:
    svc, fake = service_on_fake
    fake.reset()
    fake.fail(model=PRIMARY, hang_after_deltas=2)
    q = question(7)
    with httpx.Client(base_url=svc.url, timeout=30) as client:
        cut_before = cut_calls(client)
        events: list[str] = []
        with client.stream("POST", "/ask", json={"question": q, "stream": True}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))
                if events.count("delta") == 2:
                    break  # leaving the block closes the connection: the client is gone
        assert events == ["sources", "delta", "delta"]
        wait_settled(client, cut_before)
        assert hourly(client)["spent_usd"] > 0
        assert fake.stats()["in_flight"] == 0  # the service hung up on the upstream too
        again = client.post("/ask", json={"question": q}).json()
        assert again["cached"] is False and again["model"] == PRIMARY
    assert fake.stats()["by_model"] == {PRIMARY: 2}


def test_a_stream_whose_upstream_goes_quiet_sends_keepalives_until_the_client_leaves(
    service_on_fake: tuple[ServiceProcess, FakeAnthropicControl],
) -> None:
    svc, fake = service_on_fake
    fake.reset()
    fake.fail(model=PRIMARY, hang_after_deltas=2)
    q = question(8)
    # A read timeout well under the call's own: without keep-alives the silent stream fails
    # the test here instead of being ended by the upstream timeout.
    with httpx.Client(base_url=svc.url, timeout=httpx.Timeout(30, read=10)) as client:
        cut_before = cut_calls(client)
        events: list[str] = []
        quiet = 0  # keep-alives since the upstream went silent (after its second delta)
        with client.stream("POST", "/ask", json={"question": q, "stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))
                elif line == ": keep-alive" and events.count("delta") == 2:
                    quiet += 1
                if quiet == 3:
                    break  # three intervals of silence, each kept alive: the client gives up
        # comment lines: an SSE client sees no event in them
        assert events == ["sources", "delta", "delta"]
        wait_settled(client, cut_before)
        assert fake.stats()["in_flight"] == 0
