"""`make test` runs the unit suite on every supported Python besides the main one, and says so
loudly when it cannot: a missing interpreter must never look like a pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True
    )


def test_make_test_runs_the_unit_suite_on_3_12_and_3_13() -> None:
    dry = make("-n", "test", "VENV=/nonexistent-venv")
    assert "test-pythons" in dry.stdout
    assert make("-n", "test-pythons").stdout.startswith("for v in 3.12 3.13; do")


def test_a_missing_interpreter_is_skipped_loudly_or_fails_when_required() -> None:
    skipped = make("test-pythons", "EXTRA_PYTHONS=3.99")
    assert skipped.returncode == 0
    assert "SKIPPED: no python3.99" in skipped.stderr
    assert "did\n!!! NOT run on Python 3.99" in skipped.stderr
    required = make("test-pythons", "EXTRA_PYTHONS=3.99", "REQUIRE_ALL_PYTHONS=1")
    assert required.returncode != 0
