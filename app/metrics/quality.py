"""Answer quality: how much of each LLM-written answer is backed by a runbook citation, and the
citations the service refused to pass on (issue 18, "answers you can check")."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from app.metric_labels import CITATION_REJECTIONS, GROUNDED_BUCKETS, OFFLINE_MODEL_LABEL


class QualityMetrics:
    def _register_quality(self, r: CollectorRegistry) -> None:
        # Observed once per answer an LLM wrote (not cache hits, not no-answers).
        self.grounded_ratio = Histogram(
            "ai_answer_grounded_ratio",
            "Share of an answer's text backed by a runbook citation (0..1), by model.",
            ["model"], buckets=GROUNDED_BUCKETS, registry=r,
        )
        # A failure counter and its total: ungrounded / graded is the alert's ratio.
        self.answers_graded = Counter(
            "ai_answers_graded",
            "Answers whose grounded share was measured, by model.", ["model"], registry=r,
        )
        self.ungrounded_answers = Counter(
            "ai_ungrounded_answers",
            "Graded answers whose grounded share was below quality.min_grounded_share (marked "
            "grounded: false, never cached), by model.", ["model"], registry=r,
        )
        self.citations_rejected = Counter(
            "ai_citations_rejected",
            "Citations from the model that were dropped: outside the documents sent, or quoted "
            "text that is not in the runbook.", ["reason"], registry=r,
        )

    def _init_quality(self) -> None:
        for reason in CITATION_REJECTIONS:
            self.citations_rejected.labels(reason=reason)
        # The offline rung has no policy entry, so its series start here; the policy's
        # models start in init_model.
        self.init_model_quality(OFFLINE_MODEL_LABEL)

    def init_model_quality(self, model: str) -> None:
        """Create a model's quality series at 0 (called for each model in the active policy)."""
        self.grounded_ratio.labels(model=model)
        self.answers_graded.labels(model=model)
        self.ungrounded_answers.labels(model=model)
