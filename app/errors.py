"""Domain errors. They know nothing of HTTP; app/api/errors.py maps them to status codes."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: `code` is the stable machine-readable name clients see as `error`."""

    code = "internal_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidQuestionError(DomainError):
    code = "invalid_question"


class UnknownModelError(DomainError):
    code = "unknown_model"


class BudgetExceededError(DomainError):
    """A paid call would push a budget window over its limit (or one request over its cap)."""

    code = "budget_exhausted"

    def __init__(self, detail: str, *, window: str, retry_after_seconds: float,
                 scope: str = "global") -> None:
        super().__init__(detail)
        self.window = window
        self.retry_after_seconds = retry_after_seconds
        self.scope = scope  # "global" or the team whose limit refused


class RateLimitedError(DomainError):
    """The caller's API key is over its requests or tokens per minute (app/ratelimit/). Nothing
    was done for the request; `limit` is "requests" or "tokens"."""

    code = "rate_limited"

    def __init__(self, detail: str, *, limit: str, retry_after_seconds: float) -> None:
        super().__init__(detail)
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds


class LedgerUnavailableError(DomainError):
    """The spend ledger cannot be reached: paid calls fail closed."""

    code = "ledger_unavailable"


class CircuitOpenError(DomainError):
    code = "circuit_open"

    def __init__(self, detail: str, *, name: str, retry_after_seconds: float) -> None:
        super().__init__(detail)
        self.name = name
        self.retry_after_seconds = retry_after_seconds


class UpstreamError(DomainError):
    """The LLM API failed. `kind` is a bounded label: timeout, connection, rate_limited,
    overloaded, server_error, bad_request, auth.

    `maybe_billed`: the request was sent and no answer says it was refused (a timeout after
    sending, a connection dropped mid-response): Anthropic may bill it, so it is settled at its
    reserved worst case, never released. An error status from the upstream, or a connection
    that was never established, proves nothing was billed. `estimated_cost_usd` is set by the
    paid-call layer to what it settled for this call (0 when released)."""

    code = "upstream_error"

    def __init__(
        self,
        detail: str,
        *,
        kind: str,
        status: int | None = None,
        retry_after_seconds: float | None = None,
        maybe_billed: bool = False,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.retry_after_seconds = retry_after_seconds
        self.maybe_billed = maybe_billed
        self.estimated_cost_usd = 0.0

    @property
    def counts_as_failure(self) -> bool:
        """Does this failure say the upstream is unhealthy (breaker), or was the request bad?"""
        return self.kind in {"timeout", "connection", "rate_limited", "overloaded", "server_error"}


class ServiceUnavailableError(DomainError):
    """Nothing on the degradation ladder could answer."""

    code = "service_unavailable"

    def __init__(self, detail: str, *, retry_after_seconds: float) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class AuthUnavailableError(DomainError):
    """Client API keys are configured but none could be loaded: the service fails closed."""

    code = "auth_unavailable"


class PolicyError(DomainError):
    """A policy document failed validation; the message names the field and the problem."""

    code = "invalid_policy"


class ConfigurationError(Exception):
    """The process cannot start with its configuration. Not a DomainError: it never reaches
    HTTP. `setting` names what to change (an environment variable, or a policy field path) and
    `fix` says how; the CLI prints the three as ONE log line and exits with EX_CONFIG."""

    def __init__(self, detail: str, *, setting: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.setting = setting
        self.fix = fix
