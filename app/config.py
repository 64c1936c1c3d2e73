"""Settings (process environment, DESIGN §9) and Policy (the budget ConfigMap, DESIGN §5).

Settings are read once at start-up. The Policy is data that can change at runtime
(app/policy_source.py reloads it); nothing here caches it.
"""

from __future__ import annotations

import functools
import hashlib
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import PolicyError

BUNDLED_RUNBOOKS = Path(__file__).resolve().parent.parent / "runbooks"
DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "default_policy.yaml"

NonNegativeUSD = Annotated[float, Field(ge=0)]
PositiveUSD = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """Process configuration from the environment. Names are a contract (DESIGN §9)."""

    model_config = SettingsConfigDict(
        env_prefix="SRE_AI_", extra="ignore", frozen=True, populate_by_name=True
    )

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL")
    )
    policy_file: Path | None = None
    policy_source: Literal["file", "kubernetes"] = "file"
    policy_configmap: str | None = None
    runbooks_dir: Path = BUNDLED_RUNBOOKS
    # Runbook files larger than this are skipped (logged, counted, shown in /health/ready).
    max_runbook_bytes: int = Field(default=256 * 1024, gt=0)
    # Runbook embeddings by content hash, so a restart does not re-embed an unchanged corpus.
    # Empty: no disk cache.
    embedding_cache_dir: Path | None = Path("./var/embeddings")
    ledger_path: Path = Path("./var/ledger.sqlite3")
    redis_url: str | None = None
    api_keys: SecretStr | None = None
    api_keys_file: Path | None = None
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    # Requests larger than this are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=16 * 1024, gt=0)
    # How long a crashed process may hold a budget reservation before it lapses.
    reservation_ttl_seconds: float = Field(default=120.0, gt=0)
    # Seconds between checks of watched files (policy, runbooks, API keys).
    watch_interval_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _check_kubernetes_source(self) -> Settings:
        if self.policy_source == "kubernetes":
            ref = self.policy_configmap or ""
            if ref.count("/") != 1 or not all(ref.split("/")):
                raise ValueError(
                    "SRE_AI_POLICY_CONFIGMAP must be 'namespace/name' when "
                    "SRE_AI_POLICY_SOURCE=kubernetes"
                )
        return self


# ---------------------------------------------------------------- the policy document


class _Strict(BaseModel):
    # A typo in a ConfigMap must be an error, not a silently ignored key.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budgets(_Strict):
    per_request_usd: PositiveUSD = 0.50
    hourly_usd: NonNegativeUSD = 10.0
    daily_usd: NonNegativeUSD = 50.0
    monthly_usd: NonNegativeUSD = 500.0

    def window_limits(self) -> dict[str, float]:
        """Calendar windows, smallest first (the order rejections are reported in)."""
        return {"hourly": self.hourly_usd, "daily": self.daily_usd, "monthly": self.monthly_usd}


class ModelPrice(_Strict):
    """USD per million tokens."""

    input: NonNegativeUSD
    output: NonNegativeUSD
    cache_write_5m: NonNegativeUSD = 0.0
    cache_write_1h: NonNegativeUSD = 0.0
    cache_read: NonNegativeUSD = 0.0


class Routing(_Strict):
    default_model: str
    fallback_model: str | None = None


class BreakerPolicy(_Strict):
    """resilience4j vocabulary; rates are percentages."""

    window_type: Literal["count", "time"] = "count"
    # Calls (count window) or seconds (time window).
    window_size: int = Field(default=20, ge=1)
    minimum_calls: int = Field(default=10, ge=1)
    failure_rate_threshold: float = Field(default=50.0, gt=0, le=100)
    slow_call_duration_seconds: float = Field(default=20.0, gt=0)
    slow_call_rate_threshold: float = Field(default=80.0, gt=0, le=100)
    wait_in_open_seconds: float = Field(default=30.0, gt=0)
    permitted_in_half_open: int = Field(default=3, ge=1)


class LLMPolicy(_Strict):
    max_tokens: int = Field(default=1024, ge=16, le=64000)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Runbook chunks put into the prompt.
    context_chunks: int = Field(default=4, ge=1, le=20)


class CachePolicy(_Strict):
    max_entries: int = Field(default=1024, ge=0)
    ttl_seconds: float = Field(default=3600.0, gt=0)
    # How long past its TTL an entry may still be served when nothing better is available.
    stale_ttl_seconds: float = Field(default=86400.0, ge=0)


class DegradationPolicy(_Strict):
    """Which free rungs of the ladder may answer when the paid models cannot."""

    stale_cache: bool = True
    offline: bool = True


class LimitsPolicy(_Strict):
    max_question_chars: int = Field(default=2000, ge=1, le=100_000)


@functools.cache
def _builtin_document() -> dict[str, Any]:
    """Models and routing live in a policy file, never in code: app/default_policy.yaml."""
    raw = yaml.safe_load(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


def _default_models() -> dict[str, ModelPrice]:
    return {k: ModelPrice(**v) for k, v in _builtin_document()["models"].items()}


def _default_routing() -> Routing:
    return Routing(**_builtin_document()["routing"])


class Policy(_Strict):
    budgets: Budgets = Budgets()
    models: dict[str, ModelPrice] = Field(default_factory=_default_models)
    routing: Routing = Field(default_factory=_default_routing)
    breaker: BreakerPolicy = BreakerPolicy()
    llm: LLMPolicy = LLMPolicy()
    cache: CachePolicy = CachePolicy()
    limits: LimitsPolicy = LimitsPolicy()
    degradation: DegradationPolicy = DegradationPolicy()

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
