"""Promises the Deployment keeps: hardened pods, probes a slow LLM cannot trip, graceful
shutdown longer than an LLM call, ConfigMaps that reload in place, the env contract."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from app.config import Settings, parse_policy
from tests.chart.rendering import (
    CHART,
    CI_VALUES,
    MONITORING_API,
    RELEASE,
    Rendered,
    render,
    render_error,
)

pytestmark = pytest.mark.chart

APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]


def pod_specs(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """Every pod the chart can start: Deployments' templates and bare Pods (the test hook)."""
    specs = []
    for obj in rendered:
        if obj["kind"] == "Deployment":
            specs.append((obj["metadata"]["name"], obj["spec"]["template"]["spec"]))
        elif obj["kind"] == "Pod":
            specs.append((obj["metadata"]["name"], obj["spec"]))
    return specs


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def policy_of(rendered: Rendered) -> dict[str, Any]:
    cm = rendered.get("ConfigMap", f"{RELEASE}-policy")
    policy: dict[str, Any] = yaml.safe_load(cm["data"]["policy.yaml"])
    return policy


@pytest.mark.parametrize("values", CI_VALUES)
def test_every_pod_runs_hardened(values: str) -> None:
    rendered = render(values, api_versions=[MONITORING_API])
    specs = pod_specs(rendered)
    assert specs
    for name, spec in specs:
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0, name
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec.get("hostNetwork") is not True and spec.get("hostPID") is not True, name
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            where = f"{name}/{container['name']}"
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc.get("privileged", False) is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert not sc["capabilities"].get("add"), where


