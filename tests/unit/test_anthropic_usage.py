"""The usage a Message reports is read exactly, and a count that cannot be real is refused, so
the call is settled at its reserved worst case (app/llm/anthropic.py maps the ValueError to an
unusable, maybe-billed response)."""

from __future__ import annotations

import pytest

from app.llm.anthropic_message import usage_from


def test_usage_is_read_with_its_cache_split() -> None:
    usage = usage_from({"usage": {"input_tokens": 12, "output_tokens": 40,
                                  "cache_read_input_tokens": 900,
                                  "cache_creation": {"ephemeral_5m_input_tokens": 3,
                                                     "ephemeral_1h_input_tokens": None}}})
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (12, 40, 900)
    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (3, 0)


@pytest.mark.parametrize("usage", [
    {"input_tokens": -5, "output_tokens": 3},
    {"input_tokens": 5, "output_tokens": 3, "cache_read_input_tokens": -1},
    {"input_tokens": 5, "output_tokens": 3, "cache_creation": {"ephemeral_5m_input_tokens": -2}},
])
def test_a_negative_count_is_refused(usage: dict[str, object]) -> None:
    """It would have credited the budget; and the token counter, which refuses to go down,
    raised after the call had been marked settled, so the spend was never recorded."""
    with pytest.raises(ValueError, match="negative token count"):
        usage_from({"usage": usage})


@pytest.mark.parametrize("usage", [
    {"input_tokens": None, "output_tokens": 3},
    {"input_tokens": 5, "output_tokens": None},
    {"input_tokens": "5", "output_tokens": 3},
    {"input_tokens": True, "output_tokens": 3},
])
def test_a_required_count_that_is_not_a_number_is_refused(usage: dict[str, object]) -> None:
    """Read as 0 (`int(value or 0)`), a null input or output count charged the call nothing."""
    with pytest.raises(ValueError, match="not a whole number"):
        usage_from({"usage": usage})
