"""A real Prometheus (the Debian `prometheus` binary) on a free loopback port, with a temporary
config and TSDB, and a small client for its HTTP API."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fakes.loopback_daemon import LoopbackDaemon


def binary(name: str) -> str | None:
    return shutil.which(name)


def compress_for(rule_file: Path, out: Path, factor: int = 60) -> Path:
    """A copy of `rule_file` whose alerts wait `factor` times shorter (`for: 5m` -> `5s`), so
    a live run sees them fire in seconds. The `for:` boundaries themselves are proven by the
    promtool unit tests on the original file."""
    doc = yaml.safe_load(rule_file.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = f"{max(1, parse_duration(rule['for']) // factor)}s"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def parse_duration(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(text[:-1]) * units[text[-1]]


class PrometheusProcess(LoopbackDaemon):
    name = "prometheus"

    def __init__(self, workdir: Path, *, job: str, target: str, rule_files: list[Path]) -> None:
        super().__init__(workdir)
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}],
        }))
    def start(self, prometheus: str, *, ready_timeout: float = 60.0) -> PrometheusProcess:
        self._launch([prometheus, f"--config.file={self.config_path}",
                      f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                      f"--web.listen-address=127.0.0.1:{self.port}"], ready_timeout)
        return self

    # ------------------------------------------------------------------ HTTP API

    def _get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, timeout=10)
        body = r.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query_range", query=expr, start=start, end=end, step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    def now(self) -> float:
        """Prometheus's own clock (samples are stamped with it): ranges end here, never at the
        test's time.time(), which `make test-future` moves a year ahead."""
        data = self._get("/api/v1/query", query="time()")
        return float(data["result"][1])

    def value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when it returns nothing."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self._get("/api/v1/alerts")["alerts"]
        return alerts

    def firing(self, alertname: str) -> list[dict[str, str]]:
        return [a["labels"] for a in self.alerts()
                if a["labels"].get("alertname") == alertname and a["state"] == "firing"]

    def targets_up(self) -> bool:
        active = self._get("/api/v1/targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)


def finite(series: list[dict[str, Any]]) -> bool:
    """True when any sample of an instant or range result is a finite number."""
    for s in series:
        samples = s.get("values") or [s.get("value")]
        if any(v is not None and math.isfinite(float(v[1])) for v in samples):
            return True
    return False
