"""Resident memory of one worker (SQLite ledger) over many requests, for bench/throughput.py.

Two series, each sampled every `step` requests at concurrency 64:
- cached: one fixed question on the matrix's server, after the matrix;
- paid: every question distinct (each a paid answer), on a worker started fresh for it, so the
  series shows what the paid path itself keeps. Over the matrix's server this growth would be
  hidden: its cells have already run ~25,000 paid answers. It is the series that found the
  SQLite ledger's WAL growing without end under load (app/budget/stores/sqlite_sync.py) and the
  retrieval stemmer's cache holding every new word of every question (app/runbooks/text.py).

wrk has no request count: throughput.lua stops each thread after its share (BENCH_LIMIT), but
wrk's main thread still waits out -d, so -d is sized from the rate a short run measures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import throughput_servers as servers
from bench.throughput_parse import WrkResult, tree_rss_mib

Series = list[tuple[int, float]]
Wrk = Callable[..., WrkResult]


def series(server: servers.Server, system: Any, wrk: Wrk, total: int, step: int,
           tag: str = "") -> Series:
    """RSS every `step` requests of `system` (a bench.throughput.System) against `server`.
    `tag` keeps a paid series' questions apart from every earlier run's."""
    rate = wrk(server.url, system, 64, 2, tag=f"{tag}rate").rps
    seconds = max(2, math.ceil(1.3 * step / max(rate, 1.0)))
    out, done, n = [(0, tree_rss_mib(server.pid))], 0, 0
    while done < total:
        n += 1
        result = wrk(server.url, system, 64, seconds, tag=f"{tag}{n}", limit=step // 2)
        done += result.requests
        out.append((done, tree_rss_mib(server.pid)))
        print(f"  {done:>7} requests: RSS {out[-1][1]:.1f} MiB", flush=True)
    return out


def paid_from_fresh(workdir: Path, fake_url: str, system: Any, wrk: Wrk, total: int,
                    step: int) -> tuple[Series, int]:
    """The paid series on a SQLite worker of its own, started for it and stopped after; and
    the size of its ledger's WAL file at the end (bytes, before the worker stops: the last
    connection to close folds the WAL into the database and deletes it)."""
    server = servers.ours("sqlite-fresh", workdir, fake_url, None).start()
    try:
        points = series(server, system, wrk, total, step, tag="fresh")
        wal = Path(server.env["SRE_AI_LEDGER_PATH"] + "-wal")
        return points, wal.stat().st_size if wal.exists() else 0
    finally:
        server.stop()
