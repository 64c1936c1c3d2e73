"""The Alertmanager receiver and the delivery of its answers to a webhook."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.metric_labels import (
    ALERT_ANSWER_MODES,
    ALERT_CAPS,
    ALERT_DELIVERY_ATTEMPT_RESULTS,
    ALERT_DELIVERY_BUCKETS,
    ALERT_DELIVERY_OUTCOMES,
    ALERT_STATUSES,
)


class AlertMetrics:
    def _register_alerts(self, r: CollectorRegistry) -> None:
        # --- the Alertmanager receiver (app/services/alerts.py). errors pairs with received.
        self.alerts_received = Counter(
            "ai_alerts_received", "Alerts received from Alertmanager, by status.", ["status"],
            registry=r)
        self.alerts_answered = Counter(
            "ai_alerts_answered", "Firing alerts answered, by mode (duplicate: already answered, "
            "$0).", ["mode"], registry=r)
        self.alerts_capped = Counter(
            "ai_alerts_capped", "Alerts answered with runbook excerpts because a storm cap on "
            "paid answers was reached, by cap.", ["cap"], registry=r)
        self.alert_errors = Counter(
            "ai_alert_errors", "Firing alerts not answered: the pipeline failed or the answer "
            "queue was full.",
            registry=r)


        # --- alert answers delivered to the configured webhook (app/alerts/delivery.py)
        self.alert_deliveries = Counter(
            "ai_alert_deliveries", "Alert answers handed to the delivery webhook, by how they "
            "ended: delivered, or dead_letter (queue full, rejected, attempts used up, shutdown).",
            ["outcome"], registry=r,
        )
        self.alert_delivery_attempts = Counter(
            "ai_alert_delivery_attempts", "POSTs to the delivery webhook by result: success, "
            "retryable (429, 5xx, timeout, connection) or rejected (other 4xx: not retried).",
            ["result"], registry=r,
        )
        self.alert_delivery_seconds = Histogram(
            "ai_alert_delivery_attempt_seconds", "Latency of one POST to the delivery webhook.",
            buckets=ALERT_DELIVERY_BUCKETS, registry=r,
        )
        self.alert_delivery_queue_depth = Gauge(
            "ai_alert_delivery_queue_depth", "Alert answers waiting for the delivery webhook.",
            registry=r,
        )

    def _init_alerts(self) -> None:
        for status in ALERT_STATUSES:
            self.alerts_received.labels(status=status)
        for mode in ALERT_ANSWER_MODES:
            self.alerts_answered.labels(mode=mode)
        for cap in ALERT_CAPS:
            self.alerts_capped.labels(cap=cap)
        for outcome in ALERT_DELIVERY_OUTCOMES:
            self.alert_deliveries.labels(outcome=outcome)
        for result in ALERT_DELIVERY_ATTEMPT_RESULTS:
            self.alert_delivery_attempts.labels(result=result)
