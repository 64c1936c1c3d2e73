"""Single-flight across PROCESSES (issue 13): replicas are separate Python processes sharing the
real redis-server (tests/integration/cache/flight_replica.py). The upstream call is counted in
Redis; the test decides when it answers, and kills a leader with SIGKILL mid-call."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fakes.redis_server import RedisServer
from tests.fakes.service_process import stop_process, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
BOUND = 30.0  # seconds, an upper bound: process start-up on a loaded machine
KEY = "question-key"


@pytest.fixture
def admin(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


class Replicas:
    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self.started: list[subprocess.Popen[str]] = []

    def start(self, n: int, lease: float) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.cache.flight_replica", self.url,
             self.prefix, KEY, str(n), str(lease)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.started.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.started:
            stop_process(proc)
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def replicas(redis_server: RedisServer, prefix: str) -> Iterator[Replicas]:
    started = Replicas(redis_server.url, prefix)
    yield started
    started.stop()


def outcomes(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, _ = proc.communicate(timeout=BOUND)
    assert proc.returncode == 0
    return json.loads(out)  # type: ignore[no-any-return]


def calls(admin: redis.Redis, prefix: str) -> int:
    return int(admin.get(f"{prefix}:calls") or 0)


def patterns(admin: redis.Redis) -> int:
    return int(admin.pubsub_numpat())


def test_fifty_asks_in_two_processes_make_one_call_and_all_get_its_answer(
    replicas: Replicas, admin: redis.Redis, prefix: str
) -> None:
    first = replicas.start(25, lease=5.0)
    wait_until(lambda: calls(admin, prefix) == 1, timeout=BOUND, what="the first process leads")
    before = patterns(admin)
    second = replicas.start(25, lease=5.0)
    wait_until(lambda: patterns(admin) > before, timeout=BOUND, what="the second one watches")
    admin.set(f"{prefix}:release", 1)
    got = outcomes(first) + outcomes(second)
    assert calls(admin, prefix) == 1
    assert {o["payload"] for o in got} == {f"answer from {first.pid}"}
    assert len(got) == 50 and not any(o["timed_out"] for o in got)
    assert [o["role"] for o in got].count("leader") == 1


def test_a_leader_killed_mid_call_hands_over_within_the_lease(
    replicas: Replicas, admin: redis.Redis, prefix: str
) -> None:
    lease = 1.0
    first = replicas.start(5, lease=lease)
    wait_until(lambda: calls(admin, prefix) == 1, timeout=BOUND, what="the first process leads")
    before = patterns(admin)
    second = replicas.start(5, lease=lease)
    wait_until(lambda: patterns(admin) > before, timeout=BOUND, what="the second one watches")
    first.kill()  # mid-call: its lease is neither renewed nor released
    killed = time.monotonic()
    first.wait()
    admin.set(f"{prefix}:release", 1)  # the take-over's call answers at once
    got = outcomes(second)
    handed_over = time.monotonic() - killed
    assert calls(admin, prefix) == 2
    assert sorted(o["role"] for o in got) == ["follower"] * 4 + ["took_over"]
    assert {o["payload"] for o in got} == {f"answer from {second.pid}"}
    assert handed_over <= lease * 2 + 2.0, handed_over  # lease + a poll of lease/4 + slack
