"""On the kind cluster, monitored the way kube-prometheus-stack users run it (issue 16, items 1
and 2): the Prometheus Operator and a Prometheus it manages select the chart's ServiceMonitor
and PrometheusRule by `release: kube-prometheus-stack`; prometheus-adapter serves the pods'
in-flight requests to the HPA through custom.metrics.k8s.io (tools/cluster-monitoring.sh
installs all three in `monitoring` at kind-up).

A release of its own, in a namespace of its own, pointed at the fake Anthropic server in a pod
(its control API reached through a port-forward): every API pod is a healthy target; the rules
load and evaluate without errors; the breaker-open alert fires while the fake fails and resolves
after it recovers; with the fake slowed and a constant concurrency from a load pod inside the
cluster the HPA scales out on in-flight requests while CPU stays under its target, and back in
after the load; every dashboard query returns data from this Prometheus.

Real time in the cluster: the alert's `for: 1m` and its 1 m window are the rule's own, so the
waits poll with timeouts. Skips with the reason when there is no cluster or no monitoring
stack. Traffic: 127.0.0.1 (port-forwards) and pods of this cluster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.incluster import (
    FAKE,
    FAKE_MODULES,
    FAKE_PORT,
    e2e_image,
    fake_anthropic_objects,
    hardened,
)
from tests.e2e.kube import Kubectl
from tests.fakes.anthropic_control import FakeAnthropicControl
from tests.fakes.service_process import REPO_ROOT, wait_until
from tests.integration.monitoring import assets

pytestmark = pytest.mark.e2e

CHART = REPO_ROOT / "charts" / "sre-ai-platform"
RELEASE = "mon"
FULLNAME = f"{RELEASE}-sre-ai-platform"
JOB = f"{FULLNAME}-metrics"  # the ServiceMonitor's job: the metrics Service's name
API_PODS = (f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=sre-ai-platform,"
            "app.kubernetes.io/component=api")
STACK_RELEASE = "kube-prometheus-stack"  # the Prometheus CR selects this `release` label
PROMETHEUS = "kube-prometheus-stack-prometheus"
MIN_REPLICAS, MAX_REPLICAS = 2, 4
INFLIGHT_TARGET = 2  # requests in flight per pod
CPU_TARGET = 80  # % of the request; an LLM service waiting on its upstream stays far below
CONCURRENCY = 12  # constant: 6 per pod at 2 replicas, three times the target
UPSTREAM_DELAY_SECONDS = 8
LOADER = "load"
# Series this module's release never produces (see test_every_dashboard_query_returns_data).
NOT_EXERCISED = ("ai_team_", "ai_semantic_cache_similarity", "time_to_first_chunk")
EPOCH = "0001-01-01T00:00:00Z"  # Prometheus's lastEvaluation before the first evaluation

# A constant number of clients, each asking distinct questions (cache misses) one at a time,
# through the release's Service: a new connection per request, so kube-proxy spreads them.
LOAD_SCRIPT = """
import itertools, json, os, threading, urllib.request
url, n = os.environ["URL"], int(os.environ["CONCURRENCY"])
count = itertools.count()
def client():
    while True:
        q = json.dumps({"question": f"deployment web-{next(count)} pods pending, why?"}).encode()
        req = urllib.request.Request(url, data=q, headers={"content-type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=120).read()
        except Exception as exc:
            print(exc, flush=True)
for _ in range(n):
    threading.Thread(target=client).start()
"""


def helm(kube: Kubectl, namespace: str, *args: str) -> str:
    done = subprocess.run(["helm", "--kube-context", kube.context, "-n", namespace, *args],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


class Prometheus:
    """The in-cluster Prometheus's HTTP API through a port-forward."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)

    def get(self, path: str, **params: Any) -> Any:
        body = self.client.get(path, params=params).json()
        assert body["status"] == "success", body
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step: int) -> list[Any]:
        return list(self.get("/api/v1/query_range", query=expr, start=start, end=end,
                             step=step)["result"])

    def firing(self, alert: str) -> list[dict[str, Any]]:
        return [a for a in self.get("/api/v1/alerts")["alerts"]
                if a["labels"]["alertname"] == alert and a["labels"].get("job") == JOB
                and a["state"] == "firing"]


@pytest.fixture(scope="module")
def stack(kube: Kubectl) -> None:
    for tool in ("helm", "kubectl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not on PATH (the e2e suite needs the kind cluster: make kind-up)")
    try:
        kube("-n", "monitoring", "get", "prometheus", PROMETHEUS)
        kube("get", "apiservice", "v1beta1.custom.metrics.k8s.io")
    except RuntimeError as exc:
        pytest.skip(f"no in-cluster monitoring stack (make kind-up MONITORING=1): {exc}")


@pytest.fixture(scope="module")
def prometheus(stack: None, kube: Kubectl) -> Iterator[Prometheus]:
    with kube.port_forward("monitoring", "service/prometheus-operated", 9090) as url:
        prom = Prometheus(url)
        yield prom
        prom.client.close()


@pytest.fixture(scope="module")
def fake(stack: None, kube: Kubectl, namespace: str) -> Iterator[FakeAnthropicControl]:
    """The fake Anthropic server in a pod of the namespace; yields its control API."""
    fakes = REPO_ROOT / "tests" / "fakes"
    kube("-n", namespace, "create", "configmap", FAKE,
         *[f"--from-file={m}={fakes / m}" for m in FAKE_MODULES],
         f"--from-file=tests__init__.py={fakes.parent / '__init__.py'}")
    kube("-n", namespace, "apply", "-f", "-",
         stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                           "items": fake_anthropic_objects()}))
    kube("-n", namespace, "wait", "--for=condition=Ready", f"pod/{FAKE}", "--timeout=120s",
         timeout=150)
    with kube.port_forward(namespace, f"pod/{FAKE}", FAKE_PORT) as url:
        yield FakeAnthropicControl(url)


