"""A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port, whose only
receiver is the service's POST /alerts with a bearer token from a file, as in the README."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fakes.service_process import free_port, stop_process, wait_until

BINARY = "prometheus-alertmanager"


def binary() -> str | None:
    return shutil.which(BINARY) or shutil.which("alertmanager")


class AlertmanagerProcess:
    def __init__(self, workdir: Path, *, webhook_url: str, token: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / "alertmanager.log"
        credentials = workdir / "sre-ai-api-key"
        credentials.write_text(token + "\n")
        credentials.chmod(0o600)
        self.config_path = workdir / "alertmanager.yml"
        self.config_path.write_text(yaml.safe_dump({
            "route": {"receiver": "sre-ai", "group_by": ["alertname"], "group_wait": "1s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "sre-ai", "webhook_configs": [{
                "url": webhook_url, "send_resolved": True,
                "http_config": {"authorization": {"credentials_file": str(credentials)}},
            }]}],
        }))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, path: str, *, ready_timeout: float = 30.0) -> AlertmanagerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [path, f"--config.file={self.config_path}",
             f"--storage.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address="],  # no gossip port: a single instance
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"alertmanager exited {self.proc.returncode}:\n{self.logs()}")
            return httpx.get(self.url + "/-/ready", timeout=1).status_code == 200

        wait_until(ready, timeout=ready_timeout, what=f"alertmanager on {self.url}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=20)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """As Prometheus does: POST /api/v2/alerts. No startsAt: Alertmanager stamps it with
        its own clock (the test's clock may be a year ahead)."""
        r = httpx.post(self.url + "/api/v2/alerts", json=alerts, timeout=10)
        assert r.status_code == 200, r.text