def test_no_service_account_token_unless_the_kubernetes_source_needs_it() -> None:
    default = render()
    assert (
        default.api_deployment()["spec"]["template"]["spec"]["automountServiceAccountToken"]
        is False
    )
    assert default.get("ServiceAccount")["automountServiceAccountToken"] is False
    for _, spec in pod_specs(default):
        assert spec["automountServiceAccountToken"] is False

    k8s = render("kubernetes-policy-values.yaml")
    spec = k8s.api_deployment()["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is True
    assert spec["serviceAccountName"] == k8s.get("ServiceAccount")["metadata"]["name"]


@pytest.mark.parametrize("values", CI_VALUES)
def test_probes_never_depend_on_the_llm(values: str) -> None:
    rendered = render(values)
    container = rendered.api_container()
    timeout = float(policy_of(rendered)["llm"]["timeout_seconds"])

    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for kind in ("livenessProbe", "startupProbe", "readinessProbe"):
        assert container[kind]["httpGet"]["port"] == "http"

    # A restart needs failureThreshold consecutive failures: that window must outlast the
    # longest LLM call even if one wedged the event loop for its whole timeout.
    live = container["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] >= 2 * timeout
    assert live["timeoutSeconds"] >= 2
    start = container["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= 30


@pytest.mark.parametrize("values", CI_VALUES)
def test_graceful_shutdown_outlasts_an_llm_call(values: str) -> None:
    rendered = render(values)
    spec = rendered.api_deployment()["spec"]["template"]["spec"]
    sleep = rendered.api_container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    timeout = float(policy_of(rendered)["llm"]["timeout_seconds"])
    assert sleep >= 1
    assert spec["terminationGracePeriodSeconds"] > sleep + timeout


def test_a_grace_period_shorter_than_an_llm_call_is_refused() -> None:
    message = render_error(sets=["terminationGracePeriodSeconds=30"])
    assert "terminationGracePeriodSeconds=30 must be longer than" in message
    assert "policy.llm.timeout_seconds" in message
    # raising the LLM timeout needs a longer grace period too
    assert "terminationGracePeriodSeconds" in render_error(sets=["policy.llm.timeout_seconds=60"])


def test_resources_are_requested_and_memory_is_limited() -> None:
    resources = render().api_container()["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["memory"]


def test_the_in_flight_limit_reaches_the_service_and_defaults_to_its_own() -> None:
    """`maxInFlight` is the service's SRE_AI_MAX_IN_FLIGHT, with the same default (a chart that
    said nothing would otherwise silently disagree with the docs), and 0 turns it off."""
    default = env_of(render().api_container())["SRE_AI_MAX_IN_FLIGHT"]["value"]
    assert default == str(Settings.model_fields["max_in_flight"].default)
    off = env_of(render(sets=["maxInFlight=0"]).api_container())["SRE_AI_MAX_IN_FLIGHT"]
    assert off["value"] == "0"
    assert "/maxInFlight" in render_error(sets=["maxInFlight=-1"])


def test_replicas_spread_over_nodes_and_zones() -> None:
    deployment = render("autoscaling-redis-values.yaml").api_deployment()
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    constraints = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in constraints} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    for c in constraints:
        assert c["labelSelector"]["matchLabels"].items() <= pod_labels.items()
        assert c["matchLabelKeys"] == ["pod-template-hash"]


@pytest.mark.parametrize("values", CI_VALUES)
def test_config_maps_and_secrets_are_mounted_as_directories(values: str) -> None:
    rendered = render(values)
    for name, spec in pod_specs(rendered):
        for container in spec["containers"]:
            for mount in container.get("volumeMounts", []):
                # subPath mounts never see the kubelet's updates: a ConfigMap edit would be lost
                assert "subPath" not in mount and "subPathExpr" not in mount, (name, mount)

    container = rendered.api_container()
    volumes = {
        v["name"]: v for v in rendered.api_deployment()["spec"]["template"]["spec"]["volumes"]
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    env = env_of(container)

    policy_file = env["SRE_AI_POLICY_FILE"]["value"]
    policy_dir, _, policy_key = policy_file.rpartition("/")
    policy_volume = volumes[mounts[policy_dir]["name"]]
    assert policy_volume["configMap"]["name"] == f"{RELEASE}-policy"
    assert policy_key in rendered.get("ConfigMap", f"{RELEASE}-policy")["data"]
    assert "items" not in policy_volume["configMap"]

    if "SRE_AI_RUNBOOKS_DIR" in env:
        # the whole runbooks volume is mounted; the service may read a folder inside it
        runbooks_dir = env["SRE_AI_RUNBOOKS_DIR"]["value"]
        mount_path = next(p for p in mounts if f"{runbooks_dir}/".startswith(f"{p}/"))
        runbooks_volume = volumes[mounts[mount_path]["name"]]
        if "configMap" in runbooks_volume:
            # the chart's own, or the user's (runbooks.existingConfigMap, ci/knobs-values.yaml)
            assert runbooks_volume["configMap"]["name"] in {f"{RELEASE}-runbooks", "team-runbooks"}
            assert "items" not in runbooks_volume["configMap"]
    if "SRE_AI_API_KEYS_FILE" in env:
        keys_dir = env["SRE_AI_API_KEYS_FILE"]["value"].rpartition("/")[0]
        assert "secret" in volumes[mounts[keys_dir]["name"]]


def test_runbooks_come_from_the_image_unless_a_configmap_is_asked_for() -> None:
    default = render()
    assert "SRE_AI_RUNBOOKS_DIR" not in env_of(default.api_container())
    assert default.maybe("ConfigMap", f"{RELEASE}-runbooks") is None

    custom = render("kubernetes-policy-values.yaml")
    cm = custom.get("ConfigMap", f"{RELEASE}-runbooks")
    assert "# Pod OOMKilled" in cm["data"]["pod-oomkilled.md"]
    assert "needs at least one runbook" in render_error(sets=["runbooks.enabled=true"])


@pytest.mark.parametrize("values", CI_VALUES)
def test_pods_carry_no_checksum_of_the_reloadable_config(values: str) -> None:
    template = render(values).api_deployment()["spec"]["template"]
    annotations = template["metadata"].get("annotations") or {}
    assert not [k for k in annotations if "checksum" in k.lower()], annotations


def test_writable_paths_are_volumes() -> None:
    rendered = render()
    container = rendered.api_container()
    volumes = {
        v["name"]: v for v in rendered.api_deployment()["spec"]["template"]["spec"]["volumes"]
    }
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    ledger_dir = env_of(container)["SRE_AI_LEDGER_PATH"]["value"].rpartition("/")[0]
    # the ledger is durable by default (tests/chart/test_ledger_persistence.py); /tmp is scratch
    assert "persistentVolumeClaim" in volumes[mounts[ledger_dir]]
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_image_defaults_to_the_app_version_and_never_latest() -> None:
    assert render().api_container()["image"] == f"sre-ai-platform:{APP_VERSION}"
    assert 'must not be "latest"' in render_error(sets=["image.tag=latest"])
    pinned = render("existing-secret-values.yaml").api_container()["image"]
    assert pinned.startswith(f"sre-ai-platform:{APP_VERSION}@sha256:")


@pytest.mark.parametrize("values", CI_VALUES)
def test_environment_names_are_the_service_contract(values: str) -> None:
    known = {f"SRE_AI_{name.upper()}" for name in Settings.model_fields} | {
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        # downward API, read by app/config_watch for Events
        "POD_NAME",
        "POD_NAMESPACE",
        "NODE_NAME",
        # the in-release Redis password, expanded by the kubelet into SRE_AI_REDIS_URL
        "REDIS_PASSWORD",
    }
    # the user's own `extraEnv` (e.g. SSL_CERT_FILE for a corporate CA) is theirs to name
    user = yaml.safe_load((CHART / "ci" / values).read_text()) or {}
    known |= {e["name"] for e in user.get("extraEnv", [])}
    env = env_of(render(values).api_container())
    assert set(env) <= known, set(env) - known


@pytest.mark.parametrize("values", CI_VALUES)
def test_the_rendered_policy_is_accepted_by_the_service(values: str) -> None:
    cm = render(values).get("ConfigMap", f"{RELEASE}-policy")
    parse_policy(cm["data"]["policy.yaml"])  # raises PolicyError naming the bad field


def test_default_policy_is_the_documented_policy() -> None:
    policy = parse_policy(render().get("ConfigMap", f"{RELEASE}-policy")["data"]["policy.yaml"])
    assert policy.budgets.model_dump() == {
        "per_request_usd": 0.5,
        "hourly_usd": 10,
        "daily_usd": 50,
        "monthly_usd": 500,
    }
    assert policy.routing.default_model == "claude-sonnet-4-6"
    assert policy.routing.fallback_model == "claude-haiku-4-5-20251001"
    assert policy.models["claude-sonnet-4-6"].model_dump() == {
        "input": 3.0,
        "output": 15.0,
        "cache_write_5m": 3.75,
        "cache_write_1h": 6.0,
        "cache_read": 0.3,
    }
    assert policy.llm.timeout_seconds == 30
    assert policy.quality.min_grounded_share == 0.5
    assert policy.rate_limits.for_caller("anyone").unlimited  # no limits unless set


def test_policy_overrides_reach_the_configmap() -> None:
    policy = policy_of(render("kubernetes-policy-values.yaml"))
    assert policy["budgets"]["daily_usd"] == 20
    assert policy["budgets"]["monthly_usd"] == 500  # untouched keys keep their defaults
    limits = parse_policy(yaml.safe_dump(policy)).rate_limits
    assert limits.for_caller("ci-bot").model_dump() == {"requests_per_minute": 10,
                                                       "tokens_per_minute": 50000}
    assert limits.for_caller("other").model_dump() == {"requests_per_minute": 60,
                                                      "tokens_per_minute": 0}
