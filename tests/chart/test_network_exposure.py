"""What the release exposes and to whom (issue 17, hostile callers): `/metrics` on a port and a
Service of its own, off the public Service; the NetworkPolicy on by default: ingress from the
release namespace and (metrics only) the monitoring namespace, egress to DNS, Redis and HTTPS
only, plus the knobs; and the kind e2e releases open what their fakes need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.rendering import (
    MONITORING_API,
    RELEASE,
    REPO,
    Obj,
    Rendered,
    render,
    render_error,
)
from tests.e2e.incluster import FAKE, FAKE_PORT
from tests.e2e.test_ledger_persistence_e2e import release_values

pytestmark = pytest.mark.chart

MONITORING_NS = {"namespaceSelector": {"matchLabels": {
    "kubernetes.io/metadata.name": "monitoring"}}}
KUBE_SYSTEM = [{"namespaceSelector": {"matchLabels": {
    "kubernetes.io/metadata.name": "kube-system"}}}]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def _policy(rendered: Rendered) -> Obj:
    return rendered.get("NetworkPolicy", RELEASE)


def _ingress(policy: Obj, port: str) -> list[Any]:
    (rule,) = [r for r in policy["spec"]["ingress"]
               if r["ports"] == [{"port": port, "protocol": "TCP"}]]
    return list(rule["from"])


def _egress_ports(policy: Obj) -> set[int]:
    return {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}


def _rule_for(policy: Obj, port: int) -> Obj:
    rules: list[Obj] = [r for r in policy["spec"]["egress"]
                        if {"port": port, "protocol": "TCP"} in r.get("ports", [])]
    (rule,) = rules
    return rule


# ------------------------------------------------------------------------------- /metrics


def test_metrics_have_a_port_and_a_service_of_their_own_by_default() -> None:
    rendered = render(api_versions=[MONITORING_API])
    container = rendered.api_container()
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SRE_AI_METRICS_PORT"] == "9090"
    pod_labels = rendered.api_deployment()["spec"]["template"]["metadata"]["labels"]
    metrics = rendered.get("Service", f"{RELEASE}-metrics")
    assert metrics["spec"]["type"] == "ClusterIP"
    assert metrics["spec"]["ports"] == [{"name": "metrics", "port": 9090,
                                         "targetPort": "metrics", "protocol": "TCP"}]
    assert _selects(metrics["spec"]["selector"], pod_labels)
    public = rendered.get("Service", RELEASE)
    assert [p["targetPort"] for p in public["spec"]["ports"]] == ["http"]
    sm = rendered.get("ServiceMonitor")
    assert _selects(sm["spec"]["selector"]["matchLabels"], metrics["metadata"]["labels"])
    assert not _selects(sm["spec"]["selector"]["matchLabels"], public["metadata"]["labels"])
    assert [e["port"] for e in sm["spec"]["endpoints"]] == ["metrics"]


def test_metrics_port_null_serves_them_on_the_http_port_through_the_public_service() -> None:
    rendered = render(sets=["metrics.port=null"], api_versions=[MONITORING_API])
    assert rendered.maybe("Service", f"{RELEASE}-metrics") is None
    container = rendered.api_container()
    assert [p["name"] for p in container["ports"]] == ["http"]
    assert "SRE_AI_METRICS_PORT" not in {e["name"] for e in container["env"]}
    sm = rendered.get("ServiceMonitor")
    public = rendered.get("Service", RELEASE)
    assert _selects(sm["spec"]["selector"]["matchLabels"], public["metadata"]["labels"])
    assert [e["port"] for e in sm["spec"]["endpoints"]] == ["http"]
    # Prometheus's namespace may then reach the HTTP port, where /metrics is
    assert MONITORING_NS in _ingress(_policy(rendered), "http")


def test_a_metrics_port_equal_to_the_http_port_is_refused() -> None:
    assert "metrics.port must differ" in render_error(sets=["metrics.port=8000"])


# ----------------------------------------------------------------------------- NetworkPolicy


def test_the_network_policy_is_on_by_default_and_admits_only_what_it_says() -> None:
    rendered = render()
    policy = _policy(rendered)
    pod_labels = rendered.api_deployment()["spec"]["template"]["metadata"]["labels"]
    assert _selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    # ingress: the API from the release namespace only; /metrics also from Prometheus's
    assert len(policy["spec"]["ingress"]) == 2
    assert _ingress(policy, "http") == [{"podSelector": {}}]
    assert _ingress(policy, "metrics") == [{"podSelector": {}}, MONITORING_NS]
    # egress: DNS (to kube-system) and HTTPS, nothing else (no Redis configured by default)
    assert _egress_ports(policy) == {53, 443}
    dns = [r for r in policy["spec"]["egress"]
           if {"port": 53, "protocol": "UDP"} in r["ports"]]
    assert dns == [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                    "to": KUBE_SYSTEM}]


def test_egress_reaches_the_in_release_redis_pods_only() -> None:
    rendered = render("autoscaling-redis-values.yaml")
    policy = _policy(rendered)
    redis = _rule_for(policy, 6379)
    redis_pod = rendered.get("Deployment", f"{RELEASE}-redis") if rendered.maybe(
        "Deployment", f"{RELEASE}-redis") else rendered.get("StatefulSet", f"{RELEASE}-redis")
    (peer,) = redis["to"]
    assert _selects(peer["podSelector"]["matchLabels"],
                    redis_pod["spec"]["template"]["metadata"]["labels"])


def test_egress_to_an_external_redis_uses_its_ports() -> None:
    policy = _policy(render(sets=["externalRedis.url=redis://r.example:6390/0",
                                  "networkPolicy.egress.externalRedisPorts={6390}"]))
    assert _egress_ports(policy) == {53, 443, 6390}


def test_knobs_extend_and_replace_the_defaults() -> None:
    policy = _policy(render(sets=[
        "networkPolicy.extraIngress[0].namespaceSelector.matchLabels.team=edge",
        "networkPolicy.monitoringNamespaceSelector.matchLabels"
        ".kubernetes\\.io/metadata\\.name=observability",
        "networkPolicy.extraEgress[0].ports[0].port=8443",
        "networkPolicy.extraEgress[0].ports[0].protocol=TCP",
        "networkPolicy.egress.dnsTo=null",
    ]))
    assert {"namespaceSelector": {"matchLabels": {"team": "edge"}}} in _ingress(policy, "http")
    assert {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "observability"}}} in _ingress(policy, "metrics")
    assert policy["spec"]["egress"][-1] == {"ports": [{"port": 8443, "protocol": "TCP"}]}
    dns = policy["spec"]["egress"][0]
    assert "to" not in dns and {"port": 53, "protocol": "UDP"} in dns["ports"]


def test_the_policy_can_be_turned_off_and_egress_left_open() -> None:
    assert render(sets=["networkPolicy.enabled=false"]).maybe("NetworkPolicy", RELEASE) is None
    policy = _policy(render(sets=["networkPolicy.egress.enabled=false"]))
    assert policy["spec"]["policyTypes"] == ["Ingress"] and "egress" not in policy["spec"]


# --------------------------------------------------------------------------- the e2e releases


def test_the_e2e_release_reaches_its_redis_and_the_kubernetes_api() -> None:
    policy = _policy(render(str(REPO / "tests" / "e2e" / "values-e2e.yaml")))
    assert {53, 443, 6379, 6443} <= _egress_ports(policy)


def test_the_ledger_e2e_release_reaches_its_fake_anthropic_on_its_port(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(release_values(f"http://{FAKE}:{FAKE_PORT}")))
    policy = _policy(render(str(path)))
    fake = _rule_for(policy, FAKE_PORT)
    assert fake["to"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": FAKE}}}]
