"""`sre-ai-platform --workers N>1` is refused with a message that says what to do instead: each
worker would keep its own metrics registry and a scrape would see one worker at random."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.fakes.service_process import REPO_ROOT

pytestmark = pytest.mark.integration


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("workers", ["2", "8", "0"])
def test_more_than_one_worker_is_refused_before_anything_starts(workers: str) -> None:
    with socket.socket() as taken:  # were it to start, it would fail fast here, not hang
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _cli("--workers", workers, "--port", str(taken.getsockname()[1]))
    assert done.returncode == 2, done.stderr
    assert "--workers must be 1" in done.stderr
    assert "replicas" in done.stderr and "scrape" in done.stderr
    assert "Started server" not in done.stderr + done.stdout


def test_help_says_to_scale_with_replicas() -> None:
    done = _cli("--help")
    assert done.returncode == 0
    assert "--workers" in done.stdout and "replicas" in done.stdout
