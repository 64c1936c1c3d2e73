"""helm lint, and every rendered object against the Kubernetes 1.34 and CRD schemas."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.chart import crd_schemas
from tests.chart.rendering import CI_VALUES, MONITORING_API, render, run_helm

pytestmark = pytest.mark.chart

K8S_VERSION = "1.34.0"
CRD_KINDS = ("ServiceMonitor", "PrometheusRule")


def test_lint_strict_with_defaults() -> None:
    proc = run_helm(["lint", "--strict", "charts/sre-ai-platform"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("values", CI_VALUES)
def test_lint_strict_with_ci_values(values: str) -> None:
    proc = run_helm(
        ["lint", "--strict", "charts/sre-ai-platform", "-f", f"charts/sre-ai-platform/ci/{values}"]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_matrix_covers_the_promised_combinations() -> None:
    assert {
        "default-values.yaml",
        "monitoring-values.yaml",
        "autoscaling-redis-values.yaml",
        "kubernetes-policy-values.yaml",
        "existing-secret-values.yaml",
        "sqlite-ledger-storage-values.yaml",
        "runbooks-volume-values.yaml",
        "runbooks-git-values.yaml",
        "knobs-values.yaml",
    } <= set(CI_VALUES)


@pytest.mark.parametrize("values", CI_VALUES)
def test_every_core_object_is_valid_kubernetes_1_34(values: str) -> None:
    rendered = render(values, api_versions=[MONITORING_API])
    # HTTPRoute is a Gateway API CRD: its shape is asserted in test_chart_knobs.py
    core = [o for o in rendered if o["kind"] not in {*CRD_KINDS, "HTTPRoute"}]
    assert core
    for obj in core:
        # strict: unknown fields are errors, as with kubectl --validate=strict
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_kubernetes_validator_catches_an_unknown_field() -> None:
    deployment = copy.deepcopy(render().api_deployment())
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


@pytest.mark.parametrize("values", CI_VALUES)
def test_prometheus_operator_objects_have_the_crd_shape(values: str) -> None:
    rendered = render(values, api_versions=[MONITORING_API])
    for obj in rendered:
        if obj["kind"] in CRD_KINDS:
            assert crd_schemas.structural_problems(obj) == [], obj["metadata"]["name"]


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_prometheus_operator_objects_match_the_generated_crds(kind: str) -> None:
    validator = crd_schemas.load_validator(kind)
    if validator is None:
        pytest.skip(
            f"{kind} CRD not generated: controller-gen output expected under "
            f"{crd_schemas.CACHE_ROOT}/*/ or $SRE_AI_CRDS_DIR (see docs/cluster.md)"
        )
    objects = [o for v in CI_VALUES for o in render(v, api_versions=[MONITORING_API]).all(kind)]
    if kind == "PrometheusRule" and not objects:
        pytest.skip("no rule files in charts/sre-ai-platform/files/rules/ yet")
    assert objects
    for obj in objects:
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
        assert errors == [], obj["metadata"]["name"]
    probe = copy.deepcopy(objects[0])
    probe["spec"]["unknownField"] = True
    assert list(validator.iter_errors(probe)), "the CRD validator must reject unknown fields"
