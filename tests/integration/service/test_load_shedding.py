"""A replica at its in-flight limit (SRE_AI_MAX_IN_FLIGHT, app/api/load_shedding.py) sheds the
routes that do paid work at once, with a JSON 503 the client can act on, and stays alive and
ready; the slots come back when the requests holding them end. On the console script under
uvicorn, against the fake Anthropic API in its own process, slowed so two paid calls hold the
two slots while the rest of the test runs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.money.conftest import policy_yaml

pytestmark = pytest.mark.integration

LIMIT = 2
# Long enough for every check below to run while both slots are held, on a loaded machine;
# the test waits for the held calls to end, never for a time.
UPSTREAM_DELAY_SECONDS = 6.0


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url + "/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_replica_at_its_limit_sheds_paid_routes_at_once_and_stays_ready(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_yaml(timeout_seconds=60))
    with fake_anthropic_process() as (fake_url, fake):
        env = {"ANTHROPIC_API_KEY": FAKE_API_KEY, "ANTHROPIC_BASE_URL": fake_url,
               "SRE_AI_POLICY_FILE": str(policy), "SRE_AI_MAX_IN_FLIGHT": str(LIMIT)}
        svc = ServiceProcess(env, tmp_path, name="shedding")
        svc.start(ready_timeout=60)
        try:
            fake.fail(delay_seconds=UPSTREAM_DELAY_SECONDS, count=LIMIT)
            held: list[httpx.Response] = []
            askers = [threading.Thread(target=lambda i=i: held.append(httpx.post(
                svc.url + "/ask", json={"question": f"pod OOMKilled, what now? (held {i})"},
                timeout=60))) for i in range(LIMIT)]
            for t in askers:
                t.start()
            wait_until(lambda: fake.stats()["in_flight"] == LIMIT, timeout=30,
                       what="both paid calls in flight at the fake")

            shed = httpx.post(svc.url + "/ask", json={"question": "node NotReady, what now?"},
                              timeout=10)
            assert shed.status_code == 503, shed.text
            body = shed.json()
            assert body["error"] == "overloaded" and f"limit of {LIMIT}" in body["detail"]
            assert body["request_id"] == shed.headers["x-request-id"]
            assert shed.headers["retry-after"] == "1"
            assert shed.headers["connection"] == "close"
            # A stream asked for gets the same JSON 503 (no stream was started), and so does
            # Alertmanager's webhook: shed before its body is even parsed.
            streamed = httpx.post(svc.url + "/ask", json={"question": "disk full?", "stream": True},
                                  headers={"Accept": "text/event-stream"}, timeout=10)
            assert streamed.status_code == 503 and streamed.json()["error"] == "overloaded"
            alerts = httpx.post(svc.url + "/alerts", content=b"{}", timeout=10,
                                headers={"Content-Type": "application/json"})
            assert alerts.status_code == 503 and alerts.json()["error"] == "overloaded"

            for path in ("/health/live", "/health/ready", "/cost", "/circuit-breaker"):
                assert httpx.get(svc.url + path, timeout=10).status_code == 200, path
            got = samples(svc.url)
            assert got[("ai_requests_shed_total", (("endpoint", "/ask"),))] == 2
            assert got[("ai_requests_shed_total", (("endpoint", "/alerts"),))] == 1
            assert got[("ai_requests_total", (("endpoint", "/ask"), ("status", "503")))] == 2
            assert got[("ai_in_flight_limit", ())] == LIMIT
            assert fake.stats()["total"] == LIMIT  # nothing shed reached Anthropic
            assert fake.stats()["in_flight"] == LIMIT  # and the held calls still run

            for t in askers:
                t.join(timeout=60)
            assert [r.status_code for r in held] == [200] * LIMIT, [r.text for r in held]
            # Their slots are free again.
            after = httpx.post(svc.url + "/ask", json={"question": "node NotReady, what now?"},
                               timeout=30)
            assert after.status_code == 200, after.text
        finally:
            svc.stop()
    lines = [json.loads(line) for line in svc.logs().splitlines() if line.startswith("{")]
    shed_lines = [x for x in lines if x.get("msg") == "request" and x.get("status") == 503]
    assert [x["endpoint"] for x in shed_lines] == ["/ask", "/ask", "/alerts"], shed_lines
    assert shed_lines[0]["request_id"] == body["request_id"]
