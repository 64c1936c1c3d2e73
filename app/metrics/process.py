"""The worker process itself, as prometheus_client's default registry would show it: resident
memory, CPU seconds, open file descriptors and start time (`process_*`), the garbage collector's
collections per generation (`python_gc_*`, app/gc_tuning.py) and the interpreter (`python_info`).

The service keeps a registry of its own (so tests can build one per app), which has none of
these unless they are added: a pod's memory growth and its collector's work would otherwise be
visible only from the kubelet's cAdvisor, without the GC. Each collector reads /proc or the
interpreter at scrape time (well under a millisecond), nothing on the request path.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector


def register_process(registry: CollectorRegistry) -> None:
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
