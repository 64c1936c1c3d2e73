"""The e2e suite's pod-template change renders whatever id it draws, all-digit ones included."""

from __future__ import annotations

from tests.chart.rendering import run_helm, template_args
from tests.e2e.rollout import pod_template_change


def test_an_all_digit_rollout_id_renders_as_the_annotation_string() -> None:
    done = run_helm([*template_args(), *pod_template_change("20170451")])
    assert done.returncode == 0, done.stderr
    assert 'rollout: "20170451"' in done.stdout


def test_the_same_id_through_plain_set_is_the_schema_error_ci_once_hit() -> None:
    # What the helper exists to avoid: helm types the value as a number.
    done = run_helm([*template_args(), "--set", "podAnnotations.rollout=20170451"])
    assert done.returncode != 0
    assert "got number, want string" in done.stderr
