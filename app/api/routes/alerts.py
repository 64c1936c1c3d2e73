"""POST /alerts (Alertmanager's webhook receiver) and GET /alerts/recent. Same API keys as /ask:
Alertmanager sends one with `http_config.authorization.credentials_file` (Bearer). The paid
answers to a notification are charged to that key's team (give Alertmanager a key of its own,
in the team that should pay for incident answers)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.api.deps import ClientDep, RuntimeDep
from app.api.rate_limit import OPENAPI_429, OPENAPI_HEADERS, RateLimitDep
from app.logs import add_log_fields
from app.schemas import ErrorResponse
from app.services.alert_payload import AlertRecord, AlertsAccepted, WebhookPayload

router = APIRouter()

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 422, 503)
}
_POST_ERRORS: dict[int | str, dict[str, object]] = {
    **_ERRORS, 429: {"model": ErrorResponse, **OPENAPI_429}, 200: {"headers": OPENAPI_HEADERS}}


@router.post("/alerts", response_model=AlertsAccepted, responses=_POST_ERRORS)
async def receive_alerts(body: WebhookPayload, limit: RateLimitDep) -> AlertsAccepted:
    """Rate limited per key like /ask (requests per minute, and refused while the key's tokens
    are in debt). The answers' tokens are not charged to the key: they are made later by the
    receiver's workers, under the alert storm caps (policy `alerts`) and the budgets."""
    result = await limit.runtime.alerts.receive(body, team=limit.client.team)
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
