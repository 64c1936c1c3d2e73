"""manifests/ is the chart rendered with defaults; it must not drift from the chart."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.chart.rendering import REPO, run_helm, template_args

pytestmark = pytest.mark.chart

MANIFESTS = REPO / "manifests" / "sre-ai-platform.yaml"


def test_manifests_match_the_chart() -> None:
    proc = run_helm(template_args(skip_tests=True))
    assert proc.returncode == 0, proc.stderr
    rendered = [d for d in yaml.safe_load_all(proc.stdout) if d]
    committed = [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]
    # Compared as objects, so a helm 3 vs helm 4 formatting difference is not drift.
    if committed != rendered:

        def key(d: dict[str, Any]) -> str:
            return f"{d['kind']}/{d['metadata']['name']}"

        old = {key(d): d for d in committed}
        new = {key(d): d for d in rendered}
        stale = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        pytest.fail(f"manifests/ is stale ({', '.join(stale)}): run `make manifests` and commit it")


def test_manifests_hold_no_helm_test_hook() -> None:
    committed = list(yaml.safe_load_all(MANIFESTS.read_text()))
    assert not [
        d for d in committed if d and "helm.sh/hook" in d["metadata"].get("annotations", {})
    ]
