"""Chart tests need helm; without it they skip with the way to get it."""

from __future__ import annotations

import pytest

from tests.chart.rendering import find_helm


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if find_helm():
        return
    skip = pytest.mark.skip(
        reason="helm not installed: run tools/install-helm.sh (or set HELM=/path/to/helm)"
    )
    for item in items:
        if item.get_closest_marker("chart"):
            item.add_marker(skip)
