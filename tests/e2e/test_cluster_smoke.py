"""The kind cluster is real: Ready nodes, a locally built image that runs and answers through
`kubectl port-forward`, cluster DNS, `kubectl top`, the monitoring CRDs enforcing their
schemas, and not a single image pulled.

Runs against the cluster `make kind-up` made (context kind-$KIND_CLUSTER); the smoke image
comes from `make kind-load` (E2E_SMOKE_IMAGE). Skips with the reason when either is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.kube import Kubectl
from tests.fakes.service_process import wait_until

pytestmark = pytest.mark.e2e

SMOKE_PORT = 8080


def smoke_pod_manifest(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "e2e-smoke"}},
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "image": image,
                    # the image was loaded into the node: asking a registry would be a failure
                    "imagePullPolicy": "Never",
                    "ports": [{"containerPort": SMOKE_PORT, "name": "http"}],
                    "readinessProbe": {
                        "httpGet": {"path": "/", "port": "http"},
                        "periodSeconds": 1,
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"memory": "64Mi"},
                    },
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "terminationGracePeriodSeconds": 1,
        },
    }


def is_ready(obj: dict[str, Any]) -> bool:
    conditions = obj.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.fixture(scope="module")
def smoke_pod(kube: Kubectl, namespace: str) -> Iterator[str]:
    image = os.environ.get("E2E_SMOKE_IMAGE")
    if not image:
        pytest.skip("E2E_SMOKE_IMAGE is not set (make kind-load loads it; make e2e sets it)")
    kube("-n", namespace, "apply", "-f", "-", stdin=json.dumps(smoke_pod_manifest("smoke", image)))

    def ready() -> bool:
        pod = kube.json("-n", namespace, "get", "pod", "smoke")
        waiting = [
            s["state"]["waiting"]
            for s in pod["status"].get("containerStatuses", [])
            if "waiting" in s.get("state", {})
        ]
        bad = [w for w in waiting if w.get("reason") in {"ErrImageNeverPull", "InvalidImageName"}]
        if bad:
            pytest.fail(f"image {image} is not in the node ({bad[0]}): run make kind-load")
        return is_ready(pod)

    wait_until(ready, timeout=120, what=f"pod smoke ({image}) Ready", interval=0.5)
    yield "smoke"


def test_every_node_is_ready(kube: Kubectl) -> None:
    nodes = kube.json("get", "nodes")["items"]
    assert nodes, "the cluster has no nodes"
    not_ready = [n["metadata"]["name"] for n in nodes if not is_ready(n)]
    assert not_ready == []


def test_locally_built_image_answers_through_port_forward(
    kube: Kubectl, namespace: str, smoke_pod: str
) -> None:
    with kube.port_forward(namespace, f"pod/{smoke_pod}", SMOKE_PORT) as url:
        reply = httpx.get(f"{url}/", timeout=10)
    assert reply.status_code == 200
    assert reply.text == f"smoke ok from {smoke_pod}\n"


def test_cluster_dns_resolves_kubernetes_default(
    kube: Kubectl, namespace: str, smoke_pod: str
) -> None:
    cluster_ip = kube(
        "-n", "default", "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"
    )
    resolve = "import socket; print(socket.gethostbyname('kubernetes.default'))"
    answer = kube("-n", namespace, "exec", smoke_pod, "--", "python3", "-c", resolve, timeout=30)
    assert answer.strip() == cluster_ip


def test_kubectl_top_pods_has_metrics_within_two_minutes(
    kube: Kubectl, namespace: str, smoke_pod: str
) -> None:
    def top() -> str:
        return kube("-n", namespace, "top", "pods", "--no-headers", timeout=20)

    wait_until(lambda: smoke_pod in top(), timeout=120, what="kubectl top pods", interval=2)
    name, cpu, memory = top().split()[:3]
    assert name == smoke_pod
    assert cpu.endswith("m") and memory.endswith("Mi"), (cpu, memory)


SERVICE_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "e2e-smoke"},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "e2e-smoke"}},
        "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
    },
}

PROMETHEUS_RULE = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "e2e-smoke"},
    "spec": {
        "groups": [
            {
                "name": "e2e-smoke",
                "rules": [
                    {
                        "alert": "E2ESmokeDown",
                        "expr": 'up{job="e2e-smoke"} == 0',
                        "for": "5m",
                        "labels": {"severity": "warning"},
                        "annotations": {"summary": "the smoke server is down"},
                    }
                ],
            }
        ]
    },
}


@pytest.mark.parametrize("obj", [SERVICE_MONITOR, PROMETHEUS_RULE], ids=lambda o: o["kind"])
def test_monitoring_objects_are_accepted_by_the_api_server(
    kube: Kubectl, namespace: str, obj: dict[str, Any]
) -> None:
    kube("-n", namespace, "apply", "-f", "-", stdin=json.dumps(obj))
    stored = kube.json(
        "-n",
        namespace,
        "get",
        f"{obj['kind'].lower()}s.monitoring.coreos.com",
        obj["metadata"]["name"],
    )
    assert stored["spec"] == obj["spec"]


def test_monitoring_crds_enforce_their_schema(kube: Kubectl, namespace: str) -> None:
    broken = {**PROMETHEUS_RULE, "metadata": {"name": "e2e-broken"}, "spec": {"groups": "nope"}}
    with pytest.raises(RuntimeError, match=r"spec\.groups"):
        kube("-n", namespace, "apply", "-f", "-", stdin=json.dumps(broken))


def test_no_image_was_pulled(kube: Kubectl, smoke_pod: str) -> None:
    pulling = kube.json("get", "events", "--all-namespaces", "--field-selector", "reason=Pulling")
    assert [
        f"{e['involvedObject'].get('namespace')}/{e['involvedObject']['name']}: {e['message']}"
        for e in pulling["items"]
    ] == []
