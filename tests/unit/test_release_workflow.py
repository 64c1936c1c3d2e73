"""The release workflow publishes what the README installs, with the least permissions.

actionlint checks the file's syntax, expressions and action inputs in `make lint` (part of
`make test`); these tests pin what the project promises about it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
ACTIONLINT_CACHE = Path("/var/cache/sre-ai-platform/bin")


def workflow() -> dict[Any, Any]:  # PyYAML: `on` is the key True
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def steps(job: str) -> list[dict[str, Any]]:
    return list(workflow()["jobs"][job]["steps"])


def uses(job: str, action: str) -> dict[str, Any]:
    found = [s for s in steps(job) if str(s.get("uses", "")).startswith(action + "@")]
    assert len(found) == 1, f"{job} must use {action} once"
    return found[0]


def test_runs_on_version_tags_only() -> None:
    # PyYAML reads the key `on` as True (YAML 1.1).
    trigger = workflow()[True]
    assert trigger == {"push": {"tags": ["v*"]}}


def test_permissions_are_minimal_and_only_publishers_write_packages() -> None:
    assert workflow()["permissions"] == {"contents": "read"}
    writers = {
        name
        for name, job in workflow()["jobs"].items()
        if job.get("permissions", {}).get("packages") == "write"
    }
    assert writers == {"image", "chart"}


def test_every_action_is_pinned_by_major_version_or_commit() -> None:
    for job in workflow()["jobs"]:
        for step in steps(job):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+|[0-9a-f]{40})", step["uses"]), step


def test_nothing_is_published_unless_the_tag_names_the_app_version() -> None:
    check = "\n".join(s.get("run", "") for s in steps("version"))
    assert "appVersion" in check and "GITHUB_REF_NAME#v" in check and "exit 1" in check
    assert "pyproject.toml" in check
    jobs = workflow()["jobs"]
    assert "version" in jobs["image"]["needs"] and "unit" in jobs["image"]["needs"]
    assert "image" in jobs["chart"]["needs"]


def test_image_is_multi_arch_on_ghcr_tagged_with_the_app_version() -> None:
    uses("image", "docker/setup-qemu-action")
    uses("image", "docker/setup-buildx-action")
    assert uses("image", "docker/login-action")["with"]["registry"] == "ghcr.io"
    build = uses("image", "docker/build-push-action")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["push"] is True
    tag = "${{ needs.version.outputs.image }}:${{ needs.version.outputs.version }}"
    assert build["tags"] == tag
    assert "VERSION=${{ needs.version.outputs.version }}" in build["build-args"]
    outputs = "\n".join(s.get("run", "") for s in steps("version"))
    assert 'image=ghcr.io/${GITHUB_REPOSITORY,,}' in outputs  # ghcr wants lower case


def test_unit_suite_runs_from_the_lock_on_every_supported_python() -> None:
    job = workflow()["jobs"]["unit"]
    assert job["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    run = "\n".join(s.get("run", "") for s in job["steps"])
    assert "--require-hashes -r requirements/dev.lock" in run
    assert "--no-deps" in run


def test_chart_is_pushed_as_oci_and_points_at_the_published_image() -> None:
    run = "\n".join(s.get("run", "") for s in steps("chart"))
    assert "helm package" in run and 'helm push dist/sre-ai-platform-*.tgz "$CHARTS"' in run
    assert "repository: $IMAGE" in run  # the published chart pulls the published image
    outputs = "\n".join(s.get("run", "") for s in steps("version"))
    assert "charts=oci://ghcr.io/$owner/charts" in outputs


def find_actionlint() -> str | None:
    cached = sorted(ACTIONLINT_CACHE.glob("actionlint-*/actionlint"))
    for candidate in (os.environ.get("ACTIONLINT"), shutil.which("actionlint"), *cached):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@pytest.mark.skipif(
    find_actionlint() is None,
    reason="actionlint not installed: tools/install-actionlint.sh (make test-deps)",
)
def test_actionlint_accepts_the_workflow_and_catches_a_broken_one(tmp_path: Path) -> None:
    actionlint = find_actionlint()
    assert actionlint is not None
    ok = subprocess.run([actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "release.yml"
    broken.write_text(
        WORKFLOW.read_text().replace("needs.version.outputs.version", "needs.versoin.outputs.v")
    )
    bad = subprocess.run([actionlint, "-no-color", str(broken)], capture_output=True, text=True)
    assert bad.returncode != 0 and "versoin" in bad.stdout
