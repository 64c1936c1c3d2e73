"""The HorizontalPodAutoscaler's metric (issue 16): CPU by default, which needs nothing but
metrics-server; in-flight requests per pod (and optionally LLM tokens per second) through the
custom metrics API when asked, named as prometheus-adapter/config.yaml serves them; a clear
error when the choice is incomplete."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.chart.rendering import REPO, render, render_error

pytestmark = pytest.mark.chart

BASE = ["autoscaling.enabled=true", "redis.enabled=true"]
ADAPTER_CONFIG = REPO / "prometheus-adapter" / "config.yaml"


def hpa_metrics(*sets: str) -> list[dict[str, Any]]:
    hpa = render(sets=[*BASE, *sets]).get("HorizontalPodAutoscaler")
    return list(hpa["spec"]["metrics"])


def adapter_names() -> set[str]:
    rules = yaml.safe_load(ADAPTER_CONFIG.read_text())["rules"]
    return {r["name"]["as"] for r in rules}


def test_cpu_is_the_default_and_needs_no_adapter() -> None:
    metrics = hpa_metrics()
    assert [m["type"] for m in metrics] == ["Resource"]
    assert metrics[0]["resource"] == {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}


def test_inflight_scales_on_requests_per_pod_with_cpu_beside_it() -> None:
    metrics = hpa_metrics("autoscaling.metric=inflight", "autoscaling.inflight.averageValue=3")
    pods = [m["pods"] for m in metrics if m["type"] == "Pods"]
    assert pods == [{"metric": {"name": "ai_active_requests"},
                     "target": {"type": "AverageValue", "averageValue": "3"}}]
    assert [m["resource"]["name"] for m in metrics if m["type"] == "Resource"] == ["cpu"]


def test_inflight_alone_when_cpu_is_switched_off() -> None:
    metrics = hpa_metrics("autoscaling.metric=inflight",
                          "autoscaling.targetCPUUtilizationPercentage=null")
    assert [(m["type"], m["pods"]["metric"]["name"]) for m in metrics] == [
        ("Pods", "ai_active_requests")]


def test_tokens_per_second_is_an_optional_second_custom_metric() -> None:
    metrics = hpa_metrics("autoscaling.metric=inflight", "autoscaling.tokensPerSecond.enabled=true")
    names = [m["pods"]["metric"]["name"] for m in metrics if m["type"] == "Pods"]
    assert names == ["ai_active_requests", "ai_tokens_per_second"]
    tokens = [m["pods"]["target"] for m in metrics if m["type"] == "Pods"][1]
    assert tokens == {"type": "AverageValue", "averageValue": "2000"}


def test_the_adapter_config_serves_every_custom_metric_the_chart_asks_for() -> None:
    values = yaml.safe_load((REPO / "charts" / "sre-ai-platform" / "values.yaml").read_text())
    a = values["autoscaling"]
    assert {a["inflight"]["name"], a["tokensPerSecond"]["name"]} <= adapter_names()
    for rule in yaml.safe_load(ADAPTER_CONFIG.read_text())["rules"]:
        # per pod: the HPA's Pods metric is looked up by namespace and pod
        assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}


@pytest.mark.parametrize(("sets", "message"), [
    (["autoscaling.metric=memory"], "value must be one of 'cpu', 'inflight'"),
    (["autoscaling.targetCPUUtilizationPercentage=null"], "targetCPUUtilizationPercentage"),
    (["autoscaling.metric=inflight", "autoscaling.inflight.averageValue="], "averageValue"),
    (["autoscaling.customMetric.enabled=true"], "customMetric"),
])
def test_an_incomplete_choice_fails_with_the_knob_to_set(sets: list[str], message: str) -> None:
    assert message in render_error(sets=[*BASE, *sets])
