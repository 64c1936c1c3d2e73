"""POST /alerts on real replicas sharing Redis: answered once (in every replica), a repeat is
$0, a 200-alert storm stays within the paid cap, and malformed notifications change nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.alerts.conftest import AUTH, PAID_PER_GROUP, TIMEOUT, Fleet
from tests.integration.money.conftest import metric_sum

pytestmark = pytest.mark.integration


def alert(name: str, fingerprint: str, pod: str = "api-7f9c", **annotations: str) -> dict[str, Any]:
    return {"status": "firing",
            "labels": {"alertname": name, "namespace": "shop", "pod": pod,
                       "severity": "critical"},
            "annotations": annotations, "startsAt": "2026-11-30T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
            "fingerprint": fingerprint}


def notification(group: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "groupKey": group, "receiver": "sre-ai",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am", "truncatedAlerts": 0, "alerts": list(alerts)}


def paid_calls(fleet: Fleet) -> int:
    return len(fleet.fake.arrived)


def answered(fleet: Fleet, svc: ServiceProcess, name: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def check() -> bool:
        nonlocal found
        found = fleet.recent(svc, alertname=name, status="firing", limit=500)
        return len(found) >= count

    wait_until(check, timeout=120, what=f"{count} answered {name} alerts")
    return found


def test_an_alert_is_answered_once_citing_its_runbook_and_a_resend_costs_nothing(
        fleet: Fleet) -> None:
    before = paid_calls(fleet)
    body = notification('{}:{alertname="KubePodCrashLooping"}', alert(
        "KubePodCrashLooping", "fp-once",
        runbook_url="https://runbooks.example/crashloopbackoff.md",
        summary="Pod shop/api-7f9c is restarting"))
    first = fleet.post(fleet.a, body)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 1, "duplicate": 0, "resolved": 0, "dropped": 0,
                            "truncated": 0}
    [record] = answered(fleet, fleet.b, "KubePodCrashLooping", 1)  # the other replica sees it
    assert record["runbook"] == "crashloopbackoff"
    assert "crashloopbackoff" in record["sources"]
    assert record["mode"] == "paid" and record["cost_usd"] > 0
    assert record["labels"]["namespace"] == "shop" and record["answer"]
    assert paid_calls(fleet) == before + 1
    # Alertmanager re-sends the group, to the other replica: a duplicate, answered by no one
    again = fleet.post(fleet.b, body)
    assert again.json() == {"accepted": 0, "duplicate": 1, "resolved": 0, "dropped": 0,
                            "truncated": 0}
    assert metric_sum(fleet.b, 'ai_alerts_answered_total{mode="duplicate"}') == 1
    assert paid_calls(fleet) == before + 1
    assert len(fleet.recent(fleet.a, alertname="KubePodCrashLooping")) == 1
    # resolved: recorded (with endsAt), never answered
    resolved = {**alert("KubePodCrashLooping", "fp-once"), "status": "resolved",
                "endsAt": "2026-11-30T10:20:00Z"}
    done = fleet.post(fleet.a, notification("g", resolved))
    assert done.json()["resolved"] == 1
    [rec] = fleet.recent(fleet.b, alertname="KubePodCrashLooping", status="resolved")
    assert rec["endsAt"].startswith("2026-11-30T10:20") and rec["answer"] is None
    assert paid_calls(fleet) == before + 1


def test_200_alerts_in_one_group_stay_within_the_paid_cap(fleet: Fleet) -> None:
    before = paid_calls(fleet)
    alerts = [alert("KubeNodeNotReady", f"fp-storm-{i}", pod=f"p{i}",
                    summary=f"Node n{i} is not ready") for i in range(200)]
    r = fleet.post(fleet.a, notification('{}:{alertname="KubeNodeNotReady"}', *alerts))
    assert r.status_code == 200, r.text  # ~70 KB: over the 16 KiB /ask limit, within /alerts'
    assert r.json()["accepted"] == 200
    records = answered(fleet, fleet.a, "KubeNodeNotReady", 200)
    modes = [rec["mode"] for rec in records]
    assert modes.count("excerpts") == 200 - PAID_PER_GROUP
    assert paid_calls(fleet) - before <= PAID_PER_GROUP
    assert all("node-notready" in rec["sources"] for rec in records)
    assert metric_sum(fleet.a, 'ai_alerts_capped_total{cap="group"}') == 200 - PAID_PER_GROUP


def _state(fleet: Fleet) -> tuple[Any, ...]:
    return (len(fleet.recent(fleet.a, limit=500)), paid_calls(fleet),
            metric_sum(fleet.a, 'ai_alerts_received_total{status="firing"}'),
            metric_sum(fleet.a, 'ai_alerts_received_total{status="resolved"}'))


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"version": "3"}, 422, "invalid_request"),
    ({"alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-11-30T10:00:00Z",
                  "fingerprint": "x"}]}, 422, "invalid_request"),
    ({"groupKey": None}, 422, "invalid_request"),
])
def test_a_malformed_notification_is_refused_and_changes_nothing(
        fleet: Fleet, change: dict[str, Any], status: int, code: str) -> None:
    before = _state(fleet)
    body = notification("g-bad", alert("KubePodCrashLooping", "fp-bad")) | change
    r = fleet.post(fleet.a, {k: v for k, v in body.items() if v is not None})
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and r.json()["request_id"]
    assert _state(fleet) == before


def test_non_json_huge_and_unauthenticated_bodies_are_refused(fleet: Fleet) -> None:
    before = _state(fleet)
    url = fleet.a.url + "/alerts"
    junk = httpx.post(url, content=b"not json {", headers=AUTH | {"content-type":
                                                                  "application/json"},
                      timeout=TIMEOUT)
    assert junk.status_code == 422 and junk.json()["error"] == "invalid_request"
    huge = httpx.post(url, content=b"x" * (10 * 1024 * 1024), headers=AUTH, timeout=TIMEOUT)
    assert huge.status_code == 413 and huge.json()["error"] == "body_too_large"
    anon = httpx.post(url, json=notification("g", alert("KubePodCrashLooping", "fp-anon")),
                      timeout=TIMEOUT)
    assert anon.status_code == 401 and anon.json()["request_id"]
    assert httpx.get(fleet.a.url + "/alerts/recent", timeout=TIMEOUT).status_code == 401
    assert _state(fleet) == before
