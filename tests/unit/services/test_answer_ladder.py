"""The degradation ladder of AnswerService, with a hand-written fake Provider at the edge and
the real ledger (memory store), breakers, cache and runbook index."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from app.budget.ledger import Ledger
from app.budget.replay import SpendRecorder
from app.budget.spool import SettleSpool
from app.budget.stores.memory import MemoryStore
from app.cache import MemoryAnswerCache, MemorySemanticCache, SingleFlight
from app.clock import ManualClock
from app.config import BUNDLED_RUNBOOKS, Policy, parse_policy
from app.errors import (
    BudgetExceededError,
    InvalidQuestionError,
    ServiceUnavailableError,
    UnknownModelError,
    UpstreamError,
)
from app.llm.base import Cited, Completion, CompletionRequest, TextPart, Usage
from app.metrics import Metrics
from app.resilience.registry import BreakerRegistry, MetricsBreakerListener
from app.runbooks.loader import load_runbooks
from app.runbooks.search import RunbookIndex
from app.services.answer import AnswerService
from app.services.paid_call import PaidCaller

PRIMARY = "claude-sonnet-4-6"
FALLBACK = "claude-haiku-4-5-20251001"
INDEX = RunbookIndex(load_runbooks(BUNDLED_RUNBOOKS))
Q = "pod OOMKilled, what now?"


class FakeProvider:
    """Answers or fails per model, and records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[CompletionRequest] = []
        self.failures: dict[str, UpstreamError] = {}
        self.reply = "Raise the memory limit. [runbook: pod-oomkilled]"

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls.append(request)
        if request.model in self.failures:
            raise self.failures[request.model]
        # cites the first document it was sent, as the citations API does
        quote = request.documents[0].text[:40] if request.documents else ""
        return Completion(self.reply, request.model, Usage(input_tokens=1000, output_tokens=200),
                          parts=(TextPart(self.reply, (Cited(0, quote),) if quote else ()),))

    async def stream(self, request: CompletionRequest,
                     on_delta: Callable[[str], None]) -> Completion:
        """The whole reply as one delta (the ladder's tests do not stream)."""
        completion = await self.complete(request)
        on_delta(completion.text)
        return completion

    async def aclose(self) -> None:
        pass


class Harness:
    def __init__(self, policy_yaml: str = "", flight: SingleFlight | None = None) -> None:
        """`flight`: a SingleFlight with Redis leases (tests/integration); in-process by
        default."""
        self.clock = ManualClock()
        self.metrics = Metrics(CollectorRegistry())
        self.policy: Policy = parse_policy(policy_yaml)
        self.provider = FakeProvider()
        self.ledger = Ledger(MemoryStore(), self.clock, 60, metrics=self.metrics)
        self.breakers = BreakerRegistry(self.policy.breaker, self.clock,
                                        MetricsBreakerListener(self.metrics))
        self.cache = MemoryAnswerCache(self.policy.cache, self.clock)
        # The memory store never fails, so nothing is ever spooled: the spool file (created on
        # first use only) is never made.
        spool = SettleSpool(Path(tempfile.gettempdir()) / f"unused-spool-{uuid.uuid4().hex}")
        recorder = SpendRecorder(self.ledger, spool, self.metrics, self.clock)
        paid = PaidCaller(provider=self.provider, ledger=self.ledger, breakers=self.breakers,
                          metrics=self.metrics, clock=self.clock, recorder=recorder)
        self.semantic = MemorySemanticCache(self.policy.cache, self.clock)
        self.service = AnswerService(policy=lambda: self.policy, index=lambda: INDEX,
                                     cache=self.cache, metrics=self.metrics, clock=self.clock,
                                     paid=paid, semantic=self.semantic,
                                     flight=flight or SingleFlight(self.policy.cache))

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def h() -> Harness:
    return Harness()


Make = Callable[[str], Harness]


async def test_primary_answers_and_costs_exactly(h: Harness) -> None:
    answer = await h.service.ask(Q)
    assert answer.model == PRIMARY and answer.degraded is None and not answer.cached
    assert answer.sources[0] == "pod-oomkilled"
    assert answer.cost_usd == pytest.approx(1000 * 3 / 1e6 + 200 * 15 / 1e6)
    spent = {w.window: w.spent_usd for w in await h.ledger.snapshot(h.policy.budgets)}
    assert spent["hourly"] == pytest.approx(answer.cost_usd)


async def test_second_ask_is_a_cache_hit_without_an_upstream_call(h: Harness) -> None:
    await h.service.ask(Q)
    again = await h.service.ask("POD oomkilled what now")
    assert again.cached and again.cost_usd == 0
    assert len(h.provider.calls) == 1
    assert h.sample("ai_cache_ops_total", result="hit") == 1


async def test_primary_failure_falls_back_to_the_cheaper_model(h: Harness) -> None:
    h.provider.failures[PRIMARY] = UpstreamError("boom", kind="server_error", status=500)
    answer = await h.service.ask(Q)
    assert answer.model == FALLBACK
    assert answer.degraded is not None and answer.degraded.mode == "fallback_model"
    assert answer.degraded.reason == "upstream_error"
    assert h.sample("ai_degraded_responses_total", mode="fallback_model") == 1


