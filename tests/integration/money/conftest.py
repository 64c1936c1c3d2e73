"""Service-level money proofs (issue 4): real uvicorn replicas, a real redis-server, and a fake
Anthropic API that can HOLD calls until the test lets them go.

The fake runs on its own event loop in a thread of the test process, so the tests stay plain
synchronous code (blocking httpx, `wait_until`) while it serves the replicas. `GatedFake` adds
two things to the shared fake: a gate (closed: a call is held in flight after it arrived, the
slowest possible upstream, released when the test says so) and a record of the usage it billed,
so the tests price the spend on their own, from the policy's prices, in Decimal.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
import yaml
from aiohttp import web

from app.config import parse_policy
from app.llm.base import Document
from app.services.paid_call import estimate_request_tokens
from tests.fakes.anthropic_citations import request_parts
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.redis_server import RedisServer
from tests.fakes.service_process import ServiceProcess, wait_until
from tests.integration.resilience.conftest import in_process  # noqa: F401 - re-exported fixture

T = TypeVar("T")

SONNET = "claude-sonnet-4-6"
HAIKU = "claude-haiku-4-5-20251001"
# USD per million tokens. The policy the services run carries these; the tests price with them.
PRICES: dict[str, dict[str, float]] = {
    SONNET: {"input": 3.0, "output": 15.0, "cache_write_5m": 3.75, "cache_write_1h": 6.0,
             "cache_read": 0.30},
    HAIKU: {"input": 1.0, "output": 5.0, "cache_write_5m": 1.25, "cache_write_1h": 2.0,
            "cache_read": 0.10},
}
NANO = Decimal("1e-9")
START_TIMEOUT_SECONDS = 120.0  # two busy cores, several replicas importing anthropic at once
RELOAD_TIMEOUT_SECONDS = 20.0
HTTP_TIMEOUT_SECONDS = 30.0


# ------------------------------------------------------------------ policy


def policy_yaml(
    *,
    hourly_usd: float = 10.0,
    per_request_usd: float = 0.5,
    offline: bool = False,
    stale_cache: bool = False,
    max_tokens: int = 1024,
    timeout_seconds: float = 300.0,
) -> str:
    """The money tests' policy: daily and monthly far above hourly, so hourly is what binds;
    the breaker never trips on the long holds of a gated call."""
    return yaml.safe_dump({
        "budgets": {"per_request_usd": per_request_usd, "hourly_usd": hourly_usd,
                    "daily_usd": 1000.0, "monthly_usd": 10000.0},
        "models": PRICES,
        "routing": {"default_model": SONNET, "fallback_model": HAIKU},
        "llm": {"max_tokens": max_tokens, "timeout_seconds": timeout_seconds},
        "breaker": {"slow_call_duration_seconds": 600, "minimum_calls": 100,
                    "window_size": 100},
        "degradation": {"offline": offline, "stale_cache": stale_cache},
    }, sort_keys=False)


def write_policy(path: Path, text: str) -> str:
    """Replace the file atomically (as the kubelet does); returns the digest replicas report."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return parse_policy(text).digest


# ------------------------------------------------------------------ independent pricing


def price_usage(model: str, usage: Mapping[str, Any]) -> Decimal:
    """What Anthropic bills for one reply's usage, from PRICES, rounded up to a nano-dollar."""
    p = {k: Decimal(repr(v)) for k, v in PRICES[model].items()}
    split = usage.get("cache_creation") or {}
    femto_usd: Decimal = (
        usage["input_tokens"] * p["input"] + usage["output_tokens"] * p["output"]
        + usage["cache_read_input_tokens"] * p["cache_read"]
        + split.get("ephemeral_5m_input_tokens", 0) * p["cache_write_5m"]
        + split.get("ephemeral_1h_input_tokens", 0) * p["cache_write_1h"]
    ) / Decimal(1_000_000)
    return femto_usd.quantize(NANO, rounding=ROUND_CEILING)


def estimated_input_tokens(body: Mapping[str, Any]) -> int:
    """The service's own input estimate for a request the fake received (system, question and
    the runbook documents)."""
    system, prompt, docs = request_parts(dict(body))
    documents = tuple(Document(title=t, context=c, text=x) for t, c, x in docs)
    return estimate_request_tokens(system, prompt, documents)


