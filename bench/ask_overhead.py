"""What the ledger's reserve + settle add to a whole paid /ask, with SQLite and with Redis.

Why: the ledger is on the path of every paid request; issue 4 asks for its cost as a share of
the request's own CPU. Each variant is the real app (create_app, its lifespan, middleware, the
real anthropic SDK on aiohttp) driven in process over httpx's ASGI transport, one request at a
time, against the fake Anthropic API in ANOTHER process answering at once (so the process
measured is the service alone). Every question is distinct: each request is a cache miss that
pays, so it does exactly one reserve and one settle.

Per request: `time.process_time` (CPU of this process, the SQLite worker thread included) and
`time.perf_counter` around the whole request, and around each `Ledger.reserve` / `settle`
(wrapped on the live ledger). The `memory` variant is the SQLite configuration with the ledger's
store swapped for the in-memory one: the request without a durable store, for comparison.
Variants run in interleaved rounds so load drift on a shared machine hits them alike.
redis-server's own CPU is outside this process: it is read from /proc and reported apart.

    .venv/bin/python bench/ask_overhead.py [--requests 900] [--rounds 30]
        [--out bench/results/money.md]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import yaml
from prometheus_client import CollectorRegistry

from app.budget.stores.memory import MemoryStore
from app.config import Settings
from app.main import create_app
from tests.fakes.anthropic_control import fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY
from tests.fakes.redis_server import RedisServer


@dataclass(frozen=True)
class Setup:
    name: str
    redis: bool  # SRE_AI_REDIS_URL set: the answer cache (and ledger) live in Redis
    memory_ledger: bool  # the ledger's store swapped for the in-memory one
    baseline: str | None  # the setup that differs from this one only by the ledger store


SETUPS = (
    Setup("memory", redis=False, memory_ledger=True, baseline=None),
    Setup("sqlite", redis=False, memory_ledger=False, baseline="memory"),
    Setup("memory, Redis cache", redis=True, memory_ledger=True, baseline=None),
    Setup("redis", redis=True, memory_ledger=False, baseline="memory, Redis cache"),
)
WARMUP_REQUESTS = 30
POLICY = {"budgets": {"per_request_usd": 0.5, "hourly_usd": 10_000, "daily_usd": 10_000,
                      "monthly_usd": 100_000}}


@dataclass
class Samples:
    request_cpu: list[float] = field(default_factory=list)
    request_wall: list[float] = field(default_factory=list)
    ledger_cpu: list[float] = field(default_factory=list)
    ledger_wall: list[float] = field(default_factory=list)


class LedgerTimer:
    """Wraps reserve/settle/release on one live Ledger and sums their time per request."""

    def __init__(self, ledger: Any) -> None:
        self.cpu = 0.0
        self.wall = 0.0
        for name in ("reserve", "settle", "release"):
            setattr(ledger, name, self._timed(getattr(ledger, name)))

    def _timed(self, step: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return await step(*args, **kwargs)
            finally:
                self.cpu += time.process_time() - cpu
                self.wall += time.perf_counter() - wall

        return timed

    def take(self) -> tuple[float, float]:
        taken, self.cpu, self.wall = (self.cpu, self.wall), 0.0, 0.0
        return taken


@dataclass
class Variant:
    name: str
    tag: str
    client: httpx.AsyncClient
    timer: LedgerTimer
    samples: Samples = field(default_factory=Samples)
    asked: int = 0

    async def run(self, requests: int, *, record: bool = True) -> None:
        for _ in range(requests):
            self.asked += 1
            question = f"pod OOMKilled, what now? ticket {self.tag}{self.asked:05d}"
            self.timer.take()
            cpu, wall = time.process_time(), time.perf_counter()
            r = await self.client.post("/ask", json={"question": question})
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            body = r.json()
            if r.status_code != 200 or not body["cost_usd"] > 0 or body["cached"]:
                raise RuntimeError(f"{self.name}: not a paid answer: {r.status_code} {body}")
            ledger_cpu, ledger_wall = self.timer.take()
            if record:
                s = self.samples
                s.request_cpu.append(cpu)
                s.request_wall.append(wall)
                s.ledger_cpu.append(ledger_cpu)
                s.ledger_wall.append(ledger_wall)


async def open_variant(index: int, setup: Setup, stack: contextlib.AsyncExitStack,
                       workdir: Path, fake_url: str, redis_url: str) -> Variant:
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(POLICY))
    settings = Settings(
        anthropic_api_key=FAKE_API_KEY, anthropic_base_url=fake_url, policy_file=policy_file,
        ledger_path=workdir / f"ledger-{index}.sqlite3",
        redis_url=redis_url if setup.redis else None,
        # No per-request log line: a smaller denominator, so the share is not flattered.
        log_level="WARNING",
    )
    app = create_app(settings, registry=CollectorRegistry())
    await stack.enter_async_context(app.router.lifespan_context(app))
    runtime = app.state.runtime
    if setup.memory_ledger:
        runtime.ledger.store = MemoryStore()
    client = await stack.enter_async_context(httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=60))
    return Variant(setup.name, "abcdefgh"[index], client, LedgerTimer(runtime.ledger))


def q(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(requests: int, rounds: int, fake_url: str,
                  redis: RedisServer) -> tuple[dict[str, Samples], dict[str, float]]:
    """Samples per setup, and redis-server's CPU per request for the setups that use it."""
    per_round = max(1, requests // rounds)
    async with contextlib.AsyncExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ask-bench-")))
        variants = [await open_variant(i, setup, stack, workdir, fake_url, redis.url)
                    for i, setup in enumerate(SETUPS)]
        for v in variants:
            await v.run(WARMUP_REQUESTS, record=False)
        assert redis.process is not None
        server_cpu = {s.name: 0.0 for s in SETUPS if s.redis}
        for _ in range(rounds):
            for v in variants:
                before = proc_cpu_seconds(redis.process.pid)
                await v.run(per_round)
                if v.name in server_cpu:
                    server_cpu[v.name] += proc_cpu_seconds(redis.process.pid) - before
        measured = per_round * rounds
        return ({v.name: v.samples for v in variants},
                {name: cpu / measured for name, cpu in server_cpu.items()})


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip()
                   for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    return f"{cpu}, {os.cpu_count()} CPUs"


def report(results: dict[str, Samples], server_cpu: dict[str, float], requests: int,
           rounds: int, load: tuple[float, float], started: datetime) -> str:
    rows = []
    for setup in SETUPS:
        s = results[setup.name]
        req_cpu = statistics.median(s.request_cpu)
        led_cpu = statistics.median(s.ledger_cpu)
        added = "-"
        if setup.baseline is not None:
            base = statistics.median(results[setup.baseline].request_cpu)
            added = f"{ms(req_cpu - base)} ({100 * (req_cpu - base) / req_cpu:.0f} %)"
        rows.append(
            f"| {setup.name} | {ms(req_cpu)} | {ms(q(s.request_cpu, 99))} | "
            f"{ms(statistics.median(s.request_wall))} | {us(led_cpu)} | "
            f"{us(q(s.ledger_cpu, 99))} | {us(statistics.median(s.ledger_wall))} | "
            f"{us(q(s.ledger_wall, 99))} | {100 * led_cpu / req_cpu:.0f} % | "
            f"{100 * sum(s.ledger_cpu) / sum(s.request_cpu):.0f} % | {added} |"
        )
    cache_only, with_ledger = server_cpu["memory, Redis cache"], server_cpu["redis"]
    short = []
    for name in ("sqlite", "redis"):
        s = results[name]
        led, req = statistics.median(s.ledger_cpu), statistics.median(s.request_cpu)
        short.append(f"{us(led)} µs CPU with {name} (p99 {us(q(s.ledger_cpu, 99))} µs), "
                     f"{100 * led / req:.0f} % of the request's {ms(req)} ms")
    return "\n".join([
        "# Money overhead: what reserve + settle add to a whole paid /ask",
        "",
        f"Produced by `bench/ask_overhead.py` on {started:%Y-%m-%d %H:%M} UTC: "
        f"{requests} measured paid requests per setup (after {WARMUP_REQUESTS} warm-up), "
        f"in {rounds} interleaved rounds, one request at a time. Each setup is the real app "
        "(middleware, retrieval, answer cache, ledger, breaker, the anthropic SDK on aiohttp) "
        "over httpx's ASGI transport, answered at once by the fake Anthropic API in another "
        "process. Every question is distinct, so every request pays: one reserve, one settle.",
        "",
        f"In short: reserve + settle take {short[0]}; {short[1]} (medians).",
        "",
        f"Machine: {machine()}, 1-minute load average {load[0]:.1f} before and {load[1]:.1f} "
        "after: a shared VM with other jobs running, so read medians and ratios, not absolute "
        f"p99s. Python {platform.python_version()}; SQLite in WAL mode, each settle fsynced "
        "before it returns, on ext4; redis-server 7 on loopback, AOF off. CPU is "
        "`time.process_time` of the service process (the SQLite worker thread included).",
        "",
        "| setup | request CPU p50 ms | request CPU p99 ms | request wall p50 ms "
        "| reserve+settle CPU p50 µs | CPU p99 µs | reserve+settle wall p50 µs | wall p99 µs "
        "| reserve+settle share of request CPU (p50/p50) | share (sum/sum) "
        "| request CPU added vs memory ledger, ms (share) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"redis-server's own CPU (from /proc, 10 ms ticks): {us(with_ledger)} µs per request "
        f"with the Redis ledger, {us(cache_only)} µs with only the answer cache in Redis: "
        f"the ledger's two Lua scripts cost the server about {us(with_ledger - cache_only)} µs "
        "per request, outside the service's CPU.",
        "",
        "How to read it:",
        "- The reserve+settle columns time the two awaits themselves, on the live ledger of",
        "  the running app: the direct answer. The share columns divide them by the CPU of",
        "  the whole request they were part of.",
        "- The `memory` setups are the same requests with the ledger's store swapped for the",
        "  in-memory one (the second keeps its answer cache in Redis, like `redis`): their",
        "  reserve+settle column is the ledger's own Python (uuid, windows, nano-USD) without a",
        "  store. The last column is a cross-check from outside the ledger: the whole-request",
        "  CPU against the matching memory setup. It is a difference of medians of requests",
        "  that take a few ms each on a loaded machine, so it is noisy; it also catches what",
        "  the store costs around the awaits (the SQLite thread hand-off, the event loop's",
        "  socket reads).",
        "- The upstream answered at once here. A real Claude call keeps a request open for",
        "  0.5-30 s, so against wall time the ledger is far below 1 %; the CPU share is the",
        "  figure that matters for sizing replicas (CPU per paid request).",
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=900, help="measured, per setup")
    parser.add_argument("--rounds", type=int, default=30,
                        help="interleaved rounds: load drift hits every setup alike")
    parser.add_argument("--out", type=Path, default=Path("bench/results/money.md"))
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    redis = RedisServer.start()
    try:
        with fake_anthropic_process() as (fake_url, _):
            results, server_cpu = asyncio.run(
                measure(args.requests, args.rounds, fake_url, redis))
    finally:
        redis.close()
    measured = len(results["memory"].request_cpu)
    text = report(results, server_cpu, measured, args.rounds,
                  (load_before, os.getloadavg()[0]), started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
