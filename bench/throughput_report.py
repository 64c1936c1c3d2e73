"""bench/results/throughput.md and .png from one run of bench/throughput.py: medians over the
repetitions, ratios against the floor and LiteLLM, the issue's targets met or not. The notes
of an existing file (the profile's findings, before/after) are kept (bench/results_file.py)."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.results_file import write_keeping_notes

UNCACHED = ("ours uncached, SQLite", "ours uncached, Redis")


@dataclass
class Run:
    started: datetime
    args: dict[str, Any]
    litellm_version: str | None
    cells: list[Any] = field(default_factory=list)
    startup: dict[str, list[float]] = field(default_factory=dict)
    metrics_ms: dict[str, tuple[float, int]] = field(default_factory=dict)
    memory: list[tuple[int, float]] = field(default_factory=list)  # cached requests
    memory_paid: list[tuple[int, float]] = field(default_factory=list)  # a fresh worker
    paid_wal_bytes: int = 0  # that worker's ledger WAL file, at the end
    profiles: list[Any] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Row:
    rps: float
    p50: float
    p95: float
    p99: float
    errors: int
    cpu_ms: float
    rss: float


def medians(cells: list[Any]) -> dict[tuple[str, int, int], Row]:
    grouped: dict[tuple[str, int, int], list[Any]] = defaultdict(list)
    for c in cells:
        grouped[(c.system, c.delay_ms, c.concurrency)].append(c)
    return {key: Row(
        rps=statistics.median(c.wrk.rps for c in cs),
        p50=statistics.median(c.wrk.p50_ms for c in cs),
        p95=statistics.median(c.wrk.p95_ms for c in cs),
        p99=statistics.median(c.wrk.p99_ms for c in cs),
        errors=sum(c.wrk.errors for c in cs),
        cpu_ms=statistics.median(c.cpu_ms for c in cs),
        rss=max(c.rss_mib for c in cs)) for key, cs in grouped.items()}


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def machine() -> str:
    cpu = platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip()
                   for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def table(rows: dict[tuple[str, int, int], Row]) -> list[str]:
    out = ["| system | upstream delay | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors "
           "| CPU ms/req | RSS MiB | req/s vs floor | req/s vs LiteLLM | CPU vs floor |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (system, delay, conc), r in rows.items():
        floor = rows.get(("floor", delay, conc))
        lite = rows.get(("LiteLLM", delay, conc))
        out.append(
            f"| {system} | {delay} ms | {conc} | {r.rps:,.0f} | {r.p50:.2f} | {r.p95:.2f} | "
            f"{r.p99:.2f} | {r.errors} | {r.cpu_ms:.2f} | {r.rss:.0f} | "
            f"{_ratio(r.rps, floor.rps if floor else None)} | "
            f"{_ratio(r.rps, lite.rps if lite else None)} | "
            f"{_ratio(r.cpu_ms, floor.cpu_ms if floor else None)} |")
    return out


def targets(run: Run, rows: dict[tuple[str, int, int], Row]) -> list[str]:
    def get(system: str, delay: int, conc: int) -> Row | None:
        return rows.get((system, delay, conc))

    def worst_cpu(system: str) -> float | None:
        return max((r.cpu_ms for (s, _, _), r in rows.items() if s == system), default=None)

    out = ["| target | measured | met |", "|---|---|---|"]
    floor_worst = worst_cpu("floor")
    for system in UNCACHED:
        cpu = worst_cpu(system)
        if cpu is not None:
            # The worst cell is c=1 behind the slow upstream, where a request's fixed costs
            # (cold caches after each 50 ms wait, wake-ups) dominate: the floor's own is shown.
            context = f" (the floor's: {floor_worst:.2f} ms)" if floor_worst is not None else ""
            out.append(f"| {system}: CPU <= 2 ms/request (worst cell) | {cpu:.2f} ms{context} | "
                       f"{'yes' if cpu <= 2 else 'no'} |")
        for delay in run.args["delays"]:
            ours, floor, lite = (get(system, delay, 64), get("floor", delay, 64),
                                 get("LiteLLM", delay, 64))
            if ours:  # the issue's own table measures CPU per request at concurrency 64
                # beside the floor's in the same cell: the 2 ms is absolute, and the VMs these
                # runs get differ by half in the floor's own CPU per request
                context = f" (the floor's: {floor.cpu_ms:.2f} ms)" if floor else ""
                out.append(f"| {system}, delay {delay} ms: CPU <= 2 ms/request at c=64 | "
                           f"{ours.cpu_ms:.2f} ms{context} | "
                           f"{'yes' if ours.cpu_ms <= 2 else 'no'} |")
            if ours and lite:
                x = ours.rps / lite.rps
                out.append(f"| {system}, delay {delay} ms: req/s >= 5x LiteLLM at c=64 | "
                           f"{x:.1f}x | {'yes' if x >= 5 else 'no'} |")
            ours, floor = get(system, delay, 1), get("floor", delay, 1)
            if ours and floor:
                added = ours.p50 - floor.p50
                out.append(f"| {system}, delay {delay} ms: added p50 <= 2 ms at c=1 | "
                           f"{added:+.2f} ms | {'yes' if added <= 2 else 'no'} |")
    for system in ("ours cached, SQLite", "ours cached, Redis"):
        best = max((r.rps for (s, _, c), r in rows.items() if s == system and c == 64),
                   default=None)
        if best is not None:
            out.append(f"| {system}: >= 2,500 req/s at c=64 | {best:,.0f} | "
                       f"{'yes' if best >= 2500 else 'no'} |")
    for kind, points in (("cached requests", run.memory),
                         ("paid requests, a fresh worker", run.memory_paid)):
        if points:
            out.append(_rss_target(kind, points))
    for name, (ms, series) in run.metrics_ms.items():
        out.append(f"| /metrics < 20 ms ({name}, {series} series) | {ms:.1f} ms | "
                   f"{'yes' if ms < 20 else 'no'} |")
    if "sqlite" in run.startup:
        s = statistics.median(run.startup["sqlite"])
        out.append(f"| start-up to ready < 2 s (median of {len(run.startup['sqlite'])}) | "
                   f"{s:.2f} s | {'yes' if s < 2 else 'no'} |")
    return out


def _rss_target(kind: str, points: list[tuple[int, float]]) -> str:
    """Peak, and growth after the first sample past 0 (the first 10,000 requests fill the
    answer caches, 1,024 entries each): flat is within 5 MiB of it."""
    peak = max(m for _, m in points)
    after, first = points[1] if len(points) > 1 else points[0]
    growth = points[-1][1] - first
    return (f"| RSS <= 120 MB, flat over {points[-1][0]:,} {kind} | peak {peak:.0f} MiB, "
            f"{growth:+.1f} MiB after the first {after:,} | "
            f"{'yes' if peak * 1.048576 <= 120 and abs(growth) < 5 else 'no'} |")


def profiles(run: Run) -> list[str]:
    out: list[str] = []
    for p in run.profiles:
        out += ["", f"**{p.system}**, concurrency 16: {p.rps:,.0f} req/s, {p.cpu_ms:.2f} ms CPU"
                f"/request, {p.samples} samples, each thread's weighted by its own CPU "
                "time. Self time, top frames:", "",
                "| frame | file | share | CPU ms/request |", "|---|---|---:|---:|"]
        out += [f"| `{f}` | {w} | {s:.1%} | {s * p.cpu_ms:.3f} |" for f, w, s in p.frames]
        if getattr(p, "inclusive", None):
            out += ["", "Inclusive time of our own functions (everything they call included):",
                    "", "| function | file | share | CPU ms/request |", "|---|---|---:|---:|"]
            out += [f"| `{f}` | {w} | {s:.1%} | {s * p.cpu_ms:.3f} |" for f, w, s in p.inclusive]
        out += ["", "Self time by package: " + ", ".join(
            f"{pkg} {s:.0%} ({s * p.cpu_ms:.2f} ms)" for pkg, s in p.packages[:10]) + "."]
    return out


def write(run: Run, out: Path) -> None:
    rows = medians(run.cells)
    a = run.args
    lines = [
        "# Throughput and cost to run: one worker each, side by side",
        "",
        f"Produced by `make bench-throughput` (`python -m bench.throughput`) on "
        f"{run.started:%Y-%m-%d %H:%M} UTC: {a['repetitions']} interleaved repetitions of "
        f"{a['duration']:g} s per cell; wrk, concurrency {', '.join(map(str, a['concurrency']))}; "
        f"the fake Anthropic API (tests/fakes) as upstream, answering after "
        f"{' or '.join(map(str, a['delays']))} ms. Medians over the repetitions (errors summed, "
        "RSS the maximum). LiteLLM: "
        + (f"proxy {run.litellm_version}, one worker, `/v1/messages`." if run.litellm_version
           else "not installed (`make bench-litellm`), skipped."),
        "",
        f"Machine: {machine()}. 1-minute load average {run.load[0]:.1f} before and "
        f"{run.load[1]:.1f} after: a shared VM with other jobs running (the load generator and "
        "the fake upstream share its cores too), so read ratios and medians, not absolutes.",
        "",
        *table(rows),
        "",
        "## The issue's targets",
        "",
        *targets(run, rows),
        "",
        "## Memory, /metrics, start-up",
        "",
        "RSS of one worker (SQLite) over cached requests at concurrency 64: "
        + ", ".join(f"{n:,}: {m:.1f} MiB" for n, m in run.memory) + ".",
        "",
        "RSS of a fresh worker (SQLite) over paid requests at concurrency 64, every question "
        "distinct: " + ", ".join(f"{n:,}: {m:.1f} MiB" for n, m in run.memory_paid) + f". "
        f"Its ledger's WAL file at the end: {run.paid_wal_bytes / 2**20:.1f} MiB.",
        "",
        *(f"- GET /metrics after the load ({name}): median {ms:.1f} ms of 50, {n} series."
          for name, (ms, n) in run.metrics_ms.items()),
        *(f"- start-up to ready, {name}: "
          + ", ".join(f"{s:.2f}" for s in times) + f" s (median {statistics.median(times):.2f})"
          for name, times in run.startup.items()),
        "",
        "## Profile (py-spy)" if run.profiles else "",
        *profiles(run),
        "",
    ]
    write_keeping_notes(out, "\n".join(lines))
    plot(rows, run.args["delays"], out.with_suffix(".png"))


def plot(rows: dict[tuple[str, int, int], Row], delays: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    systems = list(dict.fromkeys(s for s, _, _ in rows))
    concurrencies = sorted({c for _, _, c in rows})
    fig, axes = plt.subplots(2, len(delays), figsize=(6 * len(delays), 8), squeeze=False)
    for col, delay in enumerate(delays):
        for system in systems:
            points = sorted((c, r) for (s, d, c), r in rows.items() if s == system and d == delay)
            if not points:
                continue
            xs = [c for c, _ in points]
            axes[0][col].plot(xs, [r.rps for _, r in points], marker="o", label=system)
            axes[1][col].plot(xs, [r.cpu_ms for _, r in points], marker="o", label=system)
        axes[0][col].set_title(f"upstream delay {delay} ms")
        axes[0][col].set_ylabel("requests/s")
        axes[1][col].set_ylabel("CPU ms per request")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log", base=2)
            ax.set_xticks(concurrencies, [str(c) for c in concurrencies])  # the measured ones
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_yscale("log")
            ax.set_xlabel("concurrency")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("One worker each (bench/results/throughput.md)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
