"""One paid LLM call, with the money and the breaker around it:

estimate -> breaker permit -> clamp max_tokens to the per-request limit -> reserve the worst case
in the ledger -> provider call with timeout -> settle the actual cost (or release) -> record the
breaker outcome and the metrics. Every exit path settles or releases the reservation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from app.budget.ledger import Ledger, Reservation
from app.budget.pricing import clamp_max_tokens, cost_usd, estimate_input_tokens, worst_case_usd
from app.clock import Clock
from app.config import Policy
from app.errors import BudgetExceededError, LedgerUnavailableError, UpstreamError
from app.llm.base import Completion, CompletionRequest, Provider
from app.metrics import Metrics
from app.resilience.breaker import Permit
from app.resilience.registry import BreakerRegistry

log = logging.getLogger("app.paid_call")
# A call given less than this share of llm.timeout_seconds (earlier rungs used the rest) was cut
# short by the request's deadline: its timeout says little about the upstream, so the breaker
# does not count it.
CUT_SHORT_FRACTION = 0.9
# A reservation is held for the call's timeout plus this (the provider's hard deadline is 0.5 s
# past the timeout, and the settle follows): it must not lapse while the call can still cost.
RESERVATION_MARGIN_SECONDS = 5.0


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
    ) -> None:
        self._provider = provider
        self._ledger = ledger
        self._breakers = breakers
        self._metrics = metrics
        self._clock = clock

    async def call(
        self, model: str, system: str, prompt: str, policy: Policy,
        *, timeout_seconds: float | None = None,
    ) -> PaidAnswer:
        """`timeout_seconds`: what is left of the request's deadline (default: the policy's)."""
        price = policy.models[model]
        timeout = policy.llm.timeout_seconds
        if timeout_seconds is not None and timeout_seconds < timeout:
            timeout = timeout_seconds
        cut_short = timeout < CUT_SHORT_FRACTION * policy.llm.timeout_seconds
        input_tokens = estimate_input_tokens(system + prompt)
        # The breaker first: an OPEN one refuses in microseconds, before two durable ledger
        # writes (reserve, release) that an outage would otherwise pay on every request.
        permit = self._breakers.get(model).acquire()
        try:
            # The system prompt is sent cacheable, so an input token may bill as a cache write.
            max_tokens = clamp_max_tokens(
                input_tokens, policy.llm.max_tokens, price, policy.budgets.per_request_usd,
                prompt_caching=True,
            )
            reservation = await self._ledger.reserve(
                worst_case_usd(input_tokens, max_tokens, price, prompt_caching=True),
                policy.budgets, hold_seconds=timeout + RESERVATION_MARGIN_SECONDS,
            )
        except BaseException as exc:
            permit.ignore()  # nothing was sent: frees a half-open trial, says nothing of upstream
            if isinstance(exc, BudgetExceededError):
                self._metrics.budget_rejections.labels(window=exc.window).inc()
            raise
        settled = False
        try:
            completion = await self._invoke(permit, model, CompletionRequest(
                model=model, system=system, prompt=prompt, max_tokens=max_tokens,
                timeout_seconds=timeout,
            ), cut_short=cut_short)
            cost = cost_usd(completion.usage, price)
            await self._settle(reservation, cost)
            settled = True
            self._record_usage(model, completion, cost)
            return PaidAnswer(completion, cost)
        finally:
            if not settled:
                await self._release(reservation)

    async def _invoke(
        self, permit: Permit, model: str, request: CompletionRequest, *, cut_short: bool
    ) -> Completion:
        started = self._clock.monotonic()
        try:
            completion = await self._provider.complete(request)
        except UpstreamError as exc:
            elapsed = self._clock.monotonic() - started
            if exc.counts_as_failure and not (cut_short and exc.kind == "timeout"):
                permit.failure(elapsed, exc.retry_after_seconds)
            else:
                permit.ignore()
            self._metrics.upstream_requests.labels(model=model, outcome=exc.kind).inc()
            self._metrics.upstream_seconds.labels(model=model).observe(elapsed)
            raise
        except BaseException:
            permit.ignore()  # cancelled (client went away, shutdown): says nothing of upstream
            raise
        elapsed = self._clock.monotonic() - started
        permit.success(elapsed)
        self._metrics.upstream_requests.labels(model=model, outcome="success").inc()
        self._metrics.upstream_seconds.labels(model=model).observe(elapsed)
        return completion

    async def _settle(self, reservation: Reservation, cost: float) -> None:
        try:
            await self._ledger.settle(reservation, cost)
        except LedgerUnavailableError:  # counted by the ledger itself
            # The money is spent whether or not we can write it down. The reservation (the
            # worst case, >= cost) keeps counting until it expires, so the window stays
            # conservative; say loudly that this spend is missing from the ledger.
            log.error("spend not recorded: ledger unavailable at settle",
                      extra={"fields": {"cost_usd": cost, "reservation": reservation.id}})

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
