"""The real service under uvicorn, its policy and runbooks on kubelet-style ConfigMap volumes:
edits are applied without a restart, a bad edit is rejected visibly, requests keep flowing."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from app.clock import ManualClock, SystemClock
from app.config import parse_policy
from app.config_watch.break_glass import BreakGlassEvents
from app.config_watch.events import EventRecorder, ObjectRef
from app.config_watch.kube_watch import ConfigMapChange, KubernetesPolicyWatcher
from app.metrics import Metrics
from app.policy_source import ActivePolicy, PolicyManager
from tests.fakes.service_process import REPO_ROOT, ServiceProcess, wait_until
from tests.integration.kube_api_server import FakeKubeAPI, configmap, expired
from tests.unit.config_watch.kubelet_volume import ConfigMapVolume
from tests.unit.config_watch.policies import invalid_budget, policy_yaml

pytestmark = pytest.mark.integration

Start = Callable[..., ServiceProcess]
RELOAD_TIMEOUT_SECONDS = 10.0


def bundled_runbooks() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((REPO_ROOT / "runbooks").glob("*.md"))}


@pytest.fixture
def volumes(tmp_path: Path) -> tuple[ConfigMapVolume, ConfigMapVolume]:
    policy = ConfigMapVolume(tmp_path / "etc" / "policy", {"policy.yaml": policy_yaml(10)})
    runbooks = ConfigMapVolume(tmp_path / "etc" / "runbooks", bundled_runbooks())
    return policy, runbooks


@pytest.fixture
def service(service_factory: Start,
            volumes: tuple[ConfigMapVolume, ConfigMapVolume]) -> ServiceProcess:
    policy, runbooks = volumes
    return service_factory({
        "SRE_AI_POLICY_FILE": str(policy.path("policy.yaml")),
        "SRE_AI_RUNBOOKS_DIR": str(runbooks.root),
        "SRE_AI_WATCH_INTERVAL_SECONDS": "0.1",
    })


def ready(svc: ServiceProcess) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(svc.url + "/health/ready", timeout=5).json()
    return body


def metric(svc: ServiceProcess, series: str) -> float | None:
    for line in httpx.get(svc.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for_policy(svc: ServiceProcess, check: Callable[[dict[str, Any]], bool],
                    what: str) -> dict[str, Any]:
    wait_until(lambda: check(ready(svc)["policy"]), timeout=RELOAD_TIMEOUT_SECONDS, what=what)
    policy: dict[str, Any] = ready(svc)["policy"]
    return policy


def test_an_edit_is_applied_without_a_restart_and_a_bad_one_is_rejected(
        service: ServiceProcess, volumes: tuple[ConfigMapVolume, ConfigMapVolume]) -> None:
    policy_volume, _ = volumes
    assert service.proc is not None
    pid = service.proc.pid
    first = ready(service)["policy"]
    assert first["generation"] == 1 and first["last_error"] is None

    policy_volume.update({"policy.yaml": policy_yaml(hourly_usd=3)})
    second = wait_for_policy(service, lambda p: p["generation"] == 2, "the edit to apply")
    assert second["hash"] != first["hash"]
    h = second["hash"]
    assert metric(service, f'ai_config_info{{generation="2",hash="{h}",kind="policy"}}') == 1
    assert metric(service, 'ai_budget_limit_usd{window="hourly"}') in (None, 3.0)

    policy_volume.update({"policy.yaml": invalid_budget()})
    rejected = wait_for_policy(service, lambda p: p["last_error"] is not None, "the rejection")
    assert "budgets.hourly_usd" in rejected["last_error"]
    assert (rejected["generation"], rejected["hash"]) == (2, second["hash"])  # last good stays
    assert metric(service, 'ai_config_reloads_total{kind="policy",result="error"}') == 1
    lines = [json.loads(line) for line in service.logs().splitlines() if line.startswith("{")]
    assert any(rec.get("result") == "rejected" and "budgets.hourly_usd" in rec.get("reason", "")
               for rec in lines)
    # ...and the service keeps serving under the last good policy.
    assert httpx.post(service.url + "/ask", json={"question": "pod OOMKilled"}).status_code == 200

    policy_volume.update({"policy.yaml": policy_yaml(hourly_usd=3)})  # the fix
    fixed = wait_for_policy(service, lambda p: p["last_error"] is None, "the recovery")
    assert fixed["generation"] == 2
    assert service.proc.pid == pid and service.proc.poll() is None


def test_team_series_follow_the_policy_and_never_take_unknown_names(
        service_factory: Start, volumes: tuple[ConfigMapVolume, ConfigMapVolume]) -> None:
    """Issue 17: the policy's teams get their series at 0 (and break-glass its gauge), a
    reload that removes a team removes its series, and a key whose `team:` prefix names no
    policy team, or the key's name, never appears as a label."""
    policy_volume, runbooks = volumes
    until = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    teams = ("teams:\n"
             "  payments: {budgets: {daily_usd: 5}}\n"
             "  search: {budgets: {hourly_usd: 1}}\n"
             f"break_glass:\n  - {{scope: payments, until: '{until}', reason: INC-1, "
             "budgets: {daily_usd: 8}}\n")
    policy_volume.update({"policy.yaml": policy_yaml(10) + teams})
    svc = service_factory({
        "SRE_AI_POLICY_FILE": str(policy_volume.path("policy.yaml")),
        "SRE_AI_RUNBOOKS_DIR": str(runbooks.root),
        "SRE_AI_WATCH_INTERVAL_SECONDS": "0.1",
        "SRE_AI_API_KEYS": "ghost:alice-laptop=sk-ghost-0123456789",
    })
    auth = {"Authorization": "Bearer sk-ghost-0123456789"}
    assert httpx.post(svc.url + "/ask", json={"question": "pod OOMKilled"},
                      headers=auth).status_code == 200
    assert metric(svc, 'ai_team_spend_usd_total{team="payments"}') == 0
    assert metric(svc, 'ai_team_budget_limit_usd{team="payments",window="daily"}') == 8
    assert metric(svc, 'ai_team_budget_remaining_usd{team="payments",window="daily"}') == 8
    assert metric(svc, 'ai_break_glass_active{scope="payments"}') == 1
    assert metric(svc, 'ai_break_glass_active{scope="global"}') == 0
    assert metric(svc, 'ai_team_budget_limit_usd{team="search",window="hourly"}') == 1
    text = httpx.get(svc.url + "/metrics", timeout=5).text
    assert "ghost" not in text and "alice-laptop" not in text

    policy_volume.update({"policy.yaml": policy_yaml(10) + teams.replace(
        "  search: {budgets: {hourly_usd: 1}}\n", "")})
    wait_for_policy(svc, lambda p: p["generation"] == 2, "the reload without team search")
    text = httpx.get(svc.url + "/metrics", timeout=5).text
    assert 'team="search"' not in text and 'scope="search"' not in text
    assert metric(svc, 'ai_team_spend_usd_total{team="payments"}') == 0


