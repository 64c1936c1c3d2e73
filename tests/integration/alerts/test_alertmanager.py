"""The real Alertmanager sends to the real service: an alert posted to Alertmanager's v2 API is
answered at /alerts/recent citing the runbook its `runbook_url` names, and Alertmanager's
re-send of the group (when a second alert joins it) does not pay for the first again. And the
whole chain: a rule on the live service's metrics fires in the real Prometheus, which sends to
Alertmanager, which sends to /alerts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.service_process import wait_until
from tests.integration.alerts.alertmanager_process import AlertmanagerProcess, binary
from tests.integration.alerts.conftest import API_KEY, Fleet
from tests.integration.money.conftest import metric_sum
from tests.integration.monitoring.prometheus_process import PrometheusProcess
from tests.integration.monitoring.prometheus_process import binary as find_binary

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


def test_a_rule_firing_in_prometheus_reaches_the_service_through_alertmanager(
        fleet: Fleet, alertmanager: AlertmanagerProcess, tmp_path: Path) -> None:
    prometheus = find_binary("prometheus")
    if prometheus is None:
        pytest.skip("prometheus is not installed (tools/install-test-deps.sh)")
    rules = tmp_path / "e2e.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "alerts-e2e", "rules": [{
        "alert": "SreAiReceiverLive",  # listed in no runbook: routed by runbook_url alone
        "expr": 'ai_alerts_received_total{status="resolved"} >= 0',  # the live service's series
        "labels": {"severity": "info"},
        "annotations": {"summary": "The receiver is live",
                        "runbook_url": "https://runbooks.example/ai-service-down.md"},
    }]}]}))
    (tmp_path / "prom").mkdir()
    prom = PrometheusProcess(tmp_path / "prom", job="sre-ai-platform",
                             target=f"127.0.0.1:{fleet.a.port}", rule_files=[rules])
    config = yaml.safe_load(prom.config_path.read_text())
    config["alerting"] = {"alertmanagers": [{"static_configs": [
        {"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]}
    prom.config_path.write_text(yaml.safe_dump(config))
    prom.start(prometheus)
    try:
        def answered() -> list[dict[str, object]]:
            return fleet.recent(fleet.b, alertname="SreAiReceiverLive", status="firing")

        wait_until(answered, timeout=90, what="Prometheus -> Alertmanager -> /alerts")
    finally:
        prom.stop()
    [record] = answered()
    assert record["runbook"] == "ai-service-down"
    assert "ai-service-down" in record["sources"]  # type: ignore[operator]
    assert record["labels"]["job"] == "sre-ai-platform"  # type: ignore[index]
