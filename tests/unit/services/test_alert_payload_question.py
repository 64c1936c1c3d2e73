"""Alertmanager's webhook payload (v4) is validated, and a firing alert becomes a question that
retrieval routes to the runbook `runbook_url` names (else the alert name's)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.config import BUNDLED_RUNBOOKS
from app.runbooks.loader import load_runbooks, parse_runbook
from app.runbooks.search import RunbookIndex
from app.services.alert_payload import MAX_ALERTS, WebhookAlert, WebhookPayload
from app.services.alert_question import build_question, preferred_runbook, runbook_id_from_url


@pytest.fixture(scope="module")
def index() -> RunbookIndex:
    return RunbookIndex(load_runbooks(BUNDLED_RUNBOOKS))


def alert(name: str = "KubePodCrashLooping", **annotations: str) -> dict[str, Any]:
    return {"status": "firing",
            "labels": {"alertname": name, "namespace": "shop", "pod": "api-7f9c",
                       "severity": "critical", "uid": "a1b2"},
            "annotations": annotations, "startsAt": "2026-11-30T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
            "fingerprint": "c0ffee01"}


def payload(*alerts: dict[str, Any], **over: Any) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "groupKey": '{}:{alertname="X"}',
            "receiver": "sre-ai", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am", "truncatedAlerts": 0,
            "alerts": list(alerts), **over}


def test_a_v4_payload_validates_and_unknown_fields_are_ignored() -> None:
    body = payload(alert(), addedByAFutureAlertmanager=True)
    parsed = WebhookPayload.model_validate(body)
    assert parsed.alerts[0].labels.alertname == "KubePodCrashLooping"
    assert parsed.alerts[0].label_map()["uid"] == "a1b2"


@pytest.mark.parametrize(("change", "where"), [
    ({"version": "3"}, "version"),
    ({"groupKey": None}, "groupKey"),
    ({"alerts": [{**alert(), "labels": {"namespace": "x"}}]}, "alertname"),
    ({"alerts": [{**alert(), "fingerprint": ""}]}, "fingerprint"),
    ({"alerts": [{**alert(), "status": "pending"}]}, "status"),
    ({"alerts": [{**alert(), "startsAt": "yesterday"}]}, "startsAt"),
])
def test_a_malformed_payload_is_refused_naming_the_field(change: dict[str, Any],
                                                         where: str) -> None:
    body = {k: v for k, v in payload(alert()).items()} | change
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(ValidationError) as info:
        WebhookPayload.model_validate(body)
    assert where in str(info.value)


def test_a_group_over_the_bound_is_cut_not_refused() -> None:
    """Alertmanager does not retry a 4xx: refusing the storm's biggest group would leave all
    of it unanswered. The first MAX_ALERTS are kept; the rest add to Alertmanager's own count
    of what it cut (its max_alerts), and are never validated."""
    many = [{**alert(), "fingerprint": f"fp{i}"} for i in range(MAX_ALERTS)]
    beyond = [{"not": "even an alert"}] * 5
    body = WebhookPayload.model_validate(payload(*many, *beyond, truncatedAlerts=7))
    assert len(body.alerts) == MAX_ALERTS and body.alerts[-1].fingerprint == f"fp{MAX_ALERTS - 1}"
    assert body.truncatedAlerts == 12
    assert WebhookPayload.model_validate(payload(alert())).truncatedAlerts == 0


@pytest.mark.parametrize(("url", "expected"), [
    ("https://git.example/runbooks/pod-oomkilled.md", "pod-oomkilled"),
    ("https://wiki/runbooks/pod-oomkilled#mitigation", "pod-oomkilled"),
    ("https://wiki/runbooks/Pod-OOMKilled/", "pod-oomkilled"),
    ("", ""),
])
def test_runbook_id_from_url(url: str, expected: str) -> None:
    assert runbook_id_from_url(url) == expected


def test_runbook_url_wins_over_the_alert_name_and_routes_retrieval(index: RunbookIndex) -> None:
    # KubePodCrashLooping is crashloopbackoff's alert; the rule's runbook_url says otherwise.
    a = WebhookAlert.model_validate(alert(
        runbook_url="https://runbooks.example/node-notready.md",
        summary="Pod api-7f9c restarts"))
    runbook = preferred_runbook(a, index)
    assert runbook == "node-notready"
    question = build_question(a, runbook, index, 2000)
    assert question.startswith("KubeNodeNotReady (runbook node-notready).")
    assert index.search(question).hits[0].chunk.runbook_id == "node-notready"


def test_without_a_known_runbook_url_the_alert_names_runbook_is_used(
        index: RunbookIndex) -> None:
    a = WebhookAlert.model_validate(alert(runbook_url="https://elsewhere/unknown-page"))
    runbook = preferred_runbook(a, index)
    assert runbook == "crashloopbackoff"
    question = build_question(a, runbook, index, 2000)
    assert question.startswith("Alert KubePodCrashLooping is firing (severity=critical, "
                               "namespace=shop, pod=api-7f9c).")
    assert "uid" not in question  # per-series labels would defeat the answer caches
    assert index.search(question).hits[0].chunk.runbook_id == "crashloopbackoff"


def test_runbook_url_finds_a_runbook_whose_id_keeps_its_case_or_is_nested() -> None:
    """Ids keep their file's case and folder (`KubeNodeNotReady`, `kubernetes/...`); URLs
    are lower-cased by the time we read them: a runbook is found by its last segment."""
    index = RunbookIndex([parse_runbook("KubeNodeNotReady", "# Node not ready\n## Fix\nx\n"),
                          parse_runbook("kubernetes/KubePodCrashLooping",
                                        "# Crash looping\n## Fix\ny\n")])
    for url, expected in (
            ("https://wiki/runbooks/KubeNodeNotReady.md", "KubeNodeNotReady"),
            ("https://runbooks.example/runbooks/kubernetes/kubepodcrashlooping",
             "kubernetes/KubePodCrashLooping")):
        a = WebhookAlert.model_validate(alert("SomethingElse", runbook_url=url))
        assert preferred_runbook(a, index) == expected


def test_an_unknown_alert_has_no_preferred_runbook(index: RunbookIndex) -> None:
    a = WebhookAlert.model_validate(alert("SomethingLocal", summary="Queue depth high"))
    assert preferred_runbook(a, index) is None
    assert "Summary: Queue depth high" in build_question(a, None, index, 2000)


def test_a_long_description_is_cut_never_the_alert_name_or_the_ask(
        index: RunbookIndex) -> None:
    a = WebhookAlert.model_validate(alert(description="word " * 2000))
    question = build_question(a, "crashloopbackoff", index, 400)
    assert len(question) <= 400
    assert "KubePodCrashLooping" in question and question.endswith("do first?")
