"""py-spy on the running service (SQLite ledger) while wrk drives the uncached and the cached
path at concurrency 16: self time per frame and per package, as a share of the busy samples and
as CPU ms per request (the share times the cell's measured CPU per request).

py-spy samples the live process from outside (`--nonblocking`: it does not pause it), so the
service runs exactly as in the matrix. Install it with `make bench-deps`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.throughput_parse import (
    WrkResult,
    frame_location,
    package_of,
    self_time,
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
    frames: list[tuple[str, str, float]]  # (function, file, share of busy samples)
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
                 "--rate", str(RATE_HZ), "--format", "raw", "--nonblocking", "-o", raw.name],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu = tree_cpu_seconds(server.pid)
            result = wrk(server.url, system, 16, SECONDS, tag="profile" + uuid.uuid4().hex[:6])
            cpu = tree_cpu_seconds(server.pid) - cpu
            spy.wait(timeout=60)
            collapsed = Path(raw.name).read_text()
        leaves, total = self_time(collapsed)
        profile = summarise(system.name, leaves, total, 1000 * cpu / max(1, result.requests),
                            result.rps)
        ours, _ = inclusive_own(collapsed)
        profile.inclusive = [(f, w, n / total) for (f, w), n in ours.most_common(TOP)]
        out.append(profile)
        print(f"  profiled {system.name}: {total} samples; inclusive, ours: " + "; ".join(
            f"{f} ({w}) {s:.0%} = {s * profile.cpu_ms:.2f} ms" for f, w, s in profile.inclusive),
            flush=True)
    return out


def inclusive_own(collapsed: str) -> tuple[Counter[tuple[str, str]], int]:
    """Samples per function of THIS repository (app/...) anywhere on the stack (inclusive time:
    what a call costs with everything it calls), counted once per stack, and the total."""
    counts: Counter[tuple[str, str]] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        seen = {frame_location(f) for f in stack.split(";")}
        for func, where in seen:
            if where.startswith("app/"):
                counts[(func, where)] += int(count)
    return counts, total


def summarise(name: str, leaves: Counter[str], total: int, cpu_ms: float,
              rps: float) -> Profile:
    by_frame: Counter[tuple[str, str]] = Counter()
    by_package: Counter[str] = Counter()
    for frame, count in leaves.items():
        func, where = frame_location(frame)
        by_frame[(func, where)] += count
        by_package[package_of(where)] += count
    share = 1 / total if total else 0.0
    return Profile(
        name, cpu_ms, rps, total,
        [(func, where, n * share) for (func, where), n in by_frame.most_common(TOP)],
        [(pkg, n * share) for pkg, n in by_package.most_common(TOP)])