async def test_both_models_down_serves_runbook_excerpts_at_zero_cost(h: Harness) -> None:
    for model in (PRIMARY, FALLBACK):
        h.provider.failures[model] = UpstreamError("overloaded", kind="overloaded", status=529)
    answer = await h.service.ask(Q)
    assert answer.model == "offline" and answer.cost_usd == 0
    assert answer.degraded is not None and answer.degraded.mode == "offline"
    assert "pod-oomkilled" in answer.answer
    reserved = {w.window: w.reserved_usd for w in await h.ledger.snapshot(h.policy.budgets)}
    assert reserved["hourly"] == 0  # failed calls released their reservations


async def test_stale_cache_beats_excerpts_when_the_llm_is_down(h: Harness) -> None:
    await h.service.ask(Q)
    h.clock.advance(h.policy.cache.ttl_seconds + 1)  # the entry is now stale
    for model in (PRIMARY, FALLBACK):
        h.provider.failures[model] = UpstreamError("t", kind="timeout")
    answer = await h.service.ask(Q)
    assert answer.cached and answer.degraded is not None
    assert answer.degraded.mode == "stale_cache" and answer.degraded.reason == "upstream_error"


async def test_open_breaker_is_not_called_at_all() -> None:
    h = Harness("breaker: {minimum_calls: 2, window_size: 2}\n"
                "routing: {default_model: claude-sonnet-4-6, fallback_model: null}")
    h.provider.failures[PRIMARY] = UpstreamError("down", kind="server_error", status=500)
    for i in range(2):
        await h.service.ask(f"CrashLoopBackOff attempt {i}")
    assert h.breakers.get(PRIMARY).state == "open"
    calls = len(h.provider.calls)
    answer = await h.service.ask("ImagePullBackOff on deploy")
    assert len(h.provider.calls) == calls
    assert answer.degraded is not None and answer.degraded.reason == "circuit_open"


async def test_request_caused_4xx_does_not_open_the_breaker() -> None:
    h = Harness("breaker: {minimum_calls: 2, window_size: 2}")
    h.provider.failures[PRIMARY] = UpstreamError("bad", kind="bad_request", status=400)
    for i in range(5):
        await h.service.ask(f"CrashLoopBackOff attempt {i}")
    assert h.breakers.get(PRIMARY).state == "closed"


async def test_exhausted_budget_degrades_for_free_and_names_the_window() -> None:
    h = Harness("budgets: {hourly_usd: 0}")
    answer = await h.service.ask(Q)
    assert answer.model == "offline" and answer.cost_usd == 0
    assert answer.degraded is not None and answer.degraded.reason == "budget_exhausted"
    assert h.provider.calls == []
    assert h.sample("ai_budget_rejections_total", window="hourly") == 2  # primary + fallback


async def test_without_free_rungs_budget_exhaustion_is_a_429_error() -> None:
    h = Harness("budgets: {hourly_usd: 0}\ndegradation: {offline: false, stale_cache: false}")
    with pytest.raises(BudgetExceededError) as info:
        await h.service.ask(Q)
    assert info.value.window == "hourly" and info.value.retry_after_seconds > 0


async def test_without_free_rungs_an_open_breaker_is_a_503() -> None:
    h = Harness("breaker: {minimum_calls: 1, window_size: 1}\n"
                "degradation: {offline: false, stale_cache: false}\n"
                "routing: {default_model: claude-sonnet-4-6, fallback_model: null}")
    h.provider.failures[PRIMARY] = UpstreamError("down", kind="server_error", status=500)
    with pytest.raises(UpstreamError):
        await h.service.ask("CrashLoopBackOff")
    with pytest.raises(ServiceUnavailableError) as info:
        await h.service.ask("ImagePullBackOff")
    assert info.value.retry_after_seconds > 0


async def test_max_tokens_is_clamped_to_the_per_request_limit() -> None:
    # A limit the retrieved context (the whole best runbook's sections) fits, with little room
    # left for the answer.
    h = Harness("budgets: {per_request_usd: 0.02}")
    await h.service.ask(Q)
    request = h.provider.calls[0]
    assert request.model == PRIMARY
    assert request.max_tokens < 1024
    # worst case: every input token at the dearest (1h cache write) price + output at $15/M
    assert request.max_tokens * 15 / 1e6 <= 0.02


async def test_the_model_says_it_cannot_answer_counts_and_is_not_cached(h: Harness) -> None:
    h.provider.reply = "I don't have information about that in the runbooks."
    first = await h.service.ask(Q)
    second = await h.service.ask(Q)
    assert first.no_answer and second.no_answer
    assert len(h.provider.calls) == 2  # nothing was cached


async def test_off_topic_question_costs_nothing_and_calls_no_llm(h: Harness) -> None:
    answer = await h.service.ask("how do I bake a sourdough cake")
    assert answer.no_answer and h.provider.calls == []


@pytest.mark.parametrize(
    ("question", "model", "error"),
    [("   ", None, InvalidQuestionError), ("x" * 2001, None, InvalidQuestionError),
     (Q, "gpt-4", UnknownModelError)],
)
async def test_validation(h: Harness, question: str, model: str | None,
                          error: type[Exception]) -> None:
    with pytest.raises(error):
        await h.service.ask(question, model)


async def test_a_policy_reload_mid_flight_does_not_mix_policies(h: Harness) -> None:
    # The service reads the policy once per ask; swapping it afterwards changes the next ask.
    await h.service.ask(Q)
    h.policy = parse_policy("budgets: {hourly_usd: 0}")
    answer = await h.service.ask("CrashLoopBackOff restarts")
    assert answer.degraded is not None and answer.degraded.reason == "budget_exhausted"
