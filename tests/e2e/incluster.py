"""What the e2e modules that install releases of their own share: helm pinned to the kind
context, the service image the suite loaded, the fake Anthropic server in a pod (its control
API reached through a port-forward), the in-cluster client (tests/e2e/client/ask_loop.py) and
the list of every object a release left behind."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import yaml

from tests.e2e.kube import Kubectl
from tests.fakes.anthropic_control import STANDALONE_MODULES, FakeAnthropicControl
from tests.fakes.service_process import REPO_ROOT, wait_until

CHART_DIR = REPO_ROOT / "charts" / "sre-ai-platform"
FAKE = "fake-anthropic"
FAKE_PORT = 8080
FAKE_MODULES = STANDALONE_MODULES  # every module the fake imports, found, not listed
CLIENT_SCRIPT = REPO_ROOT / "tests" / "e2e" / "client" / "ask_loop.py"
RELEASE_LABEL = "app.kubernetes.io/instance"


def helm(kube: Kubectl, namespace: str, *args: str) -> str:
    done = subprocess.run(["helm", "--kube-context", kube.context, "-n", namespace, *args],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def e2e_image() -> dict[str, str]:
    """The service image the suite loaded into the nodes: the chart's default repository and
    tag (its appVersion, what `make image` builds), unless tests/e2e/values-e2e.yaml overrides
    them."""
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["image"]
    overrides = yaml.safe_load(
        (REPO_ROOT / "tests" / "e2e" / "values-e2e.yaml").read_text())["image"]
    image = {**defaults, **overrides}
    tag = image["tag"] or yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    return {"repository": str(image["repository"]), "tag": str(tag)}


def image_ref() -> str:
    image = e2e_image()
    return f"{image['repository']}:{image['tag']}"


def hardened(container: dict[str, Any]) -> dict[str, Any]:
    return {**container, "securityContext": {
        "runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}}


def fake_anthropic_objects() -> list[dict[str, Any]]:
    """The fake Anthropic API in a pod: its modules from a ConfigMap, run by the service
    image's Python (aiohttp is one of the service's dependencies)."""
    labels = {"app.kubernetes.io/name": FAKE}
    # tests/__init__.py too: a `tests` package some wheel left in site-packages must not win
    items = [{"key": m, "path": f"tests/fakes/{m}"} for m in FAKE_MODULES]
    items.append({"key": "tests__init__.py", "path": "tests/__init__.py"})
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": FAKE, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [hardened({
                "name": "fake",
                "image": image_ref(),
                "imagePullPolicy": "Never",
                "command": ["python", "-m", "tests.fakes.anthropic_server",
                            "--host", "0.0.0.0", "--port", str(FAKE_PORT)],
                "env": [{"name": "PYTHONPATH", "value": "/fake"}],
                "workingDir": "/fake",
                "ports": [{"name": "http", "containerPort": FAKE_PORT}],
                "readinessProbe": {"httpGet": {"path": "/_fake/health", "port": "http"},
                                   "periodSeconds": 1},
                "resources": {"requests": {"cpu": "20m", "memory": "64Mi"},
                              "limits": {"memory": "256Mi"}},
                "volumeMounts": [{"name": "modules", "mountPath": "/fake", "readOnly": True}],
            })],
            "volumes": [{"name": "modules", "configMap": {"name": FAKE, "items": items}}],
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": FAKE},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": FAKE_PORT,
                                                "targetPort": "http"}]},
    }
    return [pod, service]


def deploy_fake_anthropic(kube: Kubectl, namespace: str) -> str:
    """Start the fake in `namespace`; its in-cluster URL once it is Ready."""
    fakes = REPO_ROOT / "tests" / "fakes"
    kube("-n", namespace, "create", "configmap", FAKE,
         *[f"--from-file={m}={fakes / m}" for m in FAKE_MODULES],
         f"--from-file=tests__init__.py={fakes.parent / '__init__.py'}")
    kube("-n", namespace, "apply", "-f", "-",
         stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": fake_anthropic_objects()}))
    kube("-n", namespace, "wait", "--for=condition=Ready", f"pod/{FAKE}", "--timeout=120s",
         timeout=150)
    return f"http://{FAKE}:{FAKE_PORT}"


@contextmanager
def fake_control(kube: Kubectl, namespace: str) -> Iterator[FakeAnthropicControl]:
    """The fake's control API (faults, stats, its bill) through a port-forward to its pod."""
    with kube.port_forward(namespace, f"pod/{FAKE}", FAKE_PORT) as url:
        yield FakeAnthropicControl(url, timeout_seconds=30)


