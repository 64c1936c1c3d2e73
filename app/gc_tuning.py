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
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def tune_collector(young_threshold: int) -> Callable[[], None]:
    """Freeze what is alive and raise the young threshold. Returns what undoes both (the
    lifespan calls it on shutdown, so an app built in-process, as in tests, leaves the
    interpreter as it found it)."""
    if young_threshold <= 0:
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
