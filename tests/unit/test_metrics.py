import pytest
from prometheus_client import CollectorRegistry

from app.llm.offline import OFFLINE_MODEL
from app.metric_labels import CACHE_RESULTS, DEGRADED_MODES, OFFLINE_MODEL_LABEL
from app.metrics import Metrics


def _m() -> Metrics:
    return Metrics(CollectorRegistry())


def test_known_label_sets_start_at_zero() -> None:
    m = _m()
    for result in CACHE_RESULTS:
        assert m.registry.get_sample_value("ai_cache_ops_total", {"result": result}) == 0
    for mode in DEGRADED_MODES:
        assert m.registry.get_sample_value("ai_degraded_responses_total", {"mode": mode}) == 0


def test_init_model_creates_token_cost_and_outcome_series() -> None:
    m = _m()
    m.init_model("claude-x")
    r = m.registry
    assert r.get_sample_value("ai_tokens_total", {"model": "claude-x", "direction": "output"}) == 0
    assert r.get_sample_value("ai_cost_usd_total", {"model": "claude-x"}) == 0
    labels = {"model": "claude-x", "outcome": "timeout"}
    assert r.get_sample_value("ai_upstream_requests_total", labels) == 0
    assert r.get_sample_value("gen_ai_client_operation_time_to_first_chunk_seconds_count",
                              {"model": "claude-x"}) == 0


def test_breaker_state_is_one_hot() -> None:
    m = _m()
    m.set_breaker_state("x", "open")
    m.set_breaker_state("x", "half_open")
    values = {s: m.registry.get_sample_value("ai_circuit_breaker_state",
                                             {"model": "x", "state": s})
              for s in ("closed", "open", "half_open")}
    assert values == {"closed": 0, "open": 0, "half_open": 1}


def test_config_info_keeps_one_series_per_kind() -> None:
    m = _m()
    m.set_config_info("policy", 1, "aaa")
    m.set_config_info("runbooks", 1, "rrr")
    m.set_config_info("policy", 2, "bbb")
    r = m.registry
    assert r.get_sample_value("ai_config_info",
                              {"kind": "policy", "generation": "1", "hash": "aaa"}) is None
    assert r.get_sample_value("ai_config_info",
                              {"kind": "policy", "generation": "2", "hash": "bbb"}) == 1
    assert r.get_sample_value("ai_config_info",
                              {"kind": "runbooks", "generation": "1", "hash": "rrr"}) == 1


def test_money_series_start_at_zero() -> None:
    """Estimated settlements, truncated answers and the settle spool are visible (at 0) from
    the first scrape, so rate() and the spool alert work before anything happens."""
    m = _m()
    m.init_model("claude-x")
    r = m.registry
    assert r.get_sample_value("ai_cost_estimated_usd_total", {"model": "claude-x"}) == 0
    for reason in ("timeout", "connection", "cancelled"):
        assert r.get_sample_value("ai_estimated_settlements_total",
                                  {"model": "claude-x", "reason": reason}) == 0
    assert r.get_sample_value("ai_truncated_answers_total", {"model": "claude-x"}) == 0
    assert r.get_sample_value("ai_settle_spool_depth") == 0
    for result in ("spooled", "failed"):
        assert r.get_sample_value("ai_settle_spool_writes_total", {"result": result}) == 0
    for result in ("settled", "failed"):
        assert r.get_sample_value("ai_settle_spool_replays_total", {"result": result}) == 0


def test_dependency_counters_exist_without_a_guard_but_the_state_gauge_does_not() -> None:
    # AIRedisUnavailable reads the counters; a service without Redis exports them at 0, and no
    # breaker state it does not have.
    r = _m().registry
    for outcome in ("success", "failure"):
        labels = {"dependency": "redis", "outcome": outcome}
        assert r.get_sample_value("ai_dependency_calls_total", labels) == 0
    assert r.get_sample_value("ai_dependency_short_circuited_calls_total",
                              {"dependency": "redis"}) == 0
    assert r.get_sample_value("ai_dependency_breaker_state",
                              {"dependency": "redis", "state": "closed"}) is None


def test_alert_delivery_series_start_at_zero() -> None:
    # A dead-letter alert can use rate() from the first scrape, before any alert was delivered.
    r = _m().registry
    for outcome in ("delivered", "dead_letter"):
        assert r.get_sample_value("ai_alert_deliveries_total", {"outcome": outcome}) == 0
    for result in ("success", "retryable", "rejected"):
        assert r.get_sample_value("ai_alert_delivery_attempts_total", {"result": result}) == 0
    assert r.get_sample_value("ai_alert_delivery_queue_depth") == 0


