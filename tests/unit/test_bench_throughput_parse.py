"""The throughput bench's parsers (bench/throughput_parse.py): a change in wrk's, the kernel's
or py-spy's format must fail here, not turn into a plausible wrong results table."""

from __future__ import annotations

import os
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
    thread_cpu_seconds,
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


# py-spy --threads: the event loop's thread ran A and B; the store's thread sat in its queue's C
# wait, which py-spy samples as busy. /proc says the loop used 1.0 s, the store thread 0.02 s.
THREADED = (
    "thread (101): MainThread;run (asyncio/runners.py:1);a (/r/app/services/answer.py:9) 8\n"
    "thread (101): MainThread;run (asyncio/runners.py:1);b (json/encoder.py:2) 2\n"
    "thread (107): ledger-sqlite_0;_worker (concurrent/futures/thread.py:83) 10\n"
)


def test_each_threads_samples_weigh_its_own_cpu_time() -> None:
    unweighted, samples = self_time(THREADED)
    assert samples == 20
    assert unweighted["_worker (concurrent/futures/thread.py:83)"] / samples == 0.5

    leaves, total = self_time(THREADED, {101: 1.0, 107: 0.02, 999: 3.0})
    assert total == pytest.approx(1.02)
    assert leaves == pytest.approx({"a (/r/app/services/answer.py:9)": 0.8,
                                    "b (json/encoder.py:2)": 0.2,
                                    "_worker (concurrent/futures/thread.py:83)": 0.02})
    counts, total = inclusive_own(THREADED, {101: 1.0, 107: 0.02})
    assert counts == pytest.approx({("a", "app/services/answer.py"): 0.8})


def test_weighting_by_thread_needs_py_spys_threads_and_skips_broken_lines() -> None:
    with pytest.raises(ValueError, match="--threads"):
        self_time("run (asyncio/runners.py:1) 3\n", {101: 1.0})
    broken = THREADED + ":530965376) 1\n"  # the tail of a stack py-spy split across lines
    assert self_time(broken, {101: 1.0, 107: 0.02})[1] == pytest.approx(1.02)


def test_thread_cpu_is_read_per_task_of_the_process_tree(tmp_path: Path) -> None:
    stat = "{tid} (python3) S 1 1 1 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 3 0"
    for pid, tid, utime, stime, children in ((10, 10, 300, 100, "11"), (10, 12, 2, 0, ""),
                                              (11, 11, 50, 50, "")):
        task = tmp_path / str(pid) / "task" / str(tid)
        task.mkdir(parents=True)
        (task / "stat").write_text(stat.format(tid=tid, utime=utime, stime=stime))
        (task / "children").write_text(children)
    hz = os.sysconf("SC_CLK_TCK")

    assert thread_cpu_seconds(10, tmp_path) == {10: 400 / hz, 12: 2 / hz, 11: 100 / hz}
