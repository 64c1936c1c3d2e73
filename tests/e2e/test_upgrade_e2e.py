"""On the kind cluster: upgrades and rollbacks with no failed question; uninstall leaves
nothing behind (issue 16, item 3).

A release of its own (2 replicas, the in-chart Redis as the shared ledger, the PDB on) pointed
at the fake Anthropic server in a pod, slowed so that every question is a paid call in flight
for a second: a rollout replaces pods while calls are running on them. An in-cluster client
(tests/e2e/client/ask_loop.py) asks continuously through the Service while `helm upgrade`
changes the pod template (every pod replaced), while the PodDisruptionBudget refuses evicting
the second pod at once, and while `helm rollback` replaces them all again. Every question must
be answered 200: the old pods leave the Service's endpoints when they start terminating, then
the preStop sleep lets kube-proxy forget them, then SIGTERM makes the service refuse new
connections and finish (and settle) the calls in flight before it exits. Last, `helm uninstall`
must leave no object labelled with the release (nothing here is marked keep; the SQLite ledger's
kept claim is test_ledger_persistence_e2e.py's).

Traffic: pods of this cluster and 127.0.0.1 (port-forwards). Skips without a cluster or helm.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.incluster import (
    CHART_DIR,
    client_summary,
    deploy_fake_anthropic,
    e2e_image,
    fake_control,
    fake_egress,
    helm,
    release_objects,
    start_client,
    wait_for_the_shared_ledger,
)
from tests.e2e.kube import Kubectl
from tests.e2e.rollout import pod_template_change
from tests.fakes.service_process import wait_until

pytestmark = pytest.mark.e2e

RELEASE = "up"
FULLNAME = f"{RELEASE}-sre-ai-platform"
API_PODS = (f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=sre-ai-platform,"
            "app.kubernetes.io/component=api")
REPLICAS = 2
CLIENT = "asker"
STOP_FILE = "/tmp/stop"
UPSTREAM_DELAY_SECONDS = 1.0


@pytest.fixture(scope="module")
def release(kube: Kubectl, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    for tool in ("helm", "kubectl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not on PATH (the e2e suite needs the kind cluster: make kind-up)")
    fake = deploy_fake_anthropic(kube, namespace)
    values: dict[str, Any] = {
        "image": {**e2e_image(), "pullPolicy": "Never"},
        "replicaCount": REPLICAS,
        "anthropic": {"apiKey": "e2e-not-a-secret", "baseUrl": fake},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                      "limits": {"memory": "512Mi"}},
        # Budgets far above what the run spends: a refusal would be a failed question here.
        "policy": {"budgets": {"hourly_usd": 1000, "daily_usd": 10000, "monthly_usd": 100000}},
        "redis": {"enabled": True, "persistence": {"enabled": False},
                  "image": {"repository": "sre-ai-platform/redis", "tag": "e2e",
                            "pullPolicy": "Never"}},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        "monitoring": {"serviceMonitor": {"enabled": False}, "rules": {"enabled": False},
                       "dashboards": {"enabled": False}},
        "networkPolicy": {"extraEgress": [fake_egress()]},
    }
    path: Path = tmp_path_factory.mktemp("upgrade-e2e") / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    helm(kube, namespace, "install", RELEASE, str(CHART_DIR), "-f", str(path),
         "--wait", "--timeout", "5m")
    # The test counts degraded answers: start once the fresh release's pods reach Redis.
    wait_for_the_shared_ledger(kube, namespace, API_PODS)
    return RELEASE


def api_pod_uids(kube: Kubectl, namespace: str) -> set[str]:
    """UIDs of the API pods, once exactly REPLICAS are Ready and none is terminating."""
    found: set[str] = set()

    def settled() -> bool:
        pods = kube.json("-n", namespace, "get", "pods", "-l", API_PODS)["items"]
        ready = [p for p in pods if not p["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", []))]
        found.clear()
        found.update(p["metadata"]["uid"] for p in ready)
        return len(pods) == len(ready) == REPLICAS

    wait_until(settled, timeout=300, interval=1, what=f"{REPLICAS} Ready API pods, no other")
    return found


def evict(kube: Kubectl, namespace: str, pod: str) -> str:
    """The Eviction API, as `kubectl drain` calls it: "" when evicted, else the refusal."""
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": pod, "namespace": namespace}}
    try:
        kube("create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction",
             "-f", "-", stdin=json.dumps(eviction))
    except RuntimeError as exc:
        return str(exc)
    return ""


def test_upgrade_eviction_and_rollback_fail_no_question_and_uninstall_leaves_nothing(
        kube: Kubectl, namespace: str, release: str) -> None:
    with fake_control(kube, namespace) as fake:
        fake.fail(delay_seconds=UPSTREAM_DELAY_SECONDS, until_cleared=True)
        first = api_pod_uids(kube, namespace)
        start_client(kube, namespace, CLIENT, f"http://{FULLNAME}:8000", "--workers", "4",
                     "--stop-file", STOP_FILE, "--tag", uuid.uuid4().hex[:6])
        wait_until(lambda: fake.stats()["total"] >= 8, timeout=120, interval=0.5,
                   what="the client's first paid calls")

        # 1. A pod-template change: every pod replaced, one at a time (maxSurge 1,
        # maxUnavailable 0), calls in flight on each when it is told to stop.
        helm(kube, namespace, "upgrade", RELEASE, str(CHART_DIR), "--reuse-values",
             *pod_template_change(), "--wait",
             "--timeout", "5m")
        second = api_pod_uids(kube, namespace)
        assert not second & first, "the upgrade did not replace every pod"

        # 2. A node drain's evictions: the PDB lets one pod go and holds the other.
        pods = sorted(p["metadata"]["name"] for p in kube.json(
            "-n", namespace, "get", "pods", "-l", API_PODS)["items"])
        assert evict(kube, namespace, pods[0]) == ""
        refused = evict(kube, namespace, pods[1])
        assert "disruption budget" in refused, refused
        third = api_pod_uids(kube, namespace)

        # 3. Back to the first revision: every pod replaced again.
        helm(kube, namespace, "rollback", RELEASE, "1", "--wait", "--timeout", "5m")
        fourth = api_pod_uids(kube, namespace)
        assert not fourth & third, "the rollback did not replace every pod"
        calls_during = fake.stats()["total"]

        kube("-n", namespace, "exec", CLIENT, "--", "touch", STOP_FILE)
        summary = client_summary(kube, namespace, CLIENT, timeout=120)
        fake.clear_faults()
    shown = json.dumps(summary)  # whole: pytest would cut a dict's repr short
    assert summary["statuses"].get("200", 0) == summary["asked"], shown  # none failed
    assert summary["errors"] == [], shown
    # every one a paid answer, none a fallback rung (`degraded_why`: which rung, why, when)
    assert summary["degraded"] == 0, shown
    # The client really asked through both rollouts (4 workers, 1 s per call).
    assert summary["asked"] >= 20 and calls_during >= 20, (shown, calls_during)
    history = [r["status"] for r in json.loads(
        helm(kube, namespace, "history", RELEASE, "-o", "json"))]
    assert history == ["superseded", "superseded", "deployed"], history

    # helm uninstall: no object of the release is left (pods included, after their grace).
    helm(kube, namespace, "uninstall", RELEASE, "--wait", "--timeout", "3m")
    left: list[str] = []

    def nothing_left() -> bool:
        left[:] = release_objects(kube, namespace, RELEASE)
        return not left

    wait_until(nothing_left, timeout=120, interval=2,
               what=f"no object of {RELEASE} left (left: {left})")