def test_answer_quality_series_start_at_zero_for_each_policy_model_and_offline() -> None:
    # Issue 18's contract with the answer pipeline: these names, labels and buckets. The alert
    # AIUngroundedAnswerRatioHigh and the dashboard read them; rate() works from the first
    # scrape because every known label set exists at 0.
    m = _m()
    m.init_model("claude-x")
    r = m.registry
    for model in ("claude-x", OFFLINE_MODEL):
        labels = {"model": model}
        assert r.get_sample_value("ai_answers_graded_total", labels) == 0
        assert r.get_sample_value("ai_ungrounded_answers_total", labels) == 0
        assert r.get_sample_value("ai_answer_grounded_ratio_count", labels) == 0
        for le in ("0.0", "0.1", "0.25", "0.5", "0.6", "0.7", "0.8", "0.9", "0.95", "1.0", "+Inf"):
            assert r.get_sample_value("ai_answer_grounded_ratio_bucket",
                                      {**labels, "le": le}) == 0, le
    for reason in ("outside_documents", "text_mismatch"):
        assert r.get_sample_value("ai_citations_rejected_total", {"reason": reason}) == 0
    # A model the policy does not name has no series until something observes it.
    assert r.get_sample_value("ai_answers_graded_total", {"model": "claude-y"}) is None


def test_answer_quality_instruments_are_the_contracts_attributes() -> None:
    m = _m()
    m.grounded_ratio.labels(model="claude-x").observe(0.3)
    m.answers_graded.labels(model="claude-x").inc()
    m.ungrounded_answers.labels(model="claude-x").inc()
    m.citations_rejected.labels(reason="text_mismatch").inc()
    r = m.registry
    assert r.get_sample_value("ai_answer_grounded_ratio_bucket",
                              {"model": "claude-x", "le": "0.25"}) == 0
    assert r.get_sample_value("ai_answer_grounded_ratio_bucket",
                              {"model": "claude-x", "le": "0.5"}) == 1
    assert r.get_sample_value("ai_answers_graded_total", {"model": "claude-x"}) == 1
    assert r.get_sample_value("ai_ungrounded_answers_total", {"model": "claude-x"}) == 1
    assert r.get_sample_value("ai_citations_rejected_total", {"reason": "text_mismatch"}) == 1


def test_the_offline_label_is_the_offline_rungs_model_name() -> None:
    assert OFFLINE_MODEL_LABEL == OFFLINE_MODEL


def test_the_break_glass_global_scope_label_is_the_policy_scope() -> None:
    """app/metrics imports nothing of app but metric_labels: the two strings must stay one."""
    from app.config.teams import GLOBAL_SCOPE
    from app.metrics.teams import GLOBAL_SCOPE_LABEL

    assert GLOBAL_SCOPE_LABEL == GLOBAL_SCOPE
    m = _m()
    m.set_teams(["payments", GLOBAL_SCOPE])  # "global" is a reserved team name: never a team
    assert m.teams == frozenset({"payments"})
    assert m.registry.get_sample_value("ai_team_spend_usd_total", {"team": "global"}) is None
    assert m.registry.get_sample_value("ai_break_glass_active", {"scope": "global"}) == 0


def _count_labels(metric: object) -> list[dict[str, str]]:
    """Record every `labels()` call on one instrument (the library's method, still run)."""
    calls: list[dict[str, str]] = []
    bound = metric.labels  # type: ignore[attr-defined]

    def labels(*args: str, **kwargs: str) -> object:
        calls.append(kwargs)
        return bound(*args, **kwargs)

    metric.labels = labels  # type: ignore[attr-defined]
    return calls


def test_http_requests_bind_their_label_children_once_per_endpoint_and_status() -> None:
    m = _m()
    counted, timed = _count_labels(m.requests), _count_labels(m.request_seconds)
    for _ in range(3):
        m.http_request("/ask", 200, 0.002)
    m.http_request("/ask", 429, 0.001)
    r = m.registry
    assert r.get_sample_value("ai_requests_total", {"endpoint": "/ask", "status": "200"}) == 3
    assert r.get_sample_value("ai_requests_total", {"endpoint": "/ask", "status": "429"}) == 1
    assert r.get_sample_value("ai_request_seconds_count", {"endpoint": "/ask"}) == 4
    seconds = r.get_sample_value("ai_request_seconds_sum", {"endpoint": "/ask"})
    assert seconds == pytest.approx(0.007)
    assert counted == [{"endpoint": "/ask", "status": "200"}, {"endpoint": "/ask", "status": "429"}]
    assert len(timed) == 2  # one child, looked up per (endpoint, status): still not per request


def test_answers_bind_their_model_child_once() -> None:
    m = _m()
    calls = _count_labels(m.answers)
    for _ in range(3):
        m.answer_served("claude-x")
    assert m.registry.get_sample_value("ai_answers_total", {"model": "claude-x"}) == 3
    assert calls == [{"model": "claude-x"}]


def test_semantic_vetoes_count_every_vetoed_candidate_by_reason() -> None:
    m = _m()
    m.semantic_vetoes(["entity", "opposite", "entity"])
    m.semantic_vetoes([])
    sample = m.registry.get_sample_value
    assert sample("ai_semantic_cache_rejected_total", {"reason": "entity"}) == 2
    assert sample("ai_semantic_cache_rejected_total", {"reason": "opposite"}) == 1
