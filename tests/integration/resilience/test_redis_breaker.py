"""A hung (SIGSTOP) or dead (SIGKILL) Redis behind the real app: once the shared Redis breaker
has seen it fail, no /ask touches Redis (no socket timeouts), paid calls are refused (the
ledger fails closed), the free rungs answer, readiness holds and reports the breaker, and one
half-open probe brings everything back when Redis returns.

In process (create_app on a ManualClock, so "wait 5 s in OPEN" is clock.advance), with a real
redis-server, the real anthropic SDK against the fake Anthropic server. "Reached Redis" is
ai_dependency_calls_total (every operation the guard let through to the client); the socket
timeouts themselves run on real time and are bounded by app/resilience/redis_dependency.py.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from app.resilience.redis_dependency import REDIS_BREAKER_POLICY
from tests.fakes.redis_server import RedisServer
from tests.integration.resilience.conftest import (
    PRIMARY,
    InProcessFactory,
    InProcessService,
    question,
)

pytestmark = pytest.mark.integration

WAIT_IN_OPEN = REDIS_BREAKER_POLICY.wait_in_open_seconds
AFTER_DETECTION = 10  # asks made while the breaker is open

ServiceFactory = Callable[[str], AbstractAsyncContextManager[InProcessService]]


@pytest.fixture
def redis_service(in_process: InProcessFactory) -> ServiceFactory:
    """The app with its ledger and answer cache on `redis_url`."""
    return lambda redis_url: in_process(redis_url=redis_url)


def reached(svc: InProcessService) -> float:
    """Redis operations the breaker let through (each one may wait a socket timeout)."""
    return sum(svc.sample("ai_dependency_calls_total", dependency="redis", outcome=o)
               for o in ("success", "failure"))


def short_circuited(svc: InProcessService) -> float:
    return svc.sample("ai_dependency_short_circuited_calls_total", dependency="redis")


def redis_state(svc: InProcessService) -> str:
    for state in ("closed", "open", "half_open"):
        if svc.sample("ai_dependency_breaker_state", dependency="redis", state=state) == 1:
            return state
    raise AssertionError("no ai_dependency_breaker_state series is 1")


def break_redis(server: RedisServer, how: str) -> None:
    if how == "hung":
        server.pause()  # keeps its port, accepts connections, answers nothing
    else:
        server.stop(kill=True)  # connection refused


def mend_redis(server: RedisServer, how: str) -> None:
    if how == "hung":
        server.resume()
    else:
        server.restart()  # same port; the AOF brings the ledger back


@pytest.mark.parametrize("how", ["hung", "dead"])
async def test_after_detection_no_ask_touches_redis_and_a_probe_recovers(
    how: str, private_redis_server: RedisServer, redis_service: ServiceFactory
) -> None:
    async with redis_service(private_redis_server.url) as svc:
        warm = await svc.ask(question(0))
        assert warm.status_code == 200 and warm.json()["model"] == PRIMARY
        assert redis_state(svc) == "closed" and reached(svc) > 0

        break_redis(private_redis_server, how)
        # Detection: this ask's first operations fail (each within one socket timeout) and
        # open the breaker; it is still answered from a free rung.
        before = reached(svc)
        first = await svc.ask(question(1))
        assert first.status_code == 200, first.text
        assert first.json()["degraded"]["mode"] == "offline"
        assert first.json()["degraded"]["reason"] == "ledger_unavailable"
        assert redis_state(svc) == "open"
        assert reached(svc) - before == REDIS_BREAKER_POLICY.minimum_calls

        # After detection: nothing reaches Redis, every operation is short-circuited.
        detected, refused, upstream = reached(svc), short_circuited(svc), svc.upstream_calls()
        for i in range(2, 2 + AFTER_DETECTION):
            r = await svc.ask(question(i))
            assert r.status_code == 200, r.text
            assert r.json()["degraded"]["mode"] == "offline"
        again = await svc.ask(question(0))  # answered before the outage: the local tier has it
        assert again.status_code == 200 and again.json()["cached"] is True
        assert reached(svc) == detected
        # Per fresh ask: primary lookup + reserve, fallback lookup + reserve, two stale lookups.
        assert short_circuited(svc) - refused >= 4 * AFTER_DETECTION
        assert svc.upstream_calls() == upstream  # fail closed: no paid call without a ledger

        ready = await svc.client.get("/health/ready")
        assert ready.status_code == 200, ready.text  # a shared Redis down is not our fault
        body = ready.json()
        assert body["dependencies"]["redis"]["state"] == "open"
        assert body["ledger"].startswith("unavailable")
        assert reached(svc) == detected

        # Still down after the wait: ONE probe goes through, fails, and the breaker re-opens.
        svc.advance(WAIT_IN_OPEN)
        assert (await svc.ask(question(30))).status_code == 200
        assert reached(svc) == detected + 1
        assert redis_state(svc) == "open"

        # Back: the next probe (after the wait) succeeds and closes the breaker; paid again.
        mend_redis(private_redis_server, how)
        assert (await svc.ask(question(31))).json()["degraded"]["mode"] == "offline"
        assert redis_state(svc) == "open"  # no probe before the wait is over
        svc.advance(WAIT_IN_OPEN)
        back = await svc.ask(question(32))
        assert back.status_code == 200, back.text
        assert back.json()["model"] == PRIMARY and back.json().get("degraded") is None
        assert redis_state(svc) == "closed"
        closed = svc.sample("ai_dependency_breaker_transitions_total", dependency="redis",
                            from_state="half_open", to_state="closed")
        assert closed == 1
        ready = (await svc.client.get("/health/ready")).json()
        assert ready["dependencies"]["redis"]["state"] == "closed"
        assert ready["ledger"] == "ok"
