"""On the kind cluster: the budget ConfigMap edited in place reaches the running pods through
the Kubernetes API (policySource.type=kubernetes) without a restart; an invalid edit is
rejected, reported as a `PolicyRejected` Event on the ConfigMap, and the service keeps serving.

Needs the cluster and the release the e2e suite installs (tests/e2e/values-e2e.yaml, `make
kind-up e2e`). Skips with the reason otherwise. When the release reads its policy from the
mounted file (the chart's default), this module switches it to the kubernetes source (helm
upgrade --reuse-values, a rollout before anything is measured) and switches it back at the
end. Every replica is checked through its own port-forward, not one behind the Service.
Environment: KIND_CLUSTER, E2E_NAMESPACE, E2E_RELEASE.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from app.config import parse_policy
from tests.e2e.kube import Kubectl
from tests.fakes.service_process import REPO_ROOT, wait_until

pytestmark = pytest.mark.e2e

CONTEXT = f"kind-{os.environ.get('KIND_CLUSTER', 'sre-ai')}"
NAMESPACE = os.environ.get("E2E_NAMESPACE", "sre-ai")
RELEASE = os.environ.get("E2E_RELEASE", "sre-ai-platform")
CHART = REPO_ROOT / "charts" / "sre-ai-platform"
APPLY_TIMEOUT_SECONDS = 30.0  # the design says seconds; slack for a loaded CI machine
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"
# The API pods; the in-chart Redis shares the name label and differs by component.
API_PODS = f"{INSTANCE},app.kubernetes.io/name=sre-ai-platform,app.kubernetes.io/component=api"


def kubectl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", "--context", CONTEXT, "-n", NAMESPACE, *args],
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def kubectl_json(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json"))


def helm(*args: str) -> None:
    subprocess.run(["helm", "--kube-context", CONTEXT, "-n", NAMESPACE, *args],
                   capture_output=True, text=True, timeout=600, check=True)


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH (the e2e suite needs the kind cluster: make kind-up)")
    try:
        kubectl("get", "--raw", "/readyz")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no kind cluster at context {CONTEXT}: {exc}")
    items = kubectl_json("get", "deployment", "-l",
                         API_PODS)["items"]
    if not items:
        pytest.skip(f"release {RELEASE} is not installed in namespace {NAMESPACE}")
    dep: dict[str, Any] = items[0]
    return dep


def policy_source(dep: dict[str, Any]) -> str:
    env = dep["spec"]["template"]["spec"]["containers"][0].get("env", [])
    return next((e.get("value", "") for e in env if e["name"] == "SRE_AI_POLICY_SOURCE"), "file")


@pytest.fixture(scope="module")
def kubernetes_source(deployment: dict[str, Any]) -> Iterator[str]:
    """The release's Deployment name, running with the kubernetes policy source."""
    name: str = deployment["metadata"]["name"]
    switched = policy_source(deployment) != "kubernetes"
    if switched:
        if shutil.which("helm") is None:
            pytest.skip("release uses the file policy source and helm is not on PATH to switch")
        helm("upgrade", RELEASE, str(CHART), "--reuse-values",
             "--set", "policySource.type=kubernetes", "--wait", "--timeout", "5m")
    try:
        yield name
    finally:
        if switched:
            helm("upgrade", RELEASE, str(CHART), "--reuse-values",
                 "--set", "policySource.type=file", "--wait", "--timeout", "5m")


def configmap_name() -> str:
    items = kubectl_json("get", "configmap", "-l",
                         f"{INSTANCE},app.kubernetes.io/component=policy")["items"]
    assert items, "the chart's policy ConfigMap is missing"
    name: str = items[0]["metadata"]["name"]
    return name


