"""py-spy on the running service (SQLite ledger) while wrk drives the uncached and the cached
path at concurrency 16: self time per frame and per package, as a share of the busy samples and
as CPU ms per request (the share times the cell's measured CPU per request).

py-spy samples the live process from outside (`--nonblocking`: it does not pause it), so the
service runs exactly as in the matrix. Install it with `make bench-deps`. Each thread's samples
are weighted by that thread's own CPU time over the cell (/proc/<pid>/task): py-spy counts a
thread blocked in C as busy, and the ledger's fsync thread and the executor's idle workers took
~13 % of the unweighted samples for ~2 % of the CPU (2026-12-02)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.throughput_parse import (
    WrkResult,
    frame_location,
    package_of,
    self_time,
    stacks,
    thread_cpu_seconds,
    tree_cpu_seconds,
)
from bench.throughput_servers import Server

SECONDS = 10
RATE_HZ = 250
TOP = 15


@dataclass
class Profile:
    system: str
    cpu_ms: float  # per request, over the profiled cell
    rps: float
    samples: int
    frames: list[tuple[str, str, float]]  # (function, file, share of the profiled CPU)
    packages: list[tuple[str, float]]
    inclusive: list[tuple[str, str, float]] = field(default_factory=list)  # our functions


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy not found: `make bench-deps` installs it into .venv")
    return found


def profile_paths(server: Server, systems: Sequence[Any],
                  wrk: Callable[..., WrkResult]) -> list[Profile]:
    """Profile each of `systems` (bench.throughput.System) served by `server`, one by one."""
    out = []
    for system in systems:
        with tempfile.NamedTemporaryFile(suffix=".txt") as raw:
            spy = subprocess.Popen(
                [py_spy(), "record", "--pid", str(server.pid), "--duration", str(SECONDS),
                 "--rate", str(RATE_HZ), "--format", "raw", "--nonblocking", "--threads",
                 "-o", raw.name],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu = tree_cpu_seconds(server.pid)
            before = thread_cpu_seconds(server.pid)
            result = wrk(server.url, system, 16, SECONDS, tag="profile" + uuid.uuid4().hex[:6])
            cpu = tree_cpu_seconds(server.pid) - cpu
            spent = {tid: secs - before.get(tid, 0.0)
                     for tid, secs in thread_cpu_seconds(server.pid).items()}
            spy.wait(timeout=60)
            collapsed = Path(raw.name).read_text()
        leaves, total = self_time(collapsed, spent)
        profile = summarise(system.name, leaves, total, 1000 * cpu / max(1, result.requests),
                            result.rps, samples=round(self_time(collapsed)[1]))
        ours, _ = inclusive_own(collapsed, spent)
        profile.inclusive = [(f, w, n / total) for (f, w), n in top(ours)]
        out.append(profile)
        print(f"  profiled {system.name}: {profile.samples} samples, {total:.1f} s of CPU "
              "attributed; inclusive, ours: " + "; ".join(
            f"{f} ({w}) {s:.0%} = {s * profile.cpu_ms:.2f} ms" for f, w, s in profile.inclusive),
            flush=True)
    return out


def inclusive_own(collapsed: str, cpu: Mapping[int, float] | None = None
                  ) -> tuple[dict[tuple[str, str], float], float]:
    """Weight per function of THIS repository (app/...) anywhere on the stack (inclusive time:
    what a call costs with everything it calls), counted once per stack, and the total; the
    weights are samples, or CPU seconds with each thread's `cpu` (sample_weights)."""
    counts: dict[tuple[str, str], float] = defaultdict(float)
    total = 0.0
    for frames, weight in stacks(collapsed, cpu):
        total += weight
        for func, where in {frame_location(f) for f in frames}:
            if where.startswith("app/"):
                counts[(func, where)] += weight
    return dict(counts), total


def top(weights: Mapping[Any, float], n: int = TOP) -> list[tuple[Any, float]]:
    return sorted(weights.items(), key=lambda kv: -kv[1])[:n]


def summarise(name: str, leaves: Mapping[str, float], total: float, cpu_ms: float,
              rps: float, *, samples: int) -> Profile:
    """`leaves`/`total`: self_time's weights. `samples`: the stacks py-spy recorded."""
    by_frame: dict[tuple[str, str], float] = defaultdict(float)
    by_package: dict[str, float] = defaultdict(float)
    for frame, weight in leaves.items():
        func, where = frame_location(frame)
        by_frame[(func, where)] += weight
        by_package[package_of(where)] += weight
    share = 1 / total if total else 0.0
    return Profile(
        name, cpu_ms, rps, samples,
        [(func, where, w * share) for (func, where), w in top(by_frame)],
        [(pkg, w * share) for pkg, w in top(by_package)])
