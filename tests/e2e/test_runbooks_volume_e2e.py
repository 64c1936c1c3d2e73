"""On the kind cluster: a team's runbooks on a PersistentVolumeClaim of their own
(`runbooks.source=volume`) are what the service answers from, and an edit on the claim reaches
the answers without a pod restart.

A release of its own in a namespace of its own. A Job (the service image, as its non-root user)
writes runbooks that exist nowhere else (nested folders, front matter, one file outside the
folder the release is pointed at) onto the claim; the chart mounts the claim read-only and
points the service at `runbooks.volume.subPath`. `/ask` (offline provider: no API key) must cite
the claim's runbook and never a bundled one, `/health/ready` must count exactly the claim's
runbooks, and after a second Job rewrites one file in place, the same pod must answer with the
new text. With the chart before `runbooks.source` existed the install is refused (unknown
value) and the service would answer from the bundled runbooks.

Storage: as in test_ledger_persistence_e2e, a `local` PersistentVolume on a schedulable node,
reserved for the claim, when the default StorageClass cannot provision one (the offline node
image); both pods then run on that node. Skips with the reason when there is no cluster, helm or
docker. Traffic: 127.0.0.1 (port-forward) and pods of this cluster. Environment: KIND_CLUSTER;
E2E_RUNBOOKS_CHART to run it against another copy of the chart (the revert check).
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

from tests.e2e.incluster import e2e_image, hardened, helm
from tests.e2e.kube import Kubectl
from tests.e2e.test_ledger_persistence_e2e import (
    NO_PROVISIONER,
    PV_ROOT,
    default_storage_class,
)
from tests.fakes.service_process import REPO_ROOT, wait_until

pytestmark = pytest.mark.e2e

CHART = Path(os.environ.get("E2E_RUNBOOKS_CHART", str(REPO_ROOT / "charts" / "sre-ai-platform")))
RELEASE = "teamrb"
FULLNAME = f"{RELEASE}-sre-ai-platform"
CLAIM = "team-runbooks"
FOLDER = "sre/runbooks"
API_PODS = (f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=sre-ai-platform,"
            "app.kubernetes.io/component=api")

LAG_ID = "payments/LedgerReplicaLagHigh"
LAG = """---
title: Ledger replica lag high
alerts: [LedgerReplicaLagHigh]
---
# Ledger replica lag high

## Meaning
The payments ledger replica trails the primary by more than 30 seconds of WAL.

