"""The last applied policy: recorded by every pod, and what a pod started after an invalid edit
starts on (kubernetes source: a ConfigMap; file source: a file on the ledger volume)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from app.clock import ManualClock
from app.config import Settings, parse_policy
from app.config_watch.build import build_policy_watchers
from app.config_watch.events import EventRecorder
from app.config_watch.file_watch import FilePolicyWatcher
from app.config_watch.initial import starting_policy
from app.config_watch.kube_watch import ConfigMapChange, KubernetesPolicyWatcher
from app.config_watch.last_applied import ConfigMapLastApplied, FileLastApplied
from app.errors import PolicyError
from app.metrics import Metrics
from app.policy_source import PolicyManager
from tests.unit.config_watch.fake_kube import NAME, NAMESPACE, FakeCoreV1Api, configmap
from tests.unit.config_watch.policies import invalid_budget, policy_yaml

RECORD = f"{NAME}-applied"
KUBE = Settings(policy_source="kubernetes", policy_configmap=f"{NAMESPACE}/{NAME}",
                policy_applied_configmap=f"{NAMESPACE}/{RECORD}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def api() -> FakeCoreV1Api:
    api = FakeCoreV1Api(configmap(policy_yaml(hourly_usd=10), "5"))
    api.add_other(RECORD)  # the chart creates it empty
    return api


def record(api: FakeCoreV1Api) -> dict[str, str]:
    return dict(api.others[RECORD].data or {})


Pod = tuple[PolicyManager, KubernetesPolicyWatcher]


async def start_pod(api: FakeCoreV1Api, clock: ManualClock,
                    metrics: Metrics | None = None) -> Pod:
    """What Runtime.build + the watcher's first list do in a new pod."""
    metrics = metrics or Metrics(CollectorRegistry())
    starting = starting_policy(KUBE, clock, kube_api=api)
    manager = PolicyManager(starting.active, metrics, clock, rejected=starting.rejected)
    clock.advance(1)  # the watcher starts later (Event names carry the time)
    watcher = KubernetesPolicyWatcher(
        NAMESPACE, NAME, manager, EventRecorder(api, clock, instance="pod"), api=api,
        last_applied=ConfigMapLastApplied(api, NAMESPACE, RECORD, clock))
    await watcher.handle(ConfigMapChange("LISTED", api.current))
    return manager, watcher


async def test_the_policy_a_pod_starts_on_is_recorded(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    manager, _ = await start_pod(api, clock)

    data = record(api)
    assert data["hash"] == manager.current.digest
    assert parse_policy(data["policy.json"]).digest == manager.current.digest
    assert data["origin"] == f"configmap:{NAMESPACE}/{NAME}@5"
    assert data["applied-at"] == clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_an_invalid_edit_then_a_new_pod_starts_on_the_last_applied_policy(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    old_pod, watcher = await start_pod(api, clock)
    edited = configmap(policy_yaml(hourly_usd=7), "6")
    await watcher.handle(ConfigMapChange("MODIFIED", edited))
    assert record(api)["hash"] == old_pod.current.digest == parse_policy(policy_yaml(7)).digest
    api.current = configmap(invalid_budget(), "7")
    await watcher.handle(ConfigMapChange("MODIFIED", api.current))
    assert record(api)["hash"] == parse_policy(policy_yaml(7)).digest  # never the invalid one

    clock.advance(60)  # (Event names carry the time: two pods never share a nanosecond)
    metrics = Metrics(CollectorRegistry())
    new_pod, _ = await start_pod(api, clock, metrics)  # scale-out: same invalid ConfigMap

    assert new_pod.current.policy.budgets.hourly_usd == 7
    assert new_pod.current.digest == old_pod.current.digest
    assert "last applied" in new_pod.current.origin
    assert new_pod.last_error is not None and "budgets.hourly_usd" in new_pod.last_error
    rejected = [e for e in api.events_by_reason("PolicyRejected")
                if "starting on the last applied policy" in e["message"]]
    assert rejected and "budgets.hourly_usd" in rejected[0]["message"]
    assert rejected[0]["involvedObject"]["name"] == NAME
    errors = metrics.registry.get_sample_value(
        "ai_config_reloads_total", {"kind": "policy", "result": "error"})
    assert errors is not None and errors >= 1


def test_a_fresh_install_with_an_invalid_policy_still_fails_loudly(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    api.current = configmap(invalid_budget(), "9")  # and the record is empty
    with pytest.raises(PolicyError, match=r"budgets\.hourly_usd"):
        starting_policy(KUBE, clock, kube_api=api)
    [event] = api.events_by_reason("PolicyRejected")
    assert "no last applied policy: cannot start" in event["message"]


def test_a_replica_finding_its_hash_recorded_does_not_write(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    store = ConfigMapLastApplied(api, NAMESPACE, RECORD, clock)
    policy = parse_policy(policy_yaml(3))
    store.save(policy, "pod-a")
    store.save(policy, "pod-b")
    assert api.replaces == [RECORD]


def test_a_conflicting_write_is_read_again_and_retried(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    store = ConfigMapLastApplied(api, NAMESPACE, RECORD, clock)
    other = parse_policy(policy_yaml(2))
    mine = parse_policy(policy_yaml(3))

    def another_replica_writes_first(fake: FakeCoreV1Api) -> None:
        ConfigMapLastApplied(fake, NAMESPACE, RECORD, clock).save(other, "pod-b")

    api.before_replace.append(another_replica_writes_first)
    store.save(mine, "pod-a")

    assert api.replaces == [RECORD, RECORD]  # theirs, then ours on the retry (after a 409)
    assert record(api)["hash"] == mine.digest


def test_a_record_that_cannot_be_written_is_logged_not_raised(
        clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    api = FakeCoreV1Api(configmap(policy_yaml(), "5"))  # no record ConfigMap: 404
    ConfigMapLastApplied(api, NAMESPACE, RECORD, clock).save(parse_policy(policy_yaml()), "x")
    assert "could not record the applied policy" in caplog.text


# ---------------------------------------------------------------- file source


async def test_file_source_records_and_falls_back_on_the_ledger_volume(
        tmp_path: Path, clock: ManualClock) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(policy_yaml(hourly_usd=4))
    last = tmp_path / "ledger" / "policy-last-applied.json"
    settings = Settings(policy_file=policy_file, policy_last_applied_file=last)
    metrics = Metrics(CollectorRegistry())
    starting = starting_policy(settings, clock)
    manager = PolicyManager(starting.active, metrics, clock)

    [watcher] = build_policy_watchers(settings, manager, metrics, clock)
    assert isinstance(watcher, FilePolicyWatcher)
    await watcher.check_and_report()
    assert json.loads(last.read_text())["hash"] == manager.current.digest

    policy_file.write_text(invalid_budget())
    restarted = starting_policy(settings, clock)
    assert restarted.active.policy.budgets.hourly_usd == 4
    assert restarted.rejected is not None and "budgets.hourly_usd" in restarted.rejected

    last.unlink()
    with pytest.raises(PolicyError, match=r"budgets\.hourly_usd"):
        starting_policy(settings, clock)


def test_an_unreadable_record_is_no_record(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "last.json"
    path.write_text("{not json")
    assert FileLastApplied(path, clock).load() is None
    path.write_text(json.dumps({"policy.json": invalid_budget()}))
    assert FileLastApplied(path, clock).load() is None
