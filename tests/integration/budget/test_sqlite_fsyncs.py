"""What reaches the disk when, on the SQLite ledger, counted by the kernel (strace): a settle
(spend) is fsynced before it returns; a reserve, a release and a read are not (they are WAL
commits that a kill -9 keeps, test_crash.py; the next settle's fsync covers them). One fsync per
paid question instead of two (issue 14)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.budget.fsync_worker import MARK

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SYNC_CALL = re.compile(r"\b(fsync|fdatasync|sync_file_range|msync)\(")


def fsyncs_per_step(tmp_path: Path) -> Counter[str]:
    strace = shutil.which("strace")
    assert strace, "strace is missing: make test-deps installs it (Debian package)"
    trace = tmp_path / "trace"
    done = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=write,fsync,fdatasync,sync_file_range,msync",
         "-s", "64", "-o", str(trace),
         sys.executable, "-m", "tests.integration.budget.fsync_worker",
         str(tmp_path / "ledger.sqlite3")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    counts: Counter[str] = Counter()
    step = "open"
    for line in trace.read_text().splitlines():
        if MARK in line:
            step = line.split(MARK, 1)[1].split("\\n", 1)[0]
            counts[step] += 0
        elif SYNC_CALL.search(line):
            counts[step] += 1
    return counts


def test_only_the_settle_waits_for_the_disk(tmp_path: Path) -> None:
    counts = fsyncs_per_step(tmp_path)
    assert set(counts) >= {"reserve", "settle", "release", "snapshot", "end"}, counts
    assert counts["settle"] >= 1, counts  # spend is on the disk before settle returns
    assert counts["reserve"] == 0 and counts["release"] == 0 and counts["snapshot"] == 0, counts
