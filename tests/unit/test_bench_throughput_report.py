"""The throughput bench's verdicts (bench/throughput_report.py `targets`): each of the issue's
targets is judged on the cells it names, so a table can neither hide a miss nor claim a hit."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.throughput_report import Row, Run, targets

SQLITE = "ours uncached, SQLite"


def row(cpu_ms: float, *, rps: float = 100.0, p50: float = 1.0) -> Row:
    return Row(rps=rps, p50=p50, p95=p50, p99=p50, errors=0, cpu_ms=cpu_ms, rss=100.0)


def verdicts(rows: dict[tuple[str, int, int], Row],
             run: Run | None = None) -> dict[str, tuple[str, str]]:
    run = run or Run(started=datetime(2026, 12, 2, tzinfo=UTC), args={"delays": [0, 50]},
                     litellm_version=None)
    out = {}
    for line in targets(run, rows)[2:]:
        target, measured, met = (cell.strip() for cell in line.strip("|").split("|"))
        out[target] = (measured, met)
    return out


def test_cpu_is_judged_at_concurrency_64_per_delay_and_on_the_worst_cell_with_the_floors() -> None:
    rows = {
        ("floor", 0, 64): row(1.0), ("floor", 50, 1): row(2.9), ("floor", 50, 64): row(1.4),
        (SQLITE, 0, 64): row(1.9), (SQLITE, 50, 1): row(5.9), (SQLITE, 50, 64): row(2.4),
    }
    got = verdicts(rows)
    assert got[f"{SQLITE}, delay 0 ms: CPU <= 2 ms/request at c=64"] == (
        "1.90 ms (the floor's: 1.00 ms)", "yes")
    assert got[f"{SQLITE}, delay 50 ms: CPU <= 2 ms/request at c=64"] == (
        "2.40 ms (the floor's: 1.40 ms)", "no")
    assert got[f"{SQLITE}: CPU <= 2 ms/request (worst cell)"] == (
        "5.90 ms (the floor's: 2.90 ms)", "no")


def test_without_a_floor_the_worst_cell_is_reported_alone() -> None:
    got = verdicts({(SQLITE, 0, 64): row(1.5)})
    assert got[f"{SQLITE}: CPU <= 2 ms/request (worst cell)"] == ("1.50 ms", "yes")
    assert got[f"{SQLITE}, delay 0 ms: CPU <= 2 ms/request at c=64"] == ("1.50 ms", "yes")


def test_memory_is_judged_on_the_cached_and_on_the_paid_series_each() -> None:
    """A worker flat over cached requests can still grow over paid ones (the ledger's WAL
    index did, 2026-12-03): each series gets its own verdict, growth counted after 10,000."""
    run = Run(started=datetime(2026, 12, 2, tzinfo=UTC), args={"delays": [0]},
              litellm_version=None,
              memory=[(0, 100.0), (10_000, 110.0), (100_000, 111.0)],
              memory_paid=[(0, 100.0), (10_000, 110.0), (100_000, 124.0)])
    got = verdicts({}, run)
    assert got["RSS <= 120 MB, flat over 100,000 cached requests"] == (
        "peak 111 MiB, +1.0 MiB after the first 10,000", "yes")
    assert got["RSS <= 120 MB, flat over 100,000 paid requests, a fresh worker"] == (
        "peak 124 MiB, +14.0 MiB after the first 10,000", "no")
