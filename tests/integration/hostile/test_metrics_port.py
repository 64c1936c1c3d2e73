"""`/metrics` on a port of its own (issue 17): SRE_AI_METRICS_PORT starts a second listener in
the service process; the API port's /metrics then answers 404, so the public Service need not
carry spend. The real service under uvicorn, as in production."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.fakes.service_process import REPO_ROOT, ServiceProcess, free_port

pytestmark = pytest.mark.integration


def test_metrics_are_served_on_their_own_port_and_not_on_the_api_port(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    port = free_port()
    svc = service_factory({"SRE_AI_METRICS_PORT": str(port),
                           "SRE_AI_METRICS_HOST": "127.0.0.1"})
    asked = httpx.post(svc.url + "/ask", json={"question": "pod OOMKilled what now"}, timeout=30)
    assert asked.status_code == 200
    on_api_port = httpx.get(svc.url + "/metrics", timeout=10)
    assert on_api_port.status_code == 404
    assert on_api_port.json()["error"] == "not_found"
    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    # the API port's traffic is in it, and the gauges were refreshed from the ledger
    assert 'ai_requests_total{endpoint="/ask",status="200"} 1.0' in scraped.text
    assert "ai_budget_remaining_usd" in scraped.text
    # the metrics port serves nothing else
    assert httpx.get(f"http://127.0.0.1:{port}/cost", timeout=10).status_code == 404
    assert httpx.post(f"http://127.0.0.1:{port}/ask", json={"question": "x"},
                      timeout=10).status_code in (404, 405)
    svc.stop()  # SIGTERM: both listeners close, the lifespan completes
    logs = svc.logs()
    assert "Application shutdown complete." in logs and '"level":"error"' not in logs, logs
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_without_the_setting_metrics_stay_on_the_api_port(
    service_factory: Callable[..., ServiceProcess],
) -> None:
    svc = service_factory()
    assert httpx.get(svc.url + "/metrics", timeout=10).status_code == 200


def test_a_metrics_port_in_use_fails_the_start_naming_the_variable(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(free_port())],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT),
                 "HOME": str(tmp_path), "SRE_AI_LEDGER_PATH": str(tmp_path / "ledger.sqlite3"),
                 "SRE_AI_EMBEDDING_CACHE_DIR": "", "SRE_AI_METRICS_PORT": str(port),
                 "SRE_AI_METRICS_HOST": "127.0.0.1"},
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "SRE_AI_METRICS_PORT" in done.stdout + done.stderr
