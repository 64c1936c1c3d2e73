"""What a model costs: USD per million tokens of input, output, prompt-cache writes and cache
reads, one ModelPrice per model in the policy's `models` section (app/config/policy.py).

Separate from policy.py because prices carry a rule of their own: the cache prices a policy
leaves out are derived from the input price with Anthropic's multipliers, so cached tokens are
never counted as free. app/budget/pricing.py turns these prices into what a call costs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError, model_validator

from app.config.bounds import CachePriceUSD, PriceUSD, Strict

# Anthropic's published prompt-caching multipliers of the base input price: a 5-minute cache
# write costs 1.25x input, a 1-hour cache write 2x, a cache read 0.1x. A policy that prices a
# model with only {input, output} gets these, so cached tokens are never counted as free.
CACHE_PRICE_MULTIPLIERS = {
    "cache_write_5m": Decimal("1.25"),
    "cache_write_1h": Decimal("2"),
    "cache_read": Decimal("0.1"),
}

_PRICE = TypeAdapter(PriceUSD)


class ModelPrice(Strict):
    """USD per million tokens. Cache prices left out are derived from `input` with Anthropic's
    multipliers (CACHE_PRICE_MULTIPLIERS); explicit values win."""

    input: PriceUSD
    output: PriceUSD
    cache_write_5m: CachePriceUSD
    cache_write_1h: CachePriceUSD
    cache_read: CachePriceUSD

    @model_validator(mode="before")
    @classmethod
    def _derive_cache_prices(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        missing = [k for k in CACHE_PRICE_MULTIPLIERS if data.get(k) is None]
        if not missing:
            return data
        try:
            base = Decimal(repr(_PRICE.validate_python(data.get("input"))))
        except ValidationError:
            # `input` itself is reported; placeholders keep the error list to that one field.
            return {**data, **dict.fromkeys(missing, 0.0)}
        derived = {k: float(base * CACHE_PRICE_MULTIPLIERS[k]) for k in missing}
        return {**data, **derived}
