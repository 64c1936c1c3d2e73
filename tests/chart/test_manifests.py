"""manifests/ is the chart rendered with defaults; it must not drift from the chart. The
Prometheus Operator objects (ServiceMonitor, PrometheusRule) are rendered with
`monitoring.forceRender` into manifests/prometheus-operator/, a folder `kubectl apply -f
manifests/` does not descend into: they need the operator's CRDs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.rendering import REPO, run_helm, template_args

pytestmark = pytest.mark.chart

MANIFESTS = REPO / "manifests" / "sre-ai-platform.yaml"
OPERATOR_MANIFESTS = REPO / "manifests" / "prometheus-operator" / "sre-ai-platform-monitoring.yaml"
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def helm_objects(args: list[str]) -> list[dict[str, Any]]:
    proc = run_helm(args)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def assert_same(committed_path: Path, rendered: list[dict[str, Any]]) -> None:
    committed = [d for d in yaml.safe_load_all(committed_path.read_text()) if d]
    # Compared as objects, so a helm 3 vs helm 4 formatting difference is not drift.
    if committed != rendered:

        def key(d: dict[str, Any]) -> str:
            return f"{d['kind']}/{d['metadata']['name']}"

        old = {key(d): d for d in committed}
        new = {key(d): d for d in rendered}
        stale = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        pytest.fail(f"{committed_path.relative_to(REPO)} is stale ({', '.join(stale)}): "
                    "run `make manifests` and commit it")


def test_manifests_match_the_chart() -> None:
    assert_same(MANIFESTS, helm_objects(template_args(skip_tests=True)))


def test_operator_manifests_match_the_chart_rendered_without_capabilities() -> None:
    rendered = helm_objects([
        *template_args(sets=["monitoring.forceRender=true"], skip_tests=True),
        "--show-only", "templates/servicemonitor.yaml",
        "--show-only", "templates/prometheusrule.yaml",
    ])
    assert_same(OPERATOR_MANIFESTS, rendered)


def test_operator_objects_are_shipped_apart_from_the_core_manifests() -> None:
    core = {d["kind"] for d in yaml.safe_load_all(MANIFESTS.read_text()) if d}
    operator = {d["kind"] for d in yaml.safe_load_all(OPERATOR_MANIFESTS.read_text()) if d}
    assert not core & OPERATOR_KINDS  # `kubectl apply -f manifests/` works without the CRDs
    assert operator == OPERATOR_KINDS


def test_manifests_hold_no_helm_test_hook() -> None:
    for path in (MANIFESTS, OPERATOR_MANIFESTS):
        committed = list(yaml.safe_load_all(path.read_text()))
        assert not [
            d for d in committed if d and "helm.sh/hook" in d["metadata"].get("annotations", {})
        ]
