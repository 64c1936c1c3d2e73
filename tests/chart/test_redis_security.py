"""The bundled Redis holds the money (issue 19, point 6): a password by default (generated, or
an existing Secret), protected mode on, persistence on, and its own NetworkPolicy whenever it
is enabled. The Redis start-up command itself runs against a real redis-server in
tests/integration/service/test_redis_password.py."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from tests.chart.rendering import RELEASE, Rendered, render

pytestmark = pytest.mark.chart

REDIS = f"{RELEASE}-redis"
ON = ["redis.enabled=true"]


def redis_pod(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.get("Deployment", REDIS)["spec"]["template"]
    return spec


def redis_container(rendered: Rendered) -> dict[str, Any]:
    container: dict[str, Any] = redis_pod(rendered)["spec"]["containers"][0]
    return container


def secret_ref(env: list[dict[str, Any]], name: str) -> dict[str, str]:
    (entry,) = [e for e in env if e["name"] == name]
    ref: dict[str, str] = entry["valueFrom"]["secretKeyRef"]
    return ref


def generated_password(rendered: Rendered) -> str:
    return base64.b64decode(rendered.get("Secret", REDIS)["data"]["redis-password"]).decode()


def test_a_password_is_generated_and_given_to_redis_and_to_the_service() -> None:
    rendered = render(sets=ON)
    password = generated_password(rendered)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password)
    ref = {"name": REDIS, "key": "redis-password"}
    assert secret_ref(redis_container(rendered)["env"], "REDIS_PASSWORD") == ref
    api_env = rendered.api_container()["env"]
    assert secret_ref(api_env, "REDIS_PASSWORD") == ref
    names = [e["name"] for e in api_env]
    # $(REDIS_PASSWORD) is expanded by the kubelet only from a variable defined before it
    assert names.index("REDIS_PASSWORD") < names.index("SRE_AI_REDIS_URL")
    url = next(e["value"] for e in api_env if e["name"] == "SRE_AI_REDIS_URL")
    assert url == f"redis://:$(REDIS_PASSWORD)@{REDIS}:6379/0"
    # the password is in the Secret only: not in any pod spec, not on a command line
    leaked = [o["kind"] for o in rendered if o["kind"] != "Secret" and password in json.dumps(o)]
    assert leaked == []


def test_each_render_without_a_cluster_generates_its_own_password() -> None:
    """No constant in the chart: outside a cluster (`lookup` empty) every render draws anew, so
    the upgrade path must read the old one back (proved on kind: test_redis_auth_e2e.py)."""
    first = generated_password(render(sets=ON))
    second = generated_password(render(sets=[*ON, "redis.resources.requests.cpu=60m"]))
    assert first != second


def test_redis_requires_the_password_with_protected_mode_on() -> None:
    container = redis_container(render(sets=ON))
    assert container["command"] == ["/bin/sh", "-c"]
    script, *args = container["args"]
    assert "requirepass" in script and 'exec redis-server /tmp/redis-auth.conf "$@"' in script
    assert "unset REDIS_PASSWORD" in script
    assert args[0] == "redis-server"  # $0 of the script
    assert "--requirepass" not in args
    options = dict(zip(args[1::2], args[2::2], strict=False))
    assert options["--protected-mode"] == "yes"
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "always"
    # the config file holding the password is on a memory-backed emptyDir, never on disk
    volumes = {v["name"]: v for v in redis_pod(render(sets=ON))["spec"]["volumes"]}
    assert volumes["tmp"]["emptyDir"]["medium"] == "Memory"


def test_an_existing_secret_is_used_and_none_is_generated() -> None:
    rendered = render(sets=[*ON, "redis.auth.existingSecret=ledger-redis",
                            "redis.auth.existingSecretPasswordKey=password"])
    assert rendered.maybe("Secret", REDIS) is None
    ref = {"name": "ledger-redis", "key": "password"}
    assert secret_ref(redis_container(rendered)["env"], "REDIS_PASSWORD") == ref
    assert secret_ref(rendered.api_container()["env"], "REDIS_PASSWORD") == ref


def test_persistence_is_on_by_default_and_kept_on_uninstall() -> None:
    rendered = render(sets=ON)
    claim = rendered.get("PersistentVolumeClaim", REDIS)
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "storageClassName" not in claim["spec"]
    volumes = {v["name"]: v for v in redis_pod(rendered)["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "persistentVolumeClaim": {"claimName": REDIS}}
    # the password Secret is not kept: the data does not depend on it
    assert "annotations" not in rendered.get("Secret", REDIS)["metadata"]


@pytest.mark.parametrize(
    ("sets", "claim", "volume"),
    [
        (["redis.persistence.enabled=false"], None, {"emptyDir": {}}),
        (["redis.persistence.existingClaim=redis-restored"], None,
         {"persistentVolumeClaim": {"claimName": "redis-restored"}}),
    ],
)
def test_persistence_can_be_off_or_on_an_existing_claim(
    sets: list[str], claim: None, volume: dict[str, Any]
) -> None:
    rendered = render(sets=[*ON, *sets])
    assert rendered.maybe("PersistentVolumeClaim", REDIS) is claim
    volumes = {v["name"]: v for v in redis_pod(rendered)["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", **volume}


def test_claim_options() -> None:
    rendered = render(sets=[*ON, "redis.persistence.storageClass=-",
                            "redis.persistence.keepOnUninstall=false",
                            "redis.persistence.appendfsync=everysec"])
    claim = rendered.get("PersistentVolumeClaim", REDIS)
    assert claim["spec"]["storageClassName"] == ""
    assert "annotations" not in claim["metadata"]
    args = redis_container(rendered)["args"]
    assert args[args.index("--appendfsync") + 1] == "everysec"


@pytest.mark.parametrize("network_policy", ["false", "true"])
def test_redis_admits_only_the_service_pods_whenever_it_is_enabled(network_policy: str) -> None:
    rendered = render(sets=[*ON, f"networkPolicy.enabled={network_policy}"])
    policy = rendered.get("NetworkPolicy", REDIS)
    redis_labels = redis_pod(rendered)["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= redis_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "redis", "protocol": "TCP"}]
    (peer,) = rule["from"]
    api_labels = rendered.api_deployment()["spec"]["template"]["metadata"]["labels"]
    assert peer["podSelector"]["matchLabels"].items() <= api_labels.items()
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    # the helm test pod talks HTTP to the service, never to Redis
    test_pod = rendered.get("Pod")["metadata"]["labels"]
    assert not peer["podSelector"]["matchLabels"].items() <= test_pod.items()
    assert policy["spec"]["egress"] == []


def test_no_redis_no_redis_policy() -> None:
    assert render().maybe("NetworkPolicy", REDIS) is None


def test_redis_extra_ingress_peers_are_added() -> None:
    peer = {"podSelector": {"matchLabels": {"app": "redis-backup"}}}
    rendered = render(sets=[*ON, "redis.networkPolicy.extraIngress[0].podSelector.matchLabels"
                            ".app=redis-backup"])
    assert rendered.get("NetworkPolicy", REDIS)["spec"]["ingress"][0]["from"][1] == peer


def test_redis_scheduling_is_configurable() -> None:
    rendered = render("autoscaling-redis-values.yaml")
    spec = redis_pod(rendered)["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "node-role/storage": "true"}
    assert spec["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "ledger", "effect": "NoSchedule"}]
    assert spec["priorityClassName"] == "sre-ai-ledger"
    terms = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["weight"] == 100
    assert redis_container(rendered)["resources"]["limits"]["memory"] == "512Mi"
    # none of it leaks onto the service's pods
    api = rendered.api_deployment()["spec"]["template"]["spec"]
    assert "nodeSelector" not in api and "priorityClassName" not in api
