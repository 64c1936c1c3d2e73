"""The systems the throughput bench drives, each a real server process with ONE worker: the
floor (bench/floor_app.py), this service (SQLite ledger, or Redis ledger and cache), and LiteLLM's
proxy from its own venv when installed. All answer from the same fake Anthropic upstream."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.service_process import REPO_ROOT, free_port, stop_process

MODEL = "claude-sonnet-4-6"
LITELLM_VENV = Path(os.environ.get("LITELLM_VENV", "/var/cache/sre-ai-platform/venvs/litellm"))
# Budgets far above what the run spends: the bench measures the ledger's cost, not its refusals.
POLICY = {
    "budgets": {"per_request_usd": 0.5, "hourly_usd": 100_000, "daily_usd": 100_000,
                "monthly_usd": 1_000_000},
    "llm": {"max_tokens": 1024},
}


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    ready_path: str = "/health/ready"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    ready_seconds: float = 0.0
    auth: str = ""  # the Authorization header its clients send

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, timeout: float = 600.0) -> Server:
        """Spawn, then poll the ready path every 10 ms: `ready_seconds` is spawn to first 200."""
        log = (self.workdir / f"{self.name}.log").open("ab")
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        started = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=self.workdir, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()

        deadline = started + timeout
        pause = threading.Event()  # never set: wait() is the poll interval
        while True:
            if self.proc.poll() is not None:
                log_text = (self.workdir / f"{self.name}.log").read_text(errors="replace")
                raise SystemExit(f"{self.name} exited {self.proc.returncode}:\n"
                                 f"{log_text[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    break
            if time.perf_counter() > deadline:
                raise SystemExit(f"{self.name} not ready after {timeout:.0f} s")
            pause.wait(0.01)
        self.ready_seconds = time.perf_counter() - started
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=15)
            self.proc = None


def _uvicorn(target: str) -> list[str]:
    return [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", "{port}",
            "--no-access-log"]


def _base_env(workdir: Path, fake_url: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
            "PYTHONPATH": str(REPO_ROOT), "ANTHROPIC_API_KEY": FAKE_API_KEY,
            "ANTHROPIC_BASE_URL": fake_url}


def floor(workdir: Path, fake_url: str) -> Server:
    return Server("floor", _uvicorn("bench.floor_app:app"), _base_env(workdir, fake_url), workdir)


def ours(name: str, workdir: Path, fake_url: str, redis_url: str | None) -> Server:
    """The real service, every feature on: ledger, answer cache, breaker, metrics, JSON logs (one
    summary line per request, to a file, as a pod's stdout would be)."""
    home = workdir / name
    home.mkdir(parents=True, exist_ok=True)
    policy = home / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    env = {**_base_env(home, fake_url), "SRE_AI_POLICY_FILE": str(policy),
           "SRE_AI_LEDGER_PATH": str(home / "ledger.sqlite3"), "SRE_AI_LOG_FORMAT": "json"}
    if redis_url:
        env["SRE_AI_REDIS_URL"] = redis_url
    return Server(name, _uvicorn("app.main:app"), env, home)


def litellm_version() -> str | None:
    python = LITELLM_VENV / "bin" / "python"
    if not (LITELLM_VENV / "bin" / "litellm").exists():
        return None
    out = subprocess.run([str(python), "-c",
                          "import importlib.metadata as m; print(m.version('litellm'))"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def litellm(workdir: Path, fake_url: str) -> Server:
    """LiteLLM's proxy, one worker, routing MODEL to the fake as an Anthropic deployment."""
    home = workdir / "litellm"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.yaml"
    config.write_text(yaml.safe_dump({
        "model_list": [{"model_name": MODEL, "litellm_params": {
            "model": f"anthropic/{MODEL}", "api_base": fake_url, "api_key": FAKE_API_KEY}}],
        "litellm_settings": {"telemetry": False},
    }))
    # It refuses to start without a master key (1.108): a random one per run, sent by wrk.
    key = "sk-bench-" + secrets.token_hex(16)
    env = {**_base_env(home, fake_url), "LITELLM_MASTER_KEY": key,
           "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR"}
    env.pop("PYTHONPATH")
    argv = [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config), "--host",
            "127.0.0.1", "--port", "{port}", "--num_workers", "1"]
    return Server("litellm", argv, env, home, ready_path="/health/readiness",
                  auth=f"Bearer {key}")


def wrk_available() -> bool:
    return shutil.which("wrk") is not None
