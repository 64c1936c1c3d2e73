"""Break-glass as Events on the policy ConfigMap: BreakGlassActive once per entry across
replicas, BreakGlassExpired when its time passes on the injected clock, retried after a failed
request. Against the fake CoreV1Api (the client's real Event model; 409 on a taken name, as the
API server does)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from app.clock import ManualClock
from app.config import Policy, parse_policy
from app.config_watch.break_glass import BreakGlassEvents
from app.config_watch.events import EventRecorder, ObjectRef
from app.metrics import Metrics
from app.policy_source import ActivePolicy, PolicyManager
from tests.unit.config_watch.fake_kube import (
    NAME,
    NAMESPACE,
    UID,
    FakeCoreV1Api,
    configmap,
    server_error,
)

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BASE = """
budgets: {per_request_usd: 1.0, hourly_usd: 3.0, daily_usd: 10.0, monthly_usd: 100.0}
teams:
  payments: {budgets: {hourly_usd: 1.0, daily_usd: 5.0}}
"""
RAISED = BASE + """
break_glass:
  - {scope: payments, until: "2026-11-30T10:00:00Z", reason: INC-4211 checkout outage,
     budgets: {hourly_usd: 4.0}}
"""
REF = ObjectRef(NAMESPACE, NAME)  # no uid: looked up, as build_policy_watchers passes it


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def api() -> FakeCoreV1Api:
    return FakeCoreV1Api(configmap(RAISED, "7"))


def replica(api: FakeCoreV1Api, clock: ManualClock, policy: Policy, pod: str) -> BreakGlassEvents:
    return BreakGlassEvents(EventRecorder(api, clock, instance=pod), REF, lambda: policy, clock,
                            interval_seconds=15)


async def test_an_active_entry_is_reported_once_with_scope_until_and_reason(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    events = replica(api, clock, parse_policy(RAISED), "pod-0")
    await events.check()
    clock.advance(60)
    await events.check()  # re-checks of the same entry ask nothing (per-process dedupe)

    [active] = api.events_by_reason("BreakGlassActive")
    assert api.create_attempts == 1
    assert active["type"] == "Warning"
    assert active["involvedObject"]["uid"] == UID  # kubectl describe configmap lists it
    assert active["message"] == ("break-glass raises team payments's budgets (hourly_usd 4) "
                                 "until 2026-11-30T10:00:00Z: INC-4211 checkout outage")
    assert api.events_by_reason("BreakGlassExpired") == []


async def test_replicas_record_one_event_per_entry(api: FakeCoreV1Api,
                                                   clock: ManualClock) -> None:
    policy = parse_policy(RAISED)
    pods = [replica(api, clock, policy, f"pod-{i}") for i in range(3)]
    for pod in pods:
        await pod.check()
    assert len(api.events_by_reason("BreakGlassActive")) == 1
    clock.advance(3600)  # 10:00: the entry's until
    for pod in pods:
        await pod.check()
        await pod.check()
    [expired] = api.events_by_reason("BreakGlassExpired")
    assert expired["type"] == "Normal"
    assert "break-glass ended at 2026-11-30T10:00:00Z" in expired["message"]
    assert "INC-4211" in expired["message"]
    assert len(api.events) == 2
    assert api.create_attempts == 6  # each pod asked once per event; 409 told the others


async def test_expiry_is_a_time_not_a_config_change(api: FakeCoreV1Api,
                                                    clock: ManualClock) -> None:
    events = replica(api, clock, parse_policy(RAISED), "pod-0")
    await events.check()
    clock.advance(3599)
    await events.check()
    assert api.events_by_reason("BreakGlassExpired") == []
    clock.advance(1)
    await events.check()
    assert len(api.events_by_reason("BreakGlassExpired")) == 1


async def test_an_entry_already_over_when_first_seen_is_not_reported(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    clock.advance(7200)
    events = replica(api, clock, parse_policy(RAISED), "pod-late")
    await events.check()
    assert api.events == {}


async def test_a_failed_request_is_retried_at_the_next_check(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    events = replica(api, clock, parse_policy(RAISED), "pod-0")
    api.event_errors.append(server_error())
    await events.check()  # logged, not raised: a reload never fails on an Event
    assert api.events == {}
    await events.check()
    assert len(api.events_by_reason("BreakGlassActive")) == 1


async def test_a_policy_without_break_glass_records_nothing(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    await replica(api, clock, parse_policy(BASE), "pod-0").check()
    assert api.events == {}


async def test_an_applied_policy_is_checked_at_once_not_at_the_next_tick(
        api: FakeCoreV1Api, clock: ManualClock) -> None:
    base = parse_policy(BASE)
    manager = PolicyManager(ActivePolicy(base, 1, base.digest, "test", START),
                            Metrics(CollectorRegistry()), clock)
    recorder = SignallingRecorder(api, clock)
    events = BreakGlassEvents(recorder, REF, lambda: manager.current.policy, clock,
                              interval_seconds=3600)
    manager.subscribe(events.policy_applied)
    task = asyncio.create_task(events.run())
    await asyncio.sleep(0)  # its first check (nothing to record) ran; it now waits for a tick
    try:
        assert not recorder.recorded.is_set()
        assert manager.apply_text(RAISED, "configmap").result == "applied"
        async with asyncio.timeout(10):  # far below the hour-long tick
            await recorder.recorded.wait()
        assert len(api.events_by_reason("BreakGlassActive")) == 1
    finally:
        task.cancel()


class SignallingRecorder(EventRecorder):
    def __init__(self, api: FakeCoreV1Api, clock: ManualClock) -> None:
        super().__init__(api, clock)
        self.recorded = asyncio.Event()

    async def record_once(self, *args: Any, **kwargs: Any) -> bool:
        done = await super().record_once(*args, **kwargs)
        self.recorded.set()
        return done
