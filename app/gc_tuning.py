"""Python's cyclic garbage collector, set for a long-lived server once it is ready.

The defaults (a young collection every 700 net allocations of container objects) suit short
scripts. Under load a server's in-flight requests keep objects alive: a young collection finds
them alive and promotes them, and when they die later their release cannot take the young count
below zero, so the count climbs again at once. Collections then come every few requests, and
every tenth one also walks the promoted objects. Measured with the real service, SQLite ledger,
uncached /ask at concurrency 64 for 8 s (issue 14's profile; bench/results/throughput.md):
Python's defaults ran about 1,000 collections, 0.7 s of the worker's 8 s of CPU (8 %); a young
threshold of 50,000 ran one, of about 15 ms.

So, once the service is ready (`tune_collector`, from the lifespan):
- `gc.freeze()`: what is alive then (modules, the SDK's pydantic models, the runbook index,
  the clients) lives as long as the process, and no later collection walks it again;
- the young generation's threshold is raised to `SRE_AI_GC_YOUNG_THRESHOLD` (0: Python's
  defaults, nothing frozen). Older generations keep their ratios.
Reference counting still frees at once everything that is not in a cycle; only cyclic garbage
waits longer, for at most that many net allocations.

Before that, `collector_paused` keeps the collector out of work that builds a large, long-lived
heap in one go: the start-up imports (app/main.py) and an index build (app/runbooks/holder.py).
Importing the service is ~4,000 modules (the anthropic SDK alone ~3,200) and ~220,000 tracked
objects; with the collector on, that import ran 3 full collections, 41 middle and 451 young
ones, each walking objects that all survive. Paused, then frozen: no collection at all, and
25 % less CPU to import (median of 10 runs each: 1.73 -> 1.29 s). Freezing at the end is what
keeps the win: otherwise the first young collection after the pause walks all ~220,000 objects
at once (pausing alone: 1.53 s). The import's own cyclic garbage, ~1,800 objects, is frozen
with the rest (under 1 MiB); `SRE_AI_GC_YOUNG_THRESHOLD=0` unfreezes everything once ready.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside; on the way out (an exception too), what is alive is
    frozen out of later collections and the collector is on again if it was on before (so
    pauses nest). Reference counting frees the temporaries as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def tune_collector(young_threshold: int) -> Callable[[], None]:
    """Freeze what is alive and raise the young threshold. Returns what undoes both (the
    lifespan calls it on shutdown, so an app built in-process, as in tests, leaves the
    interpreter as it found it). 0: Python's defaults, nothing frozen (what start-up froze,
    `collector_paused`, too)."""
    if young_threshold <= 0:
        gc.unfreeze()
        return lambda: None
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(young_threshold, *before[1:])
    # not gc.get_freeze_count(): it walks every frozen object (~24 ms at start-up, measured)
    log.info("garbage collector set for serving",
             extra={"fields": {"young_threshold": young_threshold}})

    def restore() -> None:
        gc.set_threshold(*before)
        gc.unfreeze()

    return restore
