"""Fixtures for the e2e suite on the kind cluster (`make kind-up`, then `make e2e`).

Every fixture here skips with the reason when there is no cluster, so the normal test run on
a machine without one stays green. Tests create their own namespaces and delete them; traffic
goes only to 127.0.0.1 (kubectl port-forward) and to the cluster the run created.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

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
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture(scope="session")
def kube() -> Kubectl:
    """kubectl on the kind cluster; skips the test when there is no cluster to talk to."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH (the e2e suite needs the kind cluster: make kind-up)")
    kubectl = Kubectl(CONTEXT)
    try:
        contexts = kubectl("config", "get-contexts", "-o", "name", timeout=10).split()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no kubeconfig: {exc}")
    if CONTEXT not in contexts:
        pytest.skip(f"no kubeconfig context {CONTEXT} (make kind-up creates it)")
    try:
        kubectl("get", "--raw", "/readyz", timeout=20)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"the cluster behind {CONTEXT} does not answer: {exc}")
    return kubectl


@pytest.fixture(scope="module")
def namespace(kube: Kubectl) -> Iterator[str]:
    """A namespace of the module's own, deleted afterwards (with everything in it)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kube("create", "namespace", name)
    kube("label", "namespace", name, "app.kubernetes.io/part-of=sre-ai-platform-e2e")
    try:
        yield name
    finally:
        kube("delete", "namespace", name, "--wait=false", "--ignore-not-found")
