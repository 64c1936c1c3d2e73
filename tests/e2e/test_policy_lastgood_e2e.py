"""On the kind cluster: after an invalid edit of the policy ConfigMap, a NEW pod (an HPA
scale-out) starts on the last applied policy instead of crash-looping: it is Ready, answers
under the last good policy, and the rejection is a `PolicyRejected` Event on the ConfigMap.

The release's pods record what they apply in `<release>-policy-applied`
(app/config_watch/last_applied.py). The scale-out is the HPA's own: its minReplicas is raised
by one (put back afterwards); without an HPA, the Deployment is scaled. Needs the release the
e2e suite installs (policySource.type=kubernetes); skips otherwise.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import httpx
import pytest
import yaml

from app.config import parse_policy
from tests.e2e.test_policy_reload_e2e import (  # noqa: F401 (fixtures)
    API_PODS,
    INSTANCE,
    configmap_name,
    container_port,
    deployment,
    kubectl,
    kubectl_json,
    kubernetes_source,
    patch_policy,
    port_forward,
    ready_policy,
    rejected_events,
    restarts,
    running_pods,
)
from tests.fakes.service_process import wait_until

pytestmark = pytest.mark.e2e

APPLY_TIMEOUT_SECONDS = 60.0
READY_TIMEOUT_SECONDS = 240.0  # schedule, start, index the runbooks, pass readiness
QUESTION_LIMIT = 123  # limits.max_question_chars of the good edit: visible in every answer


def applied_record(release_deployment: str) -> dict[str, str]:
    """The chart names it after the release's full name, as it does the Deployment."""
    data: dict[str, str] = kubectl_json(
        "get", "configmap", f"{release_deployment}-policy-applied").get("data") or {}
    return data


@contextlib.contextmanager
def one_more_replica(name: str) -> Iterator[None]:
    """Scale out by one the way production does: through the HPA when there is one."""
    hpas = kubectl_json("get", "hpa", "-l", INSTANCE)["items"]
    if hpas:
        hpa = hpas[0]["metadata"]["name"]
        spec = kubectl_json("get", "hpa", hpa)["spec"]
        current = max(len(running_pods()), int(spec.get("minReplicas", 1)))
        assert current < int(spec["maxReplicas"]), "the HPA has no room to scale out"
        target = {"spec": {"minReplicas": current + 1}}
        kubectl("patch", "hpa", hpa, "--type", "merge", "-p", json.dumps(target))
        try:
            yield
        finally:
            kubectl("patch", "hpa", hpa, "--type", "merge",
                    "-p", json.dumps({"spec": {"minReplicas": spec.get("minReplicas", 1)}}))
        return
    replicas = int(kubectl_json("get", "deployment", name)["spec"]["replicas"])
    kubectl("scale", "deployment", name, f"--replicas={replicas + 1}")
    try:
        yield
    finally:
        kubectl("scale", "deployment", name, f"--replicas={replicas}")


def ask(url: str, question: str) -> httpx.Response:
    return httpx.post(url + "/ask", json={"question": question}, timeout=60)


def test_a_pod_started_after_an_invalid_edit_runs_the_last_applied_policy(
        kubernetes_source: str) -> None:  # noqa: F811 (the imported fixture)
    name = kubernetes_source
    configmap = configmap_name()
    original = kubectl_json("get", "configmap", configmap)["data"]["policy.yaml"]
    document = yaml.safe_load(original) or {}
    budgets = document.setdefault("budgets", {})
    budgets["hourly_usd"] = round(float(budgets.get("hourly_usd", 10.0)) + 2.5, 2)
    document.setdefault("limits", {})["max_question_chars"] = QUESTION_LIMIT
    good = yaml.safe_dump(document, sort_keys=False)
    good_hash = parse_policy(good).digest
    invalid = yaml.safe_dump({**document, "budgets": {**budgets, "hourly_usd": -1}},
                             sort_keys=False)
    long_question = "pod OOMKilled, what now? " + "x" * QUESTION_LIMIT

    try:
        patch_policy(configmap, good)
        before = running_pods()
        for pod in before:
            with port_forward(pod["metadata"]["name"], container_port(pod)) as url:
                wait_until(lambda url=url: ready_policy(url)["hash"] == good_hash,
                           timeout=APPLY_TIMEOUT_SECONDS, what=f"the good edit on {url}")
        wait_until(lambda: applied_record(name).get("hash") == good_hash,
                   timeout=APPLY_TIMEOUT_SECONDS, what="the good edit recorded as applied")

        patch_policy(configmap, invalid)
        wait_until(lambda: any("budgets.hourly_usd" in e.get("message", "")
                               for e in rejected_events(configmap)),
                   timeout=APPLY_TIMEOUT_SECONDS, what="the running pods' PolicyRejected")
        assert applied_record(name)["hash"] == good_hash  # the invalid one is never recorded

        old = {p["metadata"]["name"] for p in before}
        with one_more_replica(name):
            wait_until(lambda: [p for p in kubectl_json("get", "pods", "-l", API_PODS)["items"]
                                if p["metadata"]["name"] not in old],
                       timeout=READY_TIMEOUT_SECONDS, interval=1, what="a new pod")
            new = next(p for p in kubectl_json("get", "pods", "-l", API_PODS)["items"]
                       if p["metadata"]["name"] not in old)
            pod = new["metadata"]["name"]
            kubectl("wait", "--for=condition=Ready", f"pod/{pod}",
                    f"--timeout={int(READY_TIMEOUT_SECONDS)}s")
            assert restarts(kubectl_json("get", "pod", pod)) == 0  # never crash-looped

            with port_forward(pod, container_port(new)) as url:
                policy = ready_policy(url)
                assert policy["hash"] == good_hash
                assert "last applied" in policy["origin"]
                assert "budgets.hourly_usd" in (policy["last_error"] or "")
                refused = ask(url, long_question)  # the good edit's limit is in force
                assert refused.status_code == 400, refused.text
                assert f"the limit is {QUESTION_LIMIT}" in refused.json()["detail"]
                assert ask(url, "pod OOMKilled, what now?").status_code == 200

            started_on_record = [e for e in rejected_events(configmap)
                                 if "starting on the last applied policy" in e.get("message", "")
                                 and e.get("reportingInstance") == pod]
            assert started_on_record, "no PolicyRejected Event from the new pod"
            assert "budgets.hourly_usd" in started_on_record[0]["message"]
            assert good_hash in started_on_record[0]["message"]
    finally:
        patch_policy(configmap, original)
