"""The service watches its ledger's Redis for an eviction policy (app/budget/redis_eviction.py):
started with a Redis that may evict keys when full, it says so in /metrics."""

from __future__ import annotations

import asyncio

import pytest

from app.resilience.redis_dependency import redis_client
from tests.fakes.redis_server import RedisServer, private_redis_server  # noqa: F401 - fixture
from tests.integration.resilience.conftest import InProcessFactory, metric_value

pytestmark = pytest.mark.integration

NEVER_SECONDS = 10.0  # only turns a check that never runs into a failure instead of a hang


async def test_a_service_on_an_evicting_redis_reports_it(
    in_process: InProcessFactory, private_redis_server: RedisServer,  # noqa: F811
) -> None:
    admin = redis_client(private_redis_server.url)
    try:
        await admin.config_set("maxmemory", "64mb")
        await admin.config_set("maxmemory-policy", "allkeys-lru")
    finally:
        await admin.aclose()
    async with in_process(redis_url=private_redis_server.url, real_time=True) as svc:

        async def evictable() -> float:
            return metric_value((await svc.client.get("/metrics")).text, "ai_ledger_evictable")

        # the check runs as the service starts, in a task of its own; each scrape is a few
        # loop turns, in which it gets its answer from Redis
        async with asyncio.timeout(NEVER_SECONDS):
            while await evictable() != 1:
                pass


async def test_a_service_without_redis_exports_zero(in_process: InProcessFactory) -> None:
    async with in_process() as svc:
        text = (await svc.client.get("/metrics")).text
        assert metric_value(text, "ai_ledger_evictable") == 0
