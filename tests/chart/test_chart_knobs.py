"""The knobs users expect of a well-kept chart (issue 19, point 5): Ingress and HTTPRoute, extra
env/envFrom/volumes/mounts, init containers and sidecars, Service type/nodePort/annotations,
`runbooks.existingConfigMap`, the Prometheus Operator objects without `.Capabilities`, and the
routing's models checked against the price table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.rendering import CHART, RELEASE, render, render_error
from tests.chart.test_release_objects import render_notes

pytestmark = pytest.mark.chart

KNOBS = "knobs-values.yaml"
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}


def pod_spec(values: str = KNOBS, sets: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = render(values, sets=sets).api_deployment()["spec"]["template"]["spec"]
    return spec


# ---------------------------------------------------------------------- Ingress and HTTPRoute


def test_ingress_routes_every_host_to_the_service_port() -> None:
    rendered = render(KNOBS)
    ingress = rendered.get("Ingress", RELEASE)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "90"}
    assert ingress["spec"]["tls"] == [{"secretName": "sre-ai-tls", "hosts": ["sre-ai.example.com"]}]
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert hosts == ["sre-ai.example.com", f"{RELEASE}.internal.example.com"]  # tpl-rendered
    service = rendered.get("Service", RELEASE)
    for rule in ingress["spec"]["rules"]:
        (path,) = rule["http"]["paths"]  # the second host's paths default to `/` Prefix
        assert (path["path"], path["pathType"]) == ("/", "Prefix")
        port_name = service["spec"]["ports"][0]["name"]
        assert path["backend"]["service"] == {
            "name": service["metadata"]["name"], "port": {"name": port_name}}


def test_ingress_without_hosts_serves_every_host() -> None:
    ingress = render(sets=["ingress.enabled=true"]).get("Ingress", RELEASE)
    (rule,) = ingress["spec"]["rules"]
    assert "host" not in rule and "ingressClassName" not in ingress["spec"]
    assert rule["http"]["paths"][0]["path"] == "/"


def test_http_route_attaches_to_the_gateway_and_targets_the_service() -> None:
    route = render(KNOBS).get("HTTPRoute", RELEASE)
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [
        {"name": "shared-gateway", "namespace": "gateways", "sectionName": "https"}]
    assert route["spec"]["hostnames"] == ["sre-ai.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"] == [{"name": RELEASE, "port": 8000}]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rule["timeouts"] == {"request": "60s"}


def test_routing_is_off_by_default() -> None:
    kinds = set(render().kinds())
    assert not kinds & {"Ingress", "HTTPRoute"}


def test_an_http_route_without_a_gateway_is_refused() -> None:
    assert "httpRoute.enabled=true needs httpRoute.parentRefs" in render_error(
        sets=["httpRoute.enabled=true"])


# ---------------------------------------------------------------------------------- Service


def test_service_type_node_port_annotations_and_labels() -> None:
    service = render(KNOBS).get("Service", RELEASE)
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30080
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    assert service["metadata"]["annotations"] == {"example.com/team": "sre"}
    assert service["metadata"]["labels"]["example.com/exposed"] == "true"


def test_load_balancer_fields() -> None:
    rendered = render(sets=["service.type=LoadBalancer", "service.loadBalancerClass=internal",
                            "service.loadBalancerSourceRanges[0]=10.0.0.0/8"])
    service = rendered.get("Service", RELEASE)
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["loadBalancerClass"] == "internal"
    assert service["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]
    assert "nodePort" not in service["spec"]["ports"][0]


def test_a_node_port_on_a_cluster_ip_service_is_refused() -> None:
    assert "service.nodePort is set but service.type=ClusterIP" in render_error(
        sets=["service.nodePort=30080"])


@pytest.mark.parametrize("sets", [["service.type=ExternalName"], ["service.nodePort=http"],
                                  ["service.externalTrafficPolicy=local"]])
def test_schema_refuses_bad_service_values(sets: list[str]) -> None:
    assert "don't meet the specifications of the schema" in render_error(sets=sets)


# ----------------------------------------------------- extra env, volumes, init containers


def test_a_corporate_ca_bundle_and_proxy_settings_reach_the_service_container() -> None:
    rendered = render(KNOBS)
    spec = rendered.api_deployment()["spec"]["template"]["spec"]
    container = rendered.api_container()
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SSL_CERT_FILE"] == "/etc/ssl/corporate/ca-bundle.crt"
    assert container["envFrom"] == [{"secretRef": {"name": "proxy-settings"}}]
    assert {"name": "corporate-ca", "configMap": {"name": "corporate-ca"}} in spec["volumes"]
    assert {"name": "corporate-ca", "mountPath": "/etc/ssl/corporate",
            "readOnly": True} in container["volumeMounts"]
    # the chart's own mounts are all still there
    assert {m["name"] for m in container["volumeMounts"]} >= {"policy", "runbooks", "ledger", "tmp"}


def test_init_containers_and_sidecars_are_added_tpl_rendered() -> None:
    spec = pod_spec()
    (init,) = spec["initContainers"]
    assert init["name"] == "wait-for-proxy"
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert init["image"] == f"sre-ai-platform:{app_version}"  # `{{ .Chart.AppVersion }}`
    names = [c["name"] for c in spec["containers"]]
    assert names == ["api", "auth-proxy"]


def test_user_init_containers_run_after_git_sync() -> None:
    spec = pod_spec("runbooks-git-values.yaml", (
        "initContainers[0].name=check", "initContainers[0].image=busybox:1.36"))
    assert [c["name"] for c in spec["initContainers"]] == ["git-sync", "check"]


@pytest.mark.parametrize("name", ["ledger", "tmp", "policy"])
def test_an_extra_volume_may_not_take_a_chart_volume_name(name: str) -> None:
    message = render_error(
        sets=[f"extraVolumes[0].name={name}", "extraVolumes[0].emptyDir.medium=Memory"])
    assert f'extraVolumes: the name "{name}" is the chart\'s own volume' in message


def test_extra_volume_mounts_need_an_absolute_path() -> None:
    assert "/extraVolumeMounts/0" in render_error(
        sets=["extraVolumeMounts[0].name=x", "extraVolumeMounts[0].mountPath=relative"])


# ------------------------------------------------------------ runbooks.existingConfigMap


def test_an_existing_runbooks_configmap_is_mounted_and_none_is_rendered() -> None:
    rendered = render(KNOBS)
    assert rendered.maybe("ConfigMap", f"{RELEASE}-runbooks") is None
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    assert volumes["runbooks"] == {"name": "runbooks", "configMap": {"name": "team-runbooks"}}
    env = {e["name"]: e.get("value") for e in rendered.api_container()["env"]}
    assert env["SRE_AI_RUNBOOKS_DIR"] == "/etc/sre-ai/runbooks"


def test_the_kubernetes_policy_source_may_read_the_existing_runbooks_configmap() -> None:
    role = render(KNOBS, sets=("policySource.type=kubernetes",)).get("Role")
    assert "team-runbooks" in role["rules"][0]["resourceNames"]


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["runbooks.source=configMap", "runbooks.existingConfigMap=team",
          "runbooks.extra.a\\.md=x"], "runbooks.existingConfigMap and runbooks.extra are both set"),
        (["runbooks.existingConfigMap=team"],
         "runbooks.existingConfigMap is set but runbooks.source=bundled"),
    ],
)
def test_contradictory_runbooks_configmaps_are_refused(sets: list[str], expected: str) -> None:
    assert expected in render_error(sets=sets)


# ------------------------------------------------- Prometheus Operator without Capabilities


def test_monitoring_objects_render_without_the_api_when_forced() -> None:
    """What `helm template` and GitOps tools see: no monitoring.coreos.com/v1 in Capabilities."""
    assert not set(render().kinds()) & MONITORING_KINDS
    forced = render(sets=["monitoring.forceRender=true"])
    assert set(forced.kinds()) >= MONITORING_KINDS
    off = render(sets=["monitoring.forceRender=true", "monitoring.serviceMonitor.enabled=false",
                       "monitoring.rules.enabled=false"])
    assert not set(off.kinds()) & MONITORING_KINDS


# ------------------------------------------------------------- routing priced in models


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["policy.routing.default_model=claude-opus-4-1"],
         "policy.routing.default_model=claude-opus-4-1 has no price in policy.models "
         "(priced: claude-haiku-4-5-20251001, claude-sonnet-4-6)"),
        (["policy.models.claude-haiku-4-5-20251001=null"],
         "policy.routing.fallback_model=claude-haiku-4-5-20251001 has no price in policy.models "
         "(priced: claude-sonnet-4-6)"),
    ],
)
def test_routing_to_an_unpriced_model_is_refused(sets: list[str], expected: str) -> None:
    assert expected in render_error(sets=sets)


def test_routing_without_a_fallback_renders() -> None:
    rendered = render(sets=["policy.routing.fallback_model=null",
                            "policy.models.claude-haiku-4-5-20251001=null"])
    assert "fallback_model" not in rendered.get("ConfigMap", f"{RELEASE}-policy")["data"][
        "policy.yaml"]


# ------------------------------------------------------------------------------------ NOTES


def test_notes_warn_loudly_when_an_open_api_is_exposed(tmp_path: Path) -> None:
    notes = render_notes(tmp_path, "--set", "ingress.enabled=true")
    assert "WARNING: the service is exposed outside the cluster (Ingress) with no client" in notes
    inside = render_notes(tmp_path / "inside")
    assert "exposed outside the cluster" not in inside
    assert "WARNING: no client API keys are configured" in inside


def test_notes_describe_the_locked_down_redis(tmp_path: Path) -> None:
    notes = render_notes(tmp_path, "--set", "redis.enabled=true")
    assert (f"Redis in the release ({RELEASE}-redis: password in Secret {RELEASE}-redis, data on "
            "a PersistentVolumeClaim, reachable from the API pods only)") in notes
