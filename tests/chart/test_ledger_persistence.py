"""The single-replica SQLite ledger is durable: a PersistentVolumeClaim that outlives rollouts,
evictions and `helm uninstall`, one writer at a time (Recreate), a PDB that never blocks a
drain, and every file the ledger writes (spool included) on that volume. With Redis the API
pods are stateless again: no claim, rolling updates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.rendering import RELEASE, Rendered, render, render_error

pytestmark = pytest.mark.chart

CLAIM = f"{RELEASE}-ledger"
SHARED_LEDGERS = [
    ["redis.enabled=true"],
    ["externalRedis.url=redis://r:6379/0"],
    ["externalRedis.existingSecret=redis", "autoscaling.enabled=true"],
]


def pod_spec(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.api_deployment()["spec"]["template"]["spec"]
    return spec


def ledger_volume(rendered: Rendered) -> dict[str, Any]:
    container = rendered.api_container()
    env = {e["name"]: e.get("value") for e in container["env"]}
    ledger_dir = env["SRE_AI_LEDGER_PATH"].rpartition("/")[0]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == ledger_dir)
    volume: dict[str, Any] = next(v for v in pod_spec(rendered)["volumes"]
                                  if v["name"] == mount["name"])
    return volume


def test_default_ledger_is_on_a_claim_kept_on_uninstall() -> None:
    rendered = render()
    assert ledger_volume(rendered) == {"name": "ledger",
                                       "persistentVolumeClaim": {"claimName": CLAIM}}
    claim = rendered.get("PersistentVolumeClaim", CLAIM)
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster's default class


def test_the_ledger_volume_holds_the_whole_ledger_directory_spool_included() -> None:
    container = render().api_container()
    ledger_file = next(e["value"] for e in container["env"] if e["name"] == "SRE_AI_LEDGER_PATH")
    parent = ledger_file.rpartition("/")[0]
    spool = f"{parent}/spool"  # the service's default SRE_AI_SPOOL_DIR
    mount = next(m for m in container["volumeMounts"] if m["name"] == "ledger")
    assert mount["mountPath"] == parent and "subPath" not in mount
    assert spool.startswith(mount["mountPath"] + "/")
    moved = render(sets=["ledger.path=/data/ledger/"]).api_container()
    assert {"name": "ledger", "mountPath": "/data/ledger/"} in moved["volumeMounts"]
    assert {"name": "SRE_AI_LEDGER_PATH", "value": "/data/ledger/ledger.sqlite3"} in moved["env"]


@pytest.mark.parametrize("name", ["SRE_AI_SPOOL_DIR", "SRE_AI_LEDGER_PATH"])
def test_ledger_files_moved_off_the_volume_are_refused(name: str) -> None:
    message = render_error(sets=[f"extraEnv[0].name={name}", "extraEnv[0].value=/tmp/spool"])
    assert f"extraEnv {name}=/tmp/spool is outside ledger.path" in message
    inside = render(sets=[f"extraEnv[0].name={name}", "extraEnv[0].value=/var/lib/sre-ai/x"])
    assert {"name": name, "value": "/var/lib/sre-ai/x"} in inside.api_container()["env"]


def test_one_sqlite_writer_at_a_time_during_rollouts() -> None:
    for sets in ([], ["ledger.persistence.enabled=false"]):
        strategy = render(sets=sets).api_deployment()["spec"]["strategy"]
        assert strategy == {"type": "Recreate"}, sets


@pytest.mark.parametrize("sets", SHARED_LEDGERS)
def test_with_redis_the_api_pods_are_stateless_and_roll(sets: list[str]) -> None:
    rendered = render(sets=sets)
    assert rendered.maybe("PersistentVolumeClaim", CLAIM) is None  # (Redis has its own claim)
    assert "emptyDir" in ledger_volume(rendered)
    assert rendered.api_deployment()["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_storage_class_is_settable_and_dash_means_none() -> None:
    chosen = render("sqlite-ledger-storage-values.yaml").get("PersistentVolumeClaim", CLAIM)
    assert chosen["spec"]["storageClassName"] == "fast-ssd"
    assert chosen["spec"]["accessModes"] == ["ReadWriteOncePod"]
    assert chosen["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert chosen["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep",
                                                 "example.com/owner": "sre-oncall"}
    none = render(sets=["ledger.persistence.storageClass=-"]).get("PersistentVolumeClaim", CLAIM)
    assert none["spec"]["storageClassName"] == ""


def test_an_existing_claim_is_mounted_not_created() -> None:
    rendered = render(sets=["ledger.persistence.existingClaim=ledger-from-backup"])
    assert not rendered.all("PersistentVolumeClaim")
    assert ledger_volume(rendered)["persistentVolumeClaim"] == {"claimName": "ledger-from-backup"}
    assert rendered.api_deployment()["spec"]["strategy"] == {"type": "Recreate"}


def test_uninstall_may_delete_the_claim_only_when_asked() -> None:
    claim = render(sets=["ledger.persistence.keepOnUninstall=false"]).get(
        "PersistentVolumeClaim", CLAIM)
    assert "annotations" not in claim["metadata"]


def test_without_persistence_the_ledger_is_an_emptydir() -> None:
    rendered = render(sets=["ledger.persistence.enabled=false"])
    assert not rendered.all("PersistentVolumeClaim")
    assert ledger_volume(rendered)["emptyDir"] == {"sizeLimit": "256Mi"}


@pytest.mark.parametrize("value", ["0", "0%"])
def test_a_pdb_that_would_block_every_drain_is_refused(value: str) -> None:
    message = render_error(sets=[f"podDisruptionBudget.maxUnavailable={value}"])
    assert "would block every node drain" in message
    render(sets=[f"podDisruptionBudget.maxUnavailable={value}",
                 "podDisruptionBudget.enabled=false"])


def test_the_default_pdb_lets_a_drain_evict_the_single_replica() -> None:
    rendered = render()
    assert rendered.api_deployment()["spec"]["replicas"] == 1
    assert rendered.get("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize(
    ("sets", "where"),
    [
        (["ledger.persistence.accessModes[0]=ReadWriteMany"], "/ledger/persistence/accessModes/0"),
        (["ledger.persistence.size=lots"], "/ledger/persistence/size"),
        (["ledger.persistence.existingClaim=Not_A_Name"], "/ledger/persistence/existingClaim"),
        (["ledger.persistance.enabled=true"], "additional properties 'persistance' not allowed"),
    ],
)
def test_schema_rejects_unsafe_or_mistyped_persistence(sets: list[str], where: str) -> None:
    assert where in render_error(sets=sets)
