"""values.yaml is documented on every value; values.schema.json refuses typos and wrong types."""

from __future__ import annotations

import json
import re

import pytest

from app.config import Policy
from tests.chart.rendering import CHART, render_error
from tests.policy_extremes import numeric_fields, upper_bound

VALUES = CHART / "values.yaml"
KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[\w.-]+|\"[^\"]+\"):(?P<rest>.*)$")


def undocumented_values() -> list[str]:
    """Keys that helm-docs would list without a description.

    A key is covered by its own `# --` comment, or by an enclosing key's comment when that key
    is documented as a whole (no key below it has its own comment, e.g. `resources`). Sections
    whose children carry the comments need none themselves.
    """
    lines = VALUES.read_text().splitlines()
    keys: list[tuple[str, bool, bool]] = []  # (dotted path, own `# --` comment, is a section)
    stack: list[tuple[int, str]] = []
    comments: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(stripped)
            continue
        match = KEY.match(line)
        if not stripped or stripped.startswith("- ") or not match:
            comments = [] if not stripped else comments
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([p for _, p in stack] + [match["key"]])
        following = next(
            (ln for ln in lines[index + 1 :] if ln.strip() and not ln.strip().startswith("#")), ""
        )
        is_section = not match["rest"].strip() and len(following) - len(following.lstrip()) > indent
        keys.append((path, any(c.startswith("# --") for c in comments), is_section))
        comments = []
        stack.append((indent, match["key"]))

    own = {path for path, documented, _ in keys if documented}

    def covered_by_ancestor(path: str) -> bool:
        parts = path.split(".")
        for depth in range(1, len(parts)):
            ancestor = ".".join(parts[:depth])
            inside = [p for p in own if p.startswith(ancestor + ".")]
            if ancestor in own and not inside:
                return True
        return False

    return [
        path
        for path, documented, is_section in keys
        if not documented and not is_section and not covered_by_ancestor(path)
    ]


def test_every_value_is_documented_for_helm_docs() -> None:
    assert undocumented_values() == []


def test_schema_closes_every_object_it_describes() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def open_objects(node: object, path: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            # a few objects are extension points (free-form Kubernetes fields)
            extension = path.endswith((
                "extraEnv.items", "topologySpreadConstraints.items", "extraVolumes.items",
                "extraVolumeMounts.items", "initContainers.items", "sidecars.items",
                "parentRefs.items"))
            # if/then/else branches add constraints to an object described (and closed) above
            # them; closing a branch would refuse that object's other keys
            condition = bool({"if", "then", "else"} & set(re.split(r"[.\[]", path)))
            closed = node.get("additionalProperties") is False
            if "properties" in node and not closed and not extension and not condition:
                found.append(path or "(root)")
            for key, value in node.items():
                found += open_objects(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found += open_objects(value, f"{path}[{i}]")
        return found

    assert open_objects(schema, "") == []


@pytest.mark.chart
@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["replicaCont=2"], "additional properties 'replicaCont' not allowed"),
        (["monitoring.serviceMonitor.enable=true"], "additional properties 'enable' not allowed"),
        (["policy.budgets.dayly_usd=5"], "additional properties 'dayly_usd' not allowed"),
        (["redis.persistance.enabled=true"], "additional properties 'persistance' not allowed"),
        (["policy.rate_limits.keys.ci.request_per_minute=5"],
         "additional properties 'request_per_minute' not allowed"),
    ],
)
def test_schema_rejects_a_typo(sets: list[str], expected: str) -> None:
    assert expected in render_error(sets=sets)


@pytest.mark.chart
@pytest.mark.parametrize(
    ("sets", "where"),
    [
        (["replicaCount=two"], "/replicaCount"),
        (["redis.enabled=yes"], "/redis/enabled"),
        (["policy.budgets.daily_usd=lots"], "/policy/budgets/daily_usd"),
        (["service.port=http"], "/service/port"),
        (["policySource.type=configmap"], "/policySource/type"),
        (["policy.budgets.hourly_usd=-1"], "/policy/budgets/hourly_usd"),
        (["policy.budgets.hourly_usd=1e300"], "/policy/budgets/hourly_usd"),
        (["policy.breaker.window_size=100000000"], "/policy/breaker/window_size"),
        (["policy.breaker.max_retry_after_seconds=1e9"], "/policy/breaker/max_retry_after_seconds"),
        (["monitoring.serviceMonitor.interval=30"], "/monitoring/serviceMonitor/interval"),
        (["policy.rate_limits.default.tokens_per_minute=-1"],
         "/policy/rate_limits/default/tokens_per_minute"),
        (["policy.rate_limits.keys.ci.requests_per_minute=1000001"],
         "/policy/rate_limits/keys/ci/requests_per_minute"),
    ],
)
def test_schema_rejects_a_wrong_type_or_value(sets: list[str], where: str) -> None:
    message = render_error(sets=sets)
    assert "don't meet the specifications of the schema" in message
    assert where in message


def test_schema_bounds_match_the_service_bounds() -> None:
    """The chart refuses what the service would refuse, at the same numbers."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    policy = schema["properties"]["policy"]["properties"]
    price = policy["models"]["additionalProperties"]["oneOf"][0]["properties"]
    mismatched = []
    for path, _, info in numeric_fields():
        section, _, name = path.partition(".")
        node = price[name.rpartition(".")[2]] if section == "models" else (
            policy[section]["properties"][name])
        if node.get("maximum") != upper_bound(info):
            mismatched.append(f"{path}: schema {node.get('maximum')} != {upper_bound(info)}")
    assert mismatched == []
    assert set(policy) == set(Policy.model_fields)
