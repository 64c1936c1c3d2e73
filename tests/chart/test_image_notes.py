"""The release notes name the image the pods run and what to do when it cannot be pulled: the
first thing a new user meets when the image was never pushed is ImagePullBackOff."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.chart.rendering import CHART
from tests.chart.test_release_objects import render_notes

pytestmark = pytest.mark.chart
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]


def test_notes_name_the_image_and_the_way_out_of_image_pull_back_off(tmp_path: Path) -> None:
    notes = render_notes(tmp_path, "--set", "image.repository=registry.example.com/sre")
    assert f"Image:    registry.example.com/sre:{APP_VERSION} (pull policy IfNotPresent)" in notes
    assert "ImagePullBackOff" in notes and '"Build and push the image"' in notes
    assert "kind load docker-image" in notes
