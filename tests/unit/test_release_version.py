"""One version names a release: the chart's appVersion is the image tag everywhere.

The chart deploys `<image.repository>:<appVersion>` by default (tests/chart/test_deployment.py
renders it). Everything that builds, tags, loads or publishes the image must use the same tag,
or the README's install ends in ImagePullBackOff: `make image`, docker compose, the kind e2e
release, the package version and the release workflow's tag check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "sre-ai-platform"
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make_dry_run(*args: str) -> str:
    """What `make -n` would run: the commands, not their effects (no docker, no kind needed)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_app_version_is_a_release_version() -> None:
    assert isinstance(APP_VERSION, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-][0-9A-Za-z.]+)?", APP_VERSION), APP_VERSION


def test_the_package_version_is_the_app_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["version"] == APP_VERSION


def test_the_chart_defaults_to_the_app_version_tag_of_the_local_repository() -> None:
    image = yaml.safe_load((CHART / "values.yaml").read_text())["image"]
    assert image["tag"] == ""  # the templates fall back to .Chart.AppVersion
    assert image["repository"] == "sre-ai-platform"


@needs_make
def test_make_image_builds_and_pushes_the_app_version_tag() -> None:
    assert make_dry_run("-s", "app-version").strip() == f"echo {APP_VERSION}"
    build = make_dry_run("image")
    assert f"-t sre-ai-platform:{APP_VERSION} " in build
    assert f"--build-arg VERSION={APP_VERSION} " in build
    mine = "registry.example.com/team/sre-ai-platform"
    assert f"-t {mine}:{APP_VERSION} " in make_dry_run("image", f"IMAGE_REPOSITORY={mine}")
    assert f"docker push {mine}:{APP_VERSION}" in make_dry_run(
        "image-push", f"IMAGE_REPOSITORY={mine}"
    )


@needs_make
def test_the_kind_e2e_loads_and_installs_the_chart_default_image() -> None:
    loaded = make_dry_run("kind-load", "TOOLS_DIR=/nonexistent")
    load = next(line for line in loaded.splitlines() if "load docker-image" in line)
    assert f" sre-ai-platform:{APP_VERSION} " in f"{load} "
    e2e_values = yaml.safe_load((REPO / "tests" / "e2e" / "values-e2e.yaml").read_text())
    assert "tag" not in e2e_values["image"] and "repository" not in e2e_values["image"]


def test_docker_compose_builds_the_app_version_tag() -> None:
    service = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"][
        "sre-ai-platform"
    ]
    assert service["image"] == f"sre-ai-platform:{APP_VERSION}"
    assert str(service["build"]["args"]["VERSION"]) == APP_VERSION


def test_the_dockerfile_has_no_version_of_its_own() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert APP_VERSION not in dockerfile  # it comes in as --build-arg VERSION
    assert re.search(r"^ARG VERSION=dev$", dockerfile, re.MULTILINE)


def test_readme_install_sets_the_repository_and_leaves_the_tag_to_the_chart() -> None:
    readme = (REPO / "README.md").read_text()
    install = readme[readme.index("## Install on a cluster") :]
    install = install[: install.index("\n## ", 1)]
    assert "make image IMAGE_REPOSITORY=" in install
    assert "make image-push IMAGE_REPOSITORY=" in install
    assert "--set image.repository=" in install
    assert "kind load docker-image sre-ai-platform:" in install
    assert "image.tag=0" not in install and f":{APP_VERSION}" not in install
