"""Policy documents for the reload tests. Models and routing come from the built-in default
(app/default_policy.yaml), so these documents stay valid when the priced models change."""

from __future__ import annotations

import functools

import yaml

from app.config import Policy


@functools.cache
def _priced() -> str:
    return yaml.safe_dump(Policy().model_dump(include={"models", "routing"}), sort_keys=True)


def policy_yaml(hourly_usd: float = 10.0) -> str:
    return f"budgets: {{hourly_usd: {hourly_usd}}}\n" + _priced()


def invalid_budget() -> str:
    return "budgets: {hourly_usd: -5}\n" + _priced()


INVALID_TYPO = "budgetz: {hourly_usd: 5}\n"


def numbered_policy(i: int) -> str:
    """Policy i: its budget and its only model both carry i, so a reader can tell whether
    what it sees came from ONE document."""
    return (
        f"budgets: {{hourly_usd: {i}}}\n"
        f"models:\n  model-{i}: {{input: 1.0, output: {i}.0}}\n"
        f"routing: {{default_model: model-{i}, fallback_model: null}}\n"
    )