def worst_case(model: str, call: Mapping[str, Any]) -> Decimal:
    """The ledger's worst case for a call the fake received: estimated input tokens at the
    dearest input rate (the context is cacheable, so a token may bill as a 1h cache write)
    plus all of max_tokens at the output price."""
    p = PRICES[model]
    input_rate = Decimal(repr(max(p["input"], p["cache_write_5m"], p["cache_write_1h"])))
    tokens_in = call["estimated_tokens"]
    output_rate = Decimal(repr(p["output"]))
    usd: Decimal = (tokens_in * input_rate + call["max_tokens"] * output_rate) / 1_000_000
    return usd.quantize(NANO, rounding=ROUND_CEILING)


# ------------------------------------------------------------------ the gated fake


class GatedFake(FakeAnthropic):
    """FakeAnthropic that can hold calls (gate closed) and records arrivals; what it billed is
    the base fake's own record (`billed`: model, usage and caller of every reply)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.arrived: list[dict[str, Any]] = []
        self.held = 0

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.arrived.append({"model": body["model"], "max_tokens": body["max_tokens"],
                             "estimated_tokens": estimated_input_tokens(body)})
        self.held += 1
        try:
            await self.gate.wait()
        finally:
            self.held -= 1
        return await super()._answer(request)

    def reset(self) -> None:
        super().reset()
        self.arrived, self.held = [], 0


class ThreadedFake:
    """A GatedFake served by an event loop in a background thread; every access goes through
    that loop, so the test thread sees consistent snapshots."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-anthropic",
                                        daemon=True)
        self._thread.start()

        async def start() -> GatedFake:
            return await GatedFake().start()

        self._fake = self._run(start())
        self.url = self._fake.url

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def call(self, fn: Callable[[GatedFake], T]) -> T:
        async def run() -> T:
            return fn(self._fake)

        return self._run(run())

    def hold(self) -> None:
        self.call(lambda f: f.gate.clear())

    def release(self) -> None:
        self.call(lambda f: f.gate.set())

    def reset(self) -> None:
        def open_and_reset(fake: GatedFake) -> None:
            fake.gate.set()
            fake.reset()

        self.call(open_and_reset)

    @property
    def held(self) -> int:
        return self.call(lambda f: f.held)

    @property
    def arrived(self) -> list[dict[str, Any]]:
        return self.call(lambda f: list(f.arrived))

    @property
    def billed(self) -> list[dict[str, Any]]:
        return self.call(lambda f: list(f.billed))

    @property
    def stats(self) -> dict[str, Any]:
        return self.call(lambda f: f.stats)

    def close(self) -> None:
        self._run(self._fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture(scope="module")
def gated_fake() -> Iterator[ThreadedFake]:
    fake = ThreadedFake()
    yield fake
    fake.close()


# ------------------------------------------------------------------ talking to replicas


def cost(svc: ServiceProcess) -> dict[str, Any]:
    r = httpx.get(svc.url + "/cost", timeout=HTTP_TIMEOUT_SECONDS)
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


def window(svc: ServiceProcess, name: str = "hourly") -> dict[str, Any]:
    found: dict[str, Any] = next(w for w in cost(svc)["windows"] if w["window"] == name)
    return found


def ask(svc: ServiceProcess, question: str) -> httpx.Response:
    return httpx.post(svc.url + "/ask", json={"question": question},
                      timeout=HTTP_TIMEOUT_SECONDS)


def metric_sum(svc: ServiceProcess, series: str) -> float:
    """The value of one exact series (`name{labels}`) in /metrics, 0 when absent."""
    for line in httpx.get(svc.url + "/metrics", timeout=HTTP_TIMEOUT_SECONDS).text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def ready(svc: ServiceProcess) -> httpx.Response:
    return httpx.get(svc.url + "/health/ready", timeout=HTTP_TIMEOUT_SECONDS)


def wait_for_policy(replicas: list[ServiceProcess], digest: str) -> None:
    """Until every replica runs the policy (read from readiness: it answers without a ledger)."""
    for svc in replicas:
        wait_until(lambda s=svc: ready(s).json()["policy"]["hash"] == digest,
                   timeout=RELOAD_TIMEOUT_SECONDS, what=f"policy {digest} on {svc.url}")


def start_all(replicas: list[ServiceProcess]) -> None:
    """Start replicas side by side: most of a start is importing, and imports wait on I/O."""
    with ThreadPoolExecutor(len(replicas)) as pool:
        for f in [pool.submit(s.start, ready_timeout=START_TIMEOUT_SECONDS) for s in replicas]:
            f.result()


def seconds_into_hour() -> float:
    now = datetime.now(UTC)
    return now.minute * 60 + now.second + now.microsecond / 1e6


def avoid_hour_boundary(needed_seconds: float = 240.0) -> None:
    """The hourly window is calendar-aligned: a test must not straddle a UTC hour boundary,
    or its spend would be split across two windows. Waits (on the clock) for the next hour
    when fewer than `needed_seconds` are left in this one."""
    if 3600 - seconds_into_hour() < needed_seconds:
        wait_until(lambda: seconds_into_hour() < 60, timeout=needed_seconds + 60,
                   what="the next UTC hour", interval=0.5)


def seconds_to_next_hour() -> float:
    return 3600 - seconds_into_hour()


def service_env(fake: ThreadedFake, policy_file: Path, **extra: str) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": FAKE_API_KEY,
        "ANTHROPIC_BASE_URL": fake.url,
        "SRE_AI_POLICY_FILE": str(policy_file),
        "SRE_AI_WATCH_INTERVAL_SECONDS": "0.2",
        **extra,
    }


