"""Policy: the budget ConfigMap (budgets, prices, routing, breaker, cache, alerts, quality, rate
limits), parsed and bounded. Data that can change at runtime (app/policy_source.py reloads it);
nothing here caches it. The models' prices are app/config/model_prices.py. docs/architecture.md."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    model_validator,
)

from app.config.bounds import (
    MAX_MODELS,
    MAX_WINDOW_SIZE,
    ONE_DAY_SECONDS,
    ONE_WEEK_SECONDS,
    ONE_YEAR_SECONDS,
    ModelName,
    PerRequestUSD,
    Strict,
    WindowUSD,
)
from app.config.model_prices import ModelPrice
from app.config.rate_limits import RateLimitsPolicy
from app.config.teams import (
    GLOBAL_SCOPE,
    MAX_BREAK_GLASS,
    MAX_TEAMS,
    BreakGlass,
    KeyName,
    Limits,
    Team,
    TeamName,
    apply_break_glass,
    limits_from_fields,
    validate_teams,
)
from app.errors import PolicyError

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent.parent / "default_policy.yaml"


class Budgets(Strict):
    per_request_usd: PerRequestUSD = 0.50
    hourly_usd: WindowUSD = 10.0
    daily_usd: WindowUSD = 50.0
    monthly_usd: WindowUSD = 500.0

    def window_limits(self) -> dict[str, float]:
        """Calendar windows, smallest first (the order rejections are reported in)."""
        return {"hourly": self.hourly_usd, "daily": self.daily_usd, "monthly": self.monthly_usd}


class Routing(Strict):
    default_model: str
    fallback_model: str | None = None


class BreakerPolicy(Strict):
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


class LLMPolicy(Strict):
    max_tokens: int = Field(default=1024, ge=16, le=64000)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Runbook chunks put into the prompt.
    context_chunks: int = Field(default=4, ge=1, le=20)


class CachePolicy(Strict):
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


class DegradationPolicy(Strict):
    """Which free rungs of the ladder may answer when the paid models cannot."""

    stale_cache: bool = True
    offline: bool = True


class LimitsPolicy(Strict):
    max_question_chars: int = Field(default=2000, ge=1, le=100_000)


class AlertsPolicy(Strict):
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


class QualityPolicy(Strict):
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


class Policy(Strict):
    budgets: Budgets = Budgets()
    # USD per million tokens, cache prices derived when left out: app/config/model_prices.py.
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
    # Per-team budgets, break-glass raises and /cost admins: app/config/teams.py.
    teams: dict[TeamName, Team] = Field(default_factory=dict, max_length=MAX_TEAMS)
    break_glass: tuple[BreakGlass, ...] = Field(default=(), max_length=MAX_BREAK_GLASS)
    admin_keys: tuple[KeyName, ...] = Field(default=(), max_length=100)
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
        validate_teams(self.teams, self.break_glass, self.budgets.model_dump())
        return self

    def scope_limits(self, scope: str, now: datetime) -> Limits | None:
        """The limits of `scope` ("global" or a team) at `now`, break-glass applied; None for
        a team the policy does not know (its callers are held by the global windows alone)."""
        if scope == GLOBAL_SCOPE:
            base = self.budgets.model_dump()
        elif scope in self.teams:
            base = self.teams[scope].budgets.set_fields()
        else:
            return None
        fields, raised = apply_break_glass(scope, base, self.break_glass, now)
        return limits_from_fields(scope, fields, raised)

    def active_break_glass(self, now: datetime) -> tuple[BreakGlass, ...]:
        return tuple(e for e in self.break_glass if e.active(now))

    @cached_property
    def key_teams(self) -> dict[str, str]:
        """Key name -> team, from the teams' `keys` lists."""
        return {key: name for name, team in self.teams.items() for key in team.keys}

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
