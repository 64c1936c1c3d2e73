"""Operators' words for the things runbooks name: a small SRE thesaurus for query expansion.

A static embedding model knows "replicas" is near "autoscaler", not that "a machine dropped
out" is a node that is not ready or that "server errors" are 5xx. Runbooks use the component's
name (node, 5xx, OOMKilled, upstream); people on call use the symptom's. Each group below is one
concept in the words either side uses; a question's term pulls in the rest of its group at a
reduced weight (`search.W_EXPANSION`), for BM25 and for the no-answer gate's term coverage.

Written from the vocabulary of Kubernetes, Prometheus and incident chat, not from our
runbooks' titles or our evaluation questions; measured on a public corpus nobody here wrote as
well (docs/retrieval.md).
"""

from __future__ import annotations

from functools import lru_cache

from app.runbooks.text import tokenize

GROUPS: tuple[str, ...] = (
    # workloads dying and coming back
    "crashloop crashloopbackoff restart restarts restarting backoff back-off dying dies died "
    "crash crashes crashing",
    # machines
    "node nodes machine machines host hosts server vm instance worker kubelet",
    "notready unreachable unknown offline dropped lost gone disappeared",
    # errors served to clients
    "5xx 500 502 503 504 error errors failing failures failed",
    # slowness
    "latency slow slowness sluggish p99 p95 p90 tail percentile forever timeout timeouts",
    # autoscaling
    "hpa autoscaler autoscaling autoscale scale scaling scaled replicas replica",
    # memory kills
    "oom oomkilled 137 memory ram killed",
    # disks
    "disk disks filesystem storage volume full space inodes ephemeral-storage",
    # name resolution
    "dns resolve resolution resolving lookup lookups nxdomain servfail getaddrinfo coredns",
    # certificates
    "certificate certificates cert certs tls ssl x509 https expired expiry expire expiring",
    # images
    "image images pull pulling registry errimagepull imagepullbackoff tag",
    # databases
    "database databases db postgres postgresql mysql connections connection pool",
    # money
    "budget budgets spend spending spent cost costs money bill billing usd dollars",
    # the model provider
    "upstream provider anthropic claude llm model api",
    # circuit breaker
    "breaker circuit tripped open",
    # being down
    "down outage dead unavailable unhealthy",
    # alert delivery
    "notification notifications notify slack pagerduty email receiver receivers",
    # configuration reload
    "reload reloaded reloading configmap config configuration apply applied",
)


@lru_cache(maxsize=1)
def _index() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for group in GROUPS:
        terms = frozenset(t for word in group.split() for t in tokenize(word))
        for term in terms:
            out.setdefault(term, set()).update(terms)
    return {term: frozenset(related) for term, related in out.items()}


def related(terms: list[str]) -> list[str]:
    """The group-mates of the question's terms, not already among them, in a stable order."""
    index = _index()
    have = set(terms)
    out: dict[str, None] = {}
    for term in terms:
        for mate in sorted(index.get(term, ())):
            if mate not in have:
                out[mate] = None
    return list(out)
