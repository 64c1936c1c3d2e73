"""A real server binary (Prometheus, Alertmanager) on a free loopback port in a temp dir:
started with its log in the workdir, ready when `/-/ready` answers 200, stopped at the end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.fakes.service_process import free_port, stop_process, wait_until


class LoopbackDaemon:
    name = "daemon"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _launch(self, argv: list[str], ready_timeout: float) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, cwd=self.workdir, stdout=log,
                                         stderr=subprocess.STDOUT)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.logs()}")
            return httpx.get(self.url + "/-/ready", timeout=1).status_code == 200

        wait_until(ready, timeout=ready_timeout, what=f"{self.name} on {self.url}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=20)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
