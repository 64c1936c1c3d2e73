"""On the kind cluster: with the chart's defaults (one replica, SQLite ledger, no Redis) the
money spent survives a rollout and a reinstall.

A release of its own in a namespace of its own, pointed at the fake Anthropic server
(tests/fakes, run in a pod from the service image: the real SDK makes a paid call, the service
settles its cost). Then `helm upgrade` changes the pod template, a new pod (new UID) replaces
the old one, and `/cost` must show the same spend; `helm uninstall` must leave the ledger's
claim (`helm.sh/resource-policy: keep`), and installing the release again must find the spend.
With the old emptyDir ledger the new pod starts from $0 and this fails.

Storage: the offline node image (docs/cluster.md) declares a default StorageClass with no
provisioner, so the module creates a `local` PersistentVolume on a schedulable node, reserved
for the release's claim (claimRef); stock kind provisions one itself (local-path). Skips with
the reason when there is no cluster, helm or docker. Traffic: 127.0.0.1 (port-forward) and pods
of this cluster. Environment: KIND_CLUSTER; E2E_LEDGER_CHART to run it against another copy of
the chart (how the revert check is done).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.incluster import (
    deploy_fake_anthropic,
    e2e_image,
    fake_egress,
    helm,
    release_objects,
)
from tests.e2e.kube import Kubectl
from tests.e2e.rollout import pod_template_change
from tests.fakes.service_process import REPO_ROOT, wait_until

pytestmark = pytest.mark.e2e

CHART = Path(os.environ.get("E2E_LEDGER_CHART", str(REPO_ROOT / "charts" / "sre-ai-platform")))
RELEASE = "spend"
FULLNAME = f"{RELEASE}-sre-ai-platform"
CLAIM = f"{FULLNAME}-ledger"
API_PODS = (f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=sre-ai-platform,"
            "app.kubernetes.io/component=api")
NO_PROVISIONER = "kubernetes.io/no-provisioner"
PV_ROOT = "/var/local-pv"


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in ("helm", "kubectl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not on PATH (the e2e suite needs the kind cluster: make kind-up)")


@pytest.fixture(scope="module")
def fake_anthropic(tools: None, kube: Kubectl, namespace: str) -> str:
    """In-cluster URL of the fake Anthropic server, once it is Ready."""
    return deploy_fake_anthropic(kube, namespace)


def default_storage_class(kube: Kubectl) -> dict[str, Any] | None:
    for sc in kube.json("get", "storageclass")["items"]:
        annotations = sc["metadata"].get("annotations", {})
        if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
            return dict(sc)
    return None


@pytest.fixture(scope="module")
def ledger_storage(tools: None, kube: Kubectl, namespace: str) -> Iterator[None]:
    """A volume for the release's ledger claim when the cluster cannot provision one."""
    sc = default_storage_class(kube)
    if sc is not None and sc["provisioner"] != NO_PROVISIONER:
        yield  # dynamic provisioning (stock kind: local-path)
        return
    if shutil.which("docker") is None:
        pytest.skip("the default StorageClass has no provisioner and docker is not on PATH "
                    "to make a local volume on a kind node")
    nodes = [n["metadata"]["name"] for n in kube.json("get", "nodes")["items"]
             if not any(t["effect"] == "NoSchedule" for t in n["spec"].get("taints", []))]
    assert nodes, "no schedulable node"
    node, path, pv = nodes[0], f"{PV_ROOT}/{namespace}", f"{namespace}-ledger"
    # kind's nodes are containers named like the nodes; 0777 as local-path makes them
    subprocess.run(["docker", "exec", node, "sh", "-c", f"mkdir -p {path} && chmod 0777 {path}"],
                   check=True, capture_output=True, timeout=60)
    volume = {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": pv, "labels": {"app.kubernetes.io/part-of": "sre-ai-platform-e2e"}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": sc["metadata"]["name"] if sc else "",
            "claimRef": {"namespace": namespace, "name": CLAIM},
            "local": {"path": path},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        },
    }
    kube("apply", "-f", "-", stdin=json.dumps(volume))
    try:
        yield
    finally:
        kube("delete", "namespace", namespace, "--wait=true", "--ignore-not-found", timeout=180)
        kube("delete", "pv", pv, "--ignore-not-found")
        subprocess.run(["docker", "exec", node, "rm", "-rf", path], check=False,
                       capture_output=True, timeout=60)


