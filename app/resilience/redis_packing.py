"""Redis commands packed by hiredis, in C, instead of by redis-py's asyncio connection in Python.

Why (issue 14, client CPU per paid /ask with Redis): redis-py 8.1's asyncio connection packs
every command in Python, one `Encoder.encode` call with its isinstance checks per argument,
while its synchronous connection already uses hiredis's packer when hiredis is installed (it
is: `redis[hiredis]`, for the replies). Our Lua scripts take ~23 arguments each (the ledger's
windows, the cache's fields), and a paid answer runs 8 of them: under cProfile, packing was
the largest single cost of the client, ahead of the socket write. Measured on one EVALSHA of
11 mixed arguments: 20.8 us in Python, 4.6 us in C (bench/redis_client.py measures the
ledger's reserve + settle pair).

The same bytes: `hiredis.pack_command` writes RESP exactly as redis-py's encoder does for
str (UTF-8, strict: the encoder's defaults, which no client of ours changes), bytes, int and
float (tests/unit/resilience/test_redis_packing.py compares the two). Whatever else goes to
redis-py's own packer, unchanged: None and bool (refused with redis-py's DataError), bytearray,
a command name given as bytes, and a name with a space ("CONFIG GET"), which redis-py splits.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection


class CPacking(AbstractConnection):
    """A connection mixin: `pack_command` in C where the result is the same."""

    __slots__ = ()

    def pack_command(self, *args: Any) -> list[bytes]:
        if args and isinstance(args[0], str) and " " not in args[0]:
            try:
                return [hiredis.pack_command(args)]
            except TypeError:  # an argument hiredis does not take: redis-py decides
                pass
        packed: list[bytes] = super().pack_command(*args)
        return packed
