"""The service wires the delivery webhook to the Alertmanager receiver: an alert POSTed to
/alerts is answered and its answer reaches the configured webhook, once (the real app in
process, offline provider, a real HTTP receiver on loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from app.config import Settings
from app.main import create_app
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def notification(status: str = "firing") -> dict[str, Any]:
    alert = {"status": status,
             "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop",
                        "pod": "api-7f9c"},
             "annotations": {"summary": "Pod shop/api-7f9c is restarting"},
             "startsAt": "2026-11-30T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prom/graph", "fingerprint": "fp-wired"}
    return {"version": "4", "status": status, "groupKey": "g", "receiver": "sre-ai",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am", "truncatedAlerts": 0, "alerts": [alert]}


async def test_an_answered_alert_is_delivered_to_the_webhook_once(tmp_path: Path) -> None:
    async with WebhookReceiver() as receiver:
        settings = Settings(alert_webhook_url=receiver.url, ledger_path=tmp_path / "l.sqlite3",
                            embedding_cache_dir=None, settle_spool_dir=tmp_path / "spool")
        app = create_app(settings, registry=CollectorRegistry())
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            for _ in range(2):  # Alertmanager re-sends the group: delivered once
                r = await client.post("/alerts", json=notification())
                assert r.status_code == 200, r.text
        # shutting down answers the queued alerts, then drains their deliveries (bounded)
    assert len(receiver.received) == 1
    text = str(receiver.received[0].body)
    assert "KubePodCrashLooping" in text
