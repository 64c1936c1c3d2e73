"""Every Prometheus instrument of the service, in one place, against an injectable registry.

Label values are bounded: `endpoint` is a route template (or "unmatched"), `model` comes from the
policy's allowlist (or "offline"), `status` is a numeric code, the rest are small enums listed
in app/metric_labels.py. Tests build `Metrics(CollectorRegistry())` and read samples with
`get_sample_value`.

One class, `Metrics`, holds them all; its parts are defined by area in this package (answers,
quality, upstream, money, teams, configuration, alerts, rate limits), each creating its instruments
and starting its known label sets at 0, so rate() and absent() work from the first scrape. The
process's own series (`process_*`, `python_gc_*`, `python_info`) come from process.py.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.metrics.alerts import AlertMetrics
from app.metrics.answers import AnswerMetrics
from app.metrics.configuration import ConfigurationMetrics
from app.metrics.money import MoneyMetrics
from app.metrics.process import register_process
from app.metrics.quality import QualityMetrics
from app.metrics.ratelimit import RateLimitMetrics
from app.metrics.teams import TeamMetrics
from app.metrics.upstream import UpstreamMetrics


class Metrics(AnswerMetrics, QualityMetrics, UpstreamMetrics, MoneyMetrics, TeamMetrics,
              ConfigurationMetrics, AlertMetrics, RateLimitMetrics):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._register_answers(registry)
        self._register_quality(registry)
        self._register_upstream(registry)
        self._register_money(registry)
        self._register_teams(registry)
        self._register_configuration(registry)
        self._register_alerts(registry)
        self._register_rate_limits(registry)
        register_process(registry)
        self._init_answers()
        self._init_quality()
        self._init_money()
        self._init_teams()
        self._init_configuration()
        self._init_alerts()
        self._init_rate_limits()

    def init_model(self, model: str) -> None:
        """Create a policy model's series at 0: tokens, cost, upstream (UpstreamMetrics) and
        answer quality."""
        super().init_model(model)
        self.init_model_quality(model)


__all__ = ["Metrics"]
