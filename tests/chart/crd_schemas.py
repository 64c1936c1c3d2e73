"""Schemas of the Prometheus Operator objects the chart renders.

The CRDs are generated with controller-gen from the operator's Go types (docs/cluster.md)
into the toolchain cache; $SRE_AI_CRDS_DIR points elsewhere. Validation is as strict as the API
server's `fieldValidation=Strict`: an unknown field is an error, not silently pruned.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CACHE_ROOT = Path("/var/cache/sre-ai-platform")
REPO = Path(__file__).resolve().parents[2]
PLURALS = {
    "ServiceMonitor": "servicemonitors",
    "PrometheusRule": "prometheusrules",
    "AlertmanagerConfig": "alertmanagerconfigs",
}


class _CrdLoader(yaml.SafeLoader):
    """PyYAML reads a bare `=` (AlertmanagerConfig's matchType enum) as YAML 1.1's `value`
    tag and refuses it; it is the string "="."""


def _value_as_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_CrdLoader.add_constructor("tag:yaml.org,2002:value", _value_as_string)


def crd_file(kind: str) -> Path | None:
    """$SRE_AI_CRDS_DIR, else tools/build-crds.sh's output (`make chart-crds`) for the pinned
    operator version, else any generated copy in the toolchain cache."""
    name = f"monitoring.coreos.com_{PLURALS[kind]}.yaml"
    explicit = os.environ.get("SRE_AI_CRDS_DIR")
    if explicit:
        path = Path(explicit) / name
        return path if path.is_file() else None
    versions = REPO / "tools" / "versions.env"
    pinned = (
        re.search(r"^PROM_OPERATOR_VERSION=(\S+)", versions.read_text(), re.M)
        if versions.is_file()
        else None
    )
    if pinned and (CACHE_ROOT / f"prometheus-operator-crds-{pinned[1]}" / name).is_file():
        return CACHE_ROOT / f"prometheus-operator-crds-{pinned[1]}" / name
    if not CACHE_ROOT.is_dir():
        return None
    found = sorted(CACHE_ROOT.glob(f"*/{name}")) + sorted(CACHE_ROOT.glob(f"*/*/{name}"))
    return found[-1] if found else None


def _strict(node: Any) -> Any:
    """Close every object schema that lists its properties, like strict field validation."""
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def load_validator(kind: str, version: str = "v1") -> jsonschema.protocols.Validator | None:
    path = crd_file(kind)
    if path is None:
        return None
    crd = yaml.load(path.read_text(), Loader=_CrdLoader)  # a SafeLoader subclass
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema = _strict(copy.deepcopy(served["schema"]["openAPIV3Schema"]))
    # ObjectMeta is validated by the API server itself; the CRD only says "object".
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft4Validator(schema)


def structural_problems(obj: dict[str, Any]) -> list[str]:
    """A minimal shape check used when the generated CRDs are not available."""
    problems: list[str] = []
    spec = obj.get("spec") or {}
    if obj["kind"] == "ServiceMonitor":
        if not spec.get("selector", {}).get("matchLabels"):
            problems.append("spec.selector.matchLabels is empty")
        endpoints = spec.get("endpoints")
        if not isinstance(endpoints, list) or not endpoints:
            problems.append("spec.endpoints must be a non-empty list")
        for ep in endpoints or []:
            if not isinstance(ep.get("port"), str):
                problems.append("each endpoint needs a named port")
    elif obj["kind"] == "PrometheusRule":
        groups = spec.get("groups")
        if not isinstance(groups, list) or not groups:
            problems.append("spec.groups must be a non-empty list")
        for group in groups or []:
            if not isinstance(group.get("name"), str) or not isinstance(group.get("rules"), list):
                problems.append(f"group {group.get('name')!r} needs a name and a rules list")
                continue
            for rule in group["rules"]:
                if ("alert" in rule) == ("record" in rule) or "expr" not in rule:
                    problems.append(f"rule {rule} needs exactly one of alert/record, and expr")
    return problems
