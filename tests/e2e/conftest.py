"""Fixtures for the e2e suite on the kind cluster (`make kind-up`, then `make e2e`).

Every fixture here skips with the reason when there is no cluster, so the normal test run on
a machine without one stays green. Tests create their own namespaces and delete them; traffic
goes only to 127.0.0.1 (kubectl port-forward) and to the cluster the run created.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.kube import CONTEXT, Kubectl


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
