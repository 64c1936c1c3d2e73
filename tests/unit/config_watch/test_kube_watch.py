"""The ConfigMap watch, driven step by step against fakes of the client's interfaces."""

from __future__ import annotations

import asyncio
import threading

import pytest
from prometheus_client import CollectorRegistry
from urllib3.exceptions import ProtocolError

from app.clock import ManualClock
from app.config import Settings, parse_policy
from app.config_watch import kube_client
from app.config_watch.events import EventRecorder
from app.config_watch.initial import initial_policy
from app.config_watch.kube_watch import Backoff, ConfigMapChange, KubernetesPolicyWatcher
from app.errors import PolicyError
from app.metrics import Metrics
from app.policy_source import ActivePolicy, PolicyManager, ReloadOutcome
from tests.unit.config_watch.fake_kube import (
    NAME,
    NAMESPACE,
    UID,
    FakeCoreV1Api,
    FakeWatchServer,
    bookmark,
    configmap,
    event,
    gone,
    server_error,
)
from tests.unit.config_watch.policies import invalid_budget, policy_yaml

START = policy_yaml(hourly_usd=10)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def manager(metrics: Metrics, clock: ManualClock) -> PolicyManager:
    policy = parse_policy(START)
    origin = f"configmap:{NAMESPACE}/{NAME}@5"
    return PolicyManager(ActivePolicy(policy, 1, policy.digest, origin, clock.now()), metrics,
                         clock)


@pytest.fixture
def api() -> FakeCoreV1Api:
    return FakeCoreV1Api(configmap(START, "5"))


def make_watcher(api: FakeCoreV1Api, manager: PolicyManager, server: FakeWatchServer,
                 clock: ManualClock) -> KubernetesPolicyWatcher:
    return KubernetesPolicyWatcher(
        NAMESPACE, NAME, manager, EventRecorder(api, clock, instance="pod-0"), api=api,
        watch_factory=server.new_watch, backoff=Backoff(initial_seconds=0.5, cap_seconds=4.0))


async def step(watcher: KubernetesPolicyWatcher) -> tuple[float, list[ReloadOutcome | None]]:
    """One list+watch session, then apply what it emitted (as run() does on the loop)."""
    changes: list[ConfigMapChange] = []
    delay = watcher.step(changes.append)
    return delay, [await watcher.handle(change) for change in changes]


async def test_initial_list_then_watch_from_its_resource_version(
        api: FakeCoreV1Api, manager: PolicyManager, clock: ManualClock) -> None:
    server = FakeWatchServer([])
    watcher = make_watcher(api, manager, server, clock)

    delay, outcomes = await step(watcher)

    assert [o.result if o else None for o in outcomes] == ["unchanged"]
    [listed] = api.list_calls
    assert listed["namespace"] == NAMESPACE
    assert listed["field_selector"] == f"metadata.name={NAME}"
    assert listed["_request_timeout"] > 0
    [call] = server.calls
    assert call["resource_version"] == "100"  # the list's version, not the object's
    assert call["field_selector"] == f"metadata.name={NAME}"
    assert call["allow_watch_bookmarks"] is True
    assert call["timeout_seconds"] > 0 and call["_request_timeout"] > call["timeout_seconds"]
    assert delay == 1.0  # an empty session is not retried in a busy loop
    assert api.events == {}  # nothing changed, nothing to report


async def test_modified_is_applied_and_reported(
        api: FakeCoreV1Api, manager: PolicyManager, metrics: Metrics,
        clock: ManualClock) -> None:
    server = FakeWatchServer([event("MODIFIED", configmap(policy_yaml(hourly_usd=1), "101"))])
    watcher = make_watcher(api, manager, server, clock)

    delay, outcomes = await step(watcher)

    assert outcomes[-1] is not None and outcomes[-1].result == "applied"
    assert delay == 0.0
    assert manager.current.generation == 2
    assert manager.current.policy.budgets.hourly_usd == 1
    assert manager.current.origin == f"configmap:{NAMESPACE}/{NAME}@101"
    assert watcher.resource_version == "101"
    [applied] = api.events_by_reason("PolicyApplied")
    assert applied["type"] == "Normal"
    assert applied["involvedObject"] == {
        "apiVersion": "v1", "kind": "ConfigMap", "name": NAME, "namespace": NAMESPACE,
        "uid": UID, "resourceVersion": "101"}
    assert applied["reportingComponent"] == applied["source"]["component"] == "sre-ai-platform"
    assert applied["reportingInstance"] == "pod-0"
    assert "generation 2" in applied["message"]