# ------------------------------------------------------------------ the Redis fleet


@dataclass
class Fleet:
    """Three replicas sharing one redis-server (ledger and answer cache) and one policy file."""

    replicas: list[ServiceProcess]
    redis: RedisServer
    policy_file: Path
    fake: ThreadedFake

    def apply(self, text: str) -> None:
        wait_for_policy(self.replicas, write_policy(self.policy_file, text))

    def flush(self) -> None:
        with redis.Redis.from_url(self.redis.url) as client:
            client.flushall()


@pytest.fixture(scope="module")
def fleet_processes(
    tmp_path_factory: pytest.TempPathFactory, gated_fake: ThreadedFake
) -> Iterator[Fleet]:
    try:
        server = RedisServer.start(persistent=True)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    workdir = tmp_path_factory.mktemp("fleet")
    policy_file = workdir / "policy.yaml"
    write_policy(policy_file, policy_yaml())
    env = service_env(gated_fake, policy_file, SRE_AI_REDIS_URL=server.url)
    replicas = [ServiceProcess(env, workdir, name=f"replica{i}") for i in range(3)]
    try:
        start_all(replicas)
        yield Fleet(replicas, server, policy_file, gated_fake)
    finally:
        for svc in replicas:
            svc.stop()
        server.close()


@pytest.fixture
def fleet(fleet_processes: Fleet) -> Fleet:
    """The module's fleet in a known state: Redis up and empty (no spend, no cached answers),
    the fake open with nothing recorded, every replica alive, well clear of an hour boundary."""
    f = fleet_processes
    f.redis.restart()
    f.flush()
    f.fake.reset()
    dead = [s for s in f.replicas if s.proc is None or s.proc.poll() is not None]
    if dead:
        start_all(dead)
    avoid_hour_boundary()
    return f


# ------------------------------------------------------------------ concurrent requests


@dataclass
class Outcome:
    replica: int
    question: str
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


async def _burst(urls: list[str], questions: list[str], done: list[Outcome]) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=600) as client:
        async def one(i: int, question: str) -> None:
            r = await client.post(urls[i % len(urls)] + "/ask", json={"question": question})
            done.append(Outcome(i % len(urls), question, r.status_code, dict(r.headers),
                                r.json()))

        await asyncio.gather(*(one(i, q) for i, q in enumerate(questions)))


class Burst:
    """All `questions` sent at once, round-robin over the replicas, from a thread of its own;
    `done` fills as answers arrive."""

    def __init__(self, replicas: list[ServiceProcess], questions: list[str]) -> None:
        self.done: list[Outcome] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="burst")
        self._future = self._pool.submit(
            asyncio.run, _burst([s.url for s in replicas], questions, self.done))

    def finish(self, timeout: float) -> list[Outcome]:
        try:
            self._future.result(timeout=timeout)
        finally:
            self._pool.shutdown(wait=True)
        return self.done