def running_pods() -> list[dict[str, Any]]:
    pods = kubectl_json("get", "pods", "-l",
                        API_PODS)["items"]
    return [p for p in pods
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def restarts(pod: dict[str, Any]) -> int:
    return sum(int(c.get("restartCount", 0)) for c in pod["status"].get("containerStatuses", []))


def port_forward(pod: str, port: int) -> contextlib.AbstractContextManager[str]:
    """`kubectl port-forward` to one pod (every replica must apply the edit, not just one)."""
    return Kubectl(CONTEXT).port_forward(NAMESPACE, f"pod/{pod}", port)


def container_port(pod: dict[str, Any]) -> int:
    ports = pod["spec"]["containers"][0].get("ports", [])
    return int(next((p["containerPort"] for p in ports if p.get("name") == "http"), 8000))


def metrics_text(pod: dict[str, Any], api_url: str) -> str:
    """/metrics of this pod: on its `metrics` port (the chart's default), else the API port."""
    ports = pod["spec"]["containers"][0].get("ports", [])
    port = next((p["containerPort"] for p in ports if p.get("name") == "metrics"), None)
    if port is None:
        return httpx.get(api_url + "/metrics", timeout=5).text
    with port_forward(pod["metadata"]["name"], port) as url:
        return httpx.get(url + "/metrics", timeout=5).text


def patch_policy(configmap: str, text: str) -> None:
    """What `kubectl edit` does: replace the document in place (same object, new version)."""
    kubectl("patch", "configmap", configmap, "--type", "merge",
            "-p", json.dumps({"data": {"policy.yaml": text}}))


def ready_policy(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(url + "/health/ready", timeout=5).json()["policy"]
    return body


def rejected_events(configmap: str) -> list[dict[str, Any]]:
    selector = ("involvedObject.kind=ConfigMap,"
                f"involvedObject.name={configmap},reason=PolicyRejected")
    events: list[dict[str, Any]] = kubectl_json("get", "events",
                                                "--field-selector", selector)["items"]
    return events


def test_configmap_edits_apply_without_restart_and_bad_edits_are_rejected_visibly(
        kubernetes_source: str) -> None:
    configmap = configmap_name()
    original = kubectl_json("get", "configmap", configmap)["data"]["policy.yaml"]
    pods = running_pods()
    assert pods, "no running pods"
    before = {p["metadata"]["name"]: restarts(p) for p in pods}
    template = {p["metadata"]["labels"].get("pod-template-hash") for p in pods}

    document = yaml.safe_load(original) or {}
    budgets = document.setdefault("budgets", {})
    budgets["hourly_usd"] = round(float(budgets.get("hourly_usd", 10.0)) + 1.25, 2)
    edited = yaml.safe_dump(document, sort_keys=False)
    expected_hash = parse_policy(edited).digest
    invalid = yaml.safe_dump({**document, "budgets": {**budgets, "hourly_usd": -1}},
                             sort_keys=False)

    try:
        patch_policy(configmap, edited)
        for pod in pods:
            with port_forward(pod["metadata"]["name"], container_port(pod)) as url:
                wait_until(lambda url=url: ready_policy(url)["hash"] == expected_hash,
                           timeout=APPLY_TIMEOUT_SECONDS, what=f"the edit on {url}")
                metrics = metrics_text(pod, url)
                assert f'hash="{expected_hash}"' in metrics  # ai_config_info

        patch_policy(configmap, invalid)
        wait_until(lambda: any("budgets.hourly_usd" in e.get("message", "")
                               for e in rejected_events(configmap)),
                   timeout=APPLY_TIMEOUT_SECONDS, what="a PolicyRejected Event")
        described = kubectl("describe", "configmap", configmap)
        assert "PolicyRejected" in described and "budgets.hourly_usd" in described
        for pod in pods:
            with port_forward(pod["metadata"]["name"], container_port(pod)) as url:
                wait_until(lambda url=url: ready_policy(url)["last_error"] is not None,
                           timeout=APPLY_TIMEOUT_SECONDS, what=f"the rejection on {url}")
                assert ready_policy(url)["hash"] == expected_hash  # last good stays
                answer = httpx.post(url + "/ask", json={"question": "pod OOMKilled"}, timeout=60)
                assert answer.status_code == 200  # still serving
    finally:
        patch_policy(configmap, original)

    # No rollout (same pod template) and no container restarted. The HPA may add or remove
    # replicas meanwhile, so compare the pods that are there before and after.
    now = running_pods()
    assert {p["metadata"]["labels"].get("pod-template-hash") for p in now} == template
    after = {p["metadata"]["name"]: restarts(p) for p in now}
    survivors = before.keys() & after.keys()
    assert survivors, "every pod was replaced"
    assert {n: after[n] for n in survivors} == {n: before[n] for n in survivors}