async def test_invalid_modified_is_rejected_with_a_warning_event(
        api: FakeCoreV1Api, manager: PolicyManager, metrics: Metrics,
        clock: ManualClock) -> None:
    good = manager.current
    server = FakeWatchServer([event("MODIFIED", configmap(invalid_budget(), "102"))])
    watcher = make_watcher(api, manager, server, clock)

    _, outcomes = await step(watcher)

    assert outcomes[-1] is not None and outcomes[-1].result == "rejected"
    assert manager.current is good
    [rejected] = api.events_by_reason("PolicyRejected")
    assert rejected["type"] == "Warning"
    assert "budgets.hourly_usd" in rejected["message"]
    assert "generation 1" in rejected["message"]  # says what stays active
    assert metrics.registry.get_sample_value(
        "ai_config_reloads_total", {"kind": "policy", "result": "error"}) == 1


async def test_a_configmap_without_the_policy_key_is_rejected(
        api: FakeCoreV1Api, manager: PolicyManager, clock: ManualClock) -> None:
    server = FakeWatchServer([event("MODIFIED", configmap(None, "103"))])
    watcher = make_watcher(api, manager, server, clock)
    _, outcomes = await step(watcher)
    assert outcomes[-1] is not None and outcomes[-1].result == "rejected"
    assert "no data key 'policy.yaml'" in outcomes[-1].message


async def test_watch_expiry_relists(api: FakeCoreV1Api, manager: PolicyManager,
                                    clock: ManualClock) -> None:
    server = FakeWatchServer([bookmark("150"), gone()], [])
    watcher = make_watcher(api, manager, server, clock)

    delay, _ = await step(watcher)
    assert delay == 0.0  # relist at once
    assert watcher.resource_version is None
    # Meanwhile the ConfigMap changed; the relist sees its current state.
    api.current = configmap(policy_yaml(hourly_usd=2), "160")
    api.list_resource_version = "160"

    _, outcomes = await step(watcher)

    assert len(api.list_calls) == 2
    assert server.calls[0]["resource_version"] == "100"
    assert server.calls[1]["resource_version"] == "160"
    assert outcomes[0] is not None and outcomes[0].result == "applied"


async def test_bookmarks_advance_the_resume_version(
        api: FakeCoreV1Api, manager: PolicyManager, clock: ManualClock) -> None:
    server = FakeWatchServer([bookmark("140")], [])
    watcher = make_watcher(api, manager, server, clock)
    await step(watcher)
    await step(watcher)
    assert server.calls[1]["resource_version"] == "140"
    assert len(api.list_calls) == 1  # a normal end resumes, it does not relist


async def test_api_errors_back_off_capped_and_resume(
        api: FakeCoreV1Api, manager: PolicyManager, clock: ManualClock) -> None:
    server = FakeWatchServer(
        [server_error()], [ProtocolError("connection reset")], [server_error()], [server_error()],
        [server_error()],
        [event("MODIFIED", configmap(policy_yaml(hourly_usd=3), "120"))],
        [server_error()])
    api.list_errors.append(server_error())
    watcher = make_watcher(api, manager, server, clock)

    delays = [(await step(watcher))[0] for _ in range(7)]

    # list fails, then five failed watches, then a good session, then a fresh backoff
    assert delays[:6] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert delays[6] == 0.0 and manager.current.policy.budgets.hourly_usd == 3
    assert (await step(watcher))[0] == 0.5
    assert len(api.list_calls) == 2  # errors other than 410 resume, they do not relist
    assert all(call["resource_version"] == "100" for call in server.calls[:6])


