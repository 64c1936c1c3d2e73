"""The load-test drill: 5 questions one after another, then a parallel burst of 15, printing each
request's latency and how it was answered (fresh, cached, or which degraded rung).

`--fault` runs the same drill while the fake Anthropic API fails (500, 529, a hang, or 500 on the
primary model only), to show the circuit breaker and the degradation ladder from a client's seat:
the burst still gets 200s, from the cache, the fallback model or runbook excerpts.

    .venv/bin/python bench/drill.py                       # starts the fake + service on loopback
    .venv/bin/python bench/drill.py --fault hang
    .venv/bin/python bench/drill.py --url http://127.0.0.1:8000 [--fake-url http://127.0.0.1:9000]
        [--api-key KEY]

Without --url it starts `tests.fakes.anthropic_server` and the service (uvicorn) itself, on
127.0.0.1, with a drill policy: a small breaker window (4 calls), 10 s in OPEN, a 2 s LLM timeout.
Against --url, --fault needs --fake-url: the fake's control API is how faults are injected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the fakes live in tests/, which is not installed

from tests.fakes.anthropic_control import (  # noqa: E402
    FakeAnthropicControl,
    fake_anthropic_process,
)
from tests.fakes.fixtures import FAKE_API_KEY  # noqa: E402
from tests.fakes.service_process import ServiceProcess  # noqa: E402

PRIMARY = "claude-sonnet-4-6"
QUESTIONS = (
    "pod OOMKilled, what now?",
    "CrashLoopBackOff after a deploy",
    "ImagePullBackOff on a new image tag",
    "node NotReady in the cluster",
    "TLS certificate expires tomorrow",
    "DNS resolution failures in pods",
    "HPA not scaling under load",
    "database connection pool exhausted",
    "redis memory pressure and evictions",
    "node disk pressure evicting pods",
)
SEQUENTIAL = 5
BURST = 15
FAULTS: dict[str, dict[str, Any]] = {
    "500": {"status": 500, "until_cleared": True},
    "529": {"status": 529, "until_cleared": True},
    "hang": {"hang": True, "until_cleared": True},
    "primary-500": {"status": 500, "model": PRIMARY, "until_cleared": True},
}
DRILL_POLICY: dict[str, Any] = {
    "breaker": {"window_type": "count", "window_size": 4, "minimum_calls": 4,
                "failure_rate_threshold": 50, "wait_in_open_seconds": 10,
                "permitted_in_half_open": 2},
    "llm": {"timeout_seconds": 2},
}


@dataclass(frozen=True)
class Result:
    index: int
    question: str
    status: int
    latency_s: float
    answered: str  # fresh | cached | <degraded mode> | error:<code>
    model: str


def answered_as(status: int, body: dict[str, Any]) -> str:
    if status != 200:
        return f"error:{body.get('error', status)}"
    if body.get("degraded"):
        return str(body["degraded"]["mode"])
    return "cached" if body.get("cached") else "fresh"


async def ask(client: httpx.AsyncClient, index: int, question: str) -> Result:
    started = time.perf_counter()
    r = await client.post("/ask", json={"question": question})
    latency = time.perf_counter() - started
    body = r.json()
    return Result(index, question, r.status_code, latency, answered_as(r.status_code, body),
                  str(body.get("model", "-")))


def print_results(title: str, results: list[Result], wall_s: float) -> None:
    print(f"\n{title}")
    print(f"  {'#':>2}  {'status':>6}  {'latency_ms':>10}  {'answered':<15} {'model':<26} question")
    for r in results:
        print(f"  {r.index:>2}  {r.status:>6}  {r.latency_s * 1000:>10.1f}  {r.answered:<15} "
              f"{r.model:<26} {r.question}")
    latencies = sorted(r.latency_s for r in results)
    counts = Counter(r.answered for r in results)
    print(f"  -> {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}; latency p50 "
          f"{statistics.median(latencies) * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; "
          f"wall {wall_s * 1000:.0f} ms")


@dataclass
class DrillRun:
    sequential: list[Result]
    burst: list[Result]
    burst_wall_s: float
    upstream_calls_in_burst: int | None
    breakers: dict[str, str]


async def drill(
    url: str, fake: FakeAnthropicControl | None, fault: str | None, *, show: bool = True,
    api_key: str | None = None,
) -> DrillRun:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
        started = time.perf_counter()
        sequential = [await ask(client, i, QUESTIONS[i]) for i in range(SEQUENTIAL)]
        if show:
            print_results(f"{SEQUENTIAL} questions, one after another (upstream healthy)",
                          sequential, time.perf_counter() - started)
        title = f"burst of {BURST} in parallel (the 5 above twice each, 5 new ones)"
        if fault is not None:
            assert fake is not None
            fake.clear_faults()  # a queued delay would match first and shadow the fault
            fake.fail(**FAULTS[fault])
            title += f", upstream failing: {fault}"
        upstream_before = fake.stats()["total"] if fake is not None else 0
        started = time.perf_counter()
        burst = list(await asyncio.gather(
            *(ask(client, i, QUESTIONS[i % len(QUESTIONS)]) for i in range(BURST))))
        wall = time.perf_counter() - started
        calls = None
        if fake is not None:
            calls = fake.stats()["total"] - upstream_before
            fake.clear_faults()
        body = (await client.get("/circuit-breaker")).json().get("breakers", {})
        breakers = {name: str(b["state"]) for name, b in body.items()}
    if show:
        print_results(title, burst, wall)
        if calls is not None:
            print(f"  -> upstream calls during the burst: {calls}")
        states = ", ".join(f"{name} {state}" for name, state in breakers.items())
        print(f"\nbreakers after the drill: {states or 'none (offline provider)'}")
    return DrillRun(sequential, burst, wall, calls, breakers)


@contextlib.contextmanager
def local_stack(
    policy: dict[str, Any], *, upstream_delay_s: float = 0.0
) -> Iterator[tuple[ServiceProcess, FakeAnthropicControl]]:
    """The fake Anthropic API and the service, both as processes on 127.0.0.1."""
    with tempfile.TemporaryDirectory(prefix="sre-ai-drill-") as tmp, \
            fake_anthropic_process() as (fake_url, fake):
        workdir = Path(tmp)
        (workdir / "policy.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
        if upstream_delay_s:
            fake.fail(delay_seconds=upstream_delay_s, until_cleared=True)
        svc = ServiceProcess({"ANTHROPIC_API_KEY": FAKE_API_KEY, "ANTHROPIC_BASE_URL": fake_url,
                              "SRE_AI_POLICY_FILE": str(workdir / "policy.yaml"),
                              "SRE_AI_LOG_LEVEL": "WARNING"}, workdir, name="drill")
        svc.start(ready_timeout=120)
        try:
            yield svc, fake
        finally:
            svc.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running service (default: start one on loopback)")
    parser.add_argument("--fake-url", help="the fake Anthropic API the service at --url uses")
    parser.add_argument("--api-key", help="client key, when the service at --url requires one")
    parser.add_argument("--fault", choices=sorted(FAULTS), help="fail the upstream in the burst")
    parser.add_argument("--upstream-delay", type=float, default=0.3, metavar="SECONDS",
                        help="latency of a healthy fake reply when the drill starts it (0.3)")
    args = parser.parse_args(argv)
    if args.url:
        if args.fault and not args.fake_url:
            parser.error("--fault against --url needs --fake-url (faults go through the fake)")
        fake = FakeAnthropicControl(args.fake_url) if args.fake_url else None
        asyncio.run(drill(args.url, fake, args.fault, api_key=args.api_key))
        return
    with local_stack(DRILL_POLICY, upstream_delay_s=args.upstream_delay) as (svc, fake):
        print(f"service {svc.url} -> fake Anthropic {fake.url} "
              f"(healthy replies take {args.upstream_delay:g} s)")
        asyncio.run(drill(svc.url, fake, args.fault))


if __name__ == "__main__":
    main()
