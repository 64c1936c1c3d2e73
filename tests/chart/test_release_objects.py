"""Promises about the objects around the Deployment: Service, RBAC, Redis guard, HPA, PDB,
monitoring, Secrets, NetworkPolicy, the helm test hook and NOTES."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.chart.rendering import (
    CHART,
    CI_VALUES,
    MONITORING_API,
    NAMESPACE,
    RELEASE,
    render,
    render_error,
    run_helm,
)

pytestmark = pytest.mark.chart

RULE_FILES = sorted((CHART / "files" / "rules").glob("*.yaml"))
DASHBOARD_FILES = sorted((CHART / "files" / "dashboards").glob("*.json"))
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


# ------------------------------------------------------------------------ labels and Service


@pytest.mark.parametrize("values", CI_VALUES)
def test_selectors_use_stable_labels_only(values: str) -> None:
    rendered = render(values, api_versions=[MONITORING_API])
    for obj in rendered:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "sre-ai-platform"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    for deployment in rendered.all("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert "helm.sh/chart" not in selector and "app.kubernetes.io/version" not in selector
        assert selects(selector, deployment["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("values", CI_VALUES)
def test_the_service_reaches_only_the_api_pods(values: str) -> None:
    rendered = render(values)
    service = rendered.get("Service", RELEASE)
    api_labels = rendered.api_deployment()["spec"]["template"]["metadata"]["labels"]
    assert selects(service["spec"]["selector"], api_labels)
    # (a fixed nodePort is ci/knobs-values.yaml's choice)
    assert [{k: v for k, v in p.items() if k != "nodePort"} for p in service["spec"]["ports"]] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    for deployment in rendered.all("Deployment"):
        if deployment["metadata"]["name"] != RELEASE:
            assert not selects(
                service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]
            )
    for pod in rendered.all("Pod"):
        assert not selects(service["spec"]["selector"], pod["metadata"]["labels"])


# ------------------------------------------------------------------------------------- RBAC


@pytest.mark.parametrize("values", [v for v in CI_VALUES if v != "kubernetes-policy-values.yaml"])
def test_no_rbac_with_the_file_policy_source(values: str) -> None:
    kinds = set(render(values, api_versions=[MONITORING_API]).kinds())
    assert not kinds & {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def test_the_kubernetes_source_gets_a_role_on_its_own_configmaps_only() -> None:
    rendered = render("kubernetes-policy-values.yaml")
    assert "ClusterRole" not in rendered.kinds()
    role = rendered.get("Role")
    by_verbs = {(tuple(r["resources"]), tuple(sorted(r["verbs"]))): r for r in role["rules"]}
    assert set(by_verbs) == {(("configmaps",), ("get", "list", "watch")),
                             (("configmaps",), ("get", "update")),
                             (("events",), ("create", "patch"))}

    cms = by_verbs[(("configmaps",), ("get", "list", "watch"))]
    assert cms["apiGroups"] == [""]
    assert sorted(cms["resourceNames"]) == [f"{RELEASE}-policy", f"{RELEASE}-runbooks"]
    for name in cms["resourceNames"]:
        rendered.get("ConfigMap", name)

    # The pods write only the record of the last applied policy: by name, no create (which
    # resourceNames cannot restrict), never the policy ConfigMap itself.
    record = by_verbs[(("configmaps",), ("get", "update"))]
    assert record["apiGroups"] == [""]
    assert record["resourceNames"] == [f"{RELEASE}-policy-applied"]
    applied = rendered.get("ConfigMap", f"{RELEASE}-policy-applied")
    assert "data" not in applied  # helm upgrade must never overwrite what the pods recorded
    for rule in role["rules"]:
        assert "create" not in rule["verbs"] or rule["resources"] == ["events"]

    events = by_verbs[(("events",), ("create", "patch"))]
    assert sorted(events["verbs"]) == ["create", "patch"]
    assert set(events["apiGroups"]) <= {"", "events.k8s.io"}
    assert "*" not in json.dumps(role["rules"])

    binding = rendered.get("RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    sa = rendered.get("ServiceAccount")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]

    env = {e["name"]: e.get("value") for e in rendered.api_container()["env"]}
    assert env["SRE_AI_POLICY_SOURCE"] == "kubernetes"
    assert env["SRE_AI_POLICY_CONFIGMAP"] == f"{NAMESPACE}/{RELEASE}-policy"
    assert env["SRE_AI_POLICY_APPLIED_CONFIGMAP"] == f"{NAMESPACE}/{RELEASE}-policy-applied"
    assert "SRE_AI_POLICY_LAST_APPLIED_FILE" not in env


def test_the_file_source_records_the_last_applied_policy_on_the_ledger_volume() -> None:
    rendered = render()
    env = {e["name"]: e.get("value") for e in rendered.api_container()["env"]}
    ledger_dir = env["SRE_AI_LEDGER_PATH"].rsplit("/", 1)[0]
    assert env["SRE_AI_POLICY_LAST_APPLIED_FILE"] == f"{ledger_dir}/policy-last-applied.json"
    mounts = [m["mountPath"] for m in rendered.api_container()["volumeMounts"]]
    assert ledger_dir in mounts
    assert not [c for c in rendered.all("ConfigMap")
                if c["metadata"]["name"].endswith("-policy-applied")]


def test_without_runbooks_configmap_the_role_names_only_the_policy() -> None:
    role = render(sets=["policySource.type=kubernetes"]).get("Role")
    assert role["rules"][0]["resourceNames"] == [f"{RELEASE}-policy"]


# ------------------------------------------------------------------- shared ledger (Redis)


@pytest.mark.parametrize(
    "sets", [["replicaCount=2"], ["replicaCount=3", "policySource.type=kubernetes"]]
)
def test_more_than_one_replica_without_redis_is_refused(sets: list[str]) -> None:
    message = render_error(sets=sets)
    assert "needs a shared budget ledger" in message
    assert "redis.enabled=true" in message and "externalRedis.url" in message


def test_an_hpa_without_redis_is_refused() -> None:
    message = render_error(sets=["autoscaling.enabled=true"])
    assert "autoscaling.enabled=true needs a shared budget ledger" in message


def test_two_redis_sources_are_refused() -> None:
    message = render_error(sets=["redis.enabled=true", "externalRedis.url=redis://r:6379/0"])
    assert "choose one Redis" in message


def test_in_release_redis_is_the_shared_ledger() -> None:
    rendered = render("autoscaling-redis-values.yaml")
    redis_service = rendered.get("Service", f"{RELEASE}-redis")
    redis = rendered.get("Deployment", f"{RELEASE}-redis")
    assert redis["spec"]["replicas"] == 1 and redis["spec"]["strategy"]["type"] == "Recreate"
    container = redis["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "redis:7.4-alpine"
    assert selects(
        redis_service["spec"]["selector"], redis["spec"]["template"]["metadata"]["labels"]
    )
    volumes = {v["name"]: v for v in redis["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == f"{RELEASE}-redis"
    rendered.get("PersistentVolumeClaim", f"{RELEASE}-redis")

    env = {e["name"]: e for e in rendered.api_container()["env"]}
    # the kubelet expands $(REDIS_PASSWORD) (tests/chart/test_redis_security.py)
    assert env["SRE_AI_REDIS_URL"]["value"] == f"redis://:$(REDIS_PASSWORD)@{RELEASE}-redis:6379/0"


def test_redis_image_is_overridable() -> None:
    rendered = render(
        sets=["redis.enabled=true", "redis.image.repository=local/redis", "redis.image.tag=7.0.15"]
    )
    redis = rendered.get("Deployment", f"{RELEASE}-redis")
    assert redis["spec"]["template"]["spec"]["containers"][0]["image"] == "local/redis:7.0.15"


def test_external_redis_url_is_kept_in_a_secret() -> None:
    rendered = render("kubernetes-policy-values.yaml")
    assert rendered.maybe("Deployment", f"{RELEASE}-redis") is None
    env = {e["name"]: e for e in rendered.api_container()["env"]}
    ref = env["SRE_AI_REDIS_URL"]["valueFrom"]["secretKeyRef"]
    secret = rendered.get("Secret", ref["name"])
    assert ref["key"] in secret["data"]
    assert "value" not in env["SRE_AI_REDIS_URL"]


# ------------------------------------------------------------------------------ HPA and PDB


def test_hpa_scales_on_cpu_and_in_flight_requests_with_a_calm_scale_down() -> None:
    rendered = render("autoscaling-redis-values.yaml")
    hpa = rendered.get("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": RELEASE,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Resource"]["resource"]["target"]["type"] == "Utilization"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "ai_active_requests"
    assert metrics["Pods"]["pods"]["target"] == {"type": "AverageValue", "averageValue": "4"}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    # the HPA owns the replica count
    assert "replicas" not in rendered.api_deployment()["spec"]


def test_default_hpa_uses_cpu_only() -> None:
    hpa = render(sets=["autoscaling.enabled=true", "redis.enabled=true"]).get(
        "HorizontalPodAutoscaler"
    )
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


@pytest.mark.parametrize("values", CI_VALUES)
def test_pdb_selects_the_api_pods(values: str) -> None:
    rendered = render(values)
    pdb = rendered.get("PodDisruptionBudget")
    pod_labels = rendered.api_deployment()["spec"]["template"]["metadata"]["labels"]
    assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    # one replica by default: minAvailable would block every node drain
    assert "minAvailable" not in pdb["spec"]


# ------------------------------------------------------------------------------ monitoring


@pytest.mark.parametrize("values", CI_VALUES)
def test_no_operator_objects_when_the_api_is_absent(values: str) -> None:
    forced = (yaml.safe_load((CHART / "ci" / values).read_text()) or {}).get(
        "monitoring", {}).get("forceRender", False)
    # monitoring.forceRender renders them without the API (test_chart_knobs.py)
    assert bool(set(render(values).kinds()) & MONITORING_KINDS) == forced


def test_no_operator_objects_when_disabled() -> None:
    rendered = render(
        sets=["monitoring.serviceMonitor.enabled=false", "monitoring.rules.enabled=false"],
        api_versions=[MONITORING_API],
    )
    assert not set(rendered.kinds()) & MONITORING_KINDS


def test_service_monitor_is_selected_by_a_kube_prometheus_stack_release() -> None:
    rendered = render("monitoring-values.yaml", api_versions=[MONITORING_API])
    sm = rendered.get("ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["metadata"]["namespace"] == NAMESPACE
    # /metrics has a Service of its own (metrics.port); the public one is not scraped
    service = rendered.get("Service", f"{RELEASE}-metrics")
    assert selects(sm["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    public = rendered.get("Service", RELEASE)
    assert not selects(sm["spec"]["selector"]["matchLabels"], public["metadata"]["labels"])
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    # job = the Service name; the rules and dashboards select job=~".*sre-ai-platform.*"
    assert "jobLabel" not in sm["spec"]
    assert "sre-ai-platform" in service["metadata"]["name"]
    for path in RULE_FILES:
        expressions = "\n".join(line for line in path.read_text().splitlines()
                                if not line.lstrip().startswith("#"))
        for op, pattern in re.findall(r'job\s*(=~|=)\s*"([^"]*)"', expressions):
            regex = pattern if op == "=~" else re.escape(pattern)
            assert re.fullmatch(regex, service["metadata"]["name"]), (path.name, pattern)
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "15s"
    # the service's endpoint="/ask" label wins over the operator's endpoint (port) label
    assert endpoint["honorLabels"] is True


def test_prometheus_rules_are_the_chart_files_verbatim() -> None:
    rendered = render("monitoring-values.yaml", api_versions=[MONITORING_API])
    rules = rendered.all("PrometheusRule")
    assert len(rules) == len(RULE_FILES)
    specs = sorted((r["spec"] for r in rules), key=json.dumps)
    sources = sorted((yaml.safe_load(p.read_text()) for p in RULE_FILES), key=json.dumps)
    assert specs == sources
    for rule in rules:
        assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert len(rule["metadata"]["name"]) <= 63


@pytest.mark.parametrize("values", CI_VALUES)
def test_one_dashboard_configmap_per_dashboard_file(values: str) -> None:
    rendered = render(values)
    dashboards = [
        cm
        for cm in rendered.all("ConfigMap")
        if cm["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert len(dashboards) == len(DASHBOARD_FILES)
    by_file = {key: cm for cm in dashboards for key in cm["data"]}
    assert set(by_file) == {p.name for p in DASHBOARD_FILES}
    for path in DASHBOARD_FILES:
        assert json.loads(by_file[path.name]["data"][path.name]) == json.loads(path.read_text())
    assert not [
        cm
        for cm in rendered.all("ConfigMap")
        if "dashboard" in cm["metadata"]["name"] and cm not in dashboards
    ]


def test_dashboards_can_be_turned_off() -> None:
    rendered = render(sets=["monitoring.dashboards.enabled=false"])
    assert not [
        cm for cm in rendered.all("ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]
    ]


# -------------------------------------------------------------------------------- secrets


def test_offline_by_default_with_no_secret() -> None:
    rendered = render()
    assert "Secret" not in rendered.kinds()
    assert "ANTHROPIC_API_KEY" not in {e["name"] for e in rendered.api_container()["env"]}


def test_api_key_value_goes_into_the_chart_secret() -> None:
    rendered = render(sets=["anthropic.apiKey=sk-ant-test"])
    env = {e["name"]: e for e in rendered.api_container()["env"]}
    ref = env["ANTHROPIC_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": RELEASE, "key": "ANTHROPIC_API_KEY"}
    assert "ANTHROPIC_API_KEY" in rendered.get("Secret", RELEASE)["data"]


def test_existing_secrets_are_referenced_not_created() -> None:
    rendered = render("existing-secret-values.yaml")
    assert "Secret" not in rendered.kinds()
    env = {e["name"]: e for e in rendered.api_container()["env"]}
    assert env["ANTHROPIC_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "anthropic",
        "key": "api-key",
    }
    assert env["ANTHROPIC_BASE_URL"]["value"] == "http://fake-anthropic.sre-ai.svc:8080"
    volumes = rendered.api_deployment()["spec"]["template"]["spec"]["volumes"]
    assert {"name": "api-keys", "secret": {"secretName": "sre-ai-client-keys"}} in volumes
    assert env["SRE_AI_API_KEYS_FILE"]["value"] == "/etc/sre-ai/api-keys/api-keys"


def test_two_sources_for_the_anthropic_key_are_refused() -> None:
    assert "choose one source for the Anthropic key" in render_error(
        sets=["anthropic.apiKey=x", "anthropic.existingSecret=y"]
    )


def test_client_keys_become_a_name_equals_key_file() -> None:
    rendered = render("autoscaling-redis-values.yaml")
    secret = rendered.get("Secret", f"{RELEASE}-api-keys")
    assert secret["stringData"]["api-keys"].strip() == "oncall=ci-only-not-a-secret"


# ---------------------------------------------------------------------------- NetworkPolicy


def test_network_policies_admit_clients_and_keep_redis_private() -> None:
    rendered = render("autoscaling-redis-values.yaml")
    api = rendered.get("NetworkPolicy", RELEASE)
    pod_labels = rendered.api_deployment()["spec"]["template"]["metadata"]["labels"]
    assert selects(api["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert api["spec"]["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    egress_ports = {p["port"] for rule in api["spec"]["egress"] for p in rule.get("ports", [])}
    assert {53, 443, 6379} <= egress_ports

    redis = rendered.get("NetworkPolicy", f"{RELEASE}-redis")
    (peer,) = redis["spec"]["ingress"][0]["from"]
    assert selects(peer["podSelector"]["matchLabels"], pod_labels)
    assert redis["spec"]["egress"] == []


# ----------------------------------------------------------------------- helm test and NOTES


@pytest.mark.parametrize("values", CI_VALUES)
def test_helm_test_hook_asks_one_question_with_the_app_image(values: str) -> None:
    rendered = render(values)
    pod = rendered.get("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == rendered.api_container()["image"]
    assert container["command"][0] == "python"
    script = container["args"][0]
    assert "curl" not in script and "urllib.request" in script
    compile(script, "helm-test", "exec")  # the embedded script is valid Python
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ASK_URL"] == f"http://{RELEASE}.{NAMESPACE}.svc:8000/ask"
    assert pod["spec"]["restartPolicy"] == "Never"


def test_helm_test_sends_a_client_key_when_keys_are_configured() -> None:
    pod = render("existing-secret-values.yaml").get("Pod")
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["KEYS_FILE"] == "/etc/sre-ai/api-keys/api-keys"
    assert pod["spec"]["volumes"] == [
        {"name": "api-keys", "secret": {"secretName": "sre-ai-client-keys"}}
    ]


NOTES_PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-probe
data:
  notes: |
{{ include "sre-ai-platform/templates/NOTES.txt" . | indent 4 }}
"""