def release_values() -> dict[str, Any]:
    e2e = yaml.safe_load((REPO_ROOT / "tests" / "e2e" / "values-e2e.yaml").read_text())
    return {
        "image": {**e2e_image(), "pullPolicy": "Never"},
        "redis": e2e["redis"],  # the HPA needs a shared ledger
        "anthropic": {"apiKey": "e2e-not-a-secret", "baseUrl": f"http://{FAKE}:{FAKE_PORT}"},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
        "podDisruptionBudget": {"enabled": False},
        "policy": {
            "budgets": {"per_request_usd": 0.5, "hourly_usd": 1000, "daily_usd": 1000,
                        "monthly_usd": 10000},
            # Opens after 4 calls. It must stay open between scrapes: with a short wait the
            # next ask finds it half-open, the 5 s scrape rarely sees `open`, and the alert
            # (max_over_time of state="open" over 1 m, for 1 m) never fires.
            "breaker": {"window_size": 4, "minimum_calls": 4, "wait_in_open_seconds": 20},
            "cache": {"semantic_enabled": False},  # every distinct question reaches upstream
        },
        "monitoring": {
            "serviceMonitor": {"labels": {"release": STACK_RELEASE}, "interval": "5s",
                               "scrapeTimeout": "4s"},
            "rules": {"labels": {"release": STACK_RELEASE}},
            "dashboards": {"enabled": False},
        },
        "autoscaling": {
            "enabled": True, "metric": "inflight", "minReplicas": MIN_REPLICAS,
            "maxReplicas": MAX_REPLICAS, "targetCPUUtilizationPercentage": CPU_TARGET,
            "inflight": {"averageValue": str(INFLIGHT_TARGET)},
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0},
                         "scaleDown": {"stabilizationWindowSeconds": 15, "podsPerMinute": 2}},
        },
        "networkPolicy": {"extraEgress": [{
            "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": FAKE}}}],
            "ports": [{"port": FAKE_PORT, "protocol": "TCP"}]}]},
    }


@pytest.fixture(scope="module")
def release(kube: Kubectl, namespace: str, fake: FakeAnthropicControl,
            tmp_path_factory: pytest.TempPathFactory) -> float:
    """The release, installed and Ready; returns when it was (for range queries)."""
    del fake
    values: Path = tmp_path_factory.mktemp("monitoring-e2e") / "values.yaml"
    values.write_text(yaml.safe_dump(release_values()))
    helm(kube, namespace, "install", RELEASE, str(CHART), "-f", str(values),
         "--wait", "--timeout", "5m")
    # The Deployment leaves replicas to the HPA, which raises them to its minimum.
    wait_until(lambda: kube.json("-n", namespace, "get", "deployment", FULLNAME)["status"]
               .get("readyReplicas", 0) >= MIN_REPLICAS, timeout=180, interval=2,
               what=f"{MIN_REPLICAS} Ready API pods (the HPA's minimum)")
    return time.time()


