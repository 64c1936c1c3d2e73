"""Python start-up hook for `make test-future` only (it puts this directory on PYTHONPATH).

That target runs the suite under libfaketime with FAKETIME_DONT_FAKE_MONOTONIC=1: wall-clock time
a year ahead, the monotonic clock untouched (faking it too makes every timed thread wait, e.g.
threading.Event.wait, block for the whole offset). libfaketime 0.9.10 (Debian's) then fails
time.sleep(), which CPython implements with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), with
EINVAL. Every Python process of the run (pytest, the uvicorn services and workers it starts)
inherits PYTHONPATH and gets a sleep built on a timed Event wait instead, which libfaketime
leaves alone. Nothing else changes; outside that target this file is never imported.
"""

from __future__ import annotations

import os
import threading
import time
from typing import SupportsIndex

if os.environ.get("FAKETIME"):

    def _sleep(seconds: float | SupportsIndex) -> None:
        length = float(seconds)
        if length < 0:
            raise ValueError("sleep length must be non-negative")
        threading.Event().wait(length)

    time.sleep = _sleep
