"""The live run: the real service (uvicorn) talking to the fake Anthropic server, scraped by a
real Prometheus that evaluates the rules, driven through the situations the dashboards and
alerts exist for. Every wait is on a condition with a deadline.

Phases, in order:
  answers   paid answers, cache hits, no-answers; a reworded question served by the semantic
            cache, its opposite vetoed by the guard, semantic entries evicted; the fake's
            request quota runs low
  ungrounded  the fake answers with a canned reply that cites nothing: every answer is
            ungrounded, more than 20% of the graded ones
  outage    the primary model returns 529: its breaker opens, the fallback model answers
  reload    an invalid policy is rejected (the last good one stays)
  budget    a tiny hourly budget: spend until paid calls are refused, degraded to offline
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fakes.anthropic_control import FakeAnthropicControl
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.monitoring.prometheus_process import PrometheusProcess

PRIMARY = "claude-sonnet-4-6"
FALLBACK = "claude-haiku-4-5-20251001"
JOB = "sre-ai-platform"

TOPICS = (
    "pod OOMKilled exit code 137, what now?",
    "node NotReady, kubelet stopped posting status",
    "image pull backoff, registry credentials",
    "TLS certificate expiry soon",
    "DNS resolution failures in pods",
    "HPA not scaling",
    "redis memory pressure eviction",
    "database connection pool exhausted",
    "crashloopbackoff container restarting",
)
# The semantic tier's two sides (pairs from tests/unit/services/test_semantic_reuse.py): a
# reworded question reuses the paid answer; the opposite one is vetoed by the guard and pays.
ASKED = "postgres refusing connections: too many clients already"
REWORDED = "postgres says too many clients already and refuses connections"
SCALE_OUT, SCALE_IN = "hpa won't scale out the workers", "hpa won't scale in the workers"
# A canned reply carries no citations: grounded share 0, below any min_grounded_share > 0.
UNCITED_REPLY = ("Restart the deployment and double its memory limit; if that does not help, "
                 "delete the namespace and redeploy everything from scratch.")
# AIUngroundedAnswerRatioHigh needs at least 10 graded answers in 30 minutes; with the grounded
# answers of the answers phase (9), 12 ungrounded ones are well over 20%.
UNGROUNDED_ANSWERS = 12
UNANSWERABLE = (
    "what is the capital of France",
    "best pizza recipe with basil",
    "how to knit a scarf",
    "who won the football cup",
)

# Budgets are raised or cut by rewriting this file (the service watches it).
BASE_POLICY: dict[str, Any] = {
    "budgets": {"per_request_usd": 0.02, "hourly_usd": 5.0, "daily_usd": 50.0,
                "monthly_usd": 500.0},
    "models": {  # USD per million tokens
        PRIMARY: {"input": 3.00, "output": 15.00, "cache_write_5m": 3.75, "cache_write_1h": 6.00,
                  "cache_read": 0.30},
        FALLBACK: {"input": 1.00, "output": 5.00, "cache_write_5m": 1.25, "cache_write_1h": 2.00,
                   "cache_read": 0.10},
    },
    "routing": {"default_model": PRIMARY, "fallback_model": FALLBACK},
    # Opens after 2 failed calls of 4, and stays open for the whole run.
    "breaker": {"window_type": "count", "window_size": 4, "minimum_calls": 2,
                "failure_rate_threshold": 50, "wait_in_open_seconds": 3600,
                "permitted_in_half_open": 1},
    "llm": {"max_tokens": 256, "timeout_seconds": 5},
    # A semantic tier of 4 entries: the first answers' entries are evicted (the evictions
    # panel), the reworded question still finds the one asked just before it.
    "cache": {"semantic_max_entries": 4},
    # A team, so the Teams row of the Cost dashboard has series (its spend, remaining,
    # refusals and break-glass gauge start at 0; the callers here are in no team).
    "teams": {"payments": {"budgets": {"hourly_usd": 2.0, "daily_usd": 20.0}}},
}


def write_policy(path: Path, **budgets: float) -> None:
    policy = {**BASE_POLICY, "budgets": {**BASE_POLICY["budgets"], **budgets}}
    write_text(path, yaml.safe_dump(policy))


def write_text(path: Path, text: str) -> None:
    """Replace the file in one rename, the way a kubelet swaps a ConfigMap."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@dataclass
