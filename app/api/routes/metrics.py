"""GET /metrics: the Prometheus exposition of this process's registry, gauges refreshed first.

Served on the API port, or, with SRE_AI_METRICS_PORT, only on a listener of its own
(app/api/metrics_listener.py), so that spend and budget series need not go through the public
Service."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api.deps import RuntimeDep
from app.runtime import Runtime

router = APIRouter()


async def exposition(runtime: Runtime) -> Response:
    await runtime.refresh_gauges()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep) -> Response:
    return await exposition(runtime)