def render_notes(tmp_path: Path, *args: str) -> str:
    """NOTES.txt as `helm install` prints it. `helm template` omits NOTES, and helm 3's
    `install --dry-run` wants a cluster, so a copy of the chart renders them into a ConfigMap.
    `args` go to `helm template` (`--set`, `--api-versions`)."""
    chart = tmp_path / "sre-ai-platform"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "zz-notes-probe.yaml").write_text(NOTES_PROBE)
    proc = run_helm(
        [
            "template",
            RELEASE,
            str(chart),
            "--namespace",
            NAMESPACE,
            "--show-only",
            "templates/zz-notes-probe.yaml",
            *args,
        ]
    )
    assert proc.returncode == 0, proc.stderr
    notes: str = yaml.safe_load(proc.stdout)["data"]["notes"]
    return notes


def test_notes_give_the_exact_port_forward_and_curl_lines(tmp_path: Path) -> None:
    notes = render_notes(tmp_path)
    assert f"kubectl --namespace {NAMESPACE} port-forward service/{RELEASE} 8000:8000" in notes
    assert (
        "curl -s -X POST http://127.0.0.1:8000/ask -H 'Content-Type: application/json' "
        '-d \'{"question": "pod OOMKilled, what now?"}\''
    ) in notes
    assert "curl -s http://127.0.0.1:8000/health/ready" in notes
    assert f"helm test {RELEASE} --namespace {NAMESPACE}" in notes


