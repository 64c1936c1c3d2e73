"""What a worker imports to start: only what it serves with (issue 14, start-up and memory)."""

from __future__ import annotations

import subprocess
import sys

# Imported only when their feature is configured: the alert webhook's HTTP client (httpx, and
# its CLI's rich and pygments where installed: ~45 ms and ~5 MiB), the embedding model's own
# package and the safetensors reader (its files are read by path, app/runbooks/tensor_file.py).
NOT_AT_START = ("httpx", "rich", "pygments", "wordllama", "safetensors")


def test_serving_the_default_imports_no_optional_client() -> None:
    code = ("import sys, app.main; "
            f"print(','.join(m for m in {NOT_AT_START!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == ""


def test_the_imports_run_no_collection_and_leave_the_collector_on() -> None:
    """~4,000 modules imported with the collector paused (app/gc_tuning.py): Python's defaults
    ran 3 full, 41 middle and 451 young collections over objects that all survive. What the
    console script imports before app.main still runs a few young and middle ones."""
    code = ("import gc, app.cli; "
            "print(*(s['collections'] for s in gc.get_stats()), gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    young, middle, full, enabled = out.stdout.split()
    assert (full, enabled) == ("0", "True")
    assert int(young) < 200 and int(middle) < 20