class LiveRun:
    workdir: Path
    fake: FakeAnthropicControl
    service: ServiceProcess
    prometheus: PrometheusProcess
    policy_path: Path
    started_at: float = 0.0  # by Prometheus's clock, set when the run is created
    # alertname -> label sets seen firing while the run went on (alerts can resolve later)
    fired: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    _questions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if not self.started_at:
            self.started_at = self.prometheus.now()

    # ------------------------------------------------------------------ traffic

    def ask(self, question: str, **body: Any) -> dict[str, Any]:
        r = httpx.post(self.service.url + "/ask", json={"question": question, **body}, timeout=30)
        self.statuses.append(r.status_code)
        answer: dict[str, Any] = r.json()
        answer["_status"] = r.status_code
        return answer

    def ask_streamed(self, question: str) -> list[str]:
        """POST /ask with stream: the names of the server-sent events received."""
        with httpx.stream("POST", self.service.url + "/ask", timeout=30,
                          json={"question": question, "stream": True}) as r:
            self.statuses.append(r.status_code)
            return [line.removeprefix("event: ") for line in r.iter_lines()
                    if line.startswith("event: ")]

    def new_question(self) -> str:
        """A question the runbooks answer that was never asked before (so: no cache hit)."""
        n = next(self._questions)
        return f"{TOPICS[n % len(TOPICS)]} (case {n})"

    def write_policy(self, **budgets: float) -> None:
        write_policy(self.policy_path, **budgets)

    def _write(self, text: str) -> None:
        write_text(self.policy_path, text)

    def metric(self, expr: str) -> float:
        """A value as Prometheus has scraped it (0 when the series does not exist yet)."""
        return self.prometheus.value(expr) or 0.0

    def wait_scraped(self, expr: str, at_least: float, what: str, timeout: float = 30) -> None:
        wait_until(lambda: self.metric(expr) >= at_least, timeout=timeout, what=what, interval=0.25)

    def wait_firing(self, alertname: str, where: Callable[[dict[str, str]], bool] | None = None,
                    timeout: float = 60) -> list[dict[str, str]]:
        def firing() -> list[dict[str, str]]:
            found = [a for a in self.prometheus.firing(alertname) if where is None or where(a)]
            if found:
                self.fired.setdefault(alertname, []).extend(found)
            return found

        try:
            wait_until(firing, timeout=timeout, what=f"alert {alertname} firing", interval=0.5)
        except TimeoutError:
            return []
        return self.fired[alertname]

    def record_firing(self) -> None:
        for a in self.prometheus.alerts():
            if a["state"] == "firing":
                self.fired.setdefault(a["labels"]["alertname"], []).append(a["labels"])

    # ------------------------------------------------------------------ phases

    def phase_answers(self) -> None:
        asked = [self.new_question() for _ in range(6)]
        for q in asked:
            a = self.ask(q)
            assert a["_status"] == 200 and a["model"] == PRIMARY and not a["cached"], a
        for q in asked:  # the same questions again: served from the cache
            a = self.ask(q)
            assert a["_status"] == 200 and a["cached"], a
        for q in UNANSWERABLE:
            a = self.ask(q)
            assert a["_status"] == 200 and a["sources"] == [], a
        self.phase_semantic()
        events = self.ask_streamed(self.new_question())  # time to first token on the dashboard
        assert events[0] == "sources" and "delta" in events and events[-1] == "done", events
        self.wait_scraped("sum(gen_ai_client_operation_time_to_first_chunk_seconds_count)", 1,
                          "time to first token scraped")
        self.wait_scraped('sum(ai_cache_ops_total{result="hit"})', 6, "cache hits scraped")
        self.wait_scraped("sum(ai_no_answer_total)", len(UNANSWERABLE), "no-answers scraped")
        self.wait_scraped(f'sum(ai_cost_usd_total{{model="{PRIMARY}"}})', 1e-9, "spend scraped")

    def phase_semantic(self) -> None:
        """A reworded question served by the semantic tier; a hard negative vetoed by the guard
        (paid for). Feeds the similarity histogram and the vetoes of the caches row."""
        for q in (ASKED, SCALE_OUT):
            a = self.ask(q)
            assert a["_status"] == 200 and a["model"] == PRIMARY and not a["cached"], a
        a = self.ask(REWORDED)
        assert a["_status"] == 200 and a["cached"], a
        a = self.ask(SCALE_IN)
        assert a["_status"] == 200 and not a["cached"], a
        self.wait_scraped('sum(ai_cache_lookups_total{outcome="semantic"})', 1,
                          "the semantic hit scraped")
        self.wait_scraped("sum(ai_semantic_cache_rejected_total)", 1, "the guard's veto scraped")
        self.wait_scraped('sum(ai_cache_evictions_total{tier="semantic"})', 1,
                          "semantic evictions scraped")

    def phase_ungrounded(self) -> None:
        """Answers the model wrote without citing the runbooks: graded, ungrounded, counted.
        Waits for the alert without failing the run: test_live asserts on what happened."""
        self.fake.set_reply(UNCITED_REPLY)
        try:
            for _ in range(UNGROUNDED_ANSWERS):
                a = self.ask(self.new_question())
                assert a["_status"] == 200 and a["model"] == PRIMARY and not a["cached"], a
        finally:
            self.fake.set_reply(None)  # back to answers that cite the documents they were sent
        self.wait_firing("AIUngroundedAnswerRatioHigh")

    def phase_outage(self) -> None:
        self.fake.fail(529, until_cleared=True, model=PRIMARY)

        def primary_open() -> bool:
            a = self.ask(self.new_question())
            assert a["_status"] == 200 and a["model"] == FALLBACK, a
            snaps = httpx.get(self.service.url + "/circuit-breaker", timeout=5).json()
            return bool(snaps["breakers"][PRIMARY]["state"] == "open")

        wait_until(primary_open, timeout=60, what="the primary model's breaker to open",
                   interval=0.1)
        self.wait_scraped(f'max(ai_circuit_breaker_state{{model="{PRIMARY}", state="open"}})',
                          1, "breaker state scraped")
        self.wait_firing("AICircuitBreakerOpen", lambda a: a.get("model") == PRIMARY)

    def phase_reload(self) -> None:
        before = self.metric('sum(ai_config_reloads_total{kind="policy", result="error"})')
        self._write("budgets: {hourly_usd: -1}\n")
        self.wait_scraped('sum(ai_config_reloads_total{kind="policy", result="error"})',
                          before + 1, "the rejected reload scraped")
        self.wait_firing("AIConfigReloadFailing", lambda a: a.get("kind") == "policy")

    def phase_budget(self) -> None:
        cost = httpx.get(self.service.url + "/cost", timeout=5).json()
        hourly = next(w for w in cost["windows"] if w["window"] == "hourly")
        # Room for a dozen fallback answers (~$0.002 each). Paid calls stop when what is left
        # is under one worst-case reservation (~$0.0034 for the fallback model): under 20% of
        # the hourly limit, and above 0.
        limit = round(hourly["spent_usd"] + hourly["reserved_usd"] + 0.03, 6)
        successes = self.metric('sum(ai_config_reloads_total{kind="policy", result="success"})')
        self.write_policy(hourly_usd=limit)
        self.wait_scraped('sum(ai_config_reloads_total{kind="policy", result="success"})',
                          successes + 1, "the budget policy applied")
        self.wait_scraped('max(ai_budget_limit_usd{window="hourly"})', limit - 1e-9,
                          "the new hourly limit scraped")

        def refused() -> bool:
            a = self.ask(self.new_question())
            assert a["_status"] in (200, 429), a
            return bool(a["_status"] == 429 or (a.get("degraded") or {}).get("mode") == "offline")

        wait_until(refused, timeout=90, what="paid calls refused by the hourly budget",
                   interval=0.05)
        self.wait_scraped('sum(ai_budget_rejections_total{window="hourly"})', 1,
                          "budget refusals scraped")
        self.wait_firing("AIBudgetExhausted", lambda a: a.get("window") == "hourly")
        self.wait_firing("AIBudgetNearlyExhausted", lambda a: a.get("window") == "hourly")

    def run(self) -> None:
        self.fake.set_rate_limit("requests", limit=1000, remaining=60)
        self.phase_answers()
        self.phase_ungrounded()
        self.phase_outage()
        self.phase_reload()
        self.phase_budget()
        self.record_firing()
