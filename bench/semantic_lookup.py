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
Both the in-process tier and the Redis tier (a real redis-server on loopback: HGETALL of the
bucket, then numpy) are measured. Questions are real embeddings (the retrieval's static model)
of generated on-call questions; lookups alternate hits (a cached question reworded) and misses.

    .venv/bin/python bench/semantic_lookup.py [--entries 10000] [--lookups 2000]
        [--out bench/results/semantic-cache.md]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from redis.asyncio import Redis

from app.cache.semantic import MemorySemanticCache, SemanticCache
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
    args = parser.parse_args()
    text = report(asyncio.run(run(args.entries, args.lookups)), args.entries)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
