"""Run the real service as a separate process under uvicorn (`uvicorn app.main:app`), the way
it runs in production, with a clean environment that only the test decides."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[..., object], *, timeout: float, what: str,
               interval: float = 0.05) -> None:
    """Poll `check()` until truthy or the deadline: waiting on a condition, not a fixed sleep.
    `check` is called with no argument (`...`: a lambda may bind a loop variable as a default)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    pause = threading.Event()  # never set: wait() is the poll interval
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # the check may fail until the thing is up
            last = exc
        pause.wait(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


def stop_process(proc: subprocess.Popen[Any], *, timeout: float = 15.0) -> None:
    """Terminate, wait up to `timeout`, then kill: every process a test starts ends here."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ServiceProcess:
    def __init__(
        self, env: Mapping[str, str], workdir: Path, *, port: int | None = None, name: str = "svc",
        cli_args: list[str] | None = None,
    ) -> None:
        """`cli_args`: run the console script (`python -m app.cli`, as the image does) with these
        extra arguments instead of `uvicorn app.main:app`."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / f"{name}-{self.port}.log"
        self._env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "PYTHONPATH": str(REPO_ROOT),
            "SRE_AI_LEDGER_PATH": str(workdir / "ledger.sqlite3"),
            "SRE_AI_LOG_FORMAT": "json",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._cli_args = cli_args

    # Generous: a start takes ~2 s idle but 15-20 s on a 2-core machine at load 20 (measured
    # in bench/results/throughput.md); only a broken start ever waits this long.
    def start(self, *, ready_timeout: float = 120.0) -> ServiceProcess:
        log = self.log_path.open("ab")
        if self._cli_args is None:
            command = [sys.executable, "-m", "uvicorn", "app.main:app", "--no-access-log"]
        else:
            command = [sys.executable, "-m", "app.cli", *self._cli_args]
        self.proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.workdir,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited {self.proc.returncode}:\n{self.logs()}")
            return httpx.get(self.url + "/health/live", timeout=1).status_code == 200

        try:
            wait_until(up, timeout=ready_timeout, what=f"service on {self.url}")
        except RuntimeError as exc:
            raise AssertionError(str(exc)) from None
        return self

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=15)
