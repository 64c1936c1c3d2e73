"""Operator endpoints: /metrics, /cost, /circuit-breaker."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import ClientDep, RuntimeDep

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep) -> Response:
    await runtime.refresh_gauges()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/cost")
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


@router.get("/circuit-breaker")
async def circuit_breaker(runtime: RuntimeDep, _client: ClientDep) -> dict[str, Any]:
    snaps = runtime.breakers.snapshots()
    return {"breakers": {name: asdict(s) for name, s in snaps.items()}}
