"""Kubernetes Events about the policy ConfigMap: shape, aggregation, and never failing a reload."""

from __future__ import annotations

import logging

import pytest

from app.clock import ManualClock
from app.config_watch.events import MAX_MESSAGE_CHARS, EventRecorder, ObjectRef
from tests.unit.config_watch.fake_kube import (
    NAME,
    NAMESPACE,
    UID,
    FakeCoreV1Api,
    configmap,
    server_error,
)

REF = ObjectRef(NAMESPACE, NAME, UID, "7")


@pytest.fixture
def api() -> FakeCoreV1Api:
    return FakeCoreV1Api(configmap("budgets: {}\n", "7"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_an_event_carries_what_kubectl_describe_needs(api: FakeCoreV1Api,
                                                      clock: ManualClock) -> None:
    EventRecorder(api, clock, instance="pod-1").record_sync(
        REF, "PolicyRejected", "Warning", "budgets.hourly_usd: must be >= 0")
    [body] = api.events.values()
    assert body["metadata"]["namespace"] == NAMESPACE
    assert body["metadata"]["name"].startswith(f"{NAME}.")
    assert body["involvedObject"]["uid"] == UID  # describe filters on the object's uid
    assert (body["reason"], body["type"]) == ("PolicyRejected", "Warning")
    assert body["count"] == 1
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-01-01T00:00:00Z"


def test_a_repeated_event_is_aggregated(api: FakeCoreV1Api, clock: ManualClock) -> None:
    recorder = EventRecorder(api, clock)
    recorder.record_sync(REF, "PolicyRejected", "Warning", "same reason")
    clock.advance(60)
    recorder.record_sync(REF, "PolicyRejected", "Warning", "same reason")
    recorder.record_sync(REF, "PolicyRejected", "Warning", "another reason")

    assert len(api.events) == 2
    first = next(e for e in api.events.values() if e["message"] == "same reason")
    assert first["count"] == 2
    assert first["lastTimestamp"] == "2026-01-01T00:01:00Z"
    assert first["firstTimestamp"] == "2026-01-01T00:00:00Z"


def test_an_expired_event_is_recreated(api: FakeCoreV1Api, clock: ManualClock) -> None:
    recorder = EventRecorder(api, clock)
    recorder.record_sync(REF, "PolicyApplied", "Normal", "generation 2")
    api.events.clear()  # the API server's event TTL passed
    recorder.record_sync(REF, "PolicyApplied", "Normal", "generation 2")
    [body] = api.events.values()
    assert body["count"] == 1


def test_the_uid_is_looked_up_when_unknown(api: FakeCoreV1Api, clock: ManualClock) -> None:
    EventRecorder(api, clock).record_sync(ObjectRef(NAMESPACE, NAME), "PolicyApplied", "Normal",
                                          "ok")
    [body] = api.events.values()
    assert body["involvedObject"]["uid"] == UID


def test_long_messages_are_cut(api: FakeCoreV1Api, clock: ManualClock) -> None:
    EventRecorder(api, clock).record_sync(REF, "PolicyRejected", "Warning", "x" * 5000)
    [body] = api.events.values()
    assert len(body["message"]) == MAX_MESSAGE_CHARS


async def test_failures_are_logged_never_raised(api: FakeCoreV1Api, clock: ManualClock,
                                                caplog: pytest.LogCaptureFixture) -> None:
    api.event_errors.append(server_error())
    with caplog.at_level(logging.WARNING, logger="app.policy"):
        await EventRecorder(api, clock).record(REF, "PolicyApplied", "Normal", "ok")
        # No ConfigMap to attach to (file source, wrong name): logged too.
        await EventRecorder(api, clock).record(ObjectRef(NAMESPACE, "absent"), "PolicyApplied",
                                               "Normal", "ok")
    assert api.events == {}
    messages = [r.getMessage() for r in caplog.records]
    assert any("HTTP 500" in m for m in messages)
    assert any("HTTP 404" in m for m in messages)
