"""Operator endpoints: /cost, /circuit-breaker (/metrics: app/api/routes/metrics.py)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from app.api.deps import ClientDep, RuntimeDep
from app.errors import LedgerUnavailableError
from app.runtime import LEDGER_TIMEOUT_SECONDS
from app.schemas import ErrorResponse
from app.services.cost_view import cost_report

router = APIRouter()

# What a protected operator endpoint may answer besides 200: a missing or wrong key (401), and
# 503 when keys are configured but none is loaded or the shared ledger is down. Declared so
# that the OpenAPI document is the whole contract (the schemathesis run checks it).
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (401, 503)
}


@router.get("/cost", responses=_ERRORS)
async def cost(runtime: RuntimeDep, caller: ClientDep) -> dict[str, Any]:
    """Spend, limit and remaining per window, from the ledger shared by every replica: the
    global windows, the caller's team's (`team`), and every team for an admin key (`teams`);
    app/services/cost_view.py."""
    active = runtime.policies.current
    try:
        async with asyncio.timeout(LEDGER_TIMEOUT_SECONDS):
            report = await cost_report(runtime.ledger, active.policy, caller,
                                       runtime.clock.now())
    except TimeoutError as exc:
        raise LedgerUnavailableError("ledger did not answer in time") from exc
    return {**report, "ledger": runtime.ledger_kind, "policy_hash": active.digest}


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