def api_pods(kube: Kubectl, namespace: str) -> list[str]:
    return [p["metadata"]["name"]
            for p in kube.json("-n", namespace, "get", "pods", "-l", API_PODS)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def test_every_api_pod_is_a_healthy_target(
        kube: Kubectl, namespace: str, release: float, prometheus: Prometheus) -> None:
    pods = set(api_pods(kube, namespace))
    assert len(pods) >= MIN_REPLICAS
    seen: dict[str, str] = {}

    def all_up() -> bool:
        seen.clear()
        for t in prometheus.get("/api/v1/targets", state="active")["activeTargets"]:
            if t["labels"].get("namespace") == namespace:
                seen[t["labels"].get("pod", "?")] = t["health"]
        return set(seen) == pods and set(seen.values()) == {"up"}

    wait_until(all_up, timeout=120, interval=2,
               what=f"every API pod of {namespace} an up target (pods {pods})")
    target = next(t for t in prometheus.get("/api/v1/targets", state="active")["activeTargets"]
                  if t["labels"].get("namespace") == namespace)
    assert target["labels"]["job"] == JOB
    assert target["scrapePool"].startswith(f"serviceMonitor/{namespace}/{FULLNAME}/")


def test_rules_load_and_evaluate_without_errors(
        namespace: str, release: float, prometheus: Prometheus) -> None:
    del release
    want = {g["name"] for g in assets.rule_groups()}
    loaded: list[dict[str, Any]] = []

    def evaluated() -> bool:
        loaded[:] = [g for g in prometheus.get("/api/v1/rules")["groups"]
                     if f"/{namespace}-{FULLNAME}-" in g["file"]]
        return ({g["name"] for g in loaded} == want
                and all(r["lastEvaluation"] != EPOCH for g in loaded for r in g["rules"]))

    wait_until(evaluated, timeout=120, interval=2,
               what=f"rule groups {sorted(want)} loaded and evaluated")
    rules = [r for g in loaded for r in g["rules"]]
    assert len(rules) == len(assets.rules())
    bad = [(r["name"], r["health"], r.get("lastError")) for r in rules
           if r["health"] != "ok" or r.get("lastError")]
    assert not bad, bad


def breakers(url: str) -> dict[str, Any]:
    return dict(httpx.get(url + "/circuit-breaker", timeout=30).json()["breakers"])


def ask_until(url: str, done: Any, what: str, timeout: float = 180) -> None:
    """Ask distinct questions through `url` until `done(breakers)`."""
    n = 0

    def one() -> bool:
        nonlocal n
        n += 1
        httpx.post(url + "/ask", json={"question": f"node {what} {n} NotReady, what now?"},
                   timeout=90)
        return bool(done(breakers(url)))

    wait_until(one, timeout=timeout, interval=0.1, what=what)


def test_breaker_open_alert_fires_while_upstream_fails(
        kube: Kubectl, namespace: str, release: float, prometheus: Prometheus,
        fake: FakeAnthropicControl) -> None:
    del release
    assert not prometheus.firing("AICircuitBreakerOpen")
    fake.fail(500, until_cleared=True)
    try:
        with kube.port_forward(namespace, f"deployment/{FULLNAME}", 8000) as url:
            ask_until(url, lambda b: any(s["state"] == "open" for s in b.values()),
                      "a breaker to open")
            # Keep asking while the alert's `for: 1m` runs: each trial call after the wait
            # fails and reopens the breaker, as under a real outage. Left alone, the breaker
            # reports half-open after its wait and the alert's 1 m window can close first.
            ask_until(url, lambda _: prometheus.firing("AICircuitBreakerOpen"),
                      "AICircuitBreakerOpen to fire", timeout=240)
    finally:
        fake.clear_faults()
    # The upstream recovers: the breakers close at their next trial calls. The alert's 1 m
    # window keeps it firing a while; test_breaker_open_alert_resolves_after_recovery checks it
    # after the HPA test, so that minute is not waited for twice.
    with kube.port_forward(namespace, f"deployment/{FULLNAME}", 8000) as url:
        # The fallback gets no trial calls once the primary answers: half-open is enough.
        ask_until(url, lambda b: all(s["state"] != "open" for s in b.values()),
                  "no breaker open")


def load_pod(namespace: str) -> dict[str, Any]:
    image = e2e_image()
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": LOADER},
        "spec": {
            "automountServiceAccountToken": False, "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [hardened({
                "name": "load", "image": f"{image['repository']}:{image['tag']}",
                "imagePullPolicy": "Never", "command": ["python", "-c", LOAD_SCRIPT],
                "env": [{"name": "URL", "value": f"http://{FULLNAME}.{namespace}:8000/ask"},
                        {"name": "CONCURRENCY", "value": str(CONCURRENCY)}],
                "resources": {"requests": {"cpu": "20m", "memory": "64Mi"},
                              "limits": {"memory": "256Mi"}},
            })],
        },
    }


