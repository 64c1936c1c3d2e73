"""A wrong ANTHROPIC_API_KEY is loud (issue 19): the real service under uvicorn, the real SDK,
and the fake Anthropic API that refuses any key but its own with 401.

Before: every answer degraded, /health/ready ready with nothing about it, breakers closed, and
no log line above INFO. Now: one ERROR line per model (rate-limited) naming the variable and
the fix, never the key; `upstream_auth` in /health/ready (the pod stays ready: decision in
app/api/routes/health.py); `auth_failing` in /circuit-breaker; the counter the alert reads."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.service_process import ServiceProcess
from tests.integration.resilience.conftest import FALLBACK, PRIMARY, metric_value, question

pytestmark = pytest.mark.integration

WRONG_KEY = "sk-ant-api03-WRONG-key-for-the-test-0123456789abcdefghijklmnop"
ASKS = 3


def test_a_refused_api_key_is_logged_reported_and_counted(tmp_path: Path) -> None:
    with fake_anthropic_process("--api-key", FAKE_API_KEY) as (url, fake):
        svc = ServiceProcess({"ANTHROPIC_API_KEY": WRONG_KEY, "ANTHROPIC_BASE_URL": url},
                             tmp_path, name="wrongkey")
        try:
            svc.start(ready_timeout=90)  # a busy 2-core machine
            with httpx.Client(base_url=svc.url, timeout=30) as client:
                for i in range(ASKS):
                    r = client.post("/ask", json={"question": question(i)})
                    assert r.status_code == 200, r.text
                    assert r.json()["degraded"] is not None
                ready = client.get("/health/ready")
                breakers = client.get("/circuit-breaker").json()["breakers"]
                metrics = client.get("/metrics").text
        finally:
            svc.stop()
        assert fake.stats()["by_outcome"].get("401", 0) >= ASKS
    logs = svc.logs()
    assert WRONG_KEY not in logs and WRONG_KEY[:20] not in logs

    # The pod stays ready (every replica shares the Secret), and says why answers are degraded.
    assert ready.status_code == 200
    auth = ready.json()["upstream_auth"]
    assert auth["state"] == "failing"
    assert PRIMARY in auth["models"] and auth["last_status"] == 401
    assert "ANTHROPIC_API_KEY" in auth["message"]

    primary = breakers[PRIMARY]
    assert primary["state"] == "closed"  # a refused key is not an upstream outage...
    assert primary["auth_failing"] is True  # ...but it is shown next to the breaker
    assert primary["auth_failures"] >= ASKS and primary["last_auth_failure_at"]

    refused = metric_value(metrics, "ai_upstream_requests_total", model=PRIMARY, outcome="auth")
    assert refused == primary["auth_failures"]

    errors = [json.loads(line) for line in logs.splitlines()
              if line.startswith("{") and '"level":"error"' in line]
    auth_errors = [e for e in errors if e["logger"] == "app.upstream_auth"]
    by_model = {e["model"] for e in auth_errors}
    assert PRIMARY in by_model and by_model <= {PRIMARY, FALLBACK}
    assert len(auth_errors) == len(by_model)  # once per model: the rest are held back
    first = auth_errors[0]
    assert first["setting"] == "ANTHROPIC_API_KEY" and first["status"] == 401
    assert "ANTHROPIC_API_KEY is rejected by the Anthropic API" in first["msg"]
    assert "invalid x-api-key" in first["error"]


def test_an_accepted_key_reports_upstream_auth_ok(tmp_path: Path) -> None:
    with fake_anthropic_process("--api-key", FAKE_API_KEY) as (url, _fake):
        svc = ServiceProcess({"ANTHROPIC_API_KEY": FAKE_API_KEY, "ANTHROPIC_BASE_URL": url},
                             tmp_path, name="rightkey")
        try:
            svc.start(ready_timeout=90)  # a busy 2-core machine
            with httpx.Client(base_url=svc.url, timeout=30) as client:
                assert client.post("/ask", json={"question": question(0)}).status_code == 200
                ready = client.get("/health/ready").json()
                breakers = client.get("/circuit-breaker").json()["breakers"]
        finally:
            svc.stop()
    assert ready["upstream_auth"] == {"state": "ok"}
    assert breakers[PRIMARY]["auth_failing"] is False
    assert '"level":"error"' not in svc.logs()
