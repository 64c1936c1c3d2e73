"""kubectl pinned to the kind cluster's context, for the e2e suite (no other cluster, ever)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes.service_process import stop_process

KIND_CLUSTER = os.environ.get("KIND_CLUSTER", "sre-ai")
CONTEXT = f"kind-{KIND_CLUSTER}"


class Kubectl:
    """kubectl pinned to the kind context, so nothing ever reaches another cluster."""

    def __init__(self, context: str) -> None:
        self.context = context

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        done = subprocess.run(
            ["kubectl", "--context", self.context, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    @contextmanager
    def port_forward(self, namespace: str, target: str, port: int) -> Iterator[str]:
        """`kubectl port-forward` bound to 127.0.0.1 on a free port; yields the base URL."""
        proc = subprocess.Popen(
            [
                "kubectl",
                "--context",
                self.context,
                "-n",
                namespace,
                "port-forward",
                "--address",
                "127.0.0.1",
                target,
                f":{port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # blocks until forwarding starts or kubectl exits
            match = re.search(r"127\.0\.0\.1:(\d+)", line)
            if not match:
                proc.kill()
                _, err = proc.communicate(timeout=10)
                raise AssertionError(f"port-forward to {target} failed: {line}{err}")
            yield f"http://127.0.0.1:{match.group(1)}"
        finally:
            stop_process(proc, timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
