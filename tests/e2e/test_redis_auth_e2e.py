"""On the kind cluster: the bundled Redis of a release of its own (namespace of the test's own)
requires the password the chart generated, which is in neither the Redis process's command
line nor its environment; the service reaches its ledger with it; and `helm upgrade` keeps the
same password (read back with `lookup`), so a pod started after the upgrade still gets in.

Redis persistence is off here: the kind node image has no volume provisioner (docs/cluster.md).
Skips with the reason when there is no cluster or no helm. Traffic: 127.0.0.1 (port-forward).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.incluster import wait_for_the_shared_ledger
from tests.e2e.kube import Kubectl
from tests.e2e.rollout import pod_template_change
from tests.fakes.service_process import REPO_ROOT, wait_until

pytestmark = pytest.mark.e2e

CHART = REPO_ROOT / "charts" / "sre-ai-platform"
RELEASE = "locked"
FULLNAME = f"{RELEASE}-sre-ai-platform"
REDIS = f"{FULLNAME}-redis"
API_PODS = (f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=sre-ai-platform,"
            "app.kubernetes.io/component=api")
REDIS_PODS = (f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=sre-ai-platform,"
              "app.kubernetes.io/component=redis")


def helm(kube: Kubectl, namespace: str, *args: str) -> str:
    done = subprocess.run(["helm", "--kube-context", kube.context, "-n", namespace, *args],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


@pytest.fixture(scope="module")
def values_file(tmp_path_factory: pytest.TempPathFactory, kube: Kubectl) -> Path:
    if shutil.which("helm") is None:
        pytest.skip("helm not on PATH (the e2e suite needs the kind cluster: make kind-up)")
    e2e = yaml.safe_load((REPO_ROOT / "tests" / "e2e" / "values-e2e.yaml").read_text())
    values = {
        "image": e2e["image"],
        "redis": {"enabled": True, "image": e2e["redis"]["image"],
                  "persistence": {"enabled": False}},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                      "limits": {"memory": "512Mi"}},
        "podDisruptionBudget": {"enabled": False},
        "monitoring": {"serviceMonitor": {"enabled": False}, "rules": {"enabled": False},
                       "dashboards": {"enabled": False}},
    }
    path = tmp_path_factory.mktemp("redis-auth-e2e") / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def one_ready_pod(kube: Kubectl, namespace: str, selector: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def single_ready() -> bool:
        pods = kube.json("-n", namespace, "get", "pods", "-l", selector)["items"]
        found[:] = pods
        return len(pods) == 1 and not pods[0]["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pods[0]["status"].get("conditions", []))

    wait_until(single_ready, timeout=180, interval=1, what=f"one Ready pod {selector}")
    return found[0]


def password(kube: Kubectl, namespace: str) -> str:
    secret = kube.json("-n", namespace, "get", "secret", REDIS)
    return base64.b64decode(secret["data"]["redis-password"]).decode()


def ledger_state(kube: Kubectl, namespace: str) -> str:
    with kube.port_forward(namespace, f"service/{FULLNAME}", 8000) as url:
        ledger: str = httpx.get(url + "/health/ready", timeout=30).json()["ledger"]
    return ledger


def test_redis_requires_the_generated_password_and_keeps_it_across_upgrades(
        kube: Kubectl, namespace: str, values_file: Path) -> None:
    helm(kube, namespace, "install", RELEASE, str(CHART), "-f", str(values_file),
         "--wait", "--timeout", "5m")
    first = password(kube, namespace)
    # (checks on the password are booleans: a failure must not print it)
    well_formed = re.fullmatch(r"[A-Za-z0-9]{32}", first) is not None
    assert well_formed, "the generated password is not 32 letters and digits"

    redis_pod = one_ready_pod(kube, namespace, REDIS_PODS)["metadata"]["name"]
    # An unauthenticated client (any pod that got past the NetworkPolicy) is refused.
    # (redis-cli's exit status on an error reply differs between versions: the reply decides)
    refused = kube("-n", namespace, "exec", redis_pod, "--",
                   "sh", "-c", "redis-cli ping 2>&1; true")
    assert "NOAUTH" in refused, refused
    # The password is in neither the command line nor the environment of redis-server (PID 1).
    cmdline = kube("-n", namespace, "exec", redis_pod, "--", "cat", "/proc/1/cmdline")
    environ = kube("-n", namespace, "exec", redis_pod, "--", "cat", "/proc/1/environ")
    assert "redis-server" in cmdline, cmdline
    hidden = first not in cmdline and first not in environ
    assert hidden, "the password is on redis-server's command line or in its environment"
    assert kube.json("-n", namespace, "get", "networkpolicy", REDIS)

    one_ready_pod(kube, namespace, API_PODS)
    # The API pod authenticates to Redis with the generated password: its ledger answers (as
    # soon as Redis's endpoint reaches it: the two started together).
    wait_for_the_shared_ledger(kube, namespace, API_PODS)

    # A new API pod after the upgrade reads the Secret again: it must hold the same password.
    before = one_ready_pod(kube, namespace, API_PODS)["metadata"]["uid"]
    helm(kube, namespace, "upgrade", RELEASE, str(CHART), "--reuse-values",
         *pod_template_change(), "--wait", "--timeout", "5m")
    after = one_ready_pod(kube, namespace, API_PODS)["metadata"]["uid"]
    assert after != before
    kept = password(kube, namespace) == first
    assert kept, "helm upgrade replaced the generated Redis password"
    assert ledger_state(kube, namespace) == "ok"
