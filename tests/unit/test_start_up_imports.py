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
