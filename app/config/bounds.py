"""The bounds every policy number lives within, and the strict base model of every policy
section (app/config/policy.py, model_prices.py, teams.py). docs/architecture.md, Money."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# ---- bounds of the policy's numbers (ours: see docs/architecture.md, Money)
#
# Every number in a policy is finite (no .inf/.nan: Strict below) and bounded. The ledger counts
# integer nano-USD, and the Redis store compares them as Lua doubles, which are exact only below
# 2**53 nano-USD (~9.007 million USD). One window may hold at most MAX_WINDOW_USD (1e15 nano-USD);
# even the three windows' limits summed plus a full window of in-flight reservations stay below
# 2**53. A price above MAX_PRICE_USD_PER_MTOK is a typo (list prices are two orders lower).
MAX_WINDOW_USD = 1_000_000.0
MAX_PER_REQUEST_USD = 10_000.0
MAX_PRICE_USD_PER_MTOK = 10_000.0
# The ledger's unit: a smaller per-request limit would round to zero and refuse every call.
MIN_PER_REQUEST_USD = 1e-9
ONE_DAY_SECONDS = 86_400.0
ONE_YEAR_SECONDS = 365 * ONE_DAY_SECONDS
ONE_WEEK_SECONDS = 7 * ONE_DAY_SECONDS
# Count windows are a list of this many slots, time windows one bucket per second: bounded memory.
MAX_WINDOW_SIZE = 10_000
# Model names become metric labels and breakers: a bounded set of plain identifiers.
MAX_MODELS = 50
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")]

WindowUSD = Annotated[float, Field(ge=0, le=MAX_WINDOW_USD)]
PerRequestUSD = Annotated[float, Field(ge=MIN_PER_REQUEST_USD, le=MAX_PER_REQUEST_USD)]
PriceUSD = Annotated[float, Field(ge=0, le=MAX_PRICE_USD_PER_MTOK)]
# A cache write may cost twice the dearest input price (the 1-hour multiplier).
CachePriceUSD = Annotated[float, Field(ge=0, le=2 * MAX_PRICE_USD_PER_MTOK)]

class Strict(BaseModel):
    # A typo in a ConfigMap must be an error, not a silently ignored key.
    # Infinities and NaN are refused everywhere: `hourly_usd: .inf` validated, then broke every
    # route that turned it into nano-USD.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