# ------------------------------------------------------------------------ long release names


LONG = "my-very-long-release-name-for-prod-europe-west-sre-ai-platform"  # 62 characters


@pytest.mark.parametrize("values", CI_VALUES)
def test_a_long_release_name_keeps_every_name_valid_and_distinct(values: str) -> None:
    """The full name is cut to make room for each object's suffix, not the suffix cut off:
    "-policy", "-runbooks", "-policy-applied" and the dashboards were all the full name alone
    (one object replacing another), and "<fullname>-metrics" was over 63 characters."""
    own_runbooks = "existingConfigMap" in (CHART / "ci" / values).read_text()
    sets = [f"fullnameOverride={LONG}"] + ([] if own_runbooks
                                           else ["runbooks.extra.extra\\.md=# Extra"])
    rendered = render(values, sets=sets)
    seen: set[tuple[str, str]] = set()
    for obj in rendered:
        name = obj["metadata"]["name"]
        assert len(name) <= 63 and not name.endswith("-"), (obj["kind"], name)
        assert (obj["kind"], name) not in seen, (obj["kind"], name)
        seen.add((obj["kind"], name))
    assert any(name.endswith("-policy") for kind, name in seen if kind == "ConfigMap")
    # The ledger's claim and Redis keep the names they had wherever those worked: a new name
    # would be a new, empty ledger under an existing install (spend forgotten on upgrade).
    claims = [o["metadata"]["name"] for o in rendered if o["kind"] == "PersistentVolumeClaim"
              and o["metadata"]["labels"].get("app.kubernetes.io/component") != "redis"]
    assert claims in ([], [f"{LONG}-ledger"[:63].rstrip("-")])


