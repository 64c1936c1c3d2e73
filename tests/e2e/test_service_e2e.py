"""The chart on the kind cluster: pods Ready, /ask through `kubectl port-forward`, the
monitoring objects accepted by the API server, `helm test`, and the HPA scaling out under load.

The release is installed by tools/ci-cluster.sh (or `make e2e-install`) from
tests/e2e/values-e2e.yaml, with images loaded into the node: nothing is pulled. Skips with the
reason when there is no cluster or no release. Traffic goes only to 127.0.0.1 (port-forward).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from tests.e2e.kube import Kubectl
from tests.fakes.service_process import wait_until

pytestmark = pytest.mark.e2e

CONTEXT = f"kind-{os.environ.get('KIND_CLUSTER', 'sre-ai')}"
NAMESPACE = os.environ.get("E2E_NAMESPACE", "sre-ai")
RELEASE = os.environ.get("E2E_RELEASE", "sre-ai-platform")
SELECTOR = (f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=sre-ai-platform,"
            "app.kubernetes.io/component=api")  # not the in-chart Redis


def kubectl(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(["kubectl", "--context", CONTEXT, "-n", NAMESPACE, *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def kubectl_json(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json"))


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH (the e2e suite needs the kind cluster: make kind-up)")
    try:
        kubectl("get", "--raw", "/readyz", timeout=20)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no kind cluster at context {CONTEXT}: {exc}")
    items = kubectl_json("get", "deployment", "-l", SELECTOR)["items"]
    if not items:
        pytest.skip(f"release {RELEASE} is not installed in namespace {NAMESPACE}")
    dep: dict[str, Any] = items[0]
    return dep


def port_forward(target: str, port: int) -> AbstractContextManager[str]:
    return Kubectl(CONTEXT).port_forward(NAMESPACE, target, port)


def test_pods_are_ready_with_no_restarts(deployment: dict[str, Any]) -> None:
    wait_until(lambda: kubectl_json("get", "deployment", deployment["metadata"]["name"])
               ["status"].get("readyReplicas", 0) >= 1, timeout=180, what="a Ready replica")
    for pod in kubectl_json("get", "pods", "-l", SELECTOR)["items"]:
        for status in pod["status"].get("containerStatuses", []):
            assert status["restartCount"] == 0, pod["metadata"]["name"]


def test_ask_answers_through_port_forward_and_then_from_the_shared_cache(
    deployment: dict[str, Any],
) -> None:
    name = deployment["metadata"]["name"]
    with port_forward(f"service/{name}", 8000) as url:
        first = httpx.post(url + "/ask", json={"question": "pod OOMKilled, what now?"},
                           timeout=30).json()
        second = httpx.post(url + "/ask", json={"question": "Pod OOMKilled - what now"},
                            timeout=30).json()
        ready = httpx.get(url + "/health/ready", timeout=10).json()
        # /metrics is not on the public Service (metrics.port): 404 there
        assert httpx.get(url + "/metrics", timeout=10).status_code == 404
    with port_forward(f"service/{name}-metrics", 9090) as url:
        metrics = httpx.get(url + "/metrics", timeout=10).text
    assert first["sources"] and first["sources"][0] == "pod-oomkilled"
    assert second["cached"] is True
    assert ready["status"] == "ready" and ready["ledger"] == "ok"
    assert "ai_requests_total" in metrics


def test_monitoring_objects_are_accepted_by_the_api_server(deployment: dict[str, Any]) -> None:
    del deployment
    monitors = kubectl_json("get", "servicemonitors.monitoring.coreos.com")["items"]
    rules = kubectl_json("get", "prometheusrules.monitoring.coreos.com")["items"]
    assert any(m["metadata"]["labels"].get("app.kubernetes.io/instance") == RELEASE
               for m in monitors)
    groups = [g for r in rules for g in r["spec"]["groups"]]
    assert any(rule.get("alert") == "AICircuitBreakerOpen" for g in groups for rule in g["rules"])
    dashboards = kubectl_json("get", "configmap", "-l", "grafana_dashboard=1")["items"]
    assert dashboards


def test_helm_test_hook_asks_one_question(deployment: dict[str, Any]) -> None:
    del deployment
    if shutil.which("helm") is None:
        pytest.skip("helm not on PATH")
    done = subprocess.run(["helm", "--kube-context", CONTEXT, "-n", NAMESPACE, "test", RELEASE,
                           "--timeout", "3m"], capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hpa_scales_out_under_load(deployment: dict[str, Any]) -> None:
    name = deployment["metadata"]["name"]
    hpa = kubectl_json("get", "hpa", name)
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    wait_until(lambda: kubectl_json("get", "hpa", name)["status"].get("currentMetrics"),
               timeout=180, interval=2, what="the HPA to read CPU metrics (metrics-server)")
    stop = threading.Event()
    started = time.monotonic()

    def hammer(url: str) -> int:
        n = 0
        with httpx.Client(base_url=url, timeout=10) as client:
            while not stop.is_set() and time.monotonic() - started < 420:
                # distinct questions: each is a cache miss, so the pod does real work
                client.post("/ask", json={"question": f"CrashLoopBackOff on pod {n} restarts"})
                n += 1
        return n

    with port_forward(f"deployment/{name}", 8000) as url, \
            concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hammer, url) for _ in range(4)]
        try:
            wait_until(lambda: kubectl_json("get", "hpa", name)["status"]
                       .get("desiredReplicas", 1) > 1,
                       timeout=400, interval=3, what="the HPA to scale out")
        finally:
            stop.set()
            sent = sum(f.result() for f in futures)
    assert sent > 0
    wait_until(lambda: kubectl_json("get", "deployment", name)["status"]
               .get("readyReplicas", 0) > 1, timeout=180, interval=2,
               what="the new replica to become Ready")
