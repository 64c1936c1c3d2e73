"""Alertmanager's webhook payload, version 4 (https://prometheus.io/docs/alerting/latest/
configuration/#webhook_config), validated strictly where we rely on a field and leniently
elsewhere: Alertmanager may add fields, and a receiver that refuses them would drop pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Alertmanager's max_alerts defaults to 0 (all of the group): a group is bounded here. Beyond it
# the alerts are cut, not the notification refused: Alertmanager does not retry a 4xx, so a
# refusal would leave every alert of the storm's biggest group unanswered, at every re-send.
MAX_ALERTS = 1000
_LABEL: Any = Field(default_factory=dict, max_length=200)  # at most 200 labels or annotations


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AlertLabels(_Lenient):
    """Labels are free-form; `alertname` is the one we cannot answer without."""

    model_config = ConfigDict(extra="allow")
    alertname: str = Field(min_length=1, max_length=256)


# Field names are Alertmanager's (camelCase) so the models validate its JSON as sent.
class WebhookAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: AlertLabels
    annotations: dict[str, str] = _LABEL
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)

    def label_map(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.labels.model_dump().items()}


class WebhookPayload(_Lenient):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    groupKey: str = Field(max_length=4096)
    receiver: str = ""
    groupLabels: dict[str, str] = _LABEL
    commonLabels: dict[str, str] = _LABEL
    commonAnnotations: dict[str, str] = _LABEL
    externalURL: str = ""
    truncatedAlerts: int = Field(default=0, ge=0)  # Alertmanager's cut, plus ours
    alerts: list[WebhookAlert]

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        """The first MAX_ALERTS alerts (before they are validated: the rest costs nothing);
        the others are counted in truncatedAlerts, as Alertmanager counts its own cut."""
        alerts = data.get("alerts") if isinstance(data, dict) else None
        if isinstance(alerts, list) and len(alerts) > MAX_ALERTS:
            told = data.get("truncatedAlerts", 0)
            told = told if isinstance(told, int) and told >= 0 else 0
            data = {**data, "alerts": alerts[:MAX_ALERTS],
                    "truncatedAlerts": told + len(alerts) - MAX_ALERTS}
        return data


class AlertsAccepted(BaseModel):
    """The reply to Alertmanager: what happened to each alert of the notification."""

    accepted: int = Field(description="Firing alerts queued for an answer.")
    duplicate: int = Field(description="Firing alerts already answered (same fingerprint and "
                           "startsAt): not answered again, $0.")
    resolved: int = Field(description="Resolved alerts recorded (never answered).")
    dropped: int = Field(description="Firing alerts refused because the answer queue is full.")
    truncated: int = Field(default=0, description=(
        "Alerts of the group not in this notification: cut by Alertmanager (its max_alerts) "
        "or beyond the receiver's bound of 1,000 per notification. Not answered."))


class AlertRecord(BaseModel):
    """One alert as GET /alerts/recent shows it (and as the delivery hook receives it)."""

    fingerprint: str
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    status: str
    startsAt: str
    endsAt: str | None = None
    group_key: str = ""
    runbook: str | None = None
    answer: str | None = None
    sources: list[str] = []
    model: str | None = None
    degraded: str | None = None
    cost_usd: float = 0.0
    mode: str | None = None  # paid | cached | excerpts | no_answer | error (None: resolved)
    answered_at: str | None = None
