"""The file source driven the way the kubelet updates a ConfigMap volume (atomic `..data` swap)."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from app.clock import ManualClock
from app.config import Settings
from app.config_watch.file_watch import DirectoryWatcher, FilePolicyWatcher
from app.config_watch.initial import initial_policy
from app.metrics import Metrics
from app.policy_source import PolicyManager, ReloadOutcome
from tests.unit.config_watch.kubelet_volume import ConfigMapVolume
from tests.unit.config_watch.policies import INVALID_TYPO, invalid_budget, policy_yaml


@pytest.fixture
def volume(tmp_path: Path) -> ConfigMapVolume:
    return ConfigMapVolume(tmp_path / "policy", {"policy.yaml": policy_yaml(hourly_usd=10)})


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def manager(volume: ConfigMapVolume, metrics: Metrics) -> PolicyManager:
    clock = ManualClock()
    settings = Settings(policy_file=volume.path("policy.yaml"))
    return PolicyManager(initial_policy(settings, clock), metrics, clock)


@pytest.fixture
def watcher(volume: ConfigMapVolume, manager: PolicyManager) -> FilePolicyWatcher:
    return FilePolicyWatcher(volume.path("policy.yaml"), manager, interval_seconds=1.0)


def test_the_volume_looks_like_a_kubelet_configmap_mount(volume: ConfigMapVolume) -> None:
    link = volume.path("policy.yaml")
    assert os.readlink(link) == "..data/policy.yaml"
    assert os.readlink(volume.root / "..data").startswith("..2026_11_27_")


def test_first_check_of_the_start_up_file_changes_nothing(
        watcher: FilePolicyWatcher, manager: PolicyManager) -> None:
    outcome = watcher.check()
    assert outcome is not None and outcome.result == "unchanged"
    assert watcher.check() is None  # nothing new: not even read again
    assert manager.current.generation == 1


def test_a_data_swap_is_applied(volume: ConfigMapVolume, watcher: FilePolicyWatcher,
                                manager: PolicyManager) -> None:
    watcher.check()
    volume.update({"policy.yaml": policy_yaml(hourly_usd=2)})

    outcome = watcher.check()

    assert outcome is not None and outcome.result == "applied"
    assert manager.current.generation == 2
    assert manager.current.policy.budgets.hourly_usd == 2
    assert manager.current.origin == f"file:{volume.path('policy.yaml')}"


def test_a_swap_to_an_invalid_document_and_back(
        volume: ConfigMapVolume, watcher: FilePolicyWatcher, manager: PolicyManager,
        metrics: Metrics) -> None:
    watcher.check()
    good = manager.current

    volume.update({"policy.yaml": invalid_budget()})
    rejected = watcher.check()
    assert rejected is not None and rejected.result == "rejected"
    assert "budgets.hourly_usd" in rejected.message  # the reason is visible
    assert manager.current is good
    assert manager.last_error is not None and "budgets.hourly_usd" in manager.last_error
    # Reported once, not at every poll; and the state says so for as long as it lasts (the
    # alert reads it: a count alone resolves after its window with the edit still refused).
    assert watcher.check() is None
    assert metrics.registry.get_sample_value(
        "ai_config_reloads_total", {"kind": "policy", "result": "error"}) == 1
    assert metrics.registry.get_sample_value("ai_config_rejected", {"kind": "policy"}) == 1

    volume.update({"policy.yaml": INVALID_TYPO})
    typo = watcher.check()
    assert typo is not None and "budgetz: unknown field" in typo.message

    volume.update({"policy.yaml": policy_yaml(hourly_usd=10)})  # back to the good one
    back = watcher.check()
    assert back is not None and back.result == "unchanged"
    assert manager.last_error is None
    assert metrics.registry.get_sample_value("ai_config_rejected", {"kind": "policy"}) == 0
    assert manager.current is good

    volume.update({"policy.yaml": policy_yaml(hourly_usd=4)})
    applied = watcher.check()
    assert applied is not None and applied.result == "applied"
    assert manager.current.generation == 2


def test_a_vanished_file_keeps_the_policy_and_is_read_again_when_back(
        volume: ConfigMapVolume, watcher: FilePolicyWatcher, manager: PolicyManager) -> None:
    watcher.check()
    volume.update({})  # key removed from the ConfigMap: the symlink disappears
    assert watcher.check() is None
    assert watcher.check() is None
    assert manager.current.generation == 1

    volume.update({"policy.yaml": policy_yaml(hourly_usd=6)})
    outcome = watcher.check()
    assert outcome is not None and outcome.result == "applied"


def test_an_in_place_edit_of_a_plain_file_is_applied(tmp_path: Path,
                                                     manager: PolicyManager) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(policy_yaml(hourly_usd=10))
    watcher = FilePolicyWatcher(path, manager, interval_seconds=1.0)
    watcher.check()
    path.write_text(policy_yaml(hourly_usd=12.5))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse-grained filesystems
    outcome = watcher.check()
    assert outcome is not None and outcome.result == "applied"


def test_a_plain_file_read_while_it_is_rewritten_keeps_the_policy(
        tmp_path: Path, manager: PolicyManager) -> None:
    """An in-place edit truncates, then writes: a poll in between reads an empty document,
    which would apply every default (team budgets gone). It is kept out; `{}` is how to ask
    for the defaults."""
    path = tmp_path / "plain.yaml"
    path.write_text(policy_yaml(hourly_usd=10))
    watcher = FilePolicyWatcher(path, manager, interval_seconds=1.0)
    watcher.check()
    path.write_text("")
    assert watcher.check() is None
    assert manager.current.policy.budgets.hourly_usd == 10
    path.write_text(policy_yaml(hourly_usd=12.5))
    outcome = watcher.check()
    assert outcome is not None and outcome.result == "applied"
    assert manager.current.policy.budgets.hourly_usd == 12.5
    path.write_text("{}\n")
    outcome = watcher.check()
    assert outcome is not None and outcome.result == "applied"  # the defaults, on purpose


async def test_the_outcome_hook_sees_every_reload(
        volume: ConfigMapVolume, manager: PolicyManager) -> None:
    seen: list[str] = []

    async def hook(outcome: ReloadOutcome) -> None:
        seen.append(outcome.result)

    watcher = FilePolicyWatcher(volume.path("policy.yaml"), manager, 1.0, on_outcome=hook)
    await watcher.check_and_report()
    volume.update({"policy.yaml": invalid_budget()})
    await watcher.check_and_report()
    await watcher.check_and_report()
    assert seen == ["unchanged", "rejected"]


# ------------------------------------------------------------------ runbooks directory


class Reindex:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def runbooks(tmp_path: Path) -> ConfigMapVolume:
    return ConfigMapVolume(tmp_path / "runbooks", {"oom.md": "# OOM\n", "disk.md": "# Disk\n"})


async def test_runbooks_added_changed_and_removed_through_the_swap(
        runbooks: ConfigMapVolume) -> None:
    reindex = Reindex()
    watcher = DirectoryWatcher(runbooks.root, reindex, interval_seconds=1.0)
    assert await watcher.check() is False  # the start-up state is the baseline

    runbooks.update({"oom.md": "# OOM\n", "disk.md": "# Disk\n", "dns.md": "# DNS\n"})
    assert await watcher.check() is True
    assert reindex.calls == 1

    runbooks.update({"oom.md": "# OOM, revised\n", "disk.md": "# Disk\n", "dns.md": "# DNS\n"})
    assert await watcher.check() is True

    runbooks.update({"oom.md": "# OOM, revised\n", "dns.md": "# DNS\n"})
    assert await watcher.check() is True
    assert reindex.calls == 3

    # A swap with identical content (the kubelet resyncs) is not a change.
    runbooks.update({"oom.md": "# OOM, revised\n", "dns.md": "# DNS\n"})
    assert await watcher.check() is False
    assert reindex.calls == 3


async def test_non_markdown_files_and_kubelet_internals_are_ignored(
        runbooks: ConfigMapVolume) -> None:
    reindex = Reindex()
    watcher = DirectoryWatcher(runbooks.root, reindex, interval_seconds=1.0)
    runbooks.update({"oom.md": "# OOM\n", "disk.md": "# Disk\n", "notes.txt": "x"})
    assert await watcher.check() is False
    assert reindex.calls == 0


async def test_a_missing_directory_is_not_an_empty_corpus(tmp_path: Path) -> None:
    reindex = Reindex()
    directory = tmp_path / "runbooks"
    directory.mkdir()
    (directory / "a.md").write_text("# A\n")
    watcher = DirectoryWatcher(directory, reindex, interval_seconds=1.0)
    (directory / "a.md").unlink()
    directory.rmdir()
    assert await watcher.check() is False
    assert reindex.calls == 0


async def test_a_failing_reindex_is_logged_not_raised(runbooks: ConfigMapVolume) -> None:
    def broken() -> None:
        raise RuntimeError("index failed")

    watcher = DirectoryWatcher(runbooks.root, broken, interval_seconds=1.0)
    runbooks.update({"oom.md": "# changed\n"})
    assert await watcher.check() is True


# only turns a poll that holds the event loop into a failure instead of a hang
NEVER_SECONDS = 10.0


async def test_a_poll_does_not_hold_the_event_loop(tmp_path: Path) -> None:
    """A poll lists and stats every runbook, every second: at 2,000 runbooks it held the loop
    66-76 ms each time (bench/results/runbook-watch.md), on NFS each stat is a round trip. It
    runs in a thread: here a file whose read blocks (a FIFO, opened until a writer comes) stops
    the poll and not the loop. The writer comes once the loop has run a step of this test; had
    the poll held the loop, it would come only at NEVER_SECONDS, and too late."""
    directory = tmp_path / "runbooks"
    directory.mkdir()
    (directory / "a.md").write_text("# A\n")
    reindex = Reindex()
    watcher = DirectoryWatcher(directory, reindex, interval_seconds=1.0)
    fifo = directory / "b.md"
    os.mkfifo(fifo)  # new: the poll hashes it, and blocks in its open()
    loop_ran = threading.Event()
    in_time: list[bool] = []

    def writer() -> None:
        in_time.append(loop_ran.wait(NEVER_SECONDS))
        with fifo.open("wb") as f:
            f.write(b"# B\n")

    thread = threading.Thread(target=writer)
    thread.start()
    poll = asyncio.create_task(watcher.check())
    await asyncio.sleep(0)  # the poll starts, and blocks on the FIFO
    loop_ran.set()  # this step runs only if the loop is free meanwhile
    assert await poll is True and reindex.calls == 1
    await asyncio.to_thread(thread.join)
    assert in_time == [True]
