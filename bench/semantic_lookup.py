"""What a semantic cache lookup adds to a cache miss, at 10,000 cached entries.

Why: issue 13 asks for the added latency (p50, p99) of the semantic lookup with 10,000 entries.
A lookup reads one bucket (the questions that retrieved the same sections for the same model)
and compares vectors in numpy, then runs the guard on the few candidates above the threshold.
Its cost therefore depends on how the 10,000 entries are spread over buckets:
- `spread`: 10,000 entries over 200 buckets (50 each), about what 10,000 distinct cached
  questions over a team's runbooks look like;
- `one bucket`: the worst case, every entry retrieved the same sections (a storm of
  rewordings of one question). A bucket holds at most `BUCKET_MAX` entries (app/cache/semantic.py)
  since this bench found 42 ms in process and 300 ms from Redis per lookup at 10,000 in one
  bucket; the run with the cap shows what it costs now.
Both the in-process tier and the Redis tier (a real redis-server on loopback: one script call
that brings this process's copy of the bucket up to date, then numpy) are measured. Questions
are real embeddings (the retrieval's static model) of generated on-call questions; lookups
alternate hits (a cached question reworded) and misses.

    .venv/bin/python bench/semantic_lookup.py [--entries 10000] [--lookups 2000]
        [--out bench/results/semantic-cache.md]

`--per-question` (issue 14) measures instead what the tier costs a paid question, as CPU time of
this process (`time.process_time`, so Redis's own time is not in it; Redis's time per lookup is
reported from its commandstats) per `find`, at bucket sizes 1, 32 and 128 (`BUCKET_MAX`):
- `storm`: the throughput bench's uncached path, a distinct question that differs from the stored
  ones only by a number ("pod OOMKilled, what now? 3-17"): every stored one is a candidate above
  the threshold and the guard vetoes MAX_GUARD_CHECKS of them; each lookup is followed by the
  two adds of a paid question (announce, then store), as on the paid path, and the removal of
  the oldest entry (the bucket stays at its size), so the Redis tier's copy of the bucket is a
  few changes behind at each lookup;
- `unchanged`: lookups of an unchanged bucket (no add in between), below the threshold.

    .venv/bin/python bench/semantic_lookup.py --per-question [--lookups 400]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from redis.asyncio import Redis

from app.cache.semantic import BUCKET_MAX, MemorySemanticCache, SemanticCache
from app.cache.semantic_redis import RedisSemanticCache
from app.clock import SystemClock
from app.config import CachePolicy
from app.runbooks.embedder import default_embedder
from tests.fakes.redis_server import RedisServer

SUBJECTS = ("checkout pod", "payments api", "the worker deployment", "ingress", "coredns",
            "postgres primary", "redis cache", "node ip-10-0-3-17", "the hpa", "cert-manager")
SYMPTOMS = ("keeps restarting", "is OOMKilled", "returns 503", "is slow since the deploy",
            "cannot pull its image", "is out of disk", "fails dns lookups", "refuses connections",
            "has an expired certificate", "does not scale out")
TAILS = ("what now", "how do I fix it", "any runbook", "during the incident", "again today")


def questions(n: int) -> list[str]:
    out = []
    for i in range(n):
        s = SUBJECTS[i % len(SUBJECTS)]
        p = SYMPTOMS[(i // len(SUBJECTS)) % len(SYMPTOMS)]
        t = TAILS[(i // 100) % len(TAILS)]
        out.append(f"{s} {p}, {t} (ticket {i})")
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def measure(tier: SemanticCache, buckets: int, entries: int, lookups: int,
                  texts: list[str], vectors: np.ndarray, threshold: float) -> list[float]:
    for i in range(entries):
        await tier.add(f"b{i % buckets}", f"k{i}", texts[i], vectors[i])
    samples: list[float] = []
    for j in range(lookups):
        i = (j * 7919) % entries
        bucket = f"b{i % buckets}"
        if j % 2:  # a reworded cached question: same bucket, near vector
            question, vector = texts[i] + " please", vectors[i]
        else:  # a new question in a populated bucket
            question, vector = f"unrelated {j}", vectors[(i + 1) % entries]
        started = time.perf_counter()
        await tier.find(bucket, question, vector, threshold)
        samples.append(time.perf_counter() - started)
    return samples


async def run(entries: int, lookups: int) -> list[tuple[str, str, list[float]]]:
    texts = questions(entries)
    vectors = default_embedder().embed([t.lower() for t in texts])
    policy = CachePolicy(semantic_max_entries=entries)
    results = []
    server = RedisServer.start()
    try:
        for layout, buckets in (("spread (200 buckets x 50)", 200), ("one bucket", 1)):
            memory = MemorySemanticCache(policy, SystemClock())
            results.append(("in-process", layout, await measure(
                memory, buckets, entries, lookups, texts, vectors, policy.semantic_threshold)))
            redis = Redis.from_url(server.url)
            await redis.flushall()
            shared = RedisSemanticCache(redis, policy, SystemClock())
            results.append(("Redis", layout, await measure(
                shared, buckets, entries, lookups // 4 if buckets == 1 else lookups, texts,
                vectors, policy.semantic_threshold)))
            await redis.aclose()
    finally:
        server.stop()
    return results


async def per_question_cpu(tier: SemanticCache, size: int, lookups: int, storm: bool,
                           embed: Callable[[list[str]], np.ndarray],
                           filled: Callable[[], Awaitable[object]] | None = None) -> float:
    """CPU ms per find() in a bucket kept at `size` entries (the oldest removed after each
    paid question's adds); `filled` is awaited once the bucket is full, before the lookups."""
    bucket, threshold = f"bucket-{size}-{storm}", CachePolicy().semantic_threshold
    texts = [f"pod OOMKilled, what now? {i // 100}-{i % 100}" for i in range(size + lookups)]
    vectors = embed([t.lower() for t in texts])
    other = embed(["how do I rotate the api keys of the gateway"])[0]
    for i in range(size):
        await tier.add(bucket, f"k{i}", texts[i], vectors[i])
    if filled is not None:
        await filled()
    spent = 0.0
    for j in range(lookups):
        i = size + j
        question, vector = (texts[i], vectors[i]) if storm else ("rotate the keys", other)
        started = time.process_time()
        await tier.find(bucket, question, vector, threshold)
        spent += time.process_time() - started
        if storm:  # the paid question announced, then stored; the oldest goes
            await tier.add(bucket, f"k{i}", question, vector)
            await tier.add(bucket, f"k{i}", question, vector)
            await tier.remove(bucket, f"k{i - size}")
    return spent / lookups * 1e3


SHOWN = {f"cmdstat_{c}" for c in ("evalsha", "hgetall", "hmget", "lrange")}


async def run_per_question(lookups: int) -> list[tuple[str, str, int, float, str]]:
    embed = default_embedder().embed
    policy = CachePolicy(semantic_max_entries=10_000)
    rows: list[tuple[str, str, int, float, str]] = []
    server = RedisServer.start()
    try:
        admin = Redis.from_url(server.url)
        for storm in (True, False):
            for size in (1, 32, BUCKET_MAX):
                memory = MemorySemanticCache(policy, SystemClock())
                rows.append(("in-process", "storm" if storm else "unchanged", size,
                             await per_question_cpu(memory, size, lookups, storm, embed), ""))
                await admin.flushall()
                redis = Redis.from_url(server.url)
                shared = RedisSemanticCache(redis, policy, SystemClock())
                await per_question_cpu(shared, size, 20, storm, embed)  # scripts loaded, warm
                cpu = await per_question_cpu(shared, size, lookups, storm, embed,
                                             filled=admin.config_resetstat)
                stats = (await admin.info("commandstats")).items()
                await redis.aclose()
                server_us = sum(v["usec"] for k, v in stats if k != "cmdstat_info") / lookups
                per = ", ".join(f"{k.removeprefix('cmdstat_')} {v['calls'] / lookups:.1f}"
                                for k, v in sorted(stats) if k in SHOWN)
                calls = f"{server_us:.0f} µs ({per})"
                rows.append(("Redis", "storm" if storm else "unchanged", size, cpu, calls))
        await admin.aclose()
    finally:
        server.stop()
    return rows


def report_per_question(rows: list[tuple[str, str, int, float, str]], lookups: int) -> str:
    lines = [
        "## Semantic tier CPU per paid question, by bucket size",
        "",
        f"`bench/semantic_lookup.py --per-question`, {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; {lookups} lookups per row, CPU time of this process per "
        "`find()`. Redis's own time (commandstats, every command) per lookup: for `storm` that "
        "of the find and of the paid question's two adds and one removal; in brackets the "
        "calls per lookup of the commands that read entries (evalsha: the scripts).",
        "",
        "| tier | lookups | bucket size | CPU per find (ms) | Redis time per lookup |",
        "|---|---|---|---|---|",
    ]
    for tier, kind, size, cpu, calls in rows:
        lines.append(f"| {tier} | {kind} | {size} | {cpu:.3f} | {calls} |")
    return "\n".join(lines) + "\n"


def report(results: list[tuple[str, str, list[float]]], entries: int) -> str:
    lines = [
        f"## Semantic lookup at {entries:,} cached entries",
        "",
        f"`bench/semantic_lookup.py`, {platform.python_version()}, {time.strftime('%Y-%m-%d')}; "
        "one process, the Redis tier against a real redis-server on loopback. Time of "
        "`find()` alone (the question's vector comes from the search, which runs anyway).",
        "",
        "| tier | layout | lookups | p50 (ms) | p99 (ms) | mean (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for tier, layout, s in results:
        lines.append(f"| {tier} | {layout} | {len(s):,} | {pct(s, 50) * 1e3:.3f} | "
                     f"{pct(s, 99) * 1e3:.3f} | {statistics.fmean(s) * 1e3:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--per-question", action="store_true",
                        help="CPU per find() on the paid path at bucket sizes 1, 32, 128")
    args = parser.parse_args()
    if args.per_question:
        lookups = min(args.lookups, 400)
        text = report_per_question(asyncio.run(run_per_question(lookups)), lookups)
    else:
        text = report(asyncio.run(run(args.entries, args.lookups)), args.entries)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