## Mitigation
Pause the nightly settlement export, then run `ledgerctl fence --replica ledger-2` and wait
for the replica to catch up before resuming exports.
"""
EDITED = "Run `ledgerctl promote --standby ledger-3` instead: ledger-2 is being retired."
TEAM_RUNBOOKS = {
    f"{FOLDER}/{LAG_ID}.md": LAG,
    f"{FOLDER}/payments/card-authoriser-timeouts.md": (
        "# Card authoriser timeouts\n\n## Meaning\nThe card authoriser answers slower than "
        "its 800 ms budget.\n\n## Mitigation\nShift traffic to the secondary acquirer.\n"),
    f"{FOLDER}/platform/kafka-consumer-lag.md": (
        "# Kafka consumer lag\n\n## Meaning\nThe settlement consumers fall behind the "
        "topic.\n\n## Mitigation\nAdd consumers up to the partition count.\n"),
    # outside the folder the release reads: must never be served
    "drafts/unreviewed.md": "# Unreviewed draft\n\n## Steps\nDo not use.\n",
}
WRITER = (
    "import json, os, pathlib\n"
    "for name, text in json.loads(os.environ['FILES']).items():\n"
    "    path = pathlib.Path('/data') / name\n"
    "    path.parent.mkdir(parents=True, exist_ok=True)\n"
    "    path.write_text(text)  # in place: same inode when the file exists\n"
    "    print('wrote', path)\n"
)


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in ("helm", "kubectl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not on PATH (the e2e suite needs the kind cluster: make kind-up)")


@pytest.fixture(scope="module")
def runbooks_claim(tools: None, kube: Kubectl, namespace: str) -> Iterator[str]:
    """The claim `CLAIM`, bound (a local PersistentVolume when nothing provisions one)."""
    sc = default_storage_class(kube)
    claim: dict[str, Any] = {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": CLAIM},
        "spec": {"accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "64Mi"}}},
    }
    if sc is not None and sc["provisioner"] != NO_PROVISIONER:
        kube("-n", namespace, "apply", "-f", "-", stdin=json.dumps(claim))
        yield CLAIM  # dynamic provisioning (stock kind: local-path)
        return
    if shutil.which("docker") is None:
        pytest.skip("the default StorageClass has no provisioner and docker is not on PATH "
                    "to make a local volume on a kind node")
    nodes = [n["metadata"]["name"] for n in kube.json("get", "nodes")["items"]
             if not any(t["effect"] == "NoSchedule" for t in n["spec"].get("taints", []))]
    assert nodes, "no schedulable node"
    node, path, pv = nodes[0], f"{PV_ROOT}/{namespace}-runbooks", f"{namespace}-runbooks"
    subprocess.run(["docker", "exec", node, "sh", "-c", f"mkdir -p {path} && chmod 0777 {path}"],
                   check=True, capture_output=True, timeout=60)
    class_name = sc["metadata"]["name"] if sc else ""
    volume = {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": pv, "labels": {"app.kubernetes.io/part-of": "sre-ai-platform-e2e"}},
        "spec": {
            "capacity": {"storage": "64Mi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": class_name,
            "claimRef": {"namespace": namespace, "name": CLAIM},
            "local": {"path": path},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        },
    }
    kube("apply", "-f", "-", stdin=json.dumps(volume))
    claim["spec"]["storageClassName"] = class_name
    kube("-n", namespace, "apply", "-f", "-", stdin=json.dumps(claim))
    try:
        yield CLAIM
    finally:
        kube("delete", "namespace", namespace, "--wait=true", "--ignore-not-found", timeout=180)
        kube("delete", "pv", pv, "--ignore-not-found")
        subprocess.run(["docker", "exec", node, "rm", "-rf", path], check=False,
                       capture_output=True, timeout=60)


def write_on_claim(kube: Kubectl, namespace: str, job: str, files: dict[str, str]) -> None:
    """A Job, with the service image as its non-root user, writes `files` onto the claim."""
    image = e2e_image()
    spec = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [hardened({
                "name": "writer",
                "image": f"{image['repository']}:{image['tag']}",
                "imagePullPolicy": "Never",
                "command": ["python", "-c", WRITER],
                "env": [{"name": "FILES", "value": json.dumps(files)}],
                "resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                              "limits": {"memory": "128Mi"}},
                "volumeMounts": [{"name": "runbooks", "mountPath": "/data"}],
            })],
            "volumes": [{"name": "runbooks", "persistentVolumeClaim": {"claimName": CLAIM}}],
        }}},
    }
    kube("-n", namespace, "apply", "-f", "-", stdin=json.dumps(spec))
    try:
        kube("-n", namespace, "wait", "--for=condition=complete", f"job/{job}",
             "--timeout=180s", timeout=200)
    except RuntimeError:
        logs = kube("-n", namespace, "logs", f"job/{job}", "--all-containers")
        raise AssertionError(f"job {job} did not complete: {logs}") from None


@pytest.fixture(scope="module")
def values_file(tmp_path_factory: pytest.TempPathFactory, runbooks_claim: str) -> Path:
    values = {
        "image": {**e2e_image(), "pullPolicy": "Never"},
        "runbooks": {"source": "volume",
                     "volume": {"existingClaim": runbooks_claim, "subPath": FOLDER}},
        # the ledger is not under test: an emptyDir keeps the module to one volume
        "ledger": {"persistence": {"enabled": False}},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                      "limits": {"memory": "512Mi"}},
        "monitoring": {"serviceMonitor": {"enabled": False}, "rules": {"enabled": False},
                       "dashboards": {"enabled": False}},
    }
    path = tmp_path_factory.mktemp("runbooks-e2e") / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def ready_api_pod(kube: Kubectl, namespace: str) -> dict[str, Any]:
    pods: list[dict[str, Any]] = []

    def one_ready() -> bool:
        pods[:] = kube.json("-n", namespace, "get", "pods", "-l", API_PODS)["items"]
        return len(pods) == 1 and any(c["type"] == "Ready" and c["status"] == "True"
                                      for c in pods[0]["status"].get("conditions", []))

    wait_until(one_ready, timeout=180, interval=1, what="one Ready API pod")
    return pods[0]


def ask(url: str, question: str) -> dict[str, Any]:
    response = httpx.post(url + "/ask", json={"question": question}, timeout=60)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_service_answers_from_the_claim_and_sees_an_edit_without_a_restart(
        kube: Kubectl, namespace: str, runbooks_claim: str, values_file: Path) -> None:
    write_on_claim(kube, namespace, "write-runbooks", TEAM_RUNBOOKS)
    helm(kube, namespace, "install", RELEASE, str(CHART), "-f", str(values_file),
         "--wait", "--timeout", "5m")
    pod = ready_api_pod(kube, namespace)

    with kube.port_forward(namespace, f"service/{FULLNAME}", 8000) as url:
        ready = httpx.get(url + "/health/ready", timeout=30).json()
        # exactly the three runbooks in the folder: no bundled one, not the draft outside it
        assert ready["runbooks"]["count"] == 3, ready["runbooks"]
        assert ready["runbooks"]["skipped_count"] == 0, ready["runbooks"]

        named = ask(url, "LedgerReplicaLagHigh is firing, what do I do?")
        assert named["sources"][0] == LAG_ID, named
        assert "ledgerctl fence --replica ledger-2" in named["answer"], named

        described = ask(url, "the payments ledger replica is 40 seconds behind the primary")
        assert described["sources"][:1] == [LAG_ID], described

        bundled = ask(url, "pod OOMKilled, what now?")
        assert "pod-oomkilled" not in bundled["sources"], bundled
        assert not [s for s in bundled["sources"] if s.startswith("drafts/")], bundled

        # An edit in place on the claim (same path), by another pod: the running service
        # re-indexes it; no restart, no rollout.
        edited = LAG.replace(
            "Pause the nightly settlement export, then run `ledgerctl fence --replica ledger-2` "
            "and wait\nfor the replica to catch up before resuming exports.", EDITED)
        assert edited != LAG
        write_on_claim(kube, namespace, "edit-runbook", {f"{FOLDER}/{LAG_ID}.md": edited})
        answers: list[dict[str, Any]] = []

        def edit_served() -> bool:
            answers[:] = [ask(url, "LedgerReplicaLagHigh is firing, what do I do?")]
            return "ledgerctl promote --standby ledger-3" in answers[0]["answer"]

        wait_until(edit_served, timeout=90, interval=2, what="the edited runbook in /ask")
        assert "ledgerctl fence" not in answers[0]["answer"], answers[0]
        assert answers[0]["sources"][0] == LAG_ID

    after = ready_api_pod(kube, namespace)
    assert after["metadata"]["uid"] == pod["metadata"]["uid"]
    assert [c["restartCount"] for c in after["status"]["containerStatuses"]] == [0]
