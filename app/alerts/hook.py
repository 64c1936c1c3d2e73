"""The receiver's `on_answer` hook that hands each answered alert to the delivery webhook."""

from __future__ import annotations

from app.alerts.delivery import AlertAnswer, Delivery
from app.services.alert_payload import AlertRecord
from app.services.alerts import OnAnswer


def delivery_hook(delivery: Delivery) -> OnAnswer:
    async def hook(record: AlertRecord) -> None:
        if record.answer is None:  # resolved alerts are recorded, not answered
            return
        await delivery.deliver(AlertAnswer(
            alertname=record.alertname, status=record.status, labels=record.labels,
            answer=record.answer, sources=tuple(record.sources), model=record.model or "",
            degraded_mode=record.degraded, fingerprint=record.fingerprint,
            starts_at=record.startsAt))

    return hook