def test_a_long_name_that_worked_keeps_its_redis_and_ledger_names() -> None:
    """57 characters: "-redis" and "-ledger" still fit (cut, but distinct) in the old names,
    so an install of that name has a Redis and a ledger claim under them, with its money."""
    name = "x" * 57
    rendered = render("autoscaling-redis-values.yaml", sets=[f"fullnameOverride={name}"])
    redis = {o["kind"]: o["metadata"]["name"] for o in rendered
             if o["metadata"]["name"].endswith("-redis")}
    assert redis["PersistentVolumeClaim"] == redis["Deployment"] == f"{name}-redis"[:63]
    sqlite = render("sqlite-ledger-storage-values.yaml", sets=[f"fullnameOverride={name}"])
    assert [o["metadata"]["name"] for o in sqlite if o["kind"] == "PersistentVolumeClaim"] == [
        f"{name}-ledger"[:63]]


@pytest.mark.parametrize("override", ["fullnameOverride=qa-bot",
                                      "fullnameOverride=qa-" + "x" * 58])  # cut for -metrics
def test_a_name_without_the_charts_keeps_the_service_down_alert_on_its_own_targets(
        override: str) -> None:
    """The rules find the targets by job=~".*sre-ai-platform.*", the metrics Service's name:
    renamed without it, AIServiceDown's absent() would fire for good. The rendered rule then
    matches this release's Services, and every Service the ServiceMonitor scrapes matches."""
    rendered = render("default-values.yaml", sets=[override], api_versions=[MONITORING_API])
    [rule] = [r for obj in rendered.all("PrometheusRule")
              for group in obj["spec"]["groups"] for r in group["rules"]
              if r.get("alert") == "AIServiceDown"]
    [pattern] = set(re.findall(r'up\{job=~"([^"]+)"\}', rule["expr"]))
    assert "sre-ai-platform" not in pattern
    services = [s["metadata"]["name"] for s in rendered.all("Service")]
    assert services and all(re.fullmatch(pattern, name) for name in services)
    assert not re.fullmatch(pattern, "other-release-metrics")
