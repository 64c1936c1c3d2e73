"""Is the Anthropic API refusing our key? A 401/403 is not a breaker failure (the API is
healthy, our credential is not), so without this the breaker stays closed, every answer is
degraded, and nothing says why.

Per model: `failing` from the first 401/403 until a call to that model succeeds again (a key
fixed in the Secret takes effect at the next pod start: the key is read once). Each failure is
logged at ERROR naming the variable and the fix, at most once per `log_interval_seconds` per
model on the injected clock; the lines held back are counted and the next line says how many
(`suppressed`). The detail comes from the provider, which has already removed the key from it.
`/health/ready` (upstream_auth) and `/circuit-breaker` (auth_failing) read `snapshots()`;
ai_upstream_requests_total{outcome="auth"} feeds the AIUpstreamAuthFailing alert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.clock import Clock

log = logging.getLogger("app.upstream_auth")
LOG_INTERVAL_SECONDS = 60.0
FIX = ("ANTHROPIC_API_KEY is rejected by the Anthropic API: check the key in the Secret the "
       "pods read it from (Helm: anthropic.existingSecret / existingSecretKey), then restart "
       "the pods (the key is read at start-up). Until then every answer is degraded")


@dataclass(frozen=True)
class AuthSnapshot:
    failing: bool
    failures: int  # since the last success
    last_failure_at: str | None  # ISO 8601, UTC
    last_status: int | None
    last_error: str | None


@dataclass
class _ModelAuth:
    failures: int = 0
    last_failure_at: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    logged_at: float | None = None
    suppressed: int = 0


class UpstreamAuthTracker:
    def __init__(self, clock: Clock, *, log_interval_seconds: float = LOG_INTERVAL_SECONDS) -> None:
        self._clock = clock
        self._interval = log_interval_seconds
        self._models: dict[str, _ModelAuth] = {}

    def failure(self, model: str, status: int | None, detail: str) -> None:
        state = self._models.setdefault(model, _ModelAuth())
        state.failures += 1
        state.last_failure_at = self._clock.now().isoformat()
        state.last_status = status
        state.last_error = detail
        now = self._clock.monotonic()
        if state.logged_at is not None and now - state.logged_at < self._interval:
            state.suppressed += 1
            return
        log.error(f"{FIX} ({status or 'auth'} from the API)", extra={"fields": {
            "model": model, "status": status, "error": detail, "failures": state.failures,
            "suppressed": state.suppressed, "setting": "ANTHROPIC_API_KEY"}})
        state.logged_at, state.suppressed = now, 0

    def success(self, model: str) -> None:
        state = self._models.get(model)
        if state is None or state.failures == 0:
            return
        log.info("the Anthropic API accepts ANTHROPIC_API_KEY again",
                 extra={"fields": {"model": model, "failures": state.failures}})
        self._models[model] = _ModelAuth()

    def snapshot(self, model: str) -> AuthSnapshot:
        s = self._models.get(model, _ModelAuth())
        return AuthSnapshot(failing=s.failures > 0, failures=s.failures,
                            last_failure_at=s.last_failure_at, last_status=s.last_status,
                            last_error=s.last_error)

    def failing_models(self) -> list[str]:
        return sorted(m for m, s in self._models.items() if s.failures > 0)
