"""The throughput bench's pure parts: wrk's result line, /proc's CPU and memory, py-spy's
collapsed stacks. Unit-tested (tests/unit/test_bench_throughput_parse.py) so that a change of
format fails loudly instead of producing a plausible wrong table."""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

WRK_MARKER = "BENCH "


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: int  # non-2xx/3xx + socket errors (connect, read, write, timeout)
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


def parse_wrk(output: str) -> WrkResult:
    """The `BENCH {...}` line bench/throughput.lua's done() prints; ValueError if absent."""
    for line in output.splitlines():
        if line.startswith(WRK_MARKER):
            raw = json.loads(line.removeprefix(WRK_MARKER))
            errors = sum(int(raw[k]) for k in ("connect", "read", "write", "status", "timeout"))
            return WrkResult(
                requests=int(raw["requests"]), duration_s=int(raw["duration_us"]) / 1e6,
                errors=errors, p50_ms=raw["p50_us"] / 1000, p95_ms=raw["p95_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000)
    raise ValueError(f"no {WRK_MARKER.strip()} line in wrk's output:\n{output[-2000:]}")


def cpu_ticks_from_stat(stat: str) -> int:
    """utime + stime (clock ticks) from a /proc/<pid>/stat line. The command name (field 2) is
    in parentheses and may contain spaces or ')': split after the LAST ')'."""
    fields = stat.rsplit(")", 1)[1].split()
    # After ')': state is field 3, so utime (field 14) and stime (15) are at 11 and 12.
    return int(fields[11]) + int(fields[12])


def rss_kib_from_status(status: str) -> int:
    """VmRSS in KiB from /proc/<pid>/status; ValueError when absent (a zombie has none)."""
    return status_kib(status, "VmRSS")


def status_kib(status: str, field: str) -> int:
    """A memory line (VmRSS, VmHWM, ...) of /proc/<pid>/status in KiB; ValueError when absent."""
    for line in status.splitlines():
        if line.startswith(field + ":"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected {field} unit {unit!r}")
            return int(value)
    raise ValueError(f"no {field} line in /proc/<pid>/status")


def process_tree(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """pid and its descendants (a server that forks a worker is measured whole)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for children in (proc / str(current) / "task").glob("*/children"):
            try:
                todo.extend(int(c) for c in children.read_text().split())
            except OSError:
                continue
    return out


def tree_cpu_seconds(pid: int) -> float:
    ticks = 0
    for p in process_tree(pid):
        try:
            ticks += cpu_ticks_from_stat(Path(f"/proc/{p}/stat").read_text())
        except OSError:
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_rss_mib(pid: int) -> float:
    kib = 0
    for p in process_tree(pid):
        try:
            kib += rss_kib_from_status(Path(f"/proc/{p}/status").read_text())
        except (OSError, ValueError):
            continue
    return kib / 1024


def thread_cpu_seconds(pid: int, proc: Path = Path("/proc")) -> dict[int, float]:
    """CPU seconds (utime + stime) of each thread of pid and of its descendants, by thread id."""
    out: dict[int, float] = {}
    for p in process_tree(pid, proc):
        for task in (proc / str(p) / "task").glob("*"):
            try:
                out[int(task.name)] = (cpu_ticks_from_stat((task / "stat").read_text())
                                       / os.sysconf("SC_CLK_TCK"))
            except (OSError, ValueError):
                continue
    return out


_THREAD = re.compile(r"^thread \((?P<tid>\d+)\)")


def split_thread(stack: str) -> tuple[int | None, str]:
    """py-spy `--threads` puts `thread (<tid>): <name>` first on every stack: (tid, the rest)."""
    head, _, rest = stack.partition(";")
    match = _THREAD.match(head)
    return (int(match["tid"]), rest) if match else (None, stack)


def sample_weights(collapsed: str, cpu: Mapping[int, float] | None) -> dict[int | None, float]:
    """Seconds of CPU one sample of each thread stands for: the thread's own CPU time over the
    profile (`cpu`, from /proc) divided by its samples. py-spy counts a thread blocked in C (a
    worker waiting on its queue, an fsync waiting on the disk) as busy, so unweighted samples
    gave threads that used ~2 % of the CPU ~13 % of the profile. Without `cpu`: 1 a sample."""
    samples: Counter[int | None] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples[split_thread(stack)[0]] += int(count)
    if cpu is None:
        return dict.fromkeys(samples, 1.0)
    if not samples.keys() - {None}:
        raise ValueError("weighting by thread needs py-spy's --threads")
    # a line without its thread is a stack py-spy broke across lines (a frame name with a
    # newline, seen under --nonblocking): it weighs nothing
    return {tid: cpu.get(tid, 0.0) / n if tid is not None else 0.0
            for tid, n in samples.items()}


def stacks(collapsed: str, cpu: Mapping[int, float] | None = None
           ) -> Iterator[tuple[list[str], float]]:
    """Each stack of py-spy's `--format raw` (`frame;frame;frame count` a line), its frames
    root first and its weight (sample_weights)."""
    weights = sample_weights(collapsed, cpu)
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        tid, frames = split_thread(stack)
        if frames:
            yield frames.split(";"), int(count) * weights[tid]


def self_time(collapsed: str, cpu: Mapping[int, float] | None = None
              ) -> tuple[dict[str, float], float]:
    """Weight per LEAF frame (self time) and the total: samples, or CPU seconds when each
    thread's `cpu` is given (sample_weights). Idle stacks (the event loop waiting in epoll/
    select) are kept: the caller decides what counts as busy."""
    leaves: dict[str, float] = defaultdict(float)
    total = 0.0
    for frames, weight in stacks(collapsed, cpu):
        leaves[frames[-1]] += weight
        total += weight
    return dict(leaves), total


_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")
_ROOTS = ("site-packages/", "/lib/python3.11/", "/lib/python3.12/", "/lib/python3.13/")


def frame_location(frame: str) -> tuple[str, str]:
    """(function, file) of a py-spy frame `func (path/file.py:12)`. The file is relative to
    site-packages or the stdlib (`starlette/routing.py`, `json/encoder.py`), or from `app/` or
    `bench/` for this repository's own."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, "?"
    path = match["path"]
    for root in _ROOTS:
        if root in path:
            return match["func"], path.rsplit(root, 1)[1]
    rooted = "/" + path.lstrip("/")
    for own in ("/app/", "/bench/", "/tests/"):
        if own in rooted:
            return match["func"], own.lstrip("/") + rooted.rsplit(own, 1)[1]
    return match["func"], path


def package_of(where: str) -> str:
    """The top-level package (or stdlib module) of a frame's file: `app/api/x.py` -> `app/api`
    (our layers are worth telling apart), `starlette/routing.py` -> `starlette`."""
    parts = where.split("/")
    if parts[0] == "app" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py")
