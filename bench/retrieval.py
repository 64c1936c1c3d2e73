"""Retrieval cost at 22 to 22,000 sections: index build cold and with the embedding cache warm,
search and offline /ask latency, re-index after a one-file edit (with the event loop's longest
stall meanwhile), the index's memory, and the resident memory of a process that builds it cold
(its peak and what it keeps: the peak is what a pod's memory limit must allow at start-up). One
process, one worker, medians of `--repeat` runs at the target size (2,000 runbooks, about
10,000 sections); one run at the other sizes.

Corpus: bench/runbook_corpus.py (deterministic). Timings are wall clock on whatever else the
machine is doing: run it on a quiet machine. Writes bench/results/retrieval.md and the plot
docs/images/retrieval-cost.png.

    .venv/bin/python -m bench.retrieval [--repeat 3] [--sizes 4,44,440,2000,4400]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from prometheus_client import CollectorRegistry

from app.metrics import Metrics
from app.runbooks.embedder import default_embedder
from app.runbooks.holder import RunbookHolder
from bench.runbook_corpus import WORDS, generate
from bench.throughput_parse import status_kib

REPO = Path(__file__).resolve().parent.parent
TARGET_RUNBOOKS = 2000


def holder(corpus: Path, cache: Path) -> RunbookHolder:
    return RunbookHolder(corpus, Metrics(CollectorRegistry()), cache_dir=cache)


def timed_load(corpus: Path, cache: Path) -> tuple[float, RunbookHolder]:
    h = holder(corpus, cache)
    started = time.perf_counter()
    h.load()
    return time.perf_counter() - started, h


def questions(n: int, runbooks: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.sample(WORDS, 5))
        out.append(f"{words} on svc{rng.randrange(runbooks):05d}" if i % 2 else
                   f"why is the {words} failing")
    return out


def search_ms(h: RunbookHolder, qs: list[str]) -> list[float]:
    index = h.current
    times = []
    for q in qs:
        started = time.perf_counter()
        index.search(q)
        times.append((time.perf_counter() - started) * 1000)
    return times


def edit_one_file(corpus: Path, n: int) -> None:
    edited = next(iter(sorted(corpus.rglob("*.md"))))
    edited.write_text(edited.read_text() + f"\n## Edit {n}\n\nScale the replica pool now.\n")


async def reindex_with_probe(h: RunbookHolder, corpus: Path, n: int) -> tuple[float, float]:
    """Edit one file, re-index, and measure the longest gap between 5 ms ticks of the loop."""
    edit_one_file(corpus, n)
    stall = 0.0
    done = asyncio.Event()

    async def probe() -> None:
        nonlocal stall
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            stall = max(stall, now - last - 0.005)
            last = now

    task = asyncio.create_task(probe())
    started = time.perf_counter()
    await h.reload()
    seconds = time.perf_counter() - started
    done.set()
    await task
    return seconds, stall * 1000


async def ask_ms(corpus: Path, cache: Path, qs: list[str]) -> list[float]:
    """The real app in process (lifespan, middleware, offline provider) over ASGI."""
    import httpx

    from app.config import Settings
    from app.main import create_app

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(runbooks_dir=corpus, embedding_cache_dir=cache,
                            ledger_path=Path(tmp) / "ledger.sqlite3", log_level="WARNING")
        app = create_app(settings, registry=CollectorRegistry())
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            times = []
            for q in qs:  # distinct questions: every one retrieves (no cache hit)
                started = time.perf_counter()
                r = await client.post("/ask", json={"question": q})
                times.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.text
            return times


def index_memory_mb(corpus: Path, cache: Path) -> float:
    """Python + numpy memory the built index keeps (tracemalloc; embeddings from the cache)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    h = holder(corpus, cache)
    h.load()
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del h
    return kept / 2**20


def status_mb(field: str) -> float:
    """A VmRSS/VmHWM line of this process's /proc status, in MiB."""
    return status_kib(Path("/proc/self/status").read_text(), field) / 1024


COLD_BUILD = """
import sys
from pathlib import Path
from bench.retrieval import holder, status_mb
built = holder(Path(sys.argv[1]), Path(sys.argv[2]))
built.load()
print(status_mb("VmHWM"), status_mb("VmRSS"), len(built.current))
"""


