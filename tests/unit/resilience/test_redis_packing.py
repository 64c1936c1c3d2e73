"""Commands packed in C (app/resilience/redis_packing.py) are byte for byte what redis-py's own
packer writes, and whatever hiredis does not take is still redis-py's to pack or refuse."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from app.resilience.redis_dependency import redis_client
from app.resilience.redis_packing import CPacking

PYTHON = Connection()  # redis-py's packer, in Python


def ours() -> Any:
    """A connection exactly as the service's client makes them (nothing connects)."""
    client = redis_client("redis://127.0.0.1:1/0")
    return client.connection_pool.make_connection()  # type: ignore[no-untyped-call]


def same_bytes(*args: Any) -> None:
    packed = ours().pack_command(*args)
    assert b"".join(packed) == b"".join(bytes(p) for p in PYTHON.pack_command(*args)), args


def test_the_service_connection_packs_in_c() -> None:
    connection = ours()
    assert isinstance(connection, CPacking)
    assert len(connection.pack_command("EVALSHA", "f" * 40, 1, "k", 0.5)) == 1  # one C buffer


def test_script_calls_pack_to_the_same_bytes() -> None:
    # the shapes the ledger, the caches and the rate limiter send: a script's sha, key counts,
    # keys with hash tags, nanodollar integers, float seconds, ids, JSON, non-ASCII text
    same_bytes("EVALSHA", "0123456789abcdef0123456789abcdef01234567", 3,
               "{sre-ai:ledger}:hourly:2026112707", "{sre-ai:ledger}:daily:20261127",
               "{sre-ai:ledger}:monthly:202611", 7_000_000, 120.0, 0.25, -1, 0,
               "r-9f2c", '{"team":"payments","windows":["hourly"]}', "résumé ✓ 日本")
    same_bytes("GET", "k")
    same_bytes("SET", "k", b"\x00\xff raw bytes", "PX", 30_000)
    same_bytes("PUBLISH", "chan", "")


def test_numbers_pack_as_redis_py_writes_them() -> None:
    rng = random.Random(14)
    values: list[Any] = [0, -0.0, 1, -1, 2**63, -(2**63), 10**30, 0.1, 1 / 3, 1e-300, 1e300,
                         5e-324, math.inf, -math.inf, 123456.789]
    values += [rng.uniform(-1e6, 1e6) for _ in range(200)]
    values += [rng.randint(-(10**18), 10**18) for _ in range(200)]
    values += [rng.random() * 10 ** rng.randint(-20, 20) for _ in range(200)]
    for value in values:
        same_bytes("EVALSHA", "s", 0, value)


@pytest.mark.parametrize("bad", [None, True, False])
def test_what_redis_py_refuses_is_still_refused_by_redis_py(bad: Any) -> None:
    with pytest.raises(DataError):
        ours().pack_command("SET", "k", bad)


def test_what_hiredis_does_not_take_is_left_to_redis_py() -> None:
    same_bytes("SET", "k", bytearray(b"xy"))
    same_bytes("SET", "k", memoryview(b"view"))
    same_bytes(b"GET", "k")  # a command name as bytes
    same_bytes("CONFIG GET", "maxmemory")  # redis-py splits a name with a space
    assert ours().pack_command("CONFIG GET", "x")[0].startswith(b"*3\r\n")
