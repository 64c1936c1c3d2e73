"""The tokens a request made the model process, for its caller's tokens-per-minute limit.

The rate-limit ticket (app/api/rate_limit.py) opens a count around a request's answer; every
paid call made for it (app/services/paid_call.py) adds what it used: the tokens Anthropic
reported, or, sent but cut short with no usage back (the client hung up mid-stream, a dropped
connection, the deadline), the worst case its budget was settled at. The ticket charges the
count however the request ends: an answer, an error, or a cancellation. Charging only a
returned answer let a key that hangs up once it has read the text stream without ever moving
its bucket. Calls outside a count (the Alertmanager receiver's) add nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_used: ContextVar[list[int] | None] = ContextVar("tokens_used", default=None)


@contextmanager
def counting() -> Iterator[list[int]]:
    """A fresh count for this request (tasks it starts share it: the list is one object)."""
    counts: list[int] = []
    token = _used.set(counts)
    try:
        yield counts
    finally:
        _used.reset(token)


def add_tokens(tokens: int) -> None:
    counts = _used.get()
    if counts is not None:
        counts.append(tokens)
