"""What a request in flight costs a worker in memory, and what shedding one costs in CPU
(app/api/load_shedding.py, the default of SRE_AI_MAX_IN_FLIGHT).

1. Memory: one worker (SQLite ledger) with no limit; the fake Anthropic API hangs every call, so
   each paid /ask stays in flight; RSS after 0, then HELD[0], HELD[1]... requests are held (each
   count reached at the fake before it is read).
2. CPU: a worker with SRE_AI_MAX_IN_FLIGHT=1 and its one slot held, under wrk on /ask (every
   request shed: 503 and Connection: close, so wrk reconnects each time), against a worker
   without a limit answering the same question from its cache. CPU of the worker process per
   response, medians of the repetitions, interleaved.

    .venv/bin/python -m bench.load_shedding [--reps 3] [--seconds 5] [--out FILE]

Needs wrk (`make bench-deps`). Writes bench/results/load-shedding.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import throughput_servers as servers
from bench.throughput import QUESTION, System, prime_cache, wrk
from bench.throughput_parse import tree_cpu_seconds, tree_rss_mib
from bench.throughput_report import machine
from tests.fakes.anthropic_control import FakeAnthropicControl, fake_anthropic_process

HELD = (100, 500, 1000)
RESULTS = Path(__file__).resolve().parent / "results" / "load-shedding.md"


# Every request asks QUESTION: the cached worker answers it from its cache, the shedding one
# turns it away.
FIXED = System("fixed question", "sqlite", distinct=False)


def ask(url: str, question: str, timeout: float = 30) -> None:
    httpx.post(url + "/ask", json={"question": question}, timeout=timeout)


def wait_in_flight(fake: FakeAnthropicControl, count: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while (now := int(fake.stats()["in_flight"])) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return now


async def memory(server: servers.Server, fake: FakeAnthropicControl) -> list[tuple[int, float]]:
    for i in range(50):  # warm: imports, caches, the ledger's pages
        ask(server.url, f"{QUESTION} warm {i}")
    rows = [(0, tree_rss_mib(server.pid))]
    fake.fail(hang=True, until_cleared=True)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=timeout) as session:
        tasks: list[asyncio.Task[aiohttp.ClientResponse]] = []
        for target in HELD:
            for i in range(len(tasks), target):
                tasks.append(asyncio.create_task(session.post(
                    server.url + "/ask", json={"question": f"{QUESTION} held {i}"})))
            reached = await asyncio.to_thread(wait_in_flight, fake, target)
            if reached < target:
                raise SystemExit(f"only {reached} of {target} calls reached the fake")
            rows.append((target, tree_rss_mib(server.pid)))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    fake.clear_faults()
    return rows


def wrk_cpu(server: servers.Server, seconds: int) -> tuple[float, float, int]:
    """(responses/s, worker CPU ms per response, non-2xx or failed responses) of one wrk run,
    c=16."""
    before = tree_cpu_seconds(server.pid)
    result = wrk(server.url, FIXED, 16, seconds, tag="", question=QUESTION)
    cpu = tree_cpu_seconds(server.pid) - before
    return result.rps, cpu * 1000 / result.requests, result.errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, fake_anthropic_process() as (fake_url, fake):
        work = Path(tmp)
        unlimited = servers.ours("unlimited", work, fake_url, None)
        unlimited.env["SRE_AI_MAX_IN_FLIGHT"] = "0"
        unlimited.start()
        held = asyncio.run(memory(unlimited, fake))
        unlimited.stop()

        shedding = servers.ours("shedding", work, fake_url, None)
        shedding.env["SRE_AI_MAX_IN_FLIGHT"] = "1"
        cached = servers.ours("cached", work, fake_url, None)
        cached.env["SRE_AI_MAX_IN_FLIGHT"] = "0"
        shedding.start()
        cached.start()
        prime_cache(cached.url, QUESTION)  # the answer the cached worker serves
        fake.fail(hang=True, until_cleared=True)
        threading.Thread(target=ask, args=(shedding.url, f"{QUESTION} held", 3600),
                         daemon=True).start()
        wait_in_flight(fake, 1)
        runs: dict[str, list[tuple[float, float, int]]] = {"shed": [], "cached": []}
        for _ in range(args.reps):
            runs["shed"].append(wrk_cpu(shedding, args.seconds))
            runs["cached"].append(wrk_cpu(cached, args.seconds))
        shedding.stop()
        cached.stop()
    args.out.write_text(render(held, runs, args))
    print(args.out.read_text())


def render(held: list[tuple[int, float]], runs: dict[str, list[tuple[float, float, int]]],
           args: argparse.Namespace) -> str:
    base = held[0][1]
    lines = [
        "# Load shedding: memory per request in flight, CPU per shed request",
        "",
        f"Produced by `bench/load_shedding.py` (`make bench-load-shedding`) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. {machine()}. One worker each, SQLite ledger, "
        "the fake Anthropic API.",
        "",
        "| paid /ask requests in flight (upstream hanging) | worker RSS, MiB | "
        "KiB per request over idle |",
        "|---:|---:|---:|",
    ]
    for count, rss in held:
        per = f"{(rss - base) * 1024 / count:.0f}" if count else "-"
        lines.append(f"| {count:,} | {rss:.1f} | {per} |")
    lines += ["", f"wrk, concurrency 16, {args.reps} interleaved runs of {args.seconds} s "
              "(medians; CPU is the worker's own):", "",
              "| worker | responses/s | CPU ms per response | non-2xx |", "|---|---:|---:|---:|"]
    names = {"shed": "limit 1, its slot held: every /ask shed (503, Connection: close)",
             "cached": "no limit: every /ask a cached answer (keep-alive)"}
    for key, label in names.items():
        rps = statistics.median(r[0] for r in runs[key])
        cpu = statistics.median(r[1] for r in runs[key])
        lines.append(f"| {label} | {rps:,.0f} | {cpu:.3f} | {sum(r[2] for r in runs[key]):,} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
