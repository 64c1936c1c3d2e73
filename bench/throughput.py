"""Throughput and cost to run, one worker each, side by side in ONE invocation (issue 14).

Systems, each a real server process under load from `wrk` (bench/throughput.lua):
- floor: a bare FastAPI endpoint making one AsyncAnthropic call on aiohttp (bench/floor_app.py);
- ours uncached: POST /ask, every question distinct (each request a paid cache miss: real SDK,
  ledger reserve + settle, breaker, metrics, one JSON log line), with the SQLite ledger and
  with Redis (ledger and answer cache);
- ours cached: the same servers, one fixed question (answered from the answer cache);
- LiteLLM's proxy (its own venv, `make bench-litellm`), routed to the same upstream.
Cells (system x upstream delay x concurrency) are interleaved, repetition by repetition, so
the load of other jobs on a shared machine hits every system alike. Per cell: requests/s,
p50/p95/p99, errors (non-2xx + socket), CPU ms per request (utime+stime of the server's process
tree from /proc, over the cell, divided by completed requests) and resident memory (VmRSS).

Also: RSS over 100,000 cached requests and over 100,000 paid ones on a fresh worker (sampled
every 10,000: bench/throughput_memory.py), GET /metrics render time after
the load (median of 50), start-up to /health/ready (median of 5), and, with --profile, py-spy's
top self-time frames of the uncached and cached paths at concurrency 16.

    .venv/bin/python -m bench.throughput [--duration 5] [--repetitions 2] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import throughput_memory as memory
from bench import throughput_report as report
from bench import throughput_servers as servers
from bench.throughput_parse import WrkResult, parse_wrk, tree_cpu_seconds, tree_rss_mib
from tests.fakes.anthropic_control import FakeAnthropicControl, fake_anthropic_process
from tests.fakes.redis_server import RedisServer

LUA = Path(__file__).with_name("throughput.lua")
QUESTION = "pod OOMKilled, what now?"
ANTHROPIC_BODY = json.dumps({"model": servers.MODEL, "max_tokens": 1024,
                             "messages": [{"role": "user", "content": "QUESTION"}]})


@dataclass(frozen=True)
class System:
    name: str
    server: str
    distinct: bool  # every question distinct: the uncached path
    path: str = "/ask"
    body: str = '{"question":"QUESTION"}'
    paid: bool = False  # ours uncached: a sample must pay and the ledger must grow


@dataclass
class Cell:
    system: str
    delay_ms: int
    concurrency: int
    wrk: WrkResult
    cpu_ms: float
    rss_mib: float
    upstream_calls: int


SYSTEMS = (
    System("floor", "floor", distinct=True),
    System("ours uncached, SQLite", "sqlite", distinct=True, paid=True),
    System("ours cached, SQLite", "sqlite", distinct=False),
    System("ours uncached, Redis", "redis", distinct=True, paid=True),
    System("ours cached, Redis", "redis", distinct=False),
    System("LiteLLM", "litellm", distinct=True, path="/v1/messages", body=ANTHROPIC_BODY),
)

SQLITE_PAID = next(s for s in SYSTEMS if s.server == "sqlite" and s.distinct)
SQLITE_CACHED = next(s for s in SYSTEMS if s.server == "sqlite" and not s.distinct)


def wrk(url: str, system: System, concurrency: int, seconds: float, *, tag: str,
        limit: int = 0, auth: str = "", question: str = QUESTION) -> WrkResult:
    """`question`: the fixed question of a cached system (distinct ones derive theirs)."""
    env = {**os.environ, "BENCH_AUTH": auth, "BENCH_PATH": system.path, "BENCH_BODY": system.body,
           "BENCH_QUESTION": f"{QUESTION} {tag}" if system.distinct else question,
           "BENCH_DISTINCT": "1" if system.distinct else "0", "BENCH_LIMIT": str(limit)}
    threads = min(2, concurrency)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(concurrency), "-d",
                          f"{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(LUA), url],
                         env=env, capture_output=True, text=True, check=False)
    return parse_wrk(out.stdout + out.stderr)


def spent_usd(url: str) -> float:
    """The ledger's settled spend today, as this replica's /metrics reports it."""
    text = httpx.get(url + "/metrics", timeout=10).text
    match = re.search(r'^ai_budget_spent_usd\{window="daily"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else float("nan")


def check_paid(url: str) -> None:
    r = httpx.post(url + "/ask", json={"question": f"{QUESTION} check {uuid.uuid4().hex}"},
                   timeout=30)
    body = r.json()
    if r.status_code != 200 or body["cached"] or not body["cost_usd"] > 0:
        raise SystemExit(f"{url}: the uncached sample is not a paid answer: {r.status_code} {body}")


def exact_hits(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    match = re.search(r'^ai_cache_lookups_total\{outcome="exact"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else float("nan")


def prime_cache(url: str, question: str = QUESTION) -> None:
    """Ask `question` until the exact tier answers it: a cached cell measures exact hits.

    Each cached cell primes a question of its own (run_cell): the uncached cells before it
    store more than `cache.max_entries` answers, which evict an older fixed question's entry,
    and with Redis a repeat within the single-flight result's lifetime (lease + wait, 35 s by
    default) is then served as `coalesced` (a search, a semantic lookup and a flight claim per
    request) until a paid call stores it again. Until 2026-12-01 the Redis cached cells
    measured that mixture (bench/results/throughput.md)."""
    httpx.post(url + "/ask", json={"question": question}, timeout=30)  # pays, or is cached
    before = exact_hits(url)
    r = httpx.post(url + "/ask", json={"question": question}, timeout=30)
    if r.status_code != 200 or not r.json()["cached"] or exact_hits(url) != before + 1:
        raise SystemExit(f"{url}: the fixed question is not an exact cache hit: {r.text}")


def run_cell(server: servers.Server, system: System, delay_ms: int, concurrency: int,
             seconds: float, fake: FakeAnthropicControl) -> Cell:
    calls_before = fake.stats()["total"]
    spent_before = spent_usd(server.url) if system.paid else 0.0
    tag = uuid.uuid4().hex[:8]
    question = QUESTION
    if not system.distinct:
        question = f"{QUESTION} (fixed {tag})"
        prime_cache(server.url, question)
    cpu_before = tree_cpu_seconds(server.pid)
    result = wrk(server.url, system, concurrency, seconds, tag=tag, auth=server.auth,
                 question=question)
    cpu = tree_cpu_seconds(server.pid) - cpu_before
    rss = tree_rss_mib(server.pid)
    calls = fake.stats()["total"] - calls_before
    if system.paid:
        if not spent_usd(server.url) > spent_before:
            raise SystemExit(f"{system.name}: the ledger's spend did not grow over the cell")
        check_paid(server.url)
    if system.distinct and result.requests and calls < result.requests - result.errors:
        raise SystemExit(f"{system.name}: {result.requests} answers but only {calls} upstream "
                         "calls: it does not reach the fake upstream")
    cpu_ms = 1000 * cpu / result.requests if result.requests else float("nan")
    print(f"  {system.name:<24} delay {delay_ms:>2} ms  c={concurrency:<3} "
          f"{result.rps:8.0f} req/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
          f"err {result.errors}  cpu {cpu_ms:6.2f} ms/req  rss {rss:5.0f} MiB", flush=True)
    return Cell(system.name, delay_ms, concurrency, result, cpu_ms, rss, calls)


def matrix(running: dict[str, servers.Server], systems: list[System], fake: FakeAnthropicControl,
           args: argparse.Namespace) -> list[Cell]:
    for system in systems:  # warm-up: imports, connection pools, the cache entry
        server = running[system.server]
        if not system.distinct:
            prime_cache(server.url)
        wrk(server.url, system, 16, 2, tag="warmup" + uuid.uuid4().hex[:6], auth=server.auth)
    cells = []
    for rep in range(args.repetitions):
        for delay_ms in args.delays:
            fake.clear_faults()
            if delay_ms:
                fake.fail(delay_seconds=delay_ms / 1000, until_cleared=True)
            for concurrency in args.concurrency:
                print(f"repetition {rep + 1}, delay {delay_ms} ms, concurrency {concurrency}")
                for system in systems:
                    cells.append(run_cell(running[system.server], system, delay_ms,
                                          concurrency, args.duration, fake))
    fake.clear_faults()
    return cells


def metrics_render_ms(url: str, times: int = 50) -> tuple[float, int]:
    samples, series = [], 0
    with httpx.Client(timeout=10) as client:
        for _ in range(times):
            started = time.perf_counter()
            text = client.get(url + "/metrics").text
            samples.append(1000 * (time.perf_counter() - started))
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return statistics.median(samples), series


def startup_seconds(make: servers.Server, times: int) -> list[float]:
    out = []
    for _ in range(times):
        fresh = servers.Server(make.name + "-startup", make.argv, make.env, make.workdir,
                               ready_path=make.ready_path)
        out.append(fresh.start().ready_seconds)
        fresh.stop()
    return out


def profile_only() -> None:
    """Iterating on a fix: ours (SQLite) alone, warmed, profiled; the tables on stdout."""
    from bench.throughput_profile import profile_paths

    with (tempfile.TemporaryDirectory(prefix="throughput-") as tmp,
          fake_anthropic_process() as (fake_url, _)):
        server = servers.ours("sqlite", Path(tmp), fake_url, None).start()
        try:
            systems = [s for s in SYSTEMS if s.server == "sqlite"]
            for system in systems:
                if not system.distinct:
                    prime_cache(server.url)
                wrk(server.url, system, 16, 3, tag="warmup" + uuid.uuid4().hex[:6])
            run = report.Run(started=datetime.now(UTC), args={}, litellm_version=None,
                             profiles=profile_paths(server, systems, wrk))
            print("\n".join(report.profiles(run)))
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 50], help="upstream, ms")
    parser.add_argument("--memory-requests", type=int, default=100_000, help="0: skip")
    parser.add_argument("--startups", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="py-spy, concurrency 16")
    parser.add_argument("--profile-only", action="store_true",
                        help="only profile ours (SQLite), print the tables, write nothing")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench/results/throughput.md"))
    args = parser.parse_args(argv)
    if not servers.wrk_available():
        raise SystemExit("wrk not found: `make bench-deps` (apt-get install -y wrk)")
    if args.profile_only:
        profile_only()
        return
    started, load_before = datetime.now(UTC), os.getloadavg()
    version = None if args.no_litellm else servers.litellm_version()
    if version is None:
        print("LiteLLM is not installed (make bench-litellm): its column is skipped")
    systems = [s for s in SYSTEMS if s.server != "litellm" or version]
    run = report.Run(started=started, args=vars(args), litellm_version=version)
    redis = RedisServer.start()
    with (tempfile.TemporaryDirectory(prefix="throughput-") as tmp,
          fake_anthropic_process() as (fake_url, fake), contextlib.ExitStack() as stack):
        workdir = Path(tmp)
        stack.callback(redis.close)
        made = {"floor": servers.floor(workdir, fake_url),
                "sqlite": servers.ours("sqlite", workdir, fake_url, None),
                "redis": servers.ours("redis", workdir, fake_url, redis.url)}
        if version:
            made["litellm"] = servers.litellm(workdir, fake_url)
        for server in made.values():
            stack.callback(server.stop)
            server.start()
            run.startup[server.name] = [server.ready_seconds]
            print(f"{server.name} ready in {server.ready_seconds:.2f} s")
        run.cells = matrix(made, systems, fake, args)
        for name in ("sqlite", "redis"):
            run.metrics_ms[name] = metrics_render_ms(made[name].url)
        report.write(run, args.out)  # the matrix is kept if a later phase fails
        if args.profile:
            from bench.throughput_profile import profile_paths
            run.profiles = profile_paths(
                made["sqlite"], [s for s in SYSTEMS if s.server == "sqlite"], wrk)
        if args.memory_requests:
            print(f"memory: {args.memory_requests} cached requests")
            run.memory = memory.series(made["sqlite"], SQLITE_CACHED, wrk, args.memory_requests,
                                       10_000)
            print(f"memory: {args.memory_requests} paid requests, a fresh worker")
            run.memory_paid, run.paid_wal_bytes = memory.paid_from_fresh(
                workdir, fake_url, SQLITE_PAID, wrk, args.memory_requests, 10_000)
        for name in ("sqlite", "floor"):
            run.startup[name] += startup_seconds(made[name], args.startups - 1)
    run.load = (load_before[0], os.getloadavg()[0])
    report.write(run, args.out)
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
