"""The dashboards and alerts against the real thing: the service under uvicorn, the fake
Anthropic API, and a real Prometheus scraping every second and evaluating the rules (with
`for:` shortened 60x; the promtool tests prove the real durations)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.monitoring import assets
from tests.integration.monitoring.prometheus_process import finite
from tests.integration.monitoring.scenario import (
    FALLBACK,
    JOB,
    PRIMARY,
    UNGROUNDED_ANSWERS,
    LiveRun,
)

pytestmark = pytest.mark.integration


def exported(live: LiveRun) -> dict[str, list[dict[str, str]]]:
    """Sample name -> label sets, from the service's own /metrics right now."""
    text = httpx.get(live.service.url + "/metrics", timeout=10).text
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(dict(sample.labels))
    return out


def test_every_query_names_only_metrics_the_service_exports(live: LiveRun) -> None:
    samples = exported(live)
    known = set(samples) | assets.recorded_names() | assets.SCRAPE_SERIES
    unknown = {
        f"{q.where}: {name}"
        for q in assets.rule_queries() + assets.dashboard_queries()
        for name in assets.metric_names(q.expr) - known
    }
    assert not unknown, "queries read metrics /metrics does not have:\n" + "\n".join(
        sorted(unknown))


def test_every_label_value_a_query_matches_on_is_exported(live: LiveRun) -> None:
    samples = exported(live)
    missing = []
    for q in assets.rule_queries() + assets.dashboard_queries():
        for metric, label, value in assets.equality_matchers(q.expr):
            if metric not in samples or label == "job":
                continue  # recorded series; job is Prometheus' target label
            if not any(s.get(label) == value for s in samples[metric]):
                missing.append(f'{q.where}: {metric}{{{label}="{value}"}}')
    assert not missing, "matchers that match nothing the service exports:\n" + "\n".join(missing)


@pytest.mark.parametrize("query", assets.dashboard_queries(), ids=lambda q: q.where)
def test_every_dashboard_query_returns_data(live: LiveRun, query: assets.Query) -> None:
    prom = live.prometheus
    if query.instant:
        result = prom.query(query.expr)
    else:
        result = prom.query_range(query.expr, live.started_at, prom.now(), 1)
    assert finite(result), f"{query.where} returned no data:\n{query.expr}\n{result}"


@pytest.mark.parametrize("query", assets.rule_queries(), ids=lambda q: q.where)
def test_every_rule_expression_evaluates(live: LiveRun, query: assets.Query) -> None:
    """Prometheus accepts each rule expression as a query (it would fail on a type error)."""
    live.prometheus.query(query.expr)


def test_breaker_open_alert_fires(live: LiveRun) -> None:
    models = {a.get("model") for a in live.fired.get("AICircuitBreakerOpen", [])}
    assert PRIMARY in models, live.prometheus.alerts()
    assert FALLBACK not in models


def test_budget_alerts_fire_for_the_hourly_window(live: LiveRun) -> None:
    for alertname in ("AIBudgetNearlyExhausted", "AIBudgetExhausted"):
        windows = {a.get("window") for a in live.fired.get(alertname, [])}
        assert "hourly" in windows, (alertname, live.prometheus.alerts())
        assert windows <= {"hourly"}, (alertname, windows)


def test_config_reload_alert_fires_for_the_rejected_policy(live: LiveRun) -> None:
    kinds = {a.get("kind") for a in live.fired.get("AIConfigReloadFailing", [])}
    assert kinds == {"policy"}, live.prometheus.alerts()


def test_upstream_alerts_fire_for_the_outage_and_the_low_quota(live: LiveRun) -> None:
    errors = live.wait_firing("AIUpstreamErrorRatioHigh", lambda a: a.get("model") == PRIMARY)
    assert errors, live.prometheus.alerts()
    # The fake's request quota started at 60 of 1000 and counts down with every call.
    headroom = live.wait_firing("AIUpstreamRateLimitHeadroomLow",
                                lambda a: a.get("kind") == "requests")
    assert headroom, live.prometheus.alerts()
    assert {a.get("kind") for a in headroom} == {"requests"}, "token quotas were never low"


def test_ungrounded_answer_alert_fires_for_uncited_answers(live: LiveRun) -> None:
    """Issue 18: answers the model wrote without citations (the fake's canned reply) are graded
    ungrounded, and over 20% of graded answers page."""
    ungrounded = live.metric(f'sum(ai_ungrounded_answers_total{{model="{PRIMARY}"}})')
    assert ungrounded >= UNGROUNDED_ANSWERS, "the uncited answers were not counted ungrounded"
    graded = live.metric("sum(ai_answers_graded_total)")
    assert graded >= ungrounded + 1, "the cited answers were not graded"
    fired = live.fired.get("AIUngroundedAnswerRatioHigh", [])
    assert fired, live.prometheus.alerts()
    assert {a.get("job") for a in fired} == {JOB}
    assert all("model" not in a and "instance" not in a for a in fired), fired  # summed by job


def test_the_service_is_not_reported_down(live: LiveRun) -> None:
    live.record_firing()
    assert "AIServiceDown" not in live.fired
    assert live.prometheus.query('ALERTS{alertname="AIServiceDown"}') == []


@pytest.mark.parametrize("dashboard", assets.dashboard_files(), ids=lambda p: p.stem)
def test_dashboard_snapshot_renders_every_panel(live: LiveRun, dashboard: Path,
                                                tmp_path: Path) -> None:
    """tools/dashboard_snapshot.py against the live Prometheus: every panel has data. With
    SRE_AI_DASHBOARD_SNAPSHOT=<path> (make dashboard-snapshot) the overview's PNG is kept there."""
    keep = os.environ.get("SRE_AI_DASHBOARD_SNAPSHOT")
    output = Path(keep) if keep and dashboard.stem.endswith("-overview") else tmp_path / "x.png"
    proc = subprocess.run(
        [sys.executable, str(assets.REPO_ROOT / "tools" / "dashboard_snapshot.py"),
         "--prometheus", live.prometheus.url, "--dashboard", str(dashboard),
         "--start", str(live.started_at), "--job", JOB,
         "--rate-interval", assets.DEFAULT_VARIABLES["__rate_interval"],
         "--require-data", "--output", str(output)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert output.read_bytes().startswith(b"\x89PNG")
