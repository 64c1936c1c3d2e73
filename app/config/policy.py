"""Policy: the budget ConfigMap (budgets, prices, routing, breaker, cache, alerts, quality, rate
limits), parsed and bounded. Data that can change at runtime (app/policy_source.py reloads it);
nothing here caches it. docs/architecture.md."""

from __future__ import annotations

import functools
import hashlib
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from app.config.rate_limits import RateLimitsPolicy
from app.errors import PolicyError

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent.parent / "default_policy.yaml"

# ---- bounds of the policy's numbers (ours: see docs/architecture.md, Money)
#
# Every number in a policy is finite (no .inf/.nan: _Strict below) and bounded. The ledger counts
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

# Anthropic's published prompt-caching multipliers of the base input price: a 5-minute cache
# write costs 1.25x input, a 1-hour cache write 2x, a cache read 0.1x. A policy that prices a
# model with only {input, output} gets these, so cached tokens are never counted as free.
CACHE_PRICE_MULTIPLIERS = {
    "cache_write_5m": Decimal("1.25"),
    "cache_write_1h": Decimal("2"),
    "cache_read": Decimal("0.1"),
}

WindowUSD = Annotated[float, Field(ge=0, le=MAX_WINDOW_USD)]
PerRequestUSD = Annotated[float, Field(ge=MIN_PER_REQUEST_USD, le=MAX_PER_REQUEST_USD)]
PriceUSD = Annotated[float, Field(ge=0, le=MAX_PRICE_USD_PER_MTOK)]
# A cache write may cost twice the dearest input price (the 1-hour multiplier).
CachePriceUSD = Annotated[float, Field(ge=0, le=2 * MAX_PRICE_USD_PER_MTOK)]
_PRICE = TypeAdapter(PriceUSD)



class _Strict(BaseModel):
    # A typo in a ConfigMap must be an error, not a silently ignored key.
    # Infinities and NaN are refused everywhere: `hourly_usd: .inf` validated, then broke every
    # route that turned it into nano-USD.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Budgets(_Strict):
    per_request_usd: PerRequestUSD = 0.50
    hourly_usd: WindowUSD = 10.0
    daily_usd: WindowUSD = 50.0
    monthly_usd: WindowUSD = 500.0

    def window_limits(self) -> dict[str, float]:
        """Calendar windows, smallest first (the order rejections are reported in)."""
        return {"hourly": self.hourly_usd, "daily": self.daily_usd, "monthly": self.monthly_usd}


class ModelPrice(_Strict):
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


class Routing(_Strict):
    default_model: str
    fallback_model: str | None = None


class BreakerPolicy(_Strict):
    """resilience4j vocabulary; rates are percentages.

    As in resilience4j, a count window smaller than `minimum_calls` judges rates once the window
    is full (`effective_minimum_calls`): otherwise such a breaker could never open.
    """

    window_type: Literal["count", "time"] = "count"
    # Calls (count window) or seconds (time window).
    window_size: int = Field(default=20, ge=1, le=MAX_WINDOW_SIZE)
    minimum_calls: int = Field(default=10, ge=1, le=MAX_WINDOW_SIZE)
    failure_rate_threshold: float = Field(default=50.0, gt=0, le=100)
    slow_call_duration_seconds: float = Field(default=20.0, gt=0, le=ONE_DAY_SECONDS)
    slow_call_rate_threshold: float = Field(default=80.0, gt=0, le=100)
    wait_in_open_seconds: float = Field(default=30.0, gt=0, le=ONE_DAY_SECONDS)
    permitted_in_half_open: int = Field(default=3, ge=1, le=MAX_WINDOW_SIZE)
    # The longest an upstream `retry-after` (429/529) may hold a model off. Longer hints are
    # cut to this; 0 ignores retry-after (the failure still counts in the window).
    max_retry_after_seconds: float = Field(default=300.0, ge=0, le=ONE_DAY_SECONDS)

    @property
    def effective_minimum_calls(self) -> int:
        if self.window_type == "count":
            return min(self.minimum_calls, self.window_size)
        return self.minimum_calls


class LLMPolicy(_Strict):
    max_tokens: int = Field(default=1024, ge=16, le=64000)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Runbook chunks put into the prompt.
    context_chunks: int = Field(default=4, ge=1, le=20)


