"""Exact cost, worst case, per-request clamping and the input-token estimate."""

from __future__ import annotations

import math
import random

import pytest

from app.budget.pricing import (
    MIN_USEFUL_OUTPUT_TOKENS,
    clamp_max_tokens,
    cost_nano,
    cost_usd,
    estimate_input_tokens,
    nano_to_usd,
    usd_to_nano,
    worst_case_nano,
    worst_case_usd,
)
from app.config import ModelPrice
from app.errors import BudgetExceededError
from app.llm.base import Usage

SONNET = ModelPrice(
    input=3.0, output=15.0, cache_write_5m=3.75, cache_write_1h=6.0, cache_read=0.30
)
HAIKU = ModelPrice(input=1.0, output=5.0, cache_write_5m=1.25, cache_write_1h=2.0, cache_read=0.10)
MIXED = Usage(
    input_tokens=1000,
    output_tokens=500,
    cache_read_tokens=2000,
    cache_write_5m_tokens=1000,
    cache_write_1h_tokens=1000,
)


def test_sonnet_cost_prices_every_token_kind_at_its_own_rate() -> None:
    # 1000*3 + 500*15 + 2000*0.30 + 1000*3.75 + 1000*6 = 20850 USD per million tokens
    assert cost_nano(MIXED, SONNET) == 20_850_000
    assert cost_usd(MIXED, SONNET) == 0.02085


def test_haiku_cost_prices_every_token_kind_at_its_own_rate() -> None:
    # 1000*1 + 500*5 + 2000*0.10 + 1000*1.25 + 1000*2 = 6950 USD per million tokens
    assert cost_usd(MIXED, HAIKU) == 0.00695


@pytest.mark.parametrize(
    ("usage", "expected_usd"),
    [
        (Usage(), 0.0),
        (Usage(input_tokens=1), 0.000003),
        (Usage(output_tokens=1_000_000), 15.0),
        (Usage(cache_read_tokens=1), 0.0000003),
        (Usage(cache_write_5m_tokens=10), 0.0000375),
        (Usage(cache_write_1h_tokens=10), 0.00006),
    ],
)
def test_single_kind_costs(usage: Usage, expected_usd: float) -> None:
    assert cost_usd(usage, SONNET) == expected_usd


def test_fractions_of_a_nano_dollar_round_up_never_down() -> None:
    tiny = ModelPrice.model_validate({"input": 0.0001, "output": 0.0})  # 0.1 nano-USD per token
    assert cost_nano(Usage(input_tokens=1), tiny) == 1
    assert cost_nano(Usage(input_tokens=10), tiny) == 1
    assert cost_nano(Usage(input_tokens=11), tiny) == 2


def test_decimal_prices_do_not_drift() -> None:
    assert usd_to_nano(0.1) == 100_000_000
    assert usd_to_nano(0.3) == 300_000_000
    assert usd_to_nano(0.50) == 500_000_000
    with pytest.raises(ValueError):
        usd_to_nano(-0.01)


def test_worst_case_is_input_at_input_price_plus_max_tokens_at_output_price() -> None:
    assert worst_case_usd(1000, 1000, SONNET) == 0.018
    assert worst_case_usd(0, 0, SONNET) == 0.0


def test_worst_case_with_prompt_caching_prices_input_as_the_dearest_cache_write() -> None:
    assert worst_case_usd(1000, 1000, SONNET, prompt_caching=True) == 0.021


def test_worst_case_bounds_any_actual_usage_with_the_same_tokens() -> None:
    worst = worst_case_nano(4000, 500, SONNET, prompt_caching=True)
    splits = [
        Usage(input_tokens=4000, output_tokens=500),
        Usage(cache_write_1h_tokens=4000, output_tokens=500),
        Usage(input_tokens=1000, cache_write_5m_tokens=3000, output_tokens=500),
        Usage(cache_read_tokens=4000, output_tokens=500),
    ]
    assert all(cost_nano(u, SONNET) <= worst for u in splits)


def test_clamp_keeps_the_requested_max_when_it_fits_exactly() -> None:
    assert clamp_max_tokens(1000, 1000, SONNET, per_request_usd=0.018) == 1000


def test_clamp_cuts_one_token_over_the_limit() -> None:
    assert clamp_max_tokens(1000, 1001, SONNET, per_request_usd=0.018) == 1000


def test_clamp_one_nano_dollar_short_loses_a_token() -> None:
    assert clamp_max_tokens(1000, 1000, SONNET, per_request_usd=0.017999999) == 999


def test_clamped_worst_case_always_fits_the_limit() -> None:
    for input_tokens in (0, 1, 17, 999, 12_345, 100_000):
        m = clamp_max_tokens(input_tokens, 64_000, SONNET, per_request_usd=0.5)
        assert worst_case_nano(input_tokens, m, SONNET) <= usd_to_nano(0.5)
        assert worst_case_nano(input_tokens, m + 1, SONNET) > usd_to_nano(0.5)


