"""A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port, whose only
receiver is the service's POST /alerts with a bearer token from a file, as in the README."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fakes.loopback_daemon import LoopbackDaemon

BINARY = "prometheus-alertmanager"


def binary() -> str | None:
    return shutil.which(BINARY) or shutil.which("alertmanager")


class AlertmanagerProcess(LoopbackDaemon):
    name = "alertmanager"

    def __init__(self, workdir: Path, *, webhook_url: str, token: str) -> None:
        super().__init__(workdir)
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
    def start(self, path: str, *, ready_timeout: float = 30.0) -> AlertmanagerProcess:
        self._launch([path, f"--config.file={self.config_path}",
                      f"--storage.path={self.workdir / 'data'}",
                      f"--web.listen-address=127.0.0.1:{self.port}",
                      "--cluster.listen-address="],  # no gossip port: a single instance
                     ready_timeout)
        return self

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """As Prometheus does: POST /api/v2/alerts. No startsAt: Alertmanager stamps it with
        its own clock (the test's clock may be a year ahead)."""
        r = httpx.post(self.url + "/api/v2/alerts", json=alerts, timeout=10)
        assert r.status_code == 200, r.text
