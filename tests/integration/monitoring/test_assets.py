"""The monitoring assets as files: copies in sync with the chart, every alert documented and
pointing at a runbook that exists, dashboards built the way Grafana dashboards should be, and
the aggregation mistakes of the seed kept out. No process needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from app.metrics import Metrics
from app.runbooks.loader import parse_runbook
from tests.integration.monitoring import assets

REQUIRED_ALERTS = {
    "AIServiceDown", "AIAskLatencyP99High", "AICostBurnRateHigh", "AIBudgetNearlyExhausted",
    "AIBudgetExhausted", "AICircuitBreakerOpen", "AIUpstreamErrorRatioHigh",
    "AIUpstreamRateLimitHeadroomLow", "AINoAnswerRatioHigh", "AICacheHitRatioCollapse",
    "AIConfigReloadFailing", "AIClientKeysMissing", "AIUngroundedAnswerRatioHigh",
    "AITeamDailyBudgetBurnTooFast",
}
RUNBOOK_URL = re.compile(
    r"^https://github\.com/sre-ai-platform/sre-ai-platform/blob/main/runbooks/([a-z0-9-]+)\.md$")
RECORD_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z0-9_]+$")


def _pairs(source: Path, copy: Path, pattern: str) -> list[tuple[Path, Path]]:
    sources = sorted(source.glob(pattern))
    assert sources, f"nothing matches {source}/{pattern}"
    copies = {p.name for p in copy.glob(pattern)}
    extra = copies - {p.name for p in sources}
    assert not extra, f"{copy} has files the chart does not: {sorted(extra)}"
    return [(s, copy / s.name) for s in sources]


@pytest.mark.parametrize(("source", "copy", "pattern"), [
    (assets.RULES_SOURCE, assets.RULES_COPY, "*.yaml"),
    (assets.DASHBOARDS_SOURCE, assets.DASHBOARDS_COPY, "*.json"),
])
def test_copies_match_the_chart_source(source: Path, copy: Path, pattern: str) -> None:
    for src, dst in _pairs(source, copy, pattern):
        assert dst.exists() and dst.read_bytes() == src.read_bytes(), (
            f"{dst.relative_to(assets.REPO_ROOT)} differs from the chart's "
            f"{src.relative_to(assets.REPO_ROOT)}: run `make monitoring-sync`")


# ------------------------------------------------------------------ rules


def test_required_alerts_exist() -> None:
    assert {a["alert"] for a in assets.alerts()} >= REQUIRED_ALERTS


@pytest.mark.parametrize("rule", assets.alerts(), ids=lambda r: r["alert"])
def test_alert_is_documented(rule: dict[str, object]) -> None:
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", str(rule["alert"])), "alert names are CamelCase"
    labels = rule.get("labels") or {}
    annotations = rule.get("annotations") or {}
    assert isinstance(labels, dict) and isinstance(annotations, dict)
    assert labels.get("severity") in {"critical", "warning", "info"}
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{rule['alert']} has no {key}"


@pytest.mark.parametrize("rule", assets.alerts(), ids=lambda r: r["alert"])
def test_runbook_url_names_an_existing_runbook(rule: dict[str, dict[str, str]]) -> None:
    url = rule["annotations"]["runbook_url"]
    m = RUNBOOK_URL.match(url)
    assert m, f"{url} is not one of our runbook pages"
    page = assets.RUNBOOKS / f"{m.group(1)}.md"
    assert page.is_file(), f"{rule['alert']}: {page.relative_to(assets.REPO_ROOT)} is missing"
    # and the runbook declares the alert: a question or an alert without its runbook_url
    # (a copy of the rule, a silenced annotation) is routed to it by name
    declared = parse_runbook(m.group(1), page.read_text()).alerts
    assert str(rule["alert"]) in declared, f"{page.name} does not declare {rule['alert']}"


def test_every_metric_the_runbooks_and_docs_name_exists() -> None:
    """A query pasted from a runbook during an incident must not return nothing because the
    name is wrong (`ai_upstream_seconds_bucket` was). Names ending in `_` are families
    (`ai_budget_*`)."""
    registry = CollectorRegistry()
    Metrics(registry)
    names = set()
    for family in registry.collect():
        names |= {family.name, *(s.name for s in family.samples)}
        names |= {family.name + suffix for suffix in ("_total", "_bucket", "_sum", "_count")}
    pages = [*assets.RUNBOOKS.glob("*.md"), assets.REPO_ROOT / "README.md",
             *(assets.REPO_ROOT / "docs").glob("*.md")]
    unknown = {(name, page.name) for page in pages
               for name in re.findall(r"(?<![\w:])ai_[a-z0-9_]+", page.read_text())
               if not name.endswith("_") and name not in names}
    assert not unknown


def test_recording_rules_are_named_level_metric_operations() -> None:
    bad = [r["record"] for r in assets.rules() if "record" in r
           and not RECORD_NAME.match(r["record"])]
    assert not bad


def test_alerts_sit_in_the_group_of_the_recordings_they_read() -> None:
    """Groups are evaluated independently; an alert reading another group's recording sees it
    one evaluation late (and promtool evaluates groups in no fixed order)."""
    for group in assets.rule_groups():
        own = {r["record"] for r in group["rules"] if "record" in r}
        for rule in group["rules"]:
            if "alert" in rule:
                read = assets.metric_names(rule["expr"]) & assets.recorded_names()
                assert read <= own, (rule["alert"], read - own)


def test_every_alert_has_promtool_tests_on_both_sides() -> None:
    """Each alert is expected firing in some promtool case and silent in another."""
    firing: set[str] = set()
    silent: set[str] = set()
    for path in sorted(assets.PROMTOOL_TESTS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        assert "../sre-ai-platform.rules.yaml" in doc["rule_files"], path
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {a["alert"] for a in assets.alerts()}
    assert names <= firing, f"never tested firing: {sorted(names - firing)}"
    assert names <= silent, f"never tested silent: {sorted(names - silent)}"


# ------------------------------------------------------------------ the seed's mistakes


ALL_QUERIES = assets.rule_queries() + assets.dashboard_queries()


@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.where)
def test_request_metrics_are_read_for_ask_only(query: assets.Query) -> None:
    """Health checks and scrapes are requests too: request rates, latency and the no-answer
    ratio read POST /ask, never every endpoint."""
    metric = r"(?<![\w:])(ai_requests_total|ai_request_seconds_[a-z]+)(?![\w:])"
    for m in re.finditer(metric + r"(\{[^}]*\})?", query.expr):
        assert m.group(2) and 'endpoint="/ask"' in m.group(2), f"{query.where}: {m.group(0)}"


@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.where)
def test_quantiles_are_over_buckets_summed_by_le(query: assets.Query) -> None:
    for m in re.finditer(r"histogram_quantile\(\s*[\d.]+\s*,\s*(.*)", query.expr, re.S):
        arg = m.group(1)
        summed = re.match(r"sum by \(([^)]*)\)\s*\(\s*rate\(", arg)
        recorded = re.match(r"[a-z_]+le:\w+_bucket:rate\w+", arg)
        assert recorded or (summed and "le" in [s.strip() for s in summed.group(1).split(",")]), (
            f"{query.where}: histogram_quantile must take sum by (..., le) (rate(...))")


@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.where)
def test_ledger_gauges_are_never_summed(query: assets.Query) -> None:
    """Every replica reports the same shared-ledger value: summing multiplies it."""
    assert not re.search(r"\bsum\b[^()]*\(\s*ai_budget_(limit|spent|reserved|remaining)_usd",
                         query.expr), query.where
    assert not re.search(r"\bsum\b[^()]*\(\s*ai_team_budget_(limit|remaining)_usd",
                         query.expr), query.where


@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.where)
def test_cost_is_summed_over_replicas(query: assets.Query) -> None:
    for m in re.finditer(r"(\w+)(?: by \([^)]*\))?\s*\(\s*(?:rate|increase)\("
                         r"ai_(?:team_spend|cost)_usd_total",
                         query.expr):
        assert m.group(1) == "sum", f"{query.where}: {m.group(0)}"


# ------------------------------------------------------------------ dashboards


@pytest.mark.parametrize("path", assets.dashboard_files(), ids=lambda p: p.name)
def test_dashboard_conventions(path: Path) -> None:
    board = assets.dashboard(path)
    assert board["uid"] == path.stem, "a stable uid, equal to the file name"
    assert board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for p in assets.panels(board):
        where = f"{path.name}: {p['title']}"
        assert p["datasource"]["uid"] == "${datasource}", where
        assert p["fieldConfig"]["defaults"].get("unit"), f"{where} has no unit"
        assert p.get("description"), f"{where} has no description"
        assert p["targets"], where
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}", where
            assert 'job=~"$job"' in t["expr"], f"{where}: every selector filters on $job"
            # $__range only in an instant query: a total over the dashboard's time range.
            allowed = {"$__rate_interval", "$__range"} if t.get("instant") else {
                "$__rate_interval"}
            for window in re.findall(r"\[([^\]]+)\]", t["expr"]):
                assert window in allowed, f"{where}: [{window}]"


def test_dashboards_show_what_an_operator_needs() -> None:
    titles = {p["title"] for path in assets.dashboard_files()
              for p in assets.panels(assets.dashboard(path))}
    for needed in ("/ask request rate by status", "/ask latency P50 / P95 / P99",
                   "Tokens per minute by model and direction", "Cost per hour by model",
                   "Budget remaining per window", "Cache hit rate", "No-answer rate",
                   "Circuit breaker state", "Upstream errors by outcome", "Rate-limit headroom",
                   "Degraded answers by mode", "Active requests",
                   "Config reloads by kind and result", "Grounded share / ungrounded answers",
                   "Spend per hour by team", "Team budget remaining per window",
                   "Team budget refusals by window", "Break-glass in effect"):
        assert needed in titles


# ------------------------------------------------------------------ the laptop stack


def test_compose_stack_mounts_the_synced_assets() -> None:
    compose = yaml.safe_load((assets.REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"sre-ai-platform", "prometheus", "grafana"} <= set(services)
    assert services["sre-ai-platform"]["build"]["context"] == "."
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    mounts = {m.split(":")[0]: m.split(":")[1] for s in services.values()
              for m in s.get("volumes", []) if m.startswith("./")}
    for host in mounts:
        assert (assets.REPO_ROOT / host).exists(), host
    assert mounts["./prometheus-rules"] == "/etc/prometheus/rules"
    prometheus = yaml.safe_load((assets.REPO_ROOT / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/rules/*.rules.yaml"]
    jobs = [j["job_name"] for j in prometheus["scrape_configs"]]
    assert "sre-ai-platform" in jobs, "the rules find the service by its job name"
    provider = yaml.safe_load((assets.REPO_ROOT / "grafana/provisioning/dashboards/"
                               "sre-ai-platform.yaml").read_text())
    assert mounts["./dashboards"] == provider["providers"][0]["options"]["path"]


# ------------------------------------------------------------------ the lexer the tests use


@pytest.mark.parametrize(("expr", "names"), [
    ('histogram_quantile(0.99, sum by (le) (rate(ai_request_seconds_bucket{endpoint="/ask"}[5m])))',
     {"ai_request_seconds_bucket"}),
    ("job:ai_cost_usd:rate15m * 3600 > on (job) (x_limit{window=\"hourly\"} > 0)",
     {"job:ai_cost_usd:rate15m", "x_limit"}),
    ('up{job=~".*a.*"} == 0 or absent(up{job=~".*a.*"})', {"up"}),
    ("sum(rate(a_total[6h] offset 1h)) / sum without (instance) (b) and bool c unless d",
     {"a_total", "b", "c", "d"}),
    ("max by (model) (s{state=\"open\"} * 2 or s2 * 0) == bool 1e3", {"s", "s2"}),
])
def test_metric_names_lexer(expr: str, names: set[str]) -> None:
    assert assets.metric_names(expr) == names
