"""Runtime: every long-lived object of one process, built from Settings, started and stopped by
the FastAPI lifespan. The HTTP layer reaches it through app.state; nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from redis.asyncio import Redis

from app.alerts.delivery import Delivery
from app.alerts.hook import delivery_hook
from app.api_keys import ApiKeys
from app.budget.ledger import Ledger, WindowState, open_ledger
from app.budget.redis_eviction import EvictionWatch
from app.budget.replay import SpendRecorder
from app.budget.reporting import (
    policy_scopes,
    refresh_budget_metrics,
    set_break_glass_metrics,
    set_limit_metrics,
)
from app.budget.spool import SettleSpool
from app.cache import (
    AnswerCache,
    FlightLeases,
    MemoryAnswerCache,
    MemorySemanticCache,
    RedisAnswerCache,
    RedisSemanticCache,
    SemanticCache,
    SingleFlight,
)
from app.clock import Clock
from app.config import AlertsPolicy, Settings
from app.config_watch.build import build_policy_watchers
from app.config_watch.file_watch import DirectoryWatcher
from app.config_watch.initial import starting_policy
from app.errors import LedgerUnavailableError
from app.llm.anthropic import AnthropicProvider
from app.llm.base import Provider
from app.metrics import Metrics
from app.policy_source import ActivePolicy, PolicyManager
from app.ratelimit import RateLimiter, RedisRateStore
from app.resilience.dependency import DependencyGuard
from app.resilience.redis_dependency import redact_redis_url, redis_client, redis_guard
from app.resilience.registry import BreakerRegistry, MetricsBreakerListener
from app.resilience.upstream_auth import UpstreamAuthTracker
from app.runbooks.holder import RunbookHolder
from app.services.alert_gate import AlertGate
from app.services.alert_records import AlertRecords
from app.services.alerts import AlertReceiver
from app.services.answer import AnswerService
from app.services.paid_call import PaidCaller

log = logging.getLogger("app.runtime")
VERSION = "0.1.0"
LEDGER_TIMEOUT_SECONDS = 2.0
# Queued answers get this long to reach the delivery webhook at shutdown, inside the pod's
# termination grace period; the rest are dead-lettered (counted, alerted on).
DELIVERY_DRAIN_SECONDS = 5.0


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    metrics: Metrics
    policies: PolicyManager
    runbooks: RunbookHolder
    ledger: Ledger
    ledger_kind: str
    cache: AnswerCache
    breakers: BreakerRegistry
    provider: Provider | None
    answers: AnswerService
    api_keys: ApiKeys
    spool: SettleSpool
    recorder: SpendRecorder
    redis: Redis | None = None
    redis_guard: DependencyGuard | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    semantic: SemanticCache | None = None
    flight: SingleFlight | None = None
    upstream_auth: UpstreamAuthTracker | None = None
    runbook_watcher: DirectoryWatcher | None = None
    alerts: AlertReceiver = field(init=False)
    alerts_records: AlertRecords = field(init=False)
    delivery: Delivery | None = field(init=False, default=None)
    rate_limiter: RateLimiter = field(init=False)

    @property
    def provider_name(self) -> str:
        return "anthropic" if self.provider is not None else "offline"

    @classmethod
    def build(cls, settings: Settings, clock: Clock, metrics: Metrics) -> Runtime:
        starting = starting_policy(settings, clock)
        policies = PolicyManager(starting.active, metrics, clock, rejected=starting.rejected)
        policy = policies.current.policy
        runbooks = RunbookHolder(settings.runbooks_dir, metrics,
                                 cache_dir=settings.embedding_cache_dir,
                                 max_bytes=settings.max_runbook_bytes)
        # The watcher's first look comes BEFORE the load: a runbook changed while the index
        # builds (seconds, at thousands of runbooks) is seen at its first poll. Looked at after
        # the load, that change was its starting point, and missed until the next one.
        runbook_watcher = DirectoryWatcher(settings.runbooks_dir, runbooks.reload,
                                           settings.watch_interval_seconds)
        runbooks.load()
        # One Redis server, one breaker: the ledger and the cache learn of an outage together.
        guard = redis_guard(clock, metrics) if settings.redis_url else None
        ledger = open_ledger(settings, clock, metrics=metrics, redis_guard=guard)
        redis = redis_client(settings.redis_url) if settings.redis_url else None
        cache: AnswerCache
        semantic: SemanticCache
        if redis is not None:
            on_error = lambda: metrics.cache_ops.labels(result="error").inc()  # noqa: E731
            cache = RedisAnswerCache(redis, policy.cache, clock, on_error=on_error, guard=guard)
            semantic = RedisSemanticCache(redis, policy.cache, clock, on_error=on_error,
                                          guard=guard)
            flight = SingleFlight(policy.cache, FlightLeases(redis, policy.cache, guard=guard,
                                                             on_error=on_error))
        else:
            cache = MemoryAnswerCache(policy.cache, clock)
            semantic = MemorySemanticCache(policy.cache, clock)
            flight = SingleFlight(policy.cache)
        breakers = BreakerRegistry(policy.breaker, clock, MetricsBreakerListener(metrics))
        spool = SettleSpool(settings.settle_spool_dir)
        recorder = SpendRecorder(ledger, spool, metrics, clock,
                                 interval_seconds=settings.spool_replay_interval_seconds)
        provider: Provider | None = None
        paid: PaidCaller | None = None
        upstream_auth: UpstreamAuthTracker | None = None
        if settings.anthropic_api_key is not None:
            upstream_auth = UpstreamAuthTracker(clock)
            provider = AnthropicProvider(settings.anthropic_api_key.get_secret_value(),
                                         base_url=settings.anthropic_base_url, clock=clock)
            paid = PaidCaller(provider=provider, ledger=ledger, breakers=breakers,
                              metrics=metrics, clock=clock, recorder=recorder,
                              auth=upstream_auth)
        answers = AnswerService(policy=lambda: policies.current.policy,
                                index=lambda: runbooks.current, cache=cache, metrics=metrics,
                                clock=clock, paid=paid, semantic=semantic, flight=flight)
        api_keys = ApiKeys(
            settings.api_keys.get_secret_value() if settings.api_keys else None,
            settings.api_keys_file, clock, metrics, settings.watch_interval_seconds)
        runtime = cls(settings, clock, metrics, policies, runbooks, ledger,
                      "redis" if settings.redis_url else "sqlite", cache, breakers, provider,
                      answers, api_keys, spool, recorder, redis, guard, semantic=semantic,
                      flight=flight, upstream_auth=upstream_auth,
                      runbook_watcher=runbook_watcher)
        # Per-key rate limits, shared through Redis when there is one (fail open: limiter.py).
        runtime.rate_limiter = RateLimiter(
            lambda: policies.current.policy.rate_limits, clock, metrics,
            RedisRateStore(settings.redis_url, guard) if settings.redis_url else None)
        # The Alertmanager receiver answers through the same AnswerService as /ask.
        def alert_policy() -> AlertsPolicy:
            return policies.current.policy.alerts

        runtime.alerts_records = AlertRecords(lambda: alert_policy().recent_max, redis, guard)
        runtime.alerts = AlertReceiver(
            answers=answers, gate=AlertGate(alert_policy, clock, redis, guard),
            records=runtime.alerts_records, metrics=metrics, clock=clock,
            policy=lambda: policies.current.policy, index=lambda: runbooks.current)
        runtime.delivery = Delivery.from_settings(settings, metrics)
        if runtime.delivery is not None:  # answers also POSTed to the configured webhook
            runtime.alerts.on_answer = delivery_hook(runtime.delivery)
        policies.subscribe(runtime._on_policy)
        runtime._on_policy(policies.current)
        metrics.service_info.info({"version": VERSION, "provider": runtime.provider_name,
                                   "ledger": runtime.ledger_kind})
        return runtime

    def _on_policy(self, active: ActivePolicy) -> None:
        """Apply a new policy to the parts that hold configuration."""
        policy = active.policy
        self.metrics.set_teams(policy.teams)  # the only team label values (app/metrics/teams.py)
        self.breakers.reconfigure(policy.breaker)
        self.cache.configure(policy.cache)
        if self.semantic is not None:
            self.semantic.configure(policy.cache)
        if self.flight is not None:
            self.flight.configure(policy.cache)
        for model in policy.allowed_models if self.provider is not None else ():
            self.metrics.init_model(model)
            self.breakers.get(model)  # so /circuit-breaker and the state gauge list it

    async def start(self) -> None:
        watchers = build_policy_watchers(self.settings, self.policies, self.metrics, self.clock)
        if self.runbook_watcher is not None:
            watchers.append(self.runbook_watcher)
        for watcher in watchers:
            self.tasks.append(asyncio.create_task(watcher.run(), name=type(watcher).__name__))
        self.alerts.start()
        if self.delivery is not None:
            self.delivery.start()
        if self.redis is not None and self.ledger_kind == "redis":
            watch = EvictionWatch(self.redis, self.metrics.ledger_evictable)
            self.tasks.append(asyncio.create_task(watch.run(), name="LedgerEvictionWatch"))
        ledger_reachable = await self._check_shared_ledger()
        await self._replay_spool()  # spend spooled before a crash or restart goes in first
        self.tasks.append(asyncio.create_task(self.recorder.run(), name="SettleSpoolReplay"))
        if self.api_keys.status().state == "open":
            log.warning("no client API keys configured: /ask, /cost and /circuit-breaker are "
                        "open to anyone who can reach this port (set SRE_AI_API_KEYS)")
        log.info("started", extra={"fields": {
            "provider": self.provider_name, "ledger": self.ledger_kind,
            "ledger_reachable": ledger_reachable,
            "policy_hash": self.policies.current.digest, "runbooks": len(self.runbooks.current)}})

    async def _check_shared_ledger(self) -> bool:
        """A Redis ledger is reached lazily; one ping here turns a typo in SRE_AI_REDIS_URL
        into a WARN at start-up instead of a quiet `started ledger=redis`. Not fatal: Redis may
        start after us (compose, a Helm install), and the pod serves cached answers and runbook
        excerpts meanwhile (see app/api/routes/health.py)."""
        if self.ledger_kind != "redis":
            return True
        try:
            async with asyncio.timeout(LEDGER_TIMEOUT_SECONDS * 2):
                await self.ledger.ping()
        except (LedgerUnavailableError, TimeoutError) as exc:
            why = exc.detail if isinstance(exc, LedgerUnavailableError) else "no answer in time"
            log.warning(
                "SRE_AI_REDIS_URL is unreachable at start-up: paid answers are refused (the "
                "ledger fails closed) and caches are this pod's own until Redis answers; check "
                "the host, port and password in SRE_AI_REDIS_URL",
                extra={"fields": {"setting": "SRE_AI_REDIS_URL",
                                  "redis_url": redact_redis_url(self.settings.redis_url or ""),
                                  "error": why}})
            return False
        return True

    async def _replay_spool(self) -> None:
        """Bounded: a ledger that hangs must not hold the start-up (the loop retries)."""
        try:
            async with asyncio.timeout(LEDGER_TIMEOUT_SECONDS * 5):
                settled = await self.recorder.replay_once()
        except Exception:
            log.exception("settle spool replay at start-up failed; the background loop retries")
            return
        if settled:
            log.info("settle spool replayed at start-up", extra={"fields": {"settled": settled}})

    async def stop(self) -> None:
        await self.alerts.stop()  # queued alerts are answered (bounded) while all else is up
        if self.delivery is not None:  # then their answers go out, within a bound
            await self.delivery.aclose(drain_seconds=DELIVERY_DRAIN_SECONDS)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.provider is not None:
            await self.provider.aclose()
        await self.cache.aclose()
        if self.semantic is not None:
            await self.semantic.aclose()
        if self.flight is not None:
            await self.flight.aclose()
        await self.ledger.aclose()
        await self.rate_limiter.aclose()
        self.spool.close()
        if self.redis is not None:
            await self.redis.aclose()

    def dependency_states(self) -> dict[str, dict[str, object]]:
        """The shared dependencies' breakers, for /health/ready (reported, never a reason to
        be unready)."""
        guards = [self.redis_guard] if self.redis_guard is not None else []
        states: dict[str, dict[str, object]] = {}
        for guard in guards:
            snap = guard.snapshot()
            states[guard.name] = {"state": snap.state,
                                  "retry_in_seconds": round(snap.retry_in_seconds, 3),
                                  "short_circuited_calls": snap.not_permitted_calls}
        return states

    async def budget_snapshot(self) -> list[WindowState]:
        """The ledger's windows under the active budgets, bounded in time: a probe or a scrape
        must not hang on a stuck store. Raises LedgerUnavailableError."""
        try:
            async with asyncio.timeout(LEDGER_TIMEOUT_SECONDS):
                return await self.ledger.snapshot(self.policies.current.policy.budgets)
        except TimeoutError as exc:
            raise LedgerUnavailableError("ledger did not answer in time") from exc

    async def refresh_gauges(self) -> None:
        """Budget gauges come from the shared ledger (one snapshot: global and every team's
        windows), so every replica reports the same. The limits (break-glass applied) come from
        the policy, so they stay visible while the ledger is down. A breaker's
        retry-after hold counts down with time, so its gauge is set here too."""
        self.api_keys.status()  # re-checks the keys file: ai_auth_state is current at scrape
        for name, snap in self.breakers.snapshots().items():
            self.metrics.breaker_hold.labels(model=name).set(snap.hold_seconds)
        policy, now = self.policies.current.policy, self.clock.now()
        scopes = policy_scopes(policy, now)  # global and every team, break-glass applied
        set_limit_metrics(scopes, now, self.metrics)
        set_break_glass_metrics(policy, now, self.metrics)
        self.metrics.ledger_wal_bytes.set(self.ledger.wal_bytes())  # a stat: no ledger query
        try:
            async with asyncio.timeout(LEDGER_TIMEOUT_SECONDS):
                await refresh_budget_metrics(self.ledger, scopes, self.metrics)
        except (LedgerUnavailableError, TimeoutError):
            return  # the scrape still succeeds; ai_ledger_errors_total says why
