"""Fixtures of the cache tier tests: a real redis-server of each test's own (semantic tier),
and SingleFlight instances with Redis clients of their own (one per "replica") on a shared
server, each test with its own key prefix."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from app.cache import FlightLeases, SingleFlight
from app.clock import Sleep
from app.config import CachePolicy
from app.resilience.dependency import DependencyGuard
from app.resilience.redis_dependency import redis_client
from tests.fakes.redis_server import (  # noqa: F401 - re-exported fixtures
    RedisServer,
    private_redis_server,
    redis_server,
)

ReplicaFactory = Callable[..., SingleFlight]


@pytest.fixture
def prefix() -> str:
    return f"test-flight-{uuid.uuid4().hex[:8]}"


@pytest_asyncio.fixture
async def admin(request: pytest.FixtureRequest) -> AsyncIterator[Redis]:
    """A client of the test's own on the shared server, to look at (and age) keys."""
    server: RedisServer = request.getfixturevalue("redis_server")
    client = Redis.from_url(server.url)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def replicas(prefix: str) -> AsyncIterator[Callable[..., SingleFlight]]:
    """`replica(url, policy, sleep=..., guard=...)`: a SingleFlight with its own Redis client."""
    clients: list[Redis] = []
    flights: list[SingleFlight] = []

    def replica(url: str, policy: CachePolicy, *, sleep: Sleep | None = None,
                guard: DependencyGuard | None = None) -> SingleFlight:
        client = redis_client(url)
        clients.append(client)
        leases = FlightLeases(client, policy, guard=guard, prefix=prefix)
        f = SingleFlight(policy, leases) if sleep is None else SingleFlight(
            policy, leases, sleep=sleep)
        flights.append(f)
        return f

    yield replica
    # A failed test may leave flights running: end them while their clients still work.
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in leftover:
        task.cancel()
    await asyncio.wait(leftover, timeout=5) if leftover else None
    for f in flights:
        await f.aclose()
    for client in clients:
        await client.aclose()
