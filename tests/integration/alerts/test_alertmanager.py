"""The real Alertmanager sends to the real service: an alert posted to Alertmanager's v2 API is
answered at /alerts/recent citing the runbook its `runbook_url` names, and Alertmanager's
re-send of the group (when a second alert joins it) does not pay for the first again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.service_process import wait_until
from tests.integration.alerts.alertmanager_process import AlertmanagerProcess, binary
from tests.integration.alerts.conftest import API_KEY, Fleet
from tests.integration.money.conftest import metric_sum

pytestmark = pytest.mark.integration
NAME = "ShopApiRestarting"  # listed in no runbook: only runbook_url can route it


@pytest.fixture
def alertmanager(fleet: Fleet, tmp_path: Path) -> Iterator[AlertmanagerProcess]:
    path = binary()
    if path is None:
        pytest.skip("prometheus-alertmanager is not installed (tools/install-test-deps.sh)")
    am = AlertmanagerProcess(tmp_path, webhook_url=fleet.a.url + "/alerts", token=API_KEY)
    am.start(path)
    yield am
    am.stop()


def shop_alert(pod: str) -> dict[str, object]:
    return {"labels": {"alertname": NAME, "namespace": "shop", "pod": pod,
                       "severity": "critical"},
            "annotations": {"summary": f"Pod shop/{pod} keeps restarting",
                            "runbook_url": "https://runbooks.example/crashloopbackoff.md"},
            "generatorURL": "http://prometheus/graph"}


def test_an_alert_sent_by_alertmanager_is_answered_citing_its_runbook_url(
        fleet: Fleet, alertmanager: AlertmanagerProcess) -> None:
    before = len(fleet.fake.arrived)
    dup_before = metric_sum(fleet.a, 'ai_alerts_answered_total{mode="duplicate"}')
    alertmanager.post_alerts([shop_alert("api-1")])

    def answered(count: int) -> bool:
        return len(fleet.recent(fleet.b, alertname=NAME, status="firing")) >= count

    wait_until(lambda: answered(1), timeout=60, what="Alertmanager's alert answered")
    [record] = fleet.recent(fleet.b, alertname=NAME)
    assert record["runbook"] == "crashloopbackoff"
    assert "crashloopbackoff" in record["sources"] and record["answer"]
    assert record["mode"] == "paid" and record["labels"]["pod"] == "api-1"
    assert len(fleet.fake.arrived) == before + 1
    # a second alert joins the group: Alertmanager re-sends the group with both alerts
    alertmanager.post_alerts([shop_alert("api-2")])
    wait_until(lambda: answered(2), timeout=60, what="the second alert answered")
    assert metric_sum(fleet.a, 'ai_alerts_answered_total{mode="duplicate"}') >= dup_before + 1
    assert len(fleet.recent(fleet.b, alertname=NAME, status="firing")) == 2
    assert len(fleet.fake.arrived) <= before + 2  # api-1 was not paid again
    assert "Authorization" not in alertmanager.logs()
