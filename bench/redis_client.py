"""Client CPU per Redis command: redis-py's connection vs ours (app/resilience/redis_connection.py).

Why: issue 14 wants a paid /ask at 2 ms CPU with Redis, and every paid /ask issues 9 Redis
commands (11 with rate limits; tests/integration/ratelimit/test_redis_round_trips.py). redis-py
bounds each write with asyncio.wait_for, which on Python 3.11 runs the write in a task of its own;
ours bounds it with asyncio.timeout in the caller's task. This runs the ledger's real reserve +
settle pair (two EVALSHA) and a plain GET through both, one at a time (no auto-pipelining:
app/resilience/redis_batching.py sends a lone command alone), interleaved, on uvloop (as uvicorn
runs), and prints the median process CPU per operation.

    .venv/bin/python -m bench.redis_client [--ops 2000] [--reps 5] [--redis-url redis://...]

Without --redis-url a throwaway redis-server is started (tests/fakes/redis_server.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import uvloop
from redis.asyncio.connection import Connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.budget.ledger import Ledger
from app.budget.stores.redis import RedisStore
from app.clock import SystemClock
from app.config import Budgets
from app.resilience.redis_connection import TimeoutWriteConnection
from app.resilience.redis_dependency import redis_client

CLASSES = {"redis-py Connection": Connection, "TimeoutWriteConnection": TimeoutWriteConnection}
BUDGETS = Budgets(per_request_usd=1.0, hourly_usd=1e6, daily_usd=1e6, monthly_usd=1e6)


async def _cpu_us(ops: int, step: Callable[[], Awaitable[object]]) -> float:
    for _ in range(50):  # connected, scripts loaded
        await step()
    started = time.process_time()
    for _ in range(ops):
        await step()
    return (time.process_time() - started) / ops * 1e6


async def _one(url: str, connection: type[Connection], ops: int) -> tuple[float, float]:
    store = RedisStore(url, prefix=f"bench-{uuid.uuid4().hex[:8]}")
    store._redis.connection_pool.connection_class = connection
    ledger = Ledger(store, SystemClock())

    async def paid() -> None:
        reservation = await ledger.reserve(0.01, BUDGETS)
        await ledger.settle(reservation, 0.005)

    plain = redis_client(url)
    plain.connection_pool.connection_class = connection
    await plain.set("bench-key", "v")
    try:
        return await _cpu_us(ops, paid), await _cpu_us(ops, lambda: plain.get("bench-key"))
    finally:
        await ledger.aclose()
        await plain.aclose()


async def run(url: str, ops: int, reps: int) -> None:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in CLASSES}
    for _ in range(reps):
        for name, connection in CLASSES.items():
            results[name].append(await _one(url, connection, ops))
    print(f"Redis client CPU per operation, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{ops} ops x {reps} interleaved reps, medians (uvloop)\n")
    print("| connection | reserve + settle (2 EVALSHA) | GET |")
    print("|---|---|---|")
    for name, rows in results.items():
        pair = statistics.median(r[0] for r in rows)
        get = statistics.median(r[1] for r in rows)
        print(f"| {name} | {pair:.0f} µs | {get:.0f} µs |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    if args.redis_url:
        uvloop.run(run(args.redis_url, args.ops, args.reps))
        return
    from tests.fakes.redis_server import RedisServer

    server = RedisServer.start()
    try:
        uvloop.run(run(server.url, args.ops, args.reps))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