class CachePolicy(_Strict):
    max_entries: int = Field(default=1024, ge=0, le=1_000_000)
    ttl_seconds: float = Field(default=3600.0, gt=0, le=ONE_YEAR_SECONDS)
    # How long past its TTL an entry may still be served when nothing better is available.
    stale_ttl_seconds: float = Field(default=86400.0, ge=0, le=ONE_YEAR_SECONDS)
    # The semantic tier (app/cache/semantic.py): a reworded question reuses an answer when its
    # cosine is >= the threshold and the guard agrees (docs/semantic-cache.md for the data).
    semantic_enabled: bool = True
    semantic_threshold: float = Field(default=0.92, ge=0.5, le=1.0)
    semantic_max_entries: int = Field(default=1024, ge=0, le=1_000_000)

    # Single-flight (app/cache/singleflight.py): concurrent asks of one question pay once.
    # The lease is renewed every lease/3 while the leader's call runs, so it bounds only how
    # long a dead leader's waiters wait before one of them takes over, not the call. Waiters
    # give up after wait_seconds (30 s: llm.timeout_seconds' default) and take the free rungs.
    single_flight_enabled: bool = True
    single_flight_lease_seconds: float = Field(default=5.0, ge=0.1, le=300.0)
    single_flight_wait_seconds: float = Field(default=30.0, ge=0, le=600.0)


class DegradationPolicy(_Strict):
    """Which free rungs of the ladder may answer when the paid models cannot."""

    stale_cache: bool = True
    offline: bool = True


class LimitsPolicy(_Strict):
    max_question_chars: int = Field(default=2000, ge=1, le=100_000)


class AlertsPolicy(_Strict):
    """The Alertmanager receiver (POST /alerts): storm caps on PAID answers, beyond which an
    alert gets runbook excerpts ($0); how long a (fingerprint, startsAt) stays answered; how many
    alert records GET /alerts/recent keeps."""

    paid_per_group: int = Field(default=5, ge=0, le=10_000)
    paid_per_minute: int = Field(default=20, ge=0, le=100_000)
    # A group's cap counts for this long after its first paid answer (Alertmanager re-sends a
    # group every repeat_interval, 4 h by default).
    group_window_seconds: float = Field(default=4 * 3600.0, ge=60, le=ONE_WEEK_SECONDS)
    dedupe_ttl_seconds: float = Field(default=7 * 86400.0, ge=60, le=ONE_YEAR_SECONDS)
    recent_max: int = Field(default=500, ge=1, le=10_000)


class QualityPolicy(_Strict):
    """Answer quality (issue 18): an answer whose share of text backed by a runbook citation is
    below `min_grounded_share` is ungrounded: marked `grounded: false`, never cached, and
    counted in ai_ungrounded_answers_total. 0 marks nothing ungrounded; 1 everything not fully
    cited. The built-in value is in app/default_policy.yaml."""

    min_grounded_share: float = Field(default=0.5, ge=0, le=1)


@functools.cache
def _builtin_document() -> dict[str, Any]:
    """Models, routing and the quality threshold live in a policy file: app/default_policy.yaml."""
    raw = yaml.safe_load(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


def _default_models() -> dict[str, ModelPrice]:
    return {k: ModelPrice(**v) for k, v in _builtin_document()["models"].items()}


def _default_routing() -> Routing:
    return Routing(**_builtin_document()["routing"])


def _default_quality() -> QualityPolicy:
    return QualityPolicy(**_builtin_document().get("quality", {}))


class Policy(_Strict):
    budgets: Budgets = Budgets()
    models: dict[ModelName, ModelPrice] = Field(
        default_factory=_default_models, max_length=MAX_MODELS
    )
    routing: Routing = Field(default_factory=_default_routing)
    breaker: BreakerPolicy = BreakerPolicy()
    llm: LLMPolicy = LLMPolicy()
    cache: CachePolicy = CachePolicy()
    limits: LimitsPolicy = LimitsPolicy()
    alerts: AlertsPolicy = AlertsPolicy()
    degradation: DegradationPolicy = DegradationPolicy()
    quality: QualityPolicy = Field(default_factory=_default_quality)
    rate_limits: RateLimitsPolicy = RateLimitsPolicy()  # app/config/rate_limits.py

    @model_validator(mode="after")
    def _routing_names_known_models(self) -> Policy:
        if not self.models:
            raise ValueError("models: at least one priced model is required")
        if self.routing.default_model not in self.models:
            raise ValueError(
                f"routing.default_model {self.routing.default_model!r} has no price in models"
            )
        fb = self.routing.fallback_model
        if fb is not None and fb not in self.models:
            raise ValueError(f"routing.fallback_model {fb!r} has no price in models")
        return self

    @property
    def allowed_models(self) -> frozenset[str]:
        return frozenset(self.models)

    @cached_property
    def digest(self) -> str:
        """Short content hash: tells operators which policy a replica runs."""
        canonical = self.model_dump_json()
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def parse_policy(text: str) -> Policy:
    """Parse and validate a policy YAML document. Raises PolicyError naming each bad field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy is not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"policy must be a mapping, got {type(raw).__name__}")
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (typo?)"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)
