"""A typo in SRE_AI_REDIS_URL's host used to start as a quiet `started ledger=redis`. Now the
ledger is pinged at start-up: unreachable is a WARN that names the variable, shows the URL with
its password redacted and says what it means; the pod still starts (Redis may come later)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.fakes.service_process import ServiceProcess, free_port

pytestmark = pytest.mark.integration

PASSWORD = "hunter2-redis-secret"


def test_an_unreachable_redis_at_startup_is_a_warning_naming_the_variable(
    tmp_path: Path,
) -> None:
    closed = free_port()  # nothing listens there
    svc = ServiceProcess({"SRE_AI_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{closed}/0"},
                         tmp_path, name="noredis")
    try:
        svc.start(ready_timeout=90)
        assert httpx.get(svc.url + "/health/live", timeout=10).status_code == 200
    finally:
        svc.stop()
    logs = svc.logs()
    assert PASSWORD not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    warnings = [x for x in lines if x["level"] == "warning" and x.get("setting") ==
                "SRE_AI_REDIS_URL"]
    assert len(warnings) == 1, logs
    warn = warnings[0]
    assert "SRE_AI_REDIS_URL is unreachable at start-up" in warn["msg"]
    assert "paid answers are refused" in warn["msg"]
    assert warn["redis_url"] == f"redis://:***@127.0.0.1:{closed}/0"
    assert str(closed) in warn["error"]
    started = next(x for x in lines if x["msg"] == "started")
    assert started["ledger"] == "redis" and started["ledger_reachable"] is False