def release_values(fake_anthropic: str) -> dict[str, Any]:
    """The chart's defaults (SQLite ledger, one replica, the NetworkPolicy on), plus the local
    image and the fake. The fake listens on FAKE_PORT, not 443: the policy's egress must let
    the API pods reach it (tests/chart/test_network_exposure.py renders this)."""
    return {
        "image": {**e2e_image(), "pullPolicy": "Never"},
        "anthropic": {"apiKey": "e2e-not-a-secret", "baseUrl": fake_anthropic},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                      "limits": {"memory": "512Mi"}},
        "monitoring": {"serviceMonitor": {"enabled": False}, "rules": {"enabled": False},
                       "dashboards": {"enabled": False}},
        "networkPolicy": {"extraEgress": [fake_egress()]},
    }


@pytest.fixture(scope="module")
def values_file(tmp_path_factory: pytest.TempPathFactory, fake_anthropic: str) -> Path:
    values = release_values(fake_anthropic)
    path = tmp_path_factory.mktemp("ledger-e2e") / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def api_pod(kube: Kubectl, namespace: str) -> dict[str, Any]:
    """The one API pod, once it is the only one and Ready (a rollout has finished)."""
    found: list[dict[str, Any]] = []

    def single_ready() -> bool:
        pods = kube.json("-n", namespace, "get", "pods", "-l", API_PODS)["items"]
        found[:] = pods
        return len(pods) == 1 and not pods[0]["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pods[0]["status"].get("conditions", []))

    wait_until(single_ready, timeout=180, interval=1, what="one Ready API pod")
    return found[0]


def spent(kube: Kubectl, namespace: str) -> dict[tuple[str, str], float]:
    """/cost through a port-forward: spend per (window, end of the window)."""
    with kube.port_forward(namespace, f"service/{FULLNAME}", 8000) as url:
        body = httpx.get(url + "/cost", timeout=30).json()
    assert body["ledger"] == "sqlite", body
    return {(w["window"], w["resets_at"]): w["spent_usd"] for w in body["windows"]}


def assert_same_spend(before: dict[tuple[str, str], float],
                      after: dict[tuple[str, str], float], cost: float) -> None:
    # A window that ended in between (an hour boundary) cannot be compared; the others must be
    # equal to the nano-dollar.
    common = before.keys() & after.keys()
    assert any(before[k] >= cost for k in common), (before, after)
    assert {k: after[k] for k in common} == {k: before[k] for k in common}


def test_spend_survives_a_rollout_and_a_reinstall(
        kube: Kubectl, namespace: str, ledger_storage: None, values_file: Path) -> None:
    helm(kube, namespace, "install", RELEASE, str(CHART), "-f", str(values_file),
         "--wait", "--timeout", "5m")
    first = api_pod(kube, namespace)
    with kube.port_forward(namespace, f"service/{FULLNAME}", 8000) as url:
        answer = httpx.post(url + "/ask", json={"question": "pod OOMKilled, what now?"},
                            timeout=90)
    assert answer.status_code == 200, answer.text
    cost = answer.json()["cost_usd"]
    assert cost > 0 and answer.json()["degraded"] is None, answer.json()  # a paid answer
    before = spent(kube, namespace)

    # A change of the pod template: the Deployment replaces the pod.
    helm(kube, namespace, "upgrade", RELEASE, str(CHART), "--reuse-values",
         *pod_template_change(), "--wait", "--timeout", "5m")
    second = api_pod(kube, namespace)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert_same_spend(before, spent(kube, namespace), cost)

    # Uninstall leaves nothing of the release but what the user asked to keep: the ledger's
    # claim (`helm.sh/resource-policy: keep`). The same release installed again adopts it.
    helm(kube, namespace, "uninstall", RELEASE, "--wait", "--timeout", "3m")
    claim = kube.json("-n", namespace, "get", "pvc", CLAIM)
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    left: list[str] = []

    def only_the_kept_claim() -> bool:  # pods end after their grace period, not at once
        left[:] = release_objects(kube, namespace, RELEASE)
        return left == [f"persistentvolumeclaim/{CLAIM}"]

    wait_until(only_the_kept_claim, timeout=120, interval=2,
               what=f"only the kept claim left of {RELEASE} (left: {left})")
    helm(kube, namespace, "install", RELEASE, str(CHART), "-f", str(values_file),
         "--wait", "--timeout", "5m")
    third = api_pod(kube, namespace)
    assert third["metadata"]["uid"] not in {first["metadata"]["uid"], second["metadata"]["uid"]}
    assert_same_spend(before, spent(kube, namespace), cost)
