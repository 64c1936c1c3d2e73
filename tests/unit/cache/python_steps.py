"""Count the Python-level steps (trace events: calls, lines, returns of Python code, ours and
the libraries') a piece of code takes: a measure of interpreter work that does not depend on the
machine's speed or load, for asserting that a lookup's work does not grow with a bucket (no
timing assertion)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


class Steps:
    def __init__(self) -> None:
        self.count = 0

    def _trace(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        self.count += 1
        return self._trace


def steps(fn: Callable[[], T]) -> tuple[int, T]:
    counter = Steps()
    sys.settrace(counter._trace)
    try:
        result = fn()
    finally:
        sys.settrace(None)
    return counter.count, result


async def async_steps(fn: Callable[[], Awaitable[T]]) -> tuple[int, T]:
    """The steps of one awaited call (of this thread: the event loop's own included if the
    call suspends, so only compare calls that suspend the same way)."""
    counter = Steps()
    sys.settrace(counter._trace)
    try:
        result = await fn()
    finally:
        sys.settrace(None)
    return counter.count, result
