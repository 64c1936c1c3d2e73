"""The real service with SRE_AI_API_KEYS_FILE configured but the file missing (what a wrong
`auth.existingSecretKey` produces): protected routes fail closed with a clear JSON 503, the pod
is not ready and says why, the metrics and the log say so; writing the file fixes it live."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.fakes.service_process import ServiceProcess, wait_until

pytestmark = pytest.mark.integration

Start = Callable[..., ServiceProcess]
PROTECTED = (("post", "/ask"), ("get", "/cost"), ("get", "/circuit-breaker"))


def _metric(text: str, series: str) -> float:
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(series)))


def test_missing_keys_file_denies_until_it_appears(service_factory: Start, tmp_path: Path) -> None:
    keys_file = tmp_path / "secret" / "api-keys"
    svc = service_factory({"SRE_AI_API_KEYS_FILE": str(keys_file),
                           "SRE_AI_WATCH_INTERVAL_SECONDS": "0.2"})
    for method, path in PROTECTED:
        for headers in ({}, {"Authorization": "Bearer guess"}):
            r = httpx.request(method, svc.url + path, json={"question": "oom"},
                              headers={**headers, "X-Request-ID": f"deny-{path[1:]}"})
            assert r.status_code == 503, (path, r.text)
            body = r.json()
            assert body["error"] == "auth_unavailable" and "API keys" in body["detail"]
            assert body["request_id"] == r.headers["x-request-id"] == f"deny-{path[1:]}"
            assert r.headers["retry-after"] == "30"

    ready = httpx.get(svc.url + "/health/ready")
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
    keys = ready.json()["api_keys"]
    assert keys["state"] == "deny_all" and keys["loaded"] == 0
    assert str(keys_file) in keys["last_error"]
    assert httpx.get(svc.url + "/health/live").status_code == 200

    text = httpx.get(svc.url + "/metrics").text
    assert _metric(text, 'ai_auth_state{state="deny_all"}') == 1
    assert _metric(text, 'ai_auth_state{state="open"}') == 0
    assert _metric(text, "ai_api_keys_loaded ") == 0
    assert _metric(text, 'ai_config_reloads_total{kind="api_keys",result="error"}') == 1

    lines = [json.loads(line) for line in svc.logs().splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["logger"] == "app.auth" and line["level"] == "error"]
    assert len(errors) == 1 and str(keys_file) in errors[0]["reason"]
    assert not any("open to anyone" in line["msg"] for line in lines)

    keys_file.parent.mkdir()
    keys_file.write_text("oncall=s3cret-key\n", encoding="utf-8")
    wait_until(lambda: httpx.get(svc.url + "/health/ready").status_code == 200, timeout=10,
               what="readiness once the keys file exists")
    for method, path in PROTECTED:
        r = httpx.request(method, svc.url + path, json={"question": "oom"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = httpx.request(method, svc.url + path, json={"question": "oom"},
                          headers={"Authorization": "Bearer s3cret-key"})
        assert r.status_code == 200
    assert _metric(httpx.get(svc.url + "/metrics").text, 'ai_auth_state{state="enforced"}') == 1
    assert "s3cret-key" not in svc.logs()