def hpa_metrics(kube: Kubectl, namespace: str) -> dict[str, Any]:
    """The HPA's status: replicas, and the current in-flight average and CPU utilisation."""
    hpa = kube.json("-n", namespace, "get", "hpa", FULLNAME)
    out: dict[str, Any] = {"desired": hpa["status"].get("desiredReplicas", 0),
                           "current": hpa["status"].get("currentReplicas", 0)}
    for m in hpa["status"].get("currentMetrics") or []:
        if m["type"] == "Pods":
            out[m["pods"]["metric"]["name"]] = float(
                quantity(m["pods"]["current"]["averageValue"]))
        elif m["type"] == "Resource" and m["resource"]["name"] == "cpu":
            out["cpu"] = m["resource"]["current"].get("averageUtilization")
    return out


def quantity(q: str) -> float:
    """A Kubernetes quantity as the HPA reports averages: plain, or milli-units (`2500m`)."""
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def test_hpa_scales_out_on_in_flight_requests_while_cpu_stays_low_and_back_in(
        kube: Kubectl, namespace: str, release: float, fake: FakeAnthropicControl) -> None:
    del release
    spec = kube.json("-n", namespace, "get", "hpa", FULLNAME)["spec"]
    assert [m["type"] for m in spec["metrics"]] == ["Resource", "Pods"]
    # the adapter serves the pods' in-flight requests before any load
    wait_until(lambda: "ai_active_requests" in hpa_metrics(kube, namespace), timeout=180,
               interval=3, what="the HPA to read ai_active_requests (prometheus-adapter)")
    fake.fail(delay_seconds=UPSTREAM_DELAY_SECONDS, until_cleared=True)
    kube("-n", namespace, "apply", "-f", "-", stdin=json.dumps(load_pod(namespace)))
    seen: dict[str, Any] = {}
    try:
        def scaled_out() -> bool:
            now = hpa_metrics(kube, namespace)
            seen.clear()
            seen.update(now)
            return bool(now["desired"] > MIN_REPLICAS and now.get("cpu") is not None
                        and now.get("ai_active_requests", 0) > INFLIGHT_TARGET)

        wait_until(scaled_out, timeout=240, interval=3,
                   what="the HPA to scale out on in-flight requests")
        # It scaled on what the pods wait on: CPU is under its target.
        assert seen["cpu"] < CPU_TARGET, seen
        # Out for real: the HPA has set the replicas (its status lags its decision).
        wait_until(lambda: hpa_metrics(kube, namespace)["current"] > MIN_REPLICAS,
                   timeout=120, interval=2, what="the HPA's current replicas above the minimum")
        wait_until(lambda: len(api_pods(kube, namespace)) > MIN_REPLICAS, timeout=120,
                   interval=2, what="more API pods")
    finally:
        kube("-n", namespace, "delete", "pod", LOADER, "--wait=false", "--ignore-not-found")
        fake.clear_faults()
    wait_until(lambda: hpa_metrics(kube, namespace)["current"] == MIN_REPLICAS
               and kube.json("-n", namespace, "get", "deployment", FULLNAME)["spec"]["replicas"]
               == MIN_REPLICAS, timeout=300, interval=3,
               what=f"the HPA to scale back in to {MIN_REPLICAS}")


def test_breaker_open_alert_resolves_after_recovery(prometheus: Prometheus) -> None:
    """The upstream recovered in test_breaker_open_alert_fires_while_upstream_fails."""
    wait_until(lambda: not prometheus.firing("AICircuitBreakerOpen"), timeout=240, interval=3,
               what="AICircuitBreakerOpen to resolve")
    fired = prometheus.query_range('ALERTS{alertname="AICircuitBreakerOpen",'
                                   f'alertstate="firing",job="{JOB}"}}',
                                   time.time() - 900, time.time(), 5)
    assert fired, "AICircuitBreakerOpen never fired in this module's run"


def test_every_dashboard_query_returns_data(
        release: float, prometheus: Prometheus) -> None:
    """After the traffic above, each panel query has data over the module's run. Not run here:
    policy teams, the semantic cache (off, so every load question reaches the upstream) and
    streaming; their panels are proven by tests/integration/monitoring/test_live.py."""
    empty = []
    for q in assets.dashboard_queries({"job": JOB}):
        if any(name in q.expr for name in NOT_EXERCISED):
            continue
        result = prometheus.query_range(q.expr, release, time.time(), 5)
        if not any(v[1] not in ("NaN", "+Inf", "-Inf") for s in result for v in s["values"]):
            empty.append(f"{q.where}: {q.expr}")
    assert not empty, "dashboard queries with no data:\n" + "\n".join(empty)
