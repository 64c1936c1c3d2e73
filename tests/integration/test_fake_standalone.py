"""The fake Anthropic server runs from its own modules alone, as the e2e suite ships it to a pod
(a ConfigMap of tests/fakes/anthropic_*.py): a new module it imports must travel with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.anthropic_control import STANDALONE_MODULES

pytestmark = pytest.mark.integration
FAKES = Path(__file__).resolve().parents[1] / "fakes"


def test_the_fake_starts_from_its_standalone_modules_only(tmp_path: Path) -> None:
    (tmp_path / "tests" / "fakes").mkdir(parents=True)
    (tmp_path / "tests" / "__init__.py").write_text("")
    for name in STANDALONE_MODULES:
        shutil.copy(FAKES / name, tmp_path / "tests" / "fakes" / name)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.anthropic_server", "--port", "0"],
        cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        died = proc.poll() is not None and proc.stderr is not None
        assert line.startswith("fake-anthropic listening on "), (
            proc.stderr.read() if died and proc.stderr else line)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
