"""The numeric fields of the policy, their bounds, and policies that sit exactly on them.

Derived from the pydantic models, so a field added later is covered without editing the tests:
"no policy that validates can break a route" is checked at every bound of every number.
"""

from __future__ import annotations

import math
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from app.config import ModelPrice, Policy

# What a missing upper bound is probed with (a regression guard: none should be missing).
UNBOUNDED_FLOAT = 1e300
UNBOUNDED_INT = 2**62


def numeric_fields() -> list[tuple[str, type, FieldInfo]]:
    """(dotted path, int or float, field) for every number in a policy; `models.*.<price>` for
    the per-model prices."""
    found: list[tuple[str, type, FieldInfo]] = []

    def walk(prefix: str, model: type[BaseModel]) -> None:
        for name, info in model.model_fields.items():
            if info.annotation in (int, float):
                kind = int if info.annotation is int else float
                found.append((f"{prefix}{name}", kind, info))

    for name, info in Policy.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            walk(f"{name}.", info.annotation)
    walk("models.*.", ModelPrice)
    return found


def _constraint(info: FieldInfo, kind: type, attribute: str) -> Any:
    for meta in info.metadata:
        if isinstance(meta, kind):
            return getattr(meta, attribute)
    return None


def upper_bound(info: FieldInfo) -> float | int | None:
    le = _constraint(info, at.Le, "le")
    if le is not None:
        return le  # type: ignore[no-any-return]
    lt = _constraint(info, at.Lt, "lt")
    if lt is not None:
        return lt - 1 if info.annotation is int else math.nextafter(lt, -math.inf)
    return None


def lower_bound(info: FieldInfo) -> float | int:
    ge = _constraint(info, at.Ge, "ge")
    if ge is not None:
        return ge  # type: ignore[no-any-return]
    gt = _constraint(info, at.Gt, "gt")
    if gt is not None:
        return gt + 1 if info.annotation is int else math.nextafter(gt, math.inf)
    return -UNBOUNDED_INT if info.annotation is int else -UNBOUNDED_FLOAT


def extremes(info: FieldInfo) -> tuple[float | int, float | int]:
    """The smallest and the largest value the field accepts."""
    high = upper_bound(info)
    if high is None:
        high = UNBOUNDED_INT if info.annotation is int else UNBOUNDED_FLOAT
    return lower_bound(info), high


MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5-20251001")


def set_field(doc: dict[str, Any], path: str, value: object) -> None:
    section, _, name = path.partition(".")
    if section == "models":
        field = name.partition(".")[2]
        for model in MODELS:
            doc["models"][model][field] = value
    else:
        doc.setdefault(section, {})[name] = value


def base_document() -> dict[str, Any]:
    return {
        "models": {m: {"input": 3.0, "output": 15.0} for m in MODELS},
        "routing": {"default_model": MODELS[0], "fallback_model": MODELS[1]},
    }


def extreme_documents() -> list[tuple[str, dict[str, Any]]]:
    """One policy per bound of each field, plus all-lowest and all-highest at once."""
    fields = numeric_fields()
    docs: list[tuple[str, dict[str, Any]]] = []
    lowest, highest = base_document(), base_document()
    for path, _, info in fields:
        low, high = extremes(info)
        for tag, value in (("min", low), ("max", high)):
            doc = base_document()
            set_field(doc, path, value)
            docs.append((f"{path}={tag}", doc))
        set_field(lowest, path, low)
        set_field(highest, path, high)
    docs.append(("all=min", lowest))
    docs.append(("all=max", highest))
    for name, doc in (("all=min", lowest), ("all=max", highest)):
        timed = {**doc, "breaker": {**doc["breaker"], "window_type": "time"}}
        docs.append((f"{name},window_type=time", timed))
    return docs
