"""The semantic cache's guard: near-identical questions that ask something else are vetoed, by
kind, and rewordings of one question pass (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from app.cache.semantic import MAX_GUARD_CHECKS, SemanticEntry, best_match
from app.cache.semantic_guard import GUARD_REASONS, _parse, judge
from tests.unit.cache.python_steps import steps

NEGATIVES = [
    # negation
    ("pods keep restarting after the deploy", "pods don't keep restarting after the deploy",
     "negation"),
    ("hpa is scaling the checkout deployment", "hpa is not scaling the checkout deployment",
     "negation"),
    ("answers come with sources", "answers come without sources", "negation"),
    ("pods get evicted with disk pressure", "pods never get evicted with disk pressure",
     "negation"),
    # typed without the apostrophe
    ("the node is ready but pods are pending", "the node isnt ready but pods are pending",
     "negation"),
    ("hpa is scaling", "hpa isnt scaling", "negation"),
    ("can the pod pull the image", "cant the pod pull the image", "negation"),
    ("the rollout finished", "the rollout didnt finish", "negation"),
    ("status != 200 from the api", "status == 200 from the api", "negation"),
    # opposite
    ("how do I enable the circuit breaker", "how do I disable the circuit breaker", "opposite"),
    ("how do I increase the hourly budget", "how do I decrease the hourly budget", "opposite"),
    ("scale up the checkout deployment", "scale down the checkout deployment", "opposite"),
    ("hpa won't scale out the workers", "hpa won't scale in the workers", "opposite"),
    ("pods crash right before the deploy", "pods crash right after the deploy", "opposite"),
    ("how do I start the metrics-server", "how do I stop the metrics-server", "opposite"),
    ("add cpu requests to the deployment", "remove cpu requests from the deployment",
     "opposite"),
    ("allow egress to api.anthropic.com", "deny egress to api.anthropic.com", "opposite"),
    ("should I upgrade coredns", "should I downgrade coredns", "opposite"),
    ("the hpa is stuck at min replicas", "the hpa is stuck at max replicas", "opposite"),
    ("pod OOMKilled with restarts > 5", "pod OOMKilled with restarts < 5", "opposite"),
    ("dns lookups time out for internal names", "dns lookups time out for external names",
     "opposite"),
    # entity: names, numbers, versions, alert names, quoted strings
    ("checkout pod keeps crashing", "payments pod keeps crashing", "entity"),
    ("pods in namespace payments are pending", "pods in namespace checkout are pending",
     "entity"),
    ("container killed with exit code 137", "container killed with exit code 143", "entity"),
    ("node ip-10-0-3-17 is NotReady", "node ip-10-0-3-18 is NotReady", "entity"),
    ("AIBudgetExhausted is firing", "AIBudgetNearlyExhausted is firing", "entity"),
    ("ErrImagePull on checkout:1.4.2", "ErrImagePull on checkout:1.4.3", "entity"),
    ('logs say "connection refused"', 'logs say "connection reset"', "entity"),
    ("disk at 95% on the worker", "disk at 85% on the worker", "entity"),
    # content: one object swapped for another
    ("the pod hits its memory limit", "the pod hits its cpu limit", "content"),
    ("where do I see the logs of the service", "where do I see the metrics of the service",
     "content"),
]

PARAPHRASES = [
    ("restarts keep climbing on the checkout pod", "checkout pod restarts keep climbing"),
    ("lots of 502 from the load balancer since the deploy",
     "since the deploy, lots of 502 from the load balancer"),
    ("redis started evicting keys", "Redis is evicting keys"),
    ("how do I raise the budget limit", "how can I increase the budget limit?"),
    ("cert-manager didn't renew the certificate", "cert-manager did not renew the certificate"),
    ("cert-manager didnt renew the certificate", "cert-manager did not renew the certificate"),
    ("the hpa wont scale out", "the hpa won't scale out"),
    ("p99 latency above 2s on checkout", "p99 latency > 2s on checkout"),
    ("container killed with exit code 137", "container got killed, exit code 137"),
    ("node shows NotReady in kubectl get nodes", "kubectl get nodes shows the node NotReady"),
    ("AIBudgetExhausted is firing, how do I raise the budget",
     "how do I raise the budget? AIBudgetExhausted is firing"),
]


@pytest.mark.parametrize(("first", "second", "reason"), NEGATIVES,
                         ids=[f"{r}:{a}" for a, _, r in NEGATIVES])
def test_each_kind_of_hard_negative_is_vetoed_with_its_reason(
        first: str, second: str, reason: str) -> None:
    assert judge(first, second).reason == reason
    assert judge(second, first).reason == reason  # symmetric: either may be cached first


@pytest.mark.parametrize(("first", "second"), PARAPHRASES)
def test_rewordings_of_one_question_pass(first: str, second: str) -> None:
    verdict = judge(first, second)
    assert verdict.ok, verdict
    assert judge(second, first).ok


def test_one_substituted_content_word_passes_two_do_not() -> None:
    # the tolerance eval/cache_threshold.py measured (docs/semantic-cache.md)
    assert judge("how do I raise the budget", "how do I bump the budget").ok
    assert judge("how do I raise the budget", "how do I bump the budget",
                 max_unshared=0).reason == "content"
    assert judge("pods slow since the config change", "pods slow since the image rollout"
                 ).reason == "content"


def test_reasons_are_a_small_fixed_set_for_a_metric_label() -> None:
    assert GUARD_REASONS == ("ok", "negation", "opposite", "entity", "content")
    seen = {judge(a, b).reason for a, b, _ in NEGATIVES} | {judge(a, b).reason
                                                            for a, b in PARAPHRASES}
    assert seen == set(GUARD_REASONS)


def test_a_lookup_parses_each_text_once_however_many_candidates_the_guard_checks() -> None:
    """A storm of near-identical questions puts MAX_GUARD_CHECKS candidates above the
    threshold; each used to re-parse both texts (16 parses per lookup, the guard's largest
    self time in the throughput profile). The new question is parsed once, a stored one once
    for the life of the memo."""
    vector = np.full(4, 0.5, dtype=np.float32)
    stored = [SemanticEntry(f"k{i}", f"pod checkout-{i} OOMKilled, what now?", vector, 0.0)
              for i in range(MAX_GUARD_CHECKS)]
    _parse.cache_clear()
    lookup = best_match(stored, "pod checkout-x OOMKilled, what now?", vector, 0.5)
    assert lookup.match is None and lookup.rejected == ("entity",) * MAX_GUARD_CHECKS
    assert _parse.cache_info().misses == MAX_GUARD_CHECKS + 1  # each distinct text once
    best_match(stored, "pod checkout-y OOMKilled, what now?", vector, 0.5)
    assert _parse.cache_info().misses == MAX_GUARD_CHECKS + 2  # only the new question


@pytest.mark.parametrize(("first", "last"), [
    # the first and the last pair of opposites
    (("how do I enable the breaker", "how do I disable the breaker"),
     ("what is the cpu request", "what is the cpu limit")),
    # the first and the last class of objects
    (("pods killed for memory", "pods killed for cpu"),
     ("pods failing the readiness probe", "pods failing the liveness probe")),
])
def test_the_guard_looks_only_at_the_vocabulary_the_two_questions_use(
        first: tuple[str, str], last: tuple[str, str]) -> None:
    """judge() runs for up to MAX_GUARD_CHECKS candidates of every paid question's lookup: it
    used to walk every pair of opposites and every class of objects for each of them, so a
    pair found last (or none, the usual case) cost the whole list. Counted in Python steps."""
    counts = []
    for a, b in (first, last):
        judge(a, b)  # parsed once, outside the count
        n, verdict = steps(lambda a=a, b=b: judge(a, b))  # type: ignore[misc]
        assert verdict.reason in ("opposite", "content")
        counts.append(n)
    assert abs(counts[1] - counts[0]) <= 8, counts
