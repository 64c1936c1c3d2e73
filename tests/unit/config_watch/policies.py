"""Policy documents for the reload tests."""

from __future__ import annotations

MODELS = """\
models:
  claude-sonnet-4-5-20250929: {input: 3.0, output: 15.0}
  claude-haiku-4-5-20251001: {input: 1.0, output: 5.0}
"""


def policy_yaml(hourly_usd: float = 10.0) -> str:
    return f"budgets: {{hourly_usd: {hourly_usd}}}\n" + MODELS


INVALID_BUDGET = "budgets: {hourly_usd: -5}\n" + MODELS
INVALID_TYPO = "budgetz: {hourly_usd: 5}\n"


def numbered_policy(i: int) -> str:
    """Policy i: its budget and its only model both carry i, so a reader can tell whether
    what it sees came from ONE document."""
    return (
        f"budgets: {{hourly_usd: {i}}}\n"
        f"models:\n  model-{i}: {{input: 1.0, output: {i}.0}}\n"
        f"routing: {{default_model: model-{i}, fallback_model: null}}\n"
    )