def test_answers_keep_flowing_during_50_rapid_reloads(
        service: ServiceProcess, volumes: tuple[ConfigMapVolume, ConfigMapVolume]) -> None:
    policy_volume, _ = volumes
    questions = ["pod OOMKilled, what now?", "circuit breaker open", "budget exhausted",
                 "service down", "latency high"]

    def ask(i: int) -> int:
        q = questions[i % len(questions)]
        return httpx.post(service.url + "/ask", json={"question": q}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [pool.submit(ask, i) for i in range(50)]
        for i in range(1, 51):
            # Alternate a valid document with an invalid one every tenth swap.
            text = invalid_budget() if i % 10 == 5 else policy_yaml(hourly_usd=100 + i)
            policy_volume.update({"policy.yaml": text})
            answers.append(pool.submit(ask, i))
        statuses = [a.result() for a in answers]

    assert statuses == [200] * len(statuses)
    final = wait_for_policy(service, lambda p: p["last_error"] is None and p["generation"] > 1,
                            "the last document")
    assert final["origin"].startswith("file:")
    assert "Traceback" not in service.logs()


def test_a_runbook_added_through_the_swap_is_searchable(
        service: ServiceProcess, volumes: tuple[ConfigMapVolume, ConfigMapVolume]) -> None:
    _, runbook_volume = volumes
    before = ready(service)["runbooks"]
    question = {"question": "quokka gateway flux capacitor overheating"}
    assert "quokka-gateway" not in httpx.post(service.url + "/ask", json=question).json()[
        "sources"]

    runbook_volume.update({
        **bundled_runbooks(),
        "quokka-gateway.md": "# Quokka gateway overheating\n\n## Mitigation\n"
                             "When the quokka gateway flux capacitor overheats, "
                             "drain the quokka gateway and restart the flux capacitor.\n",
    })
    wait_until(lambda: ready(service)["runbooks"]["count"] == before["count"] + 1,
               timeout=RELOAD_TIMEOUT_SECONDS, what="the runbook re-index")
    body = httpx.post(service.url + "/ask", json=question).json()
    assert "quokka-gateway" in body["sources"]


# ------------------------------------------------- kubernetes source, real client over the wire

NS, CM = "sre-ai", "sre-ai-platform-policy"


@pytest.fixture
def kube_api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(configmap(NS, CM, policy_yaml(10), "5")) as api:
        yield api


def kube_watcher(kube_api: FakeKubeAPI) -> tuple[KubernetesPolicyWatcher, PolicyManager]:
    from kubernetes import client

    api = client.CoreV1Api(client.ApiClient(client.Configuration(host=kube_api.url)))
    clock = SystemClock()
    policy = parse_policy(policy_yaml(10))
    manager = PolicyManager(ActivePolicy(policy, 1, policy.digest, "start", clock.now()),
                            Metrics(CollectorRegistry()), clock)
    recorder = EventRecorder(api, clock, instance="pod-0")
    return KubernetesPolicyWatcher(NS, CM, manager, recorder, api=api,
                                   watch_timeout_seconds=60), manager


def modified(text: str, resource_version: str) -> dict[str, Any]:
    return {"type": "MODIFIED", "object": configmap(NS, CM, text, resource_version)}


async def test_the_real_client_lists_watches_reports_and_relists(kube_api: FakeKubeAPI) -> None:
    watcher, manager = kube_watcher(kube_api)
    kube_api.push(modified(policy_yaml(4), "101"), modified(invalid_budget(), "102"), expired())
    changes: list[ConfigMapChange] = []

    assert await asyncio.to_thread(watcher.step, changes.append) == 0.0  # 410: relist at once
    outcomes = [await watcher.handle(change) for change in changes]

    assert [o.result for o in outcomes if o] == ["unchanged", "applied", "rejected"]
    assert manager.current.origin == f"configmap:{NS}/{CM}@101"
    assert watcher.resource_version is None
    watch_request = next(path for _, path in kube_api.requests if "watch=true" in path)
    assert "resourceVersion=100" in watch_request
    assert f"fieldSelector=metadata.name%3D{CM}" in watch_request
    applied, rejected = sorted(kube_api.events.values(), key=lambda e: e["reason"])
    assert (applied["reason"], applied["type"]) == ("PolicyApplied", "Normal")
    assert (rejected["reason"], rejected["type"]) == ("PolicyRejected", "Warning")
    assert "budgets.hourly_usd" in rejected["message"]
    assert rejected["involvedObject"]["uid"] == kube_api.current["metadata"]["uid"]
    assert rejected["involvedObject"]["kind"] == "ConfigMap"
    assert rejected["reportingComponent"] == "sre-ai-platform"
    datetime.fromisoformat(rejected["lastTimestamp"])

    kube_api.fail_next_requests = 1
    assert await asyncio.to_thread(watcher.step, changes.append) == 0.5  # API error: back off
    kube_api.push(expired())
    await asyncio.to_thread(watcher.step, changes.append)
    assert kube_api.lists() == 3  # the first, the failed one, the retry


def test_a_repeated_event_is_patched_not_duplicated(kube_api: FakeKubeAPI) -> None:
    from kubernetes import client

    api = client.CoreV1Api(client.ApiClient(client.Configuration(host=kube_api.url)))
    recorder = EventRecorder(api, SystemClock())
    ref = ObjectRef(NS, CM)  # uid looked up through the API
    for _ in range(2):
        recorder.record_sync(ref, "PolicyRejected", "Warning", "budgets.hourly_usd: bad")
    [event] = kube_api.events.values()
    assert event["count"] == 2
    [(_, content_type, _)] = kube_api.patches
    assert content_type == "application/strategic-merge-patch+json"


async def test_run_applies_within_seconds_and_stops_its_watch_on_cancel(
        kube_api: FakeKubeAPI) -> None:
    watcher, manager = kube_watcher(kube_api)
    applied = asyncio.Event()
    manager.subscribe(lambda _: applied.set())
    task = asyncio.create_task(watcher.run())
    kube_api.push(modified(policy_yaml(6), "110"))

    await asyncio.wait_for(applied.wait(), timeout=5)
    assert manager.current.policy.budgets.hourly_usd == 6
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The watch is held open for 60 s; stopping must cut it, not wait for it.
    for thread in [t for t in threading.enumerate() if t.name == f"policy-watch:{NS}/{CM}"]:
        await asyncio.to_thread(thread.join, 5)
        assert not thread.is_alive()


async def test_break_glass_events_over_the_wire_once_for_two_replicas(
        kube_api: FakeKubeAPI) -> None:
    """The real client: the uid is read from the API, the second replica's create gets a real
    409 (AlreadyExists) and takes the Event as recorded; the expiry follows the clock."""
    from kubernetes import client

    until = datetime(2026, 11, 30, 10, tzinfo=UTC)
    policy = parse_policy(policy_yaml(10) + (
        f"break_glass:\n  - {{scope: global, until: '{until.isoformat()}', reason: INC-7, "
        "budgets: {hourly_usd: 20}}\n"))
    clock = ManualClock(until - timedelta(hours=1))
    replicas = []
    for pod in ("pod-0", "pod-1"):
        api = client.CoreV1Api(client.ApiClient(client.Configuration(host=kube_api.url)))
        replicas.append(BreakGlassEvents(EventRecorder(api, clock, instance=pod),
                                         ObjectRef(NS, CM), lambda: policy, clock, 15))
    for replica in replicas:
        await replica.check()
    clock.set(until)
    for replica in replicas:
        await replica.check()
    reasons = sorted((e["reason"], e["type"]) for e in kube_api.events.values())
    assert reasons == [("BreakGlassActive", "Warning"), ("BreakGlassExpired", "Normal")]
    posts = [path for method, path in kube_api.requests if method == "POST"]
    assert len(posts) == 4  # each replica asked once per Event; the 409s were not retried
    uid = kube_api.current["metadata"]["uid"]
    assert all(e["involvedObject"]["uid"] == uid for e in kube_api.events.values())
    assert "global budgets (hourly_usd 20)" in next(
        e["message"] for e in kube_api.events.values() if e["reason"] == "BreakGlassActive")
