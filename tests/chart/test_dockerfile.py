"""Static promises of the Dockerfile (the image is built by `make image` where docker runs)."""

from __future__ import annotations

import re

from tests.chart.rendering import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def instructions(name: str) -> list[str]:
    return [i for i in INSTRUCTIONS if i.split()[0].upper() == name]


def test_base_image_is_a_build_argument_used_by_both_stages() -> None:
    assert instructions("ARG")[0] == "ARG BASE_IMAGE=python:3.11-slim-bookworm"
    froms = instructions("FROM")
    assert len(froms) == 2
    assert all(f.split()[1] == "${BASE_IMAGE}" for f in froms)
    assert not re.search(r":latest\b", DOCKERFILE)


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    user = instructions("USER")[-1].split()[1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000


def test_python_never_writes_bytecode_and_output_is_unbuffered() -> None:
    env = " ".join(instructions("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env


def test_writable_paths_are_volumes_for_a_read_only_root() -> None:
    env = " ".join(instructions("ENV"))
    ledger = re.search(r"SRE_AI_LEDGER_PATH=(\S+)", env)
    assert ledger is not None
    volumes = " ".join(instructions("VOLUME"))
    assert ledger.group(1).rpartition("/")[0] in volumes


def test_no_healthcheck_and_no_compilers_in_the_final_stage() -> None:
    assert not instructions("HEALTHCHECK")
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    assert not re.search(r"\b(gcc|g\+\+|build-essential|apt-get install)\b", final)
    assert "COPY --from=builder /opt/venv /opt/venv" in final


def test_default_command_is_the_console_script_on_all_interfaces() -> None:
    assert (
        instructions("CMD")[-1] == 'CMD ["sre-ai-platform", "--host", "0.0.0.0", "--port", "8000"]'
    )


def test_dockerignore_keeps_secrets_and_the_venv_out() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    first_rule = next(line for line in ignore if not line.startswith("#"))
    assert first_rule == "*"
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert allowed == {
        "requirements/runtime.lock", "pyproject.toml", "README.md", "app/", "runbooks/"
    }


def test_dependencies_come_from_the_runtime_lock_with_hashes() -> None:
    """What was tested is what runs: the image installs requirements/runtime.lock, hash-checked,
    and the package itself with no dependency resolution and nothing fetched."""
    runs = instructions("RUN")
    lock = [r for r in runs if "-r requirements/runtime.lock" in r]
    assert len(lock) == 1 and "--require-hashes" in lock[0]
    assert "COPY requirements/runtime.lock ./requirements/" in INSTRUCTIONS
    package = [r for r in runs if re.search(r"pip install [^&]*\s\.(\s|$)", r)]
    assert len(package) == 1
    assert all(flag in package[0] for flag in ("--no-deps", "--no-build-isolation", "--no-index"))
    # no other pip install: every dependency is in the lock
    installs = [r for r in runs if "pip install" in r]
    assert len(installs) == 2
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "!requirements/runtime.lock" in ignored
