"""The lock files pin, with hashes, every dependency pyproject.toml names, within its range.

requirements/runtime.lock (the image, `make run`) and requirements/dev.lock (`make test`, CI) are
made by `make lock` (uv, one universal resolution for Python 3.11 to 3.13). Installs use
`pip install --require-hashes`: a package replaced on the index fails the install. These tests
fail when pyproject.toml changes without `make lock`, when a pin leaves a range, when a pin has
no hash, and when the running environment is not the lock's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME_LOCK = REPO / "requirements" / "runtime.lock"
DEV_LOCK = REPO / "requirements" / "dev.lock"
SUPPORTED = ["3.11", "3.12", "3.13"]
DEV_ONLY = {"pytest", "ruff", "mypy", "uv", "matplotlib"}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]

    def applies(self, python: str) -> bool:
        """Whether pip installs this pin on CPython `python` (3.11 or 3.11.7) on Linux."""
        if self.marker is None:
            return True
        full = python if python.count(".") == 2 else f"{python}.0"
        env = {"python_version": ".".join(full.split(".")[:2]), "python_full_version": full,
               "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
               "platform_machine": "x86_64", "platform_python_implementation": "CPython",
               "implementation_name": "cpython"}
        return self.marker.evaluate(env)


def read_lock(path: Path) -> list[Pin]:
    # one entry: `name==version [; marker] \` then `--hash=sha256:...` lines; comments between
    text = re.sub(r"\\\n", " ", path.read_text())
    pins = []
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        hashes = tuple(re.findall(r"--hash=(sha256:[0-9a-f]{64})", line))
        spec = re.sub(r"\s*--hash=\S+", "", line).strip()
        req = Requirement(spec)
        (only,) = req.specifier
        assert only.operator == "==", f"{path.name}: {spec} is not pinned"
        pins.append(Pin(canonicalize_name(req.name), only.version, req.marker, hashes))
    return pins


def build_requirements() -> list[str]:
    return list(PYPROJECT["build-system"]["requires"])


def runtime_requirements() -> list[str]:
    return list(PYPROJECT["project"]["dependencies"]) + build_requirements()


def dev_requirements() -> list[str]:
    return runtime_requirements() + list(PYPROJECT["project"]["optional-dependencies"]["dev"])


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [(RUNTIME_LOCK, runtime_requirements), (DEV_LOCK, dev_requirements)],
    ids=["runtime", "dev"],
)
@pytest.mark.parametrize("python", SUPPORTED)
def test_lock_pins_every_requirement_within_its_range(
    lock: Path, requirements: object, python: str
) -> None:
    pins = [p for p in read_lock(lock) if p.applies(python)]
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
    assert callable(requirements)
    for spec in requirements():
        req = Requirement(spec)
        found = by_name.get(canonicalize_name(req.name), [])
        assert len(found) == 1, f"{lock.name} on {python}: {req.name} pinned {len(found)} times"
        assert SpecifierSet(str(req.specifier)).contains(found[0].version, prereleases=True), (
            f"{lock.name} on {python}: {req.name}=={found[0].version} is outside {req.specifier}: "
            "run `make lock`"
        )


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=["runtime", "dev"])
def test_every_pin_has_hashes(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins
    assert [p.name for p in pins if not p.hashes] == []


def test_the_runtime_lock_carries_no_dev_tool() -> None:
    assert {p.name for p in read_lock(RUNTIME_LOCK)} & DEV_ONLY == set()
    runtime = {(p.name, p.version) for p in read_lock(RUNTIME_LOCK)}
    dev = {(p.name, p.version) for p in read_lock(DEV_LOCK)}
    assert runtime <= dev, f"the two locks disagree: {sorted(runtime - dev)}: run `make lock`"


def test_this_environment_is_the_locks() -> None:
    """What is tested is what runs: every package the dev lock pins for this interpreter is
    installed at exactly that version (`make venv` installs nothing else)."""
    python = ".".join(map(str, sys.version_info[:3]))
    wrong = []
    for pin in read_lock(DEV_LOCK):
        if not pin.applies(python):
            continue
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if canonicalize_name(installed) != canonicalize_name(pin.version):
            wrong.append(f"{pin.name}: locked {pin.version}, installed {installed}")
    assert not wrong, "rebuild the venv (make venv):\n" + "\n".join(wrong)


def test_supported_pythons_are_declared() -> None:
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    for python in SUPPORTED:
        assert requires.contains(f"{python}.0"), python
    assert not requires.contains("3.10.0")
    classifiers = set(PYPROJECT["project"]["classifiers"])
    for python in SUPPORTED:
        assert f"Programming Language :: Python :: {python}" in classifiers


def make_dry_run(*args: str) -> str:
    return subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_installs_the_runtime_lock_only(tmp_path: Path) -> None:
    run = make_dry_run("run", f"RUN_VENV={tmp_path}/run-venv")
    assert f"--require-hashes -r {RUNTIME_LOCK.relative_to(REPO)}" in run
    assert "dev.lock" not in run and "[dev]" not in run
    assert "--no-deps" in run
    dev = make_dry_run("venv", f"VENV={tmp_path}/dev-venv")
    assert f"--require-hashes -r {DEV_LOCK.relative_to(REPO)}" in dev
