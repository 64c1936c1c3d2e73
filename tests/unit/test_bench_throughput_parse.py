"""The throughput bench's parsers (bench/throughput_parse.py): a change in wrk's, the kernel's
or py-spy's format must fail here, not turn into a plausible wrong results table."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.throughput_parse import (
    cpu_ticks_from_stat,
    frame_location,
    package_of,
    parse_wrk,
    process_tree,
    rss_kib_from_status,
    self_time,
)
from bench.throughput_profile import inclusive_own

WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:41234
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    41.20ms    5.10ms  98.00ms   90.00%
    Req/Sec   776.00     50.00   900.00     70.00%
  7760 requests in 5.00s, 9.10MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   1551.90
Transfer/sec:      1.82MB
BENCH {"requests":7760,"duration_us":5000400,"connect":0,"read":1,"write":0,"status":3,\
"timeout":2,"p50_us":40100,"p95_us":52000,"p99_us":97500}
"""


def test_wrk_result_line_gives_rate_latency_and_every_kind_of_error() -> None:
    r = parse_wrk(WRK_OUTPUT)
    assert r.requests == 7760
    assert r.rps == pytest.approx(7760 / 5.0004)
    assert r.errors == 6  # 3 non-2xx + 1 read + 2 timeouts
    assert (r.p50_ms, r.p95_ms, r.p99_ms) == (40.1, 52.0, 97.5)


def test_wrk_output_without_the_result_line_is_an_error_not_zero() -> None:
    with pytest.raises(ValueError, match="no BENCH line"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_proc_stat_cpu_is_utime_plus_stime_even_with_spaces_and_parens_in_the_name() -> None:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    stat = "4242 (python3 (x) y) S 1 4242 4242 0 -1 4194560 9000 0 12 0 1234 567 0 0 20 0 3 0"
    assert cpu_ticks_from_stat(stat) == 1234 + 567


def test_proc_status_rss_in_kib_and_a_missing_line_fails() -> None:
    status = "Name:\tpython3\nVmPeak:\t  400000 kB\nVmRSS:\t  118272 kB\nThreads:\t3\n"
    assert rss_kib_from_status(status) == 118272
    with pytest.raises(ValueError, match="VmRSS"):
        rss_kib_from_status("Name:\tzombie\nState:\tZ (zombie)\n")


def test_process_tree_follows_every_threads_children(tmp_path: Path) -> None:
    for pid, tid, children in ((10, 10, "11 "), (10, 12, "13"), (11, 11, ""), (13, 13, "")):
        task = tmp_path / str(pid) / "task" / str(tid)
        task.mkdir(parents=True)
        (task / "children").write_text(children)
    assert sorted(process_tree(10, tmp_path)) == [10, 11, 13]


def test_py_spy_collapsed_stacks_give_self_time_per_leaf() -> None:
    raw = (
        "<module> (uvicorn/main.py:1);run (asyncio/runners.py:118);dumps (json/__init__.py:231) 7\n"
        "<module> (uvicorn/main.py:1);__call__ (app/api/middleware.py:70) 3\n"
        "<module> (uvicorn/main.py:1);dumps (json/__init__.py:231) 2\n"
        "not a sample line\n"
    )
    leaves, total = self_time(raw)
    assert total == 12
    assert leaves == Counter({"dumps (json/__init__.py:231)": 9,
                              "__call__ (app/api/middleware.py:70)": 3})


@pytest.mark.parametrize(("frame", "func", "where", "package"), [
    ("dumps (/usr/lib/python3.11/json/__init__.py:231)", "dumps", "json/__init__.py", "json"),
    ("handle (/work/wt/x/.venv/lib/python3.11/site-packages/starlette/routing.py:70)",
     "handle", "starlette/routing.py", "starlette"),
    ("__call__ (/work/wt/x/app/api/middleware.py:70)", "__call__", "app/api/middleware.py",
     "app/api"),
    ("<module> (bench/floor_app.py:3)", "<module>", "bench/floor_app.py", "bench"),
])
def test_py_spy_frames_name_their_file_and_package(
    frame: str, func: str, where: str, package: str
) -> None:
    assert frame_location(frame) == (func, where)
    assert package_of(where) == package


def test_inclusive_time_counts_each_own_function_once_per_stack() -> None:
    raw = (
        "run (asyncio/runners.py:1);ask (/r/app/services/answer.py:9);"
        "ask (/r/app/services/answer.py:9);dumps (json/__init__.py:2) 5\n"
        "run (asyncio/runners.py:1);send (uvicorn/h.py:3) 2\n"
    )
    counts, total = inclusive_own(raw)
    assert total == 7
    assert counts == Counter({("ask", "app/services/answer.py"): 5})
