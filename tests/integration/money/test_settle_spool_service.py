"""The ledger goes away while a paid call runs (issue "the ledger misses money that Anthropic
bills", bug 2): the spend is spooled on the pod's disk, survives kill -9, and the restarted
process settles it into the ledger at start-up, against the window it was admitted in.

A real uvicorn service on a real redis-server ledger (persistent, as in production), the gated
fake Anthropic API holding the call while the test stops Redis."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.redis_server import RedisServer
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.money.conftest import (
    SONNET,
    START_TIMEOUT_SECONDS,
    ThreadedFake,
    ask,
    avoid_hour_boundary,
    metric_sum,
    policy_yaml,
    price_usage,
    service_env,
    window,
    write_policy,
)

pytestmark = pytest.mark.integration


def test_spend_spooled_while_the_ledger_is_down_survives_kill_9_and_is_settled_at_start(
    gated_fake: ThreadedFake, tmp_path: Path
) -> None:
    try:
        redis = RedisServer.start(persistent=True)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    gated_fake.reset()
    avoid_hour_boundary()
    policy_file = tmp_path / "policy.yaml"
    write_policy(policy_file, policy_yaml())
    # A replay interval far beyond the test: only the start-up replay can settle.
    env = service_env(gated_fake, policy_file, SRE_AI_REDIS_URL=redis.url,
                      SRE_AI_SPOOL_REPLAY_INTERVAL_SECONDS="3600")
    victim = ServiceProcess(env, tmp_path, name="victim")
    restarted = ServiceProcess(env, tmp_path, name="restarted")
    pool = ThreadPoolExecutor(1, thread_name_prefix="ask")
    try:
        victim.start(ready_timeout=START_TIMEOUT_SECONDS)
        gated_fake.hold()
        pending = pool.submit(ask, victim, "pod OOMKilled, what now?")
        wait_until(lambda: gated_fake.held == 1, timeout=30, what="the call in flight")
        redis.stop()  # the ledger is gone when the call ends
        gated_fake.release()
        r = pending.result(timeout=60)
        assert r.status_code == 200, r.text
        [billed] = gated_fake.billed
        cost = price_usage(SONNET, billed["usage"])
        assert Decimal(repr(r.json()["cost_usd"])) == cost
        assert metric_sum(victim, "ai_settle_spool_depth") == 1
        assert metric_sum(victim, 'ai_settle_spool_writes_total{result="spooled"}') == 1

        victim.kill(signal.SIGKILL)
        redis.restart()
        restarted.start(ready_timeout=START_TIMEOUT_SECONDS)
        hourly = window(restarted)  # the start-up replay ran before the service answered
        assert Decimal(repr(hourly["spent_usd"])) == cost
        assert hourly["reserved_usd"] == 0
        assert metric_sum(restarted, "ai_settle_spool_depth") == 0
        assert metric_sum(restarted, 'ai_settle_spool_replays_total{result="settled"}') == 1
    finally:
        gated_fake.release()
        pool.shutdown(wait=True)
        victim.stop()
        restarted.stop()
        redis.close()
