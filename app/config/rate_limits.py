"""The policy's `rate_limits` section: requests and tokens per minute for each client key.

Rate limits protect the service (and the upstream quota every caller shares); budgets protect the
money. Both apply: a request must pass its caller's rate limit before any work, and its paid
call must still fit every budget window. docs/architecture.md ("Rate limits").

    rate_limits:
      default: {requests_per_minute: 60, tokens_per_minute: 200000}
      keys:
        ci-bot: {requests_per_minute: 10}          # tokens_per_minute: the default's
        oncall: {requests_per_minute: 0}           # 0: no request limit for this key

Callers are identified by the NAME of their API key (`name=key` in SRE_AI_API_KEYS or the keys
file), never by the secret. A key with no entry gets `default`; a field left out of a key's entry
takes the default's value; 0 (or a field absent from `default`) means unlimited. With no client
keys configured (open mode) every request is the one caller `anonymous` under `default`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Bounds: far above any real key's traffic (Anthropic's own top tiers are a few thousand
# requests and a few million tokens per minute), low enough that the limiter's arithmetic
# (seconds per request or token, a float) stays meaningful.
MAX_REQUESTS_PER_MINUTE = 1_000_000
MAX_TOKENS_PER_MINUTE = 1_000_000_000
# Key names listed in the policy: bounded in number (the policy is held in memory on every
# replica) and in form (they go into Redis key names).
MAX_RATE_LIMITED_KEYS = 1_000
ANONYMOUS_CALLER = "anonymous"
KeyName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s{}=,]+$")]
RequestsPerMinute = Annotated[int, Field(ge=0, le=MAX_REQUESTS_PER_MINUTE)]
TokensPerMinute = Annotated[int, Field(ge=0, le=MAX_TOKENS_PER_MINUTE)]


class RateLimit(BaseModel):
    """One key's limits; None: not set here (a key entry inherits the default's; the default's
    means unlimited); 0: unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    requests_per_minute: RequestsPerMinute | None = None
    tokens_per_minute: TokensPerMinute | None = None


class CallerLimits(BaseModel):
    """The limits that apply to one caller, resolved: 0 means unlimited."""

    model_config = ConfigDict(frozen=True)
    requests_per_minute: int = 0
    tokens_per_minute: int = 0

    @property
    def unlimited(self) -> bool:
        return self.requests_per_minute == 0 and self.tokens_per_minute == 0


class RateLimitsPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default: RateLimit = RateLimit()
    keys: dict[KeyName, RateLimit] = Field(default_factory=dict,
                                           max_length=MAX_RATE_LIMITED_KEYS)

    @cached_property
    def resolved(self) -> tuple[dict[str, CallerLimits], CallerLimits]:
        """Every listed key's limits, and the default's, resolved once per policy: the limiter
        asks twice per request (admit, charge), and building a CallerLimits each time was a
        visible share of a cached /ask (issue 14). A cached_property keeps them in the
        instance, outside the fields: equality and the dumped policy are unchanged (and,
        unlike a pydantic private attribute, reading it is a plain attribute lookup)."""
        return ({name: self._resolve(entry) for name, entry in self.keys.items()},
                self._resolve(self.default))

    def for_caller(self, name: str) -> CallerLimits:
        by_name, default = self.resolved
        return by_name.get(name, default)

    def _resolve(self, entry: RateLimit) -> CallerLimits:
        rpm = entry.requests_per_minute
        tpm = entry.tokens_per_minute
        return CallerLimits(
            requests_per_minute=(self.default.requests_per_minute if rpm is None else rpm) or 0,
            tokens_per_minute=(self.default.tokens_per_minute if tpm is None else tpm) or 0,
        )
