"""A lead() for the single-flight tests (unit and integration): it counts its calls and blocks
until the test releases it, so "concurrent" is decided by the test, not by timing."""

from __future__ import annotations

import asyncio

BOUND = 5.0  # seconds: an upper bound only; what is awaited comes at once when it works
LONG_WAIT = 3600.0  # a follower that would still be waiting if nothing woke it


class Leader:
    """Counts calls; blocks until `release` is set; then raises `error` or returns `payload`."""

    def __init__(self, payload: bytes | None = b"answer", error: Exception | None = None):
        self.payload = payload
        self.error = error
        self.calls = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> bytes | None:
        self.calls += 1
        self.entered.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.payload


def released(payload: bytes | None = b"answer") -> Leader:
    """A Leader that answers at once."""
    leader = Leader(payload)
    leader.release.set()
    return leader


async def settle() -> None:
    """Let every ready task run to its next suspension (no time passes)."""
    for _ in range(10):
        await asyncio.sleep(0)
