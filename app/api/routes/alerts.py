"""POST /alerts (Alertmanager's webhook receiver) and GET /alerts/recent. Same API keys as /ask:
Alertmanager sends one with `http_config.authorization.credentials_file` (Bearer)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.api.deps import ClientDep, RuntimeDep
from app.logs import add_log_fields
from app.schemas import ErrorResponse
from app.services.alert_payload import AlertRecord, AlertsAccepted, WebhookPayload

router = APIRouter()

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 503)
}


@router.post("/alerts", response_model=AlertsAccepted, responses=_ERRORS)
async def receive_alerts(body: WebhookPayload, runtime: RuntimeDep,
                         _client: ClientDep) -> AlertsAccepted:
    result = await runtime.alerts.receive(body)
    add_log_fields(receiver=body.receiver, alerts=len(body.alerts), **result.model_dump())
    return result


@router.get("/alerts/recent", response_model=list[AlertRecord], responses=_ERRORS)
async def recent_alerts(
    runtime: RuntimeDep,
    _client: ClientDep,
    status: Literal["firing", "resolved"] | None = None,
    alertname: Annotated[str | None, Query(max_length=256)] = None,
    namespace: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AlertRecord]:
    return await runtime.alerts_records.recent(status=status, alertname=alertname,
                                               namespace=namespace, limit=limit)
