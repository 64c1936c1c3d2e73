"""What a hung Redis costs one /ask, before and after the Redis breaker has detected it.

Why: the issue "a hung Redis costs 8 s per request". Each /ask that misses the cache makes up to
six Redis operations (two cache lookups and a reserve per paid rung, two stale lookups on the
free rungs); before this change each one waited its own socket timeout (the ledger's twice).
Measured through the real pipeline (create_app in process, its lifespan run here, the system
clock), a real redis-server paused with SIGSTOP (it keeps its port and answers nothing) and the
fake Anthropic API on the same loop. Every ask is a new question (a cache miss).

Three set-ups of the same code, the first two patched in here:
- `before`: the clients as they were (1 s socket timeouts; the ledger retried a timeout once)
  and no breaker;
- `timeouts only`: the new clients (cache 0.5 s, a timeout not retried; ledger as before),
  no breaker;
- `breaker`: as shipped (app/resilience/redis_dependency.py).

    .venv/bin/python bench/redis_outage.py [--requests 200] [--out bench/results/redis.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import yaml
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the fakes live in tests/, which is not installed

from app.clock import Clock  # noqa: E402
from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402
from app.metrics import Metrics  # noqa: E402
from app.resilience.dependency import DependencyGuard  # noqa: E402
from app.resilience.redis_dependency import REDIS_BREAKER_POLICY, redis_guard  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic  # noqa: E402
from tests.fakes.fixtures import FAKE_API_KEY  # noqa: E402
from tests.fakes.redis_server import RedisServer  # noqa: E402

TOPICS = ("pod OOMKilled what now", "CrashLoopBackOff restarts", "ImagePullBackOff on deploy",
          "node NotReady", "TLS certificate expiry", "DNS resolution failures")
POLICY = {"budgets": {"hourly_usd": 1000, "daily_usd": 1000, "monthly_usd": 1000}}
NEVER_OPENS = REDIS_BREAKER_POLICY.model_copy(update={"minimum_calls": 10**9})
KEEP_MARKER = "<!-- notes by hand below: kept when the report is regenerated -->"


def no_breaker(clock: Clock, metrics: Metrics | None = None) -> DependencyGuard:
    return redis_guard(clock, metrics, NEVER_OPENS)


def old_cache_client(url: str, **_: Any) -> Redis:
    return Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def old_ledger_client(url: str, **_: Any) -> Redis:
    return Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5,
                          retry=Retry(NoBackoff(), 1), decode_responses=True)


@contextmanager
def setup(name: str) -> Iterator[None]:
    if name == "breaker":
        yield
        return
    with mock.patch("app.runtime.redis_guard", no_breaker):
        if name == "timeouts only":
            yield
            return
        with (mock.patch("app.runtime.redis_client", old_cache_client),
              mock.patch("app.budget.stores.redis.redis_client", old_ledger_client)):
            yield


@asynccontextmanager
async def service(redis_url: str, fake: FakeAnthropic) -> AsyncIterator[httpx.AsyncClient]:
    with tempfile.TemporaryDirectory() as tmp:
        policy_file = Path(tmp) / "policy.yaml"
        policy_file.write_text(yaml.safe_dump(POLICY), encoding="utf-8")
        settings = Settings(anthropic_api_key=FAKE_API_KEY, anthropic_base_url=fake.url,
                            policy_file=policy_file, ledger_path=Path(tmp) / "l.sqlite3",
                            redis_url=redis_url, watch_interval_seconds=60.0,
                            log_level="ERROR")
        app = create_app(settings)
        async with (app.router.lifespan_context(app),
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                      base_url="http://svc", timeout=120) as client):
            client.runtime = app.state.runtime  # type: ignore[attr-defined]
            yield client


def reached(runtime: Runtime) -> float:
    get = runtime.metrics.registry.get_sample_value
    return sum(get("ai_dependency_calls_total", {"dependency": "redis", "outcome": o}) or 0.0
               for o in ("success", "failure"))


async def timed(client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> float:
    started = time.perf_counter()
    r = await client.request(method, path, **kw)
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    return elapsed


async def outage(name: str, requests: int, fake: FakeAnthropic) -> dict[str, Any]:
    server = RedisServer.start()
    n = 0

    def ask() -> Callable[[], dict[str, str]]:
        nonlocal n
        n += 1
        return {"question": f"{TOPICS[n % len(TOPICS)]} ({name} {n})"}  # type: ignore[return-value]

    try:
        with setup(name):
            async with service(server.url, fake) as client:
                runtime: Runtime = client.runtime  # type: ignore[attr-defined]
                await timed(client, "POST", "/ask", json=ask())
                server.pause()
                detecting: list[float] = []
                after: list[float] = []
                reached_after = reached(runtime)
                for _ in range(requests):
                    detected = runtime.redis_guard is not None and (
                        runtime.redis_guard.state.value == "open")
                    if detected and not after:
                        reached_after = reached(runtime)
                    elapsed = await timed(client, "POST", "/ask", json=ask())
                    (after if detected else detecting).append(elapsed)
                ready = await timed(client, "GET", "/health/ready")
                result: dict[str, Any] = {
                    "name": name, "detecting": detecting, "after": after, "ready": ready,
                    "reached_after": reached(runtime) - reached_after,
                }
                if name == "breaker":
                    wait = REDIS_BREAKER_POLICY.wait_in_open_seconds
                    await asyncio.sleep(wait)  # a bench, not a test: real time is the point
                    result["probe"] = await timed(client, "POST", "/ask", json=ask())
                    server.resume()
                    resumed = time.perf_counter()
                    while runtime.redis_guard.state.value != "closed":  # type: ignore[union-attr]
                        await timed(client, "POST", "/ask", json=ask())
                        await asyncio.sleep(0.05)
                    result["recovery"] = time.perf_counter() - resumed
    finally:
        server.close()
    return result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def render(results: list[dict[str, Any]], requests: int) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# A hung Redis: cost per /ask before and after detection",
        "",
        f"Produced by `bench/redis_outage.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work (load average {load}). "
        "Redis paused with SIGSTOP after one warm-up ask; every ask is a new question; "
        "in process over ASGI, the fake Anthropic API answers at once.",
        "",
        "| set-up | asks before detection | each of those (ms) | after detection p50 (ms) "
        "| p99 (ms) | Redis operations after detection | /health/ready (ms) |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        after = r["after"]
        lines.append(
            f"| {r['name']} | {len(r['detecting'])} | "
            f"{', '.join(ms(x) for x in r['detecting'][:4])}"
            f"{' …' if len(r['detecting']) > 4 else ''} | "
            f"{ms(statistics.median(after)) if after else 'never detected'} | "
            f"{ms(pct(after, 0.99)) if after else '-'} | "
            f"{int(r['reached_after']) if after else '-'} | {ms(r['ready'])} |")
    shipped = next(r for r in results if r["name"] == "breaker")
    lines += [
        "",
        f"- {requests} asks per set-up ({len(results[0]['detecting'])} for `before`: 8 s "
        "each). `before` and `timeouts only` never detect the outage: every ask pays it.",
        f"- As shipped, while Redis stays hung, one ask per OPEN period "
        f"({REDIS_BREAKER_POLICY.wait_in_open_seconds:g} s) is the half-open probe: "
        f"{ms(shipped['probe'])} ms (one socket timeout); the others are refused at once.",
        f"- Redis resumed -> breaker CLOSED in {shipped['recovery']:.2f} s "
        "(the rest of the OPEN wait, then the probe succeeds).",
        "",
    ]
    return "\n".join(lines)


async def run(requests: int) -> list[dict[str, Any]]:
    results = []
    async with FakeAnthropic() as fake:
        for name, n in (("before", 3), ("timeouts only", min(requests, 10)),
                        ("breaker", requests)):
            results.append(await outage(name, n, fake))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args(argv)
    text = render(asyncio.run(run(args.requests)), args.requests)
    print(text)
    if args.out:
        kept = ""
        if args.out.exists():
            old = args.out.read_text(encoding="utf-8")
            kept = old[old.index(KEEP_MARKER):] if KEEP_MARKER in old else ""
        args.out.write_text(text + ("\n" + kept if kept else ""), encoding="utf-8")


if __name__ == "__main__":
    main()
