"""The throughput bench's pure parts: wrk's result line, /proc's CPU and memory, py-spy's
collapsed stacks. Unit-tested (tests/unit/test_bench_throughput_parse.py) so that a change of
format fails loudly instead of producing a plausible wrong table."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
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


def self_time(collapsed: str) -> tuple[Counter[str], int]:
    """py-spy's `--format raw` (collapsed stacks: `frame;frame;frame count` per line): samples
    per LEAF frame (self time) and the total. Idle stacks (the event loop waiting in epoll/
    select) are kept: the caller decides what counts as busy."""
    leaves: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        leaves[leaf] += int(count)
        total += int(count)
    return leaves, total


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
