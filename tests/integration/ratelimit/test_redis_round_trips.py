"""Redis round trips per paid /ask (issue 14), on the production path: rate limits on, the
ledger, the answer caches and single-flight all in one real redis-server.

Each paid ask issues 11 commands (rate-limit admit and charge, exact-cache get and put,
semantic lookup and two adds, single-flight claim and finish, ledger reserve and settle). Sent
one by one that is 11 round trips; concurrent asks' commands of one loop turn go out together
(app/resilience/redis_batching.py). Counted by the server: `total_reads_processed`, one read
event per write it receives.
"""

from __future__ import annotations

import asyncio
import uuid

import redis

from tests.fakes.redis_server import RedisServer
from tests.integration.ratelimit.conftest import ServiceFactory

CONCURRENT = 16
COMMANDS_PER_ASK = 11
LIMITS = {"default": {"requests_per_minute": 100_000, "tokens_per_minute": 100_000_000}}


def _reads(server: RedisServer) -> int:
    with redis.Redis.from_url(server.url) as admin:
        return int(admin.info("stats")["total_reads_processed"])


async def test_concurrent_paid_asks_share_redis_round_trips(
    service: ServiceFactory, private_redis_server: RedisServer
) -> None:
    async with service(rate_limits=LIMITS, redis_url=private_redis_server.url) as svc:

        async def burst() -> None:
            replies = await asyncio.gather(*(
                svc.ask(f"why is pod {uuid.uuid4().hex} in CrashLoopBackOff?")
                for _ in range(CONCURRENT)))
            assert [r.status_code for r in replies] == [200] * CONCURRENT
            assert all(r.json()["cached"] is False for r in replies)

        await burst()  # connection pools grown, scripts loaded
        baseline = _reads(private_redis_server) - _reads(private_redis_server)
        paid_before = svc.upstream_calls()
        before = _reads(private_redis_server)
        await burst()
        used = _reads(private_redis_server) - before + baseline
        assert svc.upstream_calls() - paid_before == CONCURRENT  # every ask paid its call
        # One by one: at least COMMANDS_PER_ASK round trips per ask. Shared: far fewer.
        assert used / CONCURRENT <= COMMANDS_PER_ASK / 2, used
