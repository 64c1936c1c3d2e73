"""Policy validation: cache prices default from the input price, every number is finite and
bounded, and each error names its field (issue: "the ledger misses money that Anthropic bills")."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from app.budget.pricing import NANO_PER_USD, cost_nano, usd_to_nano
from app.config import (
    DEFAULT_POLICY_FILE,
    MAX_PER_REQUEST_USD,
    MAX_WINDOW_USD,
    ModelPrice,
    Settings,
    parse_policy,
)
from app.errors import PolicyError
from app.llm.base import Usage
from tests.policy_extremes import numeric_fields, upper_bound

MODEL = "claude-sonnet-4-6"


def priced(price: dict[str, Any]) -> str:
    return yaml.safe_dump({"models": {MODEL: price}, "routing": {"default_model": MODEL}})


def rejection(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    return info.value.detail


# ---------------------------------------------------------------- cache prices


def test_missing_cache_prices_follow_anthropics_multipliers_of_input() -> None:
    price = parse_policy(priced({"input": 3.0, "output": 15.0})).models[MODEL]
    # 5-minute write 1.25x, 1-hour write 2x, read 0.1x; exact, not 0.30000000000000004
    assert (price.cache_write_5m, price.cache_write_1h, price.cache_read) == (3.75, 6.0, 0.3)


def test_cache_tokens_are_billed_when_the_policy_prices_only_input_and_output() -> None:
    price = parse_policy(priced({"input": 3.0, "output": 15.0})).models[MODEL]
    usage = Usage(cache_read_tokens=1_000_000, cache_write_5m_tokens=1_000_000,
                  cache_write_1h_tokens=1_000_000)
    assert cost_nano(usage, price) == usd_to_nano(0.30 + 3.75 + 6.00)


def test_explicit_cache_prices_win_over_the_derived_ones() -> None:
    price = parse_policy(
        priced({"input": 3.0, "output": 15.0, "cache_read": 0.5, "cache_write_1h": 0.0})
    ).models[MODEL]
    assert (price.cache_write_5m, price.cache_write_1h, price.cache_read) == (3.75, 0.0, 0.5)


def test_a_bad_input_price_is_the_only_error_reported() -> None:
    detail = rejection(priced({"input": "three", "output": 15.0}))
    assert detail.startswith(f"models.{MODEL}.input: ")
    assert "cache" not in detail


def test_constructed_prices_derive_too() -> None:
    assert ModelPrice.model_validate({"input": 1.0, "output": 5.0}).cache_write_5m == 1.25


# ---------------------------------------------------------------- finite and bounded


FIELDS = numeric_fields()


def test_every_numeric_policy_field_has_an_upper_bound() -> None:
    unbounded = [path for path, _, info in FIELDS if upper_bound(info) is None]
    assert unbounded == []


def document_with(path: str, value: object) -> dict[str, Any]:
    """A policy document with one field set; `models.*` fields are set on the default model."""
    section, _, name = path.partition(".")
    if section == "models":
        field = name.partition(".")[2]
        price: dict[str, object] = {"input": 3.0, "output": 15.0}
        price[field] = value
        return {"models": {MODEL: price}, "routing": {"default_model": MODEL}}
    return {section: {name: value}}


def error_path(path: str) -> str:
    return path.replace("models.*", f"models.{MODEL}")


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("path", [p for p, kind, _ in FIELDS if kind is float])
def test_non_finite_numbers_are_rejected_naming_the_field(path: str, value: float) -> None:
    detail = rejection(yaml.safe_dump(document_with(path, value)))
    assert detail.startswith(f"{error_path(path)}: "), detail


@pytest.mark.parametrize("path", [p for p, _, _ in FIELDS])
def test_values_above_the_bound_are_rejected_naming_the_field(path: str) -> None:
    info = next(i for p, _, i in FIELDS if p == path)
    bound = upper_bound(info)
    assert bound is not None
    too_big = bound + 1 if isinstance(bound, int) else bound * 2 + 1
    detail = rejection(yaml.safe_dump(document_with(path, too_big)))
    assert detail.startswith(f"{error_path(path)}: "), detail


def test_infinite_budget_from_yaml_is_rejected() -> None:
    # the document from the incident, verbatim
    assert rejection("budgets: {hourly_usd: .inf}") == (
        "budgets.hourly_usd: Input should be a finite number"
    )


def test_budget_bounds_keep_nano_usd_exact_in_lua_doubles() -> None:
    # Three windows at their limit plus a window's worth of reservations still fit in 2**53.
    most = usd_to_nano(MAX_WINDOW_USD) * 4 + usd_to_nano(MAX_PER_REQUEST_USD)
    assert most < 2**53
    assert float(most) == most and usd_to_nano(MAX_WINDOW_USD) == 10**6 * NANO_PER_USD


def test_model_names_are_bounded_identifiers() -> None:
    doc = {"models": {"a b": {"input": 1, "output": 1}}, "routing": {"default_model": "a b"}}
    assert rejection(yaml.safe_dump(doc)).startswith("models.a b.[key]: ")
    many = {f"m{i}": {"input": 1, "output": 1} for i in range(51)}
    doc = {"models": many, "routing": {"default_model": "m0"}}
    assert rejection(yaml.safe_dump(doc)).startswith("models: ")


@pytest.mark.parametrize("name", ["reservation_ttl_seconds", "watch_interval_seconds"])
def test_settings_refuse_infinite_durations(name: str) -> None:
    with pytest.raises(ValidationError, match="finite number"):
        Settings.model_validate({name: "inf"})


# ---------------------------------------------------------------- answer quality (issue 18)


def test_the_grounded_share_threshold_defaults_to_half_from_the_builtin_policy() -> None:
    assert parse_policy("").quality.min_grounded_share == 0.5
    assert parse_policy("quality: {}").quality.min_grounded_share == 0.5
    builtin = yaml.safe_load(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))
    assert builtin["quality"] == {"min_grounded_share": 0.5}
    assert parse_policy("quality: {min_grounded_share: 0.8}").quality.min_grounded_share == 0.8


@pytest.mark.parametrize("value", [-0.1, 1.01, "most"])
def test_a_grounded_share_outside_zero_to_one_is_rejected_naming_the_field(value: object) -> None:
    detail = rejection(yaml.safe_dump({"quality": {"min_grounded_share": value}}))
    assert detail.startswith("quality.min_grounded_share: "), detail


def test_the_grounded_share_bounds_are_inclusive() -> None:
    for value in (0, 1):
        doc = yaml.safe_dump({"quality": {"min_grounded_share": value}})
        assert parse_policy(doc).quality.min_grounded_share == value
