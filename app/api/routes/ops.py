"""Operator endpoints: /cost, /circuit-breaker (/metrics: app/api/routes/metrics.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from app.api.deps import ClientDep, RuntimeDep
from app.schemas import ErrorResponse

router = APIRouter()

# What a protected operator endpoint may answer besides 200: a missing or wrong key (401), and
# 503 when keys are configured but none is loaded or the shared ledger is down. Declared so
# that the OpenAPI document is the whole contract (the schemathesis run checks it).
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (401, 503)
}


@router.get("/cost", responses=_ERRORS)
async def cost(runtime: RuntimeDep, _client: ClientDep) -> dict[str, Any]:
    """Spend, limit and remaining per window, from the ledger shared by every replica."""
    active = runtime.policies.current
    windows = await runtime.budget_snapshot()
    return {
        "per_request_limit_usd": active.policy.budgets.per_request_usd,
        "windows": [
            {"window": w.window, "limit_usd": w.limit_usd, "spent_usd": round(w.spent_usd, 9),
             "reserved_usd": round(w.reserved_usd, 9),
             "remaining_usd": round(w.remaining_usd, 9), "resets_at": w.resets_at.isoformat()}
            for w in windows
        ],
        "ledger": runtime.ledger_kind,
        "policy_hash": active.digest,
    }


@router.get("/circuit-breaker", responses=_ERRORS)
async def circuit_breaker(runtime: RuntimeDep, _client: ClientDep) -> dict[str, Any]:
    """Each model's breaker, and whether the API refuses our key for it (`auth_failing`: a
    401/403 never opens the breaker, so its state alone would say all is well)."""
    snaps = runtime.breakers.snapshots()
    auth = runtime.upstream_auth
    out: dict[str, Any] = {}
    for name, snap in snaps.items():
        out[name] = asdict(snap)
        if auth is not None:
            a = auth.snapshot(name)
            out[name].update(auth_failing=a.failing, auth_failures=a.failures,
                             last_auth_failure_at=a.last_failure_at,
                             last_auth_error=a.last_error)
    return {"breakers": out}
