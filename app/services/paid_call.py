"""One paid LLM call, with the money and the breaker around it:

estimate -> breaker permit -> clamp max_tokens to the per-request limit -> reserve the worst case
in the ledger (the global windows and the caller's team's, one atomic step: app/budget/scopes.py)
-> provider call with timeout -> settle the actual cost (or release) -> record the
breaker outcome and the metrics. Every exit path settles or releases the reservation.

Money is never freed on a guess. A call that was SENT and ended without usage (a timeout after
sending, a connection dropped mid-response, the request cancelled while the call was in flight:
the HTTP client went away, shutdown) may be billed by Anthropic, so it is settled at its reserved
worst case and flagged as estimated (UpstreamError.estimated_cost_usd, the summary log line,
ai_cost_estimated_usd_total, ai_estimated_settlements_total{reason}). Only an error that proves
nothing was billed (never connected, or an error status from the upstream) releases it at $0.
Settling runs shielded: a cancelled request still writes down its spend. A settle the ledger
cannot take is spooled on disk and replayed later (app/budget/replay.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from app.budget.ledger import Ledger, Reservation
from app.budget.pricing import clamp_max_tokens, cost_usd, estimate_input_tokens, worst_case_usd
from app.budget.replay import SpendRecorder
from app.budget.scopes import caller_scopes, per_request_cap
from app.clock import Clock
from app.config import Policy
from app.config.teams import GLOBAL_SCOPE
from app.errors import BudgetExceededError, LedgerUnavailableError, UpstreamError
from app.llm.base import Completion, CompletionRequest, Document, Provider
from app.logs import add_log_fields, log_fields
from app.metrics import Metrics
from app.ratelimit.tokens_used import add_tokens
from app.resilience.breaker import Permit
from app.resilience.hold import bounded_retry_after
from app.resilience.registry import BreakerRegistry
from app.resilience.upstream_auth import UpstreamAuthTracker

log = logging.getLogger("app.paid_call")
DeltaSink = Callable[[str], None]
# A call given less than this share of llm.timeout_seconds (earlier rungs used the rest) was cut
# short by the request's deadline: its timeout says little about the upstream, so the breaker
# does not count it.
CUT_SHORT_FRACTION = 0.9
# A reservation is held for the call's timeout plus this (the provider's hard deadline is 0.5 s
# past the timeout, and the settle follows): it must not lapse while the call can still cost.
RESERVATION_MARGIN_SECONDS = 5.0
# What the API adds to the input that is not in our text, so the worst case covers it: the
# tool-use system prompt Anthropic documents (~350 tokens with tool_choice auto) with our tool's
# definition, and each document's framing (title, context, the citations' chunking markers).
TOOLS_OVERHEAD_TOKENS = 500
DOCUMENT_OVERHEAD_TOKENS = 40


def estimate_request_tokens(system: str, prompt: str, documents: tuple[Document, ...]) -> int:
    """An upper bound on the input tokens of one call (see estimate_input_tokens)."""
    if not documents:
        return estimate_input_tokens(system + prompt)
    text = system + prompt + "".join(d.title + d.context + d.text for d in documents)
    return (estimate_input_tokens(text) + TOOLS_OVERHEAD_TOKENS
            + DOCUMENT_OVERHEAD_TOKENS * len(documents))


@dataclass(frozen=True)
class PaidAnswer:
    completion: Completion
    cost_usd: float


class PaidCaller:
    def __init__(
        self,
        *,
        provider: Provider,
        ledger: Ledger,
        breakers: BreakerRegistry,
        metrics: Metrics,
        clock: Clock,
        recorder: SpendRecorder,
        auth: UpstreamAuthTracker | None = None,
    ) -> None:
        self._provider = provider
        self._ledger = ledger
        self._breakers = breakers
        self._metrics = metrics
        self._clock = clock
        self._recorder = recorder
        # 401/403: not the breaker's business (the API is up), but loud (upstream_auth.py).
        self.auth = auth if auth is not None else UpstreamAuthTracker(clock)

    async def call(
        self, model: str, system: str, prompt: str, policy: Policy,
        *, timeout_seconds: float | None = None, documents: tuple[Document, ...] = (),
        on_delta: DeltaSink | None = None, team: str | None = None,
    ) -> PaidAnswer:
        """`timeout_seconds`: what is left of the request's deadline (default: the policy's).
        `on_delta`: stream the call, each text delta to it as it arrives. The money is the same
        either way: a stream cut by the client (cancelled), the upstream (a dropped connection)
        or the deadline ended without the final usage, so it settles at the reserved worst case
        (the tokens billed so far are not knowable); a completed stream settles its usage.
        `team`: the caller's team; its windows are held with the global ones, and the lower of
        the two per-request limits caps the call. Every paid call passes here, so no route
        (/ask, streaming, /alerts) nor rung (fallback model) spends outside that check."""
        price = policy.models[model]
        timeout = policy.llm.timeout_seconds
        if timeout_seconds is not None and timeout_seconds < timeout:
            timeout = timeout_seconds
        cut_short = timeout < CUT_SHORT_FRACTION * policy.llm.timeout_seconds
        input_tokens = estimate_request_tokens(system, prompt, documents)
        # The breaker first: an OPEN one refuses in microseconds, before two durable ledger
        # writes (reserve, release) that an outage would otherwise pay on every request.
        permit = self._breakers.get(model).acquire()
        try:
            scopes = caller_scopes(policy, team, self._clock.now())
            cap_usd, cap_scope = per_request_cap(scopes)
            # The context is sent cacheable, so an input token may bill as a cache write.
            max_tokens = clamp_max_tokens(
                input_tokens, policy.llm.max_tokens, price, cap_usd,
                prompt_caching=True, scope=cap_scope,
            )
            reservation = await self._ledger.reserve(
                worst_case_usd(input_tokens, max_tokens, price, prompt_caching=True),
                scopes, hold_seconds=timeout + RESERVATION_MARGIN_SECONDS,
            )
        except BaseException as exc:
            permit.ignore()  # nothing was sent: frees a half-open trial, says nothing of upstream
            if isinstance(exc, BudgetExceededError):
                # A team's own windows are counted by the ledger (ai_team_budget_rejections_total);
                # its per-request cap never reaches the ledger, so it is counted here.
                if exc.scope == GLOBAL_SCOPE:
                    self._metrics.budget_rejections.labels(window=exc.window).inc()
                elif exc.window == "per_request":
                    self._metrics.count_team_rejection(exc.scope, exc.window)
                add_log_fields(budget_scope=exc.scope, budget_window=exc.window)
            raise
        settled = False
        try:
            try:
                completion = await self._invoke(permit, model, CompletionRequest(
                    model=model, system=system, prompt=prompt, max_tokens=max_tokens,
                    timeout_seconds=timeout, documents=documents,
                ), cut_short=cut_short, on_delta=on_delta)
            except UpstreamError as exc:
                # The client's Retry-After, if no rung answers: capped as the breaker caps its
                # hold (a 429 hinting "a year" told clients a year, and the next request 60 s)
                exc.retry_after_seconds = bounded_retry_after(
                    exc.retry_after_seconds, policy.breaker.max_retry_after_seconds)
                if exc.maybe_billed:
                    settled = True
                    add_tokens(input_tokens + max_tokens)  # as the budget: the worst case
                    await self._settle_estimated(model, reservation, exc.kind)
                    exc.estimated_cost_usd = reservation.amount_usd
                raise
            except asyncio.CancelledError:
                settled = True
                add_tokens(input_tokens + max_tokens)
                await self._settle_estimated(model, reservation, "cancelled")
                raise
            cost = cost_usd(completion.usage, price)
            settled = True
            # the caller's tokens per minute: what the model processed (cache reads left out,
            # as Anthropic's own input-token limits leave them out)
            u = completion.usage
            add_tokens(u.input_tokens + u.cache_write_tokens + u.output_tokens)
            self._record_usage(model, completion, cost)  # spent, even if cancelled just below
            await asyncio.shield(self._recorder.record(reservation, cost, estimated=False))
            return PaidAnswer(completion, cost)
        finally:
            if not settled:
                await self._release(reservation)

    async def _settle_estimated(self, model: str, reservation: Reservation, reason: str) -> None:
        """Sent, maybe billed, cost unknown: settle at the reserved worst case (shielded, so a
        cancelled request still records it), and say so in the metrics and the summary line."""
        amount = reservation.amount_usd
        self._metrics.cost_usd.labels(model=model).inc(amount)
        self._metrics.cost_estimated_usd.labels(model=model).inc(amount)
        self._metrics.estimated_settlements.labels(model=model, reason=reason).inc()
        fields = log_fields()
        add_log_fields(cost_estimated=True, estimate_reason=reason,
                       estimated_cost_usd=round(
                           float(fields.get("estimated_cost_usd", 0.0)) + amount, 9))
        log.warning("paid call settled at its reserved worst case: sent, no usage came back",
                    extra={"fields": {"model": model, "reason": reason,
                                      "estimated_cost_usd": amount,
                                      "reservation": reservation.id}})
        await asyncio.shield(self._recorder.record(reservation, amount, estimated=True))

    async def _invoke(
        self, permit: Permit, model: str, request: CompletionRequest, *, cut_short: bool,
        on_delta: DeltaSink | None = None,
    ) -> Completion:
        started = self._clock.monotonic()
        try:
            if on_delta is None:
                completion = await self._provider.complete(request)
            else:
                completion = await self._provider.stream(
                    request, self._first_chunk_timer(model, started, on_delta))
        except UpstreamError as exc:
            elapsed = self._clock.monotonic() - started
            if exc.counts_as_failure and not (cut_short and exc.kind == "timeout"):
                permit.failure(elapsed, exc.retry_after_seconds)
            else:
                permit.ignore()
            if exc.kind == "auth":
                self.auth.failure(model, exc.status, exc.detail)
            self._metrics.upstream_requests.labels(model=model, outcome=exc.kind).inc()
            self._metrics.upstream_seconds.labels(model=model).observe(elapsed)
            raise
        except BaseException:
            permit.ignore()  # cancelled (client went away, shutdown): says nothing of upstream
            raise
        elapsed = self._clock.monotonic() - started
        permit.success(elapsed)
        self.auth.success(model)
        self._metrics.upstream_requests.labels(model=model, outcome="success").inc()
        self._metrics.upstream_seconds.labels(model=model).observe(elapsed)
        return completion

    def _first_chunk_timer(self, model: str, started: float, on_delta: DeltaSink) -> DeltaSink:
        """`on_delta` that also observes the time to the first text delta."""
        first = True

        def sink(text: str) -> None:
            nonlocal first
            if first:
                first = False
                self._metrics.first_chunk_seconds.labels(model=model).observe(
                    self._clock.monotonic() - started)
            on_delta(text)

        return sink

    async def _release(self, reservation: Reservation) -> None:
        # A failure is counted by the ledger; the reservation then lapses at its expiry.
        with contextlib.suppress(LedgerUnavailableError):
            await asyncio.shield(self._ledger.release(reservation))

    def _record_usage(self, model: str, completion: Completion, cost: float) -> None:
        m, u = self._metrics, completion.usage
        for direction, n in (("input", u.input_tokens), ("output", u.output_tokens),
                             ("cache_read", u.cache_read_tokens),
                             ("cache_write", u.cache_write_tokens)):
            m.tokens.labels(model=model, direction=direction).inc(n)
        m.cost_usd.labels(model=model).inc(cost)
        for kind, reading in completion.rate_limits.items():
            if reading.remaining is not None:
                m.ratelimit_remaining.labels(model=model, kind=kind).set(reading.remaining)
            if reading.limit is not None:
                m.ratelimit_limit.labels(model=model, kind=kind).set(reading.limit)
