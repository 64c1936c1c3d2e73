"""Upstream calls saved in a replayed incident: 200 questions in 20 wordings.

Why: issue 13. During an incident many people ask the same few things in different words, at
the same moment. This replays such a burst through the real app (create_app, its lifespan, the
real anthropic SDK) in process, against the fake Anthropic API in another process answering
each call after `--delay` seconds (so questions overlap as they do when Claude takes a while),
and counts the calls that reached the API under four cache policies:

- `no reuse`: no answer cache, no semantic tier, no single-flight;
- `exact`: the exact cache only (what the service had before issue 13);
- `exact + semantic`: rewordings reuse answers;
- `exact + semantic + single-flight`: questions in flight are waited for, not asked again.

Arrivals: `burst` sends all 200 at once; `spread` one every 50 ms (10 s). The 20 wordings are 4
incidents x 5 ways on-call people ask the same thing (written for this bench, not taken from
the semantic-cache labelled pairs). Each wording is asked 10 times, in a fixed shuffled order.

    .venv/bin/python bench/incident_replay.py [--delay 1.0] [--out bench/results/incident.md]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import yaml
from prometheus_client import CollectorRegistry

from app.config import Settings
from app.main import create_app
from tests.fakes.anthropic_control import FakeAnthropicControl, fake_anthropic_process
from tests.fakes.fixtures import FAKE_API_KEY

INCIDENTS = (
    ("checkout pod restarts keep climbing",
     "checkout pod keeps restarting",
     "restarts keep climbing on the checkout pod",
     "checkout pod is restarting over and over",
     "why does the checkout pod keep restarting"),
    ("postgres refusing connections: too many clients already",
     "postgres says too many clients already",
     "postgres refuses connections, too many clients already",
     "too many clients already from postgres",
     "postgres: too many clients already, connections refused"),
    ("lots of 502 from the load balancer since the deploy",
     "since the deploy lots of 502 from the load balancer",
     "load balancer returns lots of 502 since the deploy",
     "502s from the load balancer since the deploy",
     "we get 502 from the load balancer since the deploy"),
    ("redis started evicting keys",
     "redis is evicting keys",
     "redis evicting keys",
     "redis has started evicting keys",
     "why is redis evicting keys"),
)
POLICIES: dict[str, dict[str, Any]] = {
    "no reuse": {"max_entries": 0, "semantic_enabled": False, "single_flight_enabled": False},
    "exact": {"semantic_enabled": False, "single_flight_enabled": False},
    "exact + semantic": {"single_flight_enabled": False},
    "exact + semantic + single-flight": {},
}
BUDGETS = {"per_request_usd": 0.5, "hourly_usd": 10_000, "daily_usd": 10_000,
           "monthly_usd": 100_000}


def replay() -> list[str]:
    questions = [w for incident in INCIDENTS for w in incident] * 10
    random.Random(13).shuffle(questions)
    return questions


async def run_one(cache: dict[str, Any], arrivals: str, fake_url: str,
                  control: FakeAnthropicControl, workdir: Path) -> dict[str, Any]:
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(yaml.safe_dump({"budgets": BUDGETS, "cache": cache}))
    settings = Settings(anthropic_api_key=FAKE_API_KEY, anthropic_base_url=fake_url,
                        policy_file=policy_file, ledger_path=workdir / "ledger.sqlite3",
                        log_level="WARNING")
    before = control.stats()["total"]
    app = create_app(settings, registry=CollectorRegistry())
    latencies: list[float] = []
    kinds: dict[str, int] = {}
    spent = 0.0
    errors = 0
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120))

        async def ask(n: int, question: str) -> None:
            nonlocal spent, errors
            if arrivals == "spread":
                await asyncio.sleep(n * 0.05)
            started = time.perf_counter()
            r = await client.post("/ask", json={"question": question})
            latencies.append(time.perf_counter() - started)
            if r.status_code != 200:
                errors += 1
                return
            body = r.json()
            spent += body["cost_usd"]
            kind = "paid" if not body["cached"] else "reused"
            kinds[kind] = kinds.get(kind, 0) + 1

        await asyncio.gather(*(ask(n, q) for n, q in enumerate(replay())))
    calls = control.stats()["total"] - before
    p95 = sorted(latencies)[int(0.95 * len(latencies))]
    return {"calls": calls, "spent": spent, "errors": errors,
            "p50": statistics.median(latencies), "p95": p95}


async def main_async(delay: float) -> str:
    rows = []
    with fake_anthropic_process() as (url, control):
        control.fail(delay_seconds=delay, until_cleared=True)
        for arrivals in ("burst", "spread"):
            for name, cache in POLICIES.items():
                with tempfile.TemporaryDirectory(prefix="incident-") as tmp:
                    result = await run_one(cache, arrivals, url, control, Path(tmp))
                rows.append((arrivals, name, result))
                print(arrivals, name, result, file=sys.stderr)
    lines = [
        "## Replayed incident: 200 questions in 20 wordings",
        "",
        f"`bench/incident_replay.py`, fake Anthropic answering after {delay:g} s; the real app "
        "in process (real SDK, SQLite ledger), one replica.",
        "",
        "| arrivals | policy | upstream calls | saved vs no reuse | USD spent | errors | "
        "p50 (s) | p95 (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base: dict[str, int] = {}
    for arrivals, name, r in rows:
        base.setdefault(arrivals, r["calls"])
        saved = 1 - r["calls"] / base[arrivals] if base[arrivals] else 0.0
        lines.append(f"| {arrivals} | {name} | {r['calls']} | {saved:.0%} | {r['spent']:.4f} | "
                     f"{r['errors']} | {r['p50']:.2f} | {r['p95']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    text = asyncio.run(main_async(args.delay))
    print(text)
    if args.out:
        with args.out.open("a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
