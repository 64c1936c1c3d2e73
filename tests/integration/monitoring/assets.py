"""The monitoring assets under test: rule and dashboard files, their PromQL, and the metric names
that PromQL reads.

The chart's files/ are the single source; prometheus-rules/ and dashboards/ are copies made by
`make monitoring-sync`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART_FILES = REPO_ROOT / "charts" / "sre-ai-platform" / "files"
RULES_SOURCE = CHART_FILES / "rules"
DASHBOARDS_SOURCE = CHART_FILES / "dashboards"
RULES_COPY = REPO_ROOT / "prometheus-rules"
DASHBOARDS_COPY = REPO_ROOT / "dashboards"
PROMTOOL_TESTS = RULES_COPY / "tests"
RUNBOOKS = REPO_ROOT / "runbooks"
RULE_FILE = RULES_SOURCE / "sre-ai-platform.rules.yaml"

# Series Prometheus writes itself for every scrape target, not the service.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

# What Grafana substitutes before it sends a query. The live test uses the job of its own
# Prometheus and a window that spans several 1s scrapes.
DEFAULT_VARIABLES = {"job": "sre-ai-platform", "__rate_interval": "30s", "__interval": "15s",
                     "__range": "1h"}


@dataclass(frozen=True)
class Query:
    where: str  # "<file>: <panel or rule>" for messages
    expr: str
    instant: bool = False


@cache
def rule_groups() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULE_FILE.read_text())
    groups: list[dict[str, Any]] = doc["groups"]
    return groups


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def rule_queries() -> list[Query]:
    return [Query(f"{RULE_FILE.name}: {r.get('record') or r.get('alert')}", r["expr"])
            for r in rules()]


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_SOURCE.glob("*.json"))


@cache
def dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included; row headers themselves are not panels."""
    out: list[dict[str, Any]] = []
    for p in board.get("panels", []):
        if p.get("type") == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


def dashboard_queries(variables: dict[str, str] | None = None) -> list[Query]:
    """Every panel target's expression with Grafana's variables substituted."""
    values = {**DEFAULT_VARIABLES, **(variables or {})}
    out = []
    for path in dashboard_files():
        for p in panels(dashboard(path)):
            for t in p.get("targets", []):
                out.append(Query(f"{path.name}: {p['title']} ({t['refId']})",
                                 substitute(t["expr"], values), bool(t.get("instant"))))
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no value for Grafana variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


# ------------------------------------------------------------------ PromQL, lexically

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NUMBER = re.compile(r"(?<![\w:])(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?:ms|s|m|h|d|w|y)?(?![\w:])")
_IDENT = re.compile(r"[A-Za-z_:][\w:]*")
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                       "and", "or", "unless", "offset", "inf", "nan"})
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions,
    aggregations, keywords, label names, durations or numbers. (Parsing is promtool's job: the
    expressions are checked with it separately.)"""
    s = _STRING.sub('""', expr)
    s = _MATCHERS.sub(" ", s)
    s = _RANGE.sub(" ", s)
    s = _GROUPING.sub(" ", s)
    s = _NUMBER.sub(" ", s)
    names = set()
    for m in _IDENT.finditer(s):
        if s[m.end():].lstrip().startswith("(") or m.group(0).lower() in _KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def equality_matchers(expr: str) -> list[tuple[str, str, str]]:
    """(metric, label, value) for each `label="value"` matcher written on a metric selector."""
    out = []
    for sel in _SELECTOR.finditer(expr):
        for label, op, value in _MATCHER.findall(sel.group(2)):
            if op == "=":
                out.append((sel.group(1), label, value))
    return out