def test_clamp_refuses_a_prompt_that_alone_exceeds_the_limit() -> None:
    with pytest.raises(BudgetExceededError) as info:
        clamp_max_tokens(200_000, 1024, SONNET, per_request_usd=0.50)  # input alone is $0.60
    assert info.value.window == "per_request"
    assert info.value.retry_after_seconds == 0
    assert "per-request limit is $0.5000" in info.value.detail
    assert "prompt needs ~$0.60" in info.value.detail


def test_clamp_refuses_when_no_useful_answer_fits() -> None:
    room_for_15 = 0.003 + 15 * 15 / 1e6
    with pytest.raises(BudgetExceededError):
        clamp_max_tokens(1000, 1024, SONNET, per_request_usd=room_for_15)
    room_for_16 = 0.003 + MIN_USEFUL_OUTPUT_TOKENS * 15 / 1e6
    assert clamp_max_tokens(1000, 1024, SONNET, per_request_usd=room_for_16) == 16


def test_clamp_allows_a_small_requested_max_below_the_useful_minimum() -> None:
    assert clamp_max_tokens(1000, 8, SONNET, per_request_usd=0.003 + 8 * 15 / 1e6) == 8


def test_clamp_with_free_output_keeps_the_request() -> None:
    free_output = ModelPrice.model_validate({"input": 1.0, "output": 0.0})
    assert clamp_max_tokens(1000, 4096, free_output, per_request_usd=0.01) == 4096


def test_clamp_with_prompt_caching_reserves_for_cache_write_prices() -> None:
    # input at $6/M (1h write): 1000 tokens = $0.006, leaving $0.012 = 800 output tokens
    assert clamp_max_tokens(1000, 4096, SONNET, 0.018, prompt_caching=True) == 800


SAMPLES = {
    "prose": "The pod restarts because the liveness probe times out under load. " * 20,
    "yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n" * 10,
    "logs": "2026-11-27T06:01:02Z ERROR db pool exhausted (size=20, waiting=133)\n" * 15,
    "code": "for i in range(10):\n    print(f'{i=}')  # debug\n" * 10,
    "ids": "pod/web-7d9c6b5f4-x2kq9 10.244.1.17 sha256:3f1a9c0e " * 10,
    "cyrillic": "Под перезапускается из-за проверки живости. " * 10,
    "cjk": "数据库连接池耗尽\uff0c请求排队超时。" * 10,
    "emoji": "🔥 alert firing 🚨 " * 10,
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_estimate_is_at_least_the_typical_token_count(name: str) -> None:
    text = SAMPLES[name]
    assert estimate_input_tokens(text) >= math.ceil(len(text) / 4)
    assert estimate_input_tokens(text) >= math.ceil(len(text.encode()) / 4)


def test_estimate_counts_each_cjk_character_as_at_least_one_token() -> None:
    text = SAMPLES["cjk"]
    assert estimate_input_tokens(text) >= len(text)


def test_estimate_of_empty_text_is_the_framing_overhead_and_grows_with_text() -> None:
    base = estimate_input_tokens("")
    assert base > 0
    assert estimate_input_tokens("a" * 300) == base + 100
    assert estimate_input_tokens("a" * 301) == base + 101


def _per_character_estimate(text: str) -> int:
    """The estimate's definition, one character at a time (the shape it had before it was
    counted by the codecs): ASCII at 3 characters a token, a non-ASCII character of n UTF-8
    bytes n - 1 tokens (at least 1), plus the framing overhead."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 0x80)
    other = sum(max(1, len(ch.encode("utf-8", "surrogatepass")) - 1)
                for ch in text if ord(ch) >= 0x80)
    return -(-ascii_chars // 3) + other + estimate_input_tokens("")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_estimate_matches_its_per_character_definition(name: str) -> None:
    text = SAMPLES[name]
    for cut in (text, text[:1], text[: len(text) // 2], text * 3):
        assert estimate_input_tokens(cut) == _per_character_estimate(cut)


def test_estimate_of_mixed_scripts_and_a_lone_surrogate() -> None:
    """A lone surrogate ("\\ud800", which a JSON body can carry) is counted as its 3 bytes
    instead of raising UnicodeEncodeError."""
    text = "café 東京 🚀 ok \ud800 Ωmega"
    assert estimate_input_tokens(text) == _per_character_estimate(text)
    assert estimate_input_tokens("\ud800") == estimate_input_tokens("") + 2


def test_nano_amounts_survive_the_float_edge() -> None:
    """A Reservation carries USD as a float; the stores need the exact nano amount back."""
    rng = random.Random(20261127)
    amounts = [0, 1, 7, 999_999_999, 123_456_789_012, 2**50]
    amounts += [rng.randrange(0, 10**15) for _ in range(2000)]
    for nano in amounts:
        assert usd_to_nano(nano_to_usd(nano)) == nano
