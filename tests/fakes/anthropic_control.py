"""Drive a fake Anthropic server that runs in ANOTHER process (benchmarks, uvicorn-level tests).

In the same process, use the `FakeAnthropic` object itself (tests/fakes/fixtures.py). This
client is stdlib-only and blocking: fine against another process, a deadlock against a fake
served by the caller's own event loop.

    with fake_anthropic_process() as (url, fake):
        fake.fail(529, count=3)
        ...  # point ANTHROPIC_BASE_URL=url at it
        assert fake.stats()["by_outcome"]["529"] == 3
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
# What the fake needs to run on its own (e.g. in a pod from a ConfigMap): the package marker and
# every anthropic_* module (stdlib and aiohttp only). A glob, so a new module cannot be left out.
STANDALONE_MODULES = ("__init__.py", *sorted(
    p.name for p in Path(__file__).resolve().parent.glob("anthropic_*.py")))
_BANNER = "fake-anthropic listening on "


class FakeAnthropicControl:
    def __init__(self, url: str, *, timeout_seconds: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout_seconds

    def _call(self, method: str, action: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            f"{self.url}/_fake/{action}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=self._timeout) as resp:
            return json.loads(resp.read() or b"null")

    def fail(self, status: int | None = None, **fault: Any) -> None:
        """Same arguments as FakeAnthropic.fail: `fail(529, count=3)`, `fail(hang=True)`."""
        if status is not None:
            fault["status"] = status
        self._call("POST", "faults", fault)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def pending_faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults")["pending"])

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "stats"))

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def set_reply(self, text: str | None) -> None:
        self._call("POST", "reply", {"text": text})

    def set_citation_mode(self, mode: str) -> None:
        self._call("POST", "citations", {"mode": mode})

    def set_rate_limit(
        self, kind: str, *, limit: int | None = None, remaining: int | None = None
    ) -> None:
        values = {k: v for k, v in (("limit", limit), ("remaining", remaining)) if v is not None}
        self._call("POST", "ratelimits", {kind: values})

    def requests(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "requests"))

    def billed(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "billed"))


@contextlib.contextmanager
def fake_anthropic_process(*args: str) -> Iterator[tuple[str, FakeAnthropicControl]]:
    """Run `python -m tests.fakes.anthropic_server --port 0 *args`; yield (url, control)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.anthropic_server", "--port", "0", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # EOF (""), if the server died before listening
        if not line.startswith(_BANNER):
            raise RuntimeError(f"fake Anthropic server did not start: {line!r}")
        url = line.removeprefix(_BANNER).strip()
        yield url, FakeAnthropicControl(url)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
