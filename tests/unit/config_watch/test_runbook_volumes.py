"""Runbooks from the chart's volume sources reach the index without a restart: a git-sync
checkout (its link is swapped to a new worktree and the old one deleted) and a volume whose
files are edited in place (a PersistentVolumeClaim)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from app.config_watch.file_watch import DirectoryWatcher
from app.metrics import Metrics
from app.runbooks.holder import RunbookHolder
from tests.unit.config_watch.git_sync_checkout import GitSyncCheckout

DISK = "# Disk full\n## Mitigation\nDelete old zebracorn logs.\n"
LAG = "---\ntitle: Ledger replica lag\nalerts: [LedgerReplicaLagHigh]\n---\n## Steps\nPromote.\n"


def served(holder: RunbookHolder) -> list[str]:
    return sorted(holder.current.runbooks)


def indexed_text(holder: RunbookHolder, runbook_id: str) -> str:
    return "\n".join(c.text for c in holder.current.runbooks[runbook_id].chunks)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.mark.parametrize("inside", ["", "runbooks"])
async def test_a_git_sync_publish_is_indexed_with_stable_ids(
        tmp_path: Path, metrics: Metrics, inside: str) -> None:
    prefix = f"{inside}/" if inside else ""
    checkout = GitSyncCheckout(tmp_path / "git", {f"{prefix}disk.md": DISK,
                                                  "README.md": "# The repository\nx\n"})
    directory = checkout.link / inside if inside else checkout.link
    holder = RunbookHolder(directory, metrics)
    holder.load()
    watcher = DirectoryWatcher(directory, holder.reload, interval_seconds=1.0)
    before = served(holder)
    assert "disk" in before

    checkout.publish({f"{prefix}disk.md": DISK.replace("zebracorn", "quokka"),
                      f"{prefix}payments/ledger-lag.md": LAG, "README.md": "# The repository\nx\n"})
    assert await watcher.check() is True
    # ids are paths under the link: the worktree's hash never shows, so ids stay stable
    assert served(holder) == sorted([*before, "payments/ledger-lag"])
    text = indexed_text(holder, "disk")
    assert "quokka" in text and "zebracorn" not in text


async def test_a_republish_of_the_same_content_is_not_a_change(
        tmp_path: Path, metrics: Metrics) -> None:
    checkout = GitSyncCheckout(tmp_path / "git", {"disk.md": DISK})
    holder = RunbookHolder(checkout.link, metrics)
    holder.load()
    watcher = DirectoryWatcher(checkout.link, holder.reload, interval_seconds=1.0)
    checkout.publish({"disk.md": DISK, "notes.txt": "a commit that touched no runbook"})
    assert await watcher.check() is False


async def test_an_in_place_edit_on_a_volume_is_indexed(tmp_path: Path, metrics: Metrics) -> None:
    volume = tmp_path / "claim" / "team"
    (volume / "storage").mkdir(parents=True)
    (volume / "storage" / "disk.md").write_text(DISK)
    holder = RunbookHolder(volume, metrics)
    holder.load()
    watcher = DirectoryWatcher(volume, holder.reload, interval_seconds=1.0)

    with (volume / "storage" / "disk.md").open("r+") as f:  # same inode, same size
        f.write(DISK.replace("zebracorn", "quokkass"))
    assert await watcher.check() is True
    assert "quokkass" in indexed_text(holder, "storage/disk")