def fake_egress() -> dict[str, Any]:
    """networkPolicy.extraEgress letting the API pods reach the fake (it listens on FAKE_PORT,
    not 443)."""
    return {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": FAKE}}}],
            "ports": [{"port": FAKE_PORT, "protocol": "TCP"}]}


def start_client(kube: Kubectl, namespace: str, name: str, *args: str) -> None:
    """Run ask_loop.py in a pod of the service image (never restarted: one summary)."""
    kube("-n", namespace, "create", "configmap", name, f"--from-file=ask_loop.py={CLIENT_SCRIPT}")
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "automountServiceAccountToken": False, "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [hardened({
                "name": "client", "image": image_ref(), "imagePullPolicy": "Never",
                "command": ["python", "/client/ask_loop.py", *args],
                "resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                              "limits": {"memory": "128Mi"}},
                "volumeMounts": [{"name": "script", "mountPath": "/client", "readOnly": True},
                                 {"name": "tmp", "mountPath": "/tmp"}],
            })],
            "volumes": [{"name": "script", "configMap": {"name": name}},
                        {"name": "tmp", "emptyDir": {}}],
        },
    }
    kube("-n", namespace, "apply", "-f", "-", stdin=json.dumps(pod))
    kube("-n", namespace, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s",
         timeout=150)


def client_summary(kube: Kubectl, namespace: str, name: str, *, timeout: float) -> dict[str, Any]:
    """Wait for the client pod to finish; its one JSON summary line."""
    wait_until(lambda: kube.json("-n", namespace, "get", "pod", name)["status"]["phase"]
               in {"Succeeded", "Failed"}, timeout=timeout, interval=1, what=f"client {name}")
    lines = kube("-n", namespace, "logs", name).strip().splitlines()
    assert lines, f"client {name} printed nothing"
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def release_objects(kube: Kubectl, namespace: str, release: str) -> list[str]:
    """Every object labelled with the release, of every kind that can be listed, in the
    namespace and cluster-wide (`kind/name`)."""
    found: list[str] = []
    for namespaced in ("true", "false"):
        kinds = kube("api-resources", "--verbs=list", f"--namespaced={namespaced}",
                     "-o", "name").split()
        # Events are labelled by nobody and listed by the thousand: not objects of a release.
        kinds = [k for k in kinds if k not in {"events", "events.events.k8s.io"}]
        scope = ["-n", namespace] if namespaced == "true" else []
        out = kube(*scope, "get", ",".join(kinds), "-l", f"{RELEASE_LABEL}={release}",
                   "-o", "name", "--ignore-not-found", timeout=120)
        found += out.split()
    return found


def wait_for_the_shared_ledger(kube: Kubectl, namespace: str, selector: str) -> None:
    """Until every API pod's readiness report says its Redis ledger answered and its Redis
    breaker is closed.

    A fresh release starts its API pods beside Redis. Until Redis is Ready and kube-proxy has
    its endpoint, each pod's start-up ping and readiness probes are refused; the Redis breaker
    opens (3 failures of 6) and, for its 5 s, paid calls are refused and questions are answered
    from the runbooks (degraded `offline: ledger_unavailable`): the service working as designed
    (docs/architecture.md, "Failure"). `helm install --wait` returns once Redis is Ready, which
    can be before the pods' breakers have closed again, so a test that counts degraded answers
    starts after this."""
    def shared_ledger_ok() -> bool:
        pods = kube.json("-n", namespace, "get", "pods", "-l", selector)["items"]
        for pod in pods:
            with kube.port_forward(namespace, f"pod/{pod['metadata']['name']}", 8000) as url:
                report = httpx.get(url + "/health/ready", timeout=30).json()
            redis = report.get("dependencies", {}).get("redis", {})
            if report.get("ledger") != "ok" or redis.get("state") != "closed":
                return False
        return bool(pods)

    wait_until(shared_ledger_ok, timeout=120, interval=1,
               what="every API pod's Redis ledger answering, its breaker closed")