def cold_build_rss_mb(corpus: Path, cache: Path) -> tuple[float, float]:
    """A fresh process (imports, the model, nothing else) that builds the index with an empty
    embedding cache: its peak resident memory and what it holds once the build is done."""
    out = subprocess.run([sys.executable, "-c", COLD_BUILD, str(corpus), str(cache)],
                         cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, check=True, timeout=600)
    peak, after, runbooks = out.stdout.split()[-3:]
    if int(runbooks) == 0:
        raise SystemExit(f"the cold build in {corpus} indexed nothing")
    return float(peak), float(after)


def measure(runbooks: int, repeat: int, root: Path) -> dict[str, float]:
    corpus = root / f"corpus-{runbooks}"
    sections = generate(corpus, runbooks)
    cold, warm, reindex, stalls = [], [], [], []
    h: RunbookHolder | None = None
    for n in range(repeat):
        cache = root / f"cache-{runbooks}-{n}"
        seconds, _ = timed_load(corpus, cache)
        cold.append(seconds)
        seconds, h = timed_load(corpus, cache)
        warm.append(seconds)
        seconds, stall = asyncio.run(reindex_with_probe(h, corpus, n))
        reindex.append(seconds)
        stalls.append(stall)
    assert h is not None
    qs = questions(200, runbooks)
    search = search_ms(h, qs)
    peak_mb, after_mb = cold_build_rss_mb(corpus, root / f"cache-{runbooks}-cold")
    cache = root / f"cache-{runbooks}-0"
    ask = asyncio.run(ask_ms(corpus, cache, questions(100, runbooks, seed=5)))
    return {
        "runbooks": runbooks, "sections": sections,
        "cold_s": statistics.median(cold), "warm_s": statistics.median(warm),
        "reindex_s": statistics.median(reindex), "max_stall_ms": max(stalls),
        "search_p50_ms": statistics.median(search),
        "search_p95_ms": statistics.quantiles(search, n=20)[18],
        "ask_p50_ms": statistics.median(ask),
        "index_mb": index_memory_mb(corpus, cache),
        "cold_peak_mb": peak_mb, "cold_after_mb": after_mb,
    }


def plot(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["sections"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("cold_s", "index build, cold"), ("warm_s", "index build, cache warm"),
                       ("reindex_s", "re-index after one edit")):
        left.plot(x, [r[key] for r in rows], marker="o", label=label)
    left.set(xscale="log", yscale="log", xlabel="sections", ylabel="seconds",
             title="Indexing")
    left.legend()
    for key, label in (("search_p50_ms", "search p50"), ("ask_p50_ms", "offline /ask p50"),
                       ("index_mb", "index memory (MB)")):
        right.plot(x, [r[key] for r in rows], marker="o", label=label)
    right.set(xscale="log", yscale="log", xlabel="sections", title="Serving")
    right.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="4,44,440,2000,4400")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/retrieval.md")
    args = parser.parse_args()
    started = time.perf_counter()
    model = default_embedder()
    model_s = time.perf_counter() - started
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for runbooks in (int(s) for s in args.sizes.split(",")):
            repeat = args.repeat if runbooks == TARGET_RUNBOOKS else 1
            rows.append(measure(runbooks, repeat, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    lines = [
        f"Retrieval cost ({platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"CPUs shared, Python {platform.python_version()}; model `{model.model_id}` loaded in "
        f"{model_s:.2f} s; medians of {args.repeat} runs at {TARGET_RUNBOOKS} runbooks, "
        "one run elsewhere)",
        "",
        "| runbooks | sections | build cold (s) | build, cache warm (s) | re-index 1 edit (s) "
        "| longest loop stall (ms) | search p50 / p95 (ms) | offline /ask p50 (ms) "
        "| index memory (MB) | cold build RSS peak / after (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['runbooks']} | {r['sections']} | {r['cold_s']:.2f} | {r['warm_s']:.2f} | "
            f"{r['reindex_s']:.2f} | {r['max_stall_ms']:.0f} | {r['search_p50_ms']:.2f} / "
            f"{r['search_p95_ms']:.2f} | {r['ask_p50_ms']:.2f} | {r['index_mb']:.0f} | "
            f"{r['cold_peak_mb']:.0f} / {r['cold_after_mb']:.0f} |")
    args.out.write_text("\n".join(lines) + "\n")
    plot(rows, REPO / "docs/images/retrieval-cost.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
