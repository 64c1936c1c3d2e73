"""One "replica" for the cross-process single-flight tests: N concurrent asks of one key.

    python -m tests.integration.cache.flight_replica URL PREFIX KEY N LEASE_SECONDS

lead() counts itself in Redis (INCR <prefix>:calls), then holds the call until the test sets
<prefix>:release (the test decides when the "upstream" answers), and returns
b"answer from <pid>". Prints one JSON line: the outcomes of the N asks.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from app.cache import FlightLeases, SingleFlight
from app.config import CachePolicy
from app.resilience.redis_dependency import redis_client

POLL_SECONDS = 0.005


async def main(url: str, prefix: str, key: str, n: int, lease: float) -> None:
    policy = CachePolicy(single_flight_lease_seconds=lease, single_flight_wait_seconds=30)
    client = redis_client(url)
    flight = SingleFlight(policy, FlightLeases(client, policy, prefix=prefix))

    async def lead() -> bytes:
        await client.incr(f"{prefix}:calls")
        while not await client.exists(f"{prefix}:release"):  # noqa: ASYNC110 - the test's go
            await asyncio.sleep(POLL_SECONDS)
        return f"answer from {os.getpid()}".encode()

    outcomes = await asyncio.gather(*(flight.run(key, lead) for _ in range(n)))
    print(json.dumps([{"role": o.role.value, "payload": (o.payload or b"").decode(),
                       "timed_out": o.timed_out} for o in outcomes]), flush=True)
    await flight.aclose()
    await client.aclose()


if __name__ == "__main__":
    url, prefix, key, n, lease = sys.argv[1:6]
    asyncio.run(main(url, prefix, key, int(n), float(lease)))
