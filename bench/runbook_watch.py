"""What watching the runbooks directory costs while nothing changes, at 44 to 4,400 runbooks.

The service polls its runbooks directory every `SRE_AI_WATCH_INTERVAL_SECONDS` (1 s by default)
for added, removed or edited files (app/config_watch/file_watch.py): the chart mounts a team's
corpus from a volume (a PersistentVolumeClaim, NFS) or a git-sync checkout, so there is no
event to wait for. Every poll lists the tree and stats each file, forever, whether or not
anything changed. This bench measures one unchanged poll (CPU, median) and the event loop's
longest stall and 99th percentile lateness while the real `DirectoryWatcher.run()` polls for a
few seconds (a 5 ms ticker, as bench/retrieval.py measures a re-index): a stall is added to
every request in flight at that moment.

Corpus: bench/runbook_corpus.py (deterministic, nested by component). Wall-clock figures depend
on what else the machine does: read the ratios.

    .venv/bin/python -m bench.runbook_watch [--sizes 44,440,2000,4400] [--seconds 3]
        [--out bench/results/runbook-watch.md]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from app.config_watch.file_watch import DirectoryWatcher
from bench.results_file import write_keeping_notes
from bench.runbook_corpus import generate

REPO = Path(__file__).resolve().parent.parent
TICK_SECONDS = 0.005
POLL_EVERY_SECONDS = 0.05  # 20 polls a second: the stalls show sooner than at the default 1 s


def _nothing() -> None:
    raise AssertionError("the corpus did not change: nothing to re-index")


async def poll_cpu_ms(watcher: DirectoryWatcher, polls: int) -> float:
    """Median CPU of one unchanged poll (this process: the loop and any thread it uses)."""
    samples = []
    for _ in range(polls):
        started = time.process_time()
        assert await watcher.check() is False
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


async def loop_lateness_ms(watcher: DirectoryWatcher, seconds: float) -> tuple[float, float]:
    """(longest, p99) lateness of a 5 ms ticker while the watcher's own loop polls."""
    late: list[float] = []
    polling = asyncio.create_task(watcher.run())
    try:
        last = time.perf_counter()
        end = last + seconds
        while last < end:
            await asyncio.sleep(TICK_SECONDS)
            now = time.perf_counter()
            late.append((now - last - TICK_SECONDS) * 1000)
            last = now
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
    late.sort()
    return late[-1], late[int(len(late) * 0.99)]


async def measure(runbooks: int, root: Path, seconds: float) -> dict[str, float]:
    corpus = root / f"corpus-{runbooks}"
    generate(corpus, runbooks)
    watcher = DirectoryWatcher(corpus, _nothing, POLL_EVERY_SECONDS)
    cpu = await poll_cpu_ms(watcher, 30)
    longest, p99 = await loop_lateness_ms(watcher, seconds)
    return {"runbooks": runbooks, "poll_cpu_ms": cpu, "longest_ms": longest, "p99_ms": p99}


def write(rows: list[dict[str, float]], out: Path, seconds: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = platform.processor() or platform.machine()
    lines = [
        "# Watching the runbooks directory: the cost of a poll that finds nothing",
        "",
        f"Produced by `python -m bench.runbook_watch` on {stamp} ({machine}, "
        f"{os.cpu_count()} CPUs shared, Python {platform.python_version()}). A poll runs every "
        f"second by default; the lateness is a 5 ms ticker's on the event loop over {seconds:g} "
        f"s of polls every {POLL_EVERY_SECONDS * 1000:.0f} ms.",
        "",
        "| runbooks | CPU per poll (ms, median of 30) | CPU share at one poll a second | "
        "loop lateness p99 (ms) | longest loop stall (ms) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['runbooks']:,.0f} | {r['poll_cpu_ms']:.2f} | "
                     f"{r['poll_cpu_ms'] / 10:.2f} % | {r['p99_ms']:.2f} | {r['longest_ms']:.1f} |")
    lines.append("")
    return write_keeping_notes(out, "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="44,440,2000,4400")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/runbook-watch.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="runbook-watch-") as tmp:
        for runbooks in (int(s) for s in args.sizes.split(",")):
            rows.append(asyncio.run(measure(runbooks, Path(tmp), args.seconds)))
            print(rows[-1], flush=True)
    print(write(rows, args.out, args.seconds))


if __name__ == "__main__":
    main()