async def test_deleted_keeps_the_last_good_policy(
        api: FakeCoreV1Api, manager: PolicyManager, clock: ManualClock) -> None:
    good = manager.current
    recreated = configmap(START, "131", uid="new-uid")
    server = FakeWatchServer([event("DELETED", configmap(START, "130")),
                              event("ADDED", recreated)])
    watcher = make_watcher(api, manager, server, clock)

    _, outcomes = await step(watcher)

    assert outcomes[1] is None  # DELETED: nothing applied, nothing rejected
    assert outcomes[2] is not None and outcomes[2].result == "unchanged"
    assert manager.current is good
    assert api.events == {}


async def test_a_reverted_bad_edit_reports_the_recovery(
        api: FakeCoreV1Api, manager: PolicyManager, clock: ManualClock) -> None:
    server = FakeWatchServer([event("MODIFIED", configmap(invalid_budget(), "102")),
                              event("MODIFIED", configmap(START, "103"))])
    watcher = make_watcher(api, manager, server, clock)
    _, outcomes = await step(watcher)
    assert [o.result for o in outcomes if o] == ["unchanged", "rejected", "unchanged"]
    assert [e["reason"] for e in api.events.values()] == ["PolicyRejected", "PolicyApplied"]


async def test_run_applies_changes_and_stops_its_thread_on_cancel(
        api: FakeCoreV1Api, manager: PolicyManager, clock: ManualClock) -> None:
    server = FakeWatchServer([event("MODIFIED", configmap(policy_yaml(hourly_usd=9), "110"))],
                             block_when_empty=True)
    watcher = make_watcher(api, manager, server, clock)
    applied = asyncio.Event()
    manager.subscribe(lambda _: applied.set())

    task = asyncio.create_task(watcher.run())
    await asyncio.wait_for(applied.wait(), timeout=10)
    assert manager.current.policy.budgets.hourly_usd == 9
    await asyncio.to_thread(server.idle.wait, 10)  # the thread is blocked in the next watch
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    threads = [t for t in threading.enumerate() if t.name == f"policy-watch:{NAMESPACE}/{NAME}"]
    for thread in threads:
        await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive()


def test_start_up_read_of_the_configmap(api: FakeCoreV1Api) -> None:
    text, ref = kube_client.read_policy_configmap(NAMESPACE, NAME, api)
    assert text == START
    assert (ref.uid, ref.resource_version) == (UID, "5")


def test_start_up_read_says_what_is_missing(api: FakeCoreV1Api) -> None:
    with pytest.raises(PolicyError, match="HTTP 404"):
        kube_client.read_policy_configmap(NAMESPACE, "absent", api)
    api.current = configmap(None, "6")
    with pytest.raises(PolicyError, match=r"no data key 'policy\.yaml'"):
        kube_client.read_policy_configmap(NAMESPACE, NAME, api)


async def test_the_error_a_stop_causes_is_not_retried_as_a_failure(
        api: FakeCoreV1Api, manager: PolicyManager, clock: ManualClock) -> None:
    server = FakeWatchServer([ProtocolError("Response ended prematurely")])
    watcher = make_watcher(api, manager, server, clock)
    watcher.stop()
    delay, _ = await step(watcher)
    assert delay == 0.0


def test_an_invalid_configmap_at_start_up_is_fatal_and_reported(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    api.current = configmap(invalid_budget(), "9")
    settings = Settings(policy_source="kubernetes", policy_configmap=f"{NAMESPACE}/{NAME}")
    with pytest.raises(PolicyError, match=r"budgets\.hourly_usd"):
        initial_policy(settings, clock, kube_api=api)
    [rejected] = api.events_by_reason("PolicyRejected")
    assert "cannot start" in rejected["message"]


def test_start_up_from_the_configmap(api: FakeCoreV1Api, clock: ManualClock) -> None:
    settings = Settings(policy_source="kubernetes", policy_configmap=f"{NAMESPACE}/{NAME}")
    active = initial_policy(settings, clock, kube_api=api)
    assert (active.generation, active.origin) == (1, f"configmap:{NAMESPACE}/{NAME}@5")
    assert active.policy.budgets.hourly_usd == 10
