"""kill -9 a replica while its paid call is in flight, then restart it on the same ledger
(issue 4, durability): the spend already recorded is intact, the dead call's reservation keeps
counting until its expiry and no longer after it. Redis and SQLite stores alike.

The reservation must also outlive the call it pays for: a call may run for the policy's whole
llm.timeout_seconds, so a live call keeps its hold past SRE_AI_RESERVATION_TTL_SECONDS when the
timeout is longer (else a second call could be admitted on money the first one may still spend).

A second replica on the same ledger watches /cost throughout, so the reservation is seen from
outside the dead process while the victim restarts (a start takes seconds here).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.services.paid_call import RESERVATION_MARGIN_SECONDS
from tests.fakes.redis_server import RedisServer
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.money.conftest import (
    SONNET,
    START_TIMEOUT_SECONDS,
    ThreadedFake,
    ask,
    avoid_hour_boundary,
    policy_yaml,
    price_usage,
    service_env,
    start_all,
    window,
    worst_case,
    write_policy,
)

pytestmark = pytest.mark.integration

# Short, so the test sees the expiry. The call's timeout is longer: it sets the hold.
TTL_SECONDS = 2.0
CALL_TIMEOUT_SECONDS = 6.0
LIFETIME_SECONDS = max(TTL_SECONDS, CALL_TIMEOUT_SECONDS + RESERVATION_MARGIN_SECONDS)


@pytest.fixture(params=["redis", "sqlite"])
def ledger_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Environment selecting the store: a redis-server of the test's own, or the SQLite file
    every ServiceProcess of the test shares (SRE_AI_LEDGER_PATH in its workdir)."""
    if request.param == "sqlite":
        yield {}
        return
    try:
        server = RedisServer.start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield {"SRE_AI_REDIS_URL": server.url}
    server.close()


def usd(value: float) -> Decimal:
    return Decimal(repr(value))


def test_kill_9_mid_call_keeps_spend_and_the_reservation_lapses_at_expiry(
    ledger_env: dict[str, str], gated_fake: ThreadedFake, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.yaml"
    write_policy(policy_file, policy_yaml(timeout_seconds=CALL_TIMEOUT_SECONDS))
    env = service_env(gated_fake, policy_file,
                      SRE_AI_RESERVATION_TTL_SECONDS=str(TTL_SECONDS), **ledger_env)
    victim = ServiceProcess(env, tmp_path, name="victim")
    observer = ServiceProcess(env, tmp_path, name="observer")
    pool = ThreadPoolExecutor(1, thread_name_prefix="victim")
    try:
        start_all([victim, observer])
        avoid_hour_boundary()
        gated_fake.reset()
        _crash_and_restart(victim, observer, gated_fake, pool)
    finally:
        pool.shutdown(wait=True)
        for svc in (victim, observer):
            svc.stop()


def _crash_and_restart(victim: ServiceProcess, observer: ServiceProcess, fake: ThreadedFake,
                       pool: ThreadPoolExecutor) -> None:
    first = ask(victim, "pod OOMKilled, what now? ticket k0001")
    assert first.status_code == 200 and first.json()["model"] == SONNET, first.text
    spent = usd(first.json()["cost_usd"])
    assert spent == price_usage(SONNET, fake.billed[0]["usage"]) > 0
    assert usd(window(observer)["spent_usd"]) == spent

    fake.hold()
    sent_at = time.time()
    in_flight = pool.submit(ask, victim, "pod OOMKilled, what now? ticket k0002")
    wait_until(lambda: fake.held == 1, timeout=60, what="the victim's call at the upstream")
    held = worst_case(SONNET, fake.arrived[-1])
    assert usd(window(observer)["reserved_usd"]) == held
    # Past the configured TTL, the call still running: its hold still counts.
    wait_until(lambda: time.time() > sent_at + TTL_SECONDS + 0.5, timeout=TTL_SECONDS + 1,
               what="the configured TTL to pass", interval=0.1)
    assert fake.held == 1
    assert usd(window(observer)["reserved_usd"]) == held

    victim.kill(signal.SIGKILL)
    killed_at = time.time()
    with pytest.raises(httpx.TransportError):
        in_flight.result(timeout=30)
    wait_until(lambda: fake.held == 0, timeout=30, what="the fake to see the caller gone")
    fake.release()

    restart = pool.submit(victim.start, ready_timeout=START_TIMEOUT_SECONDS)
    seen: list[tuple[float, float, dict[str, Any]]] = []

    def lapsed() -> bool:
        asked = time.time()
        hourly = window(observer)
        seen.append((asked, time.time(), hourly))
        return bool(hourly["reserved_usd"] == 0)

    wait_until(lambda: lapsed() and restart.done(),
               timeout=LIFETIME_SECONDS + START_TIMEOUT_SECONDS,
               what="the dead call's reservation to lapse and the victim to restart")
    restart.result()

    # A reservation made at or after `sent_at` expires no earlier than sent_at + its lifetime:
    # every snapshot answered before that must still hold it; spend never moves.
    for _, answered, hourly in seen:
        assert usd(hourly["spent_usd"]) == spent
        if answered < sent_at + LIFETIME_SECONDS:
            assert usd(hourly["reserved_usd"]) == held, (answered - sent_at, hourly)
    assert any(asked >= killed_at and answered < sent_at + LIFETIME_SECONDS
               for asked, answered, _ in seen), "no snapshot between the kill and the expiry"

    # The restarted victim reads the same ledger: the spend is intact, nothing is held...
    hourly = window(victim)
    assert usd(hourly["spent_usd"]) == spent and hourly["reserved_usd"] == 0
    # ...and it pays for calls again, recorded where every replica sees them.
    again = ask(victim, "pod OOMKilled, what now? ticket k0003")
    assert again.status_code == 200 and again.json()["cost_usd"] > 0, again.text
    assert usd(window(observer)["spent_usd"]) == spent + usd(again.json()["cost_usd"])
