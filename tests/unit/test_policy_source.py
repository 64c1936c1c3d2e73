"""PolicyManager: validate before applying, keep the last good policy, report every reload."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from app.clock import ManualClock
from app.config import Policy, Settings
from app.config_watch.initial import initial_policy
from app.errors import PolicyError
from app.metrics import Metrics
from app.policy_source import ActivePolicy, PolicyManager
from tests.unit.config_watch.policies import invalid_budget, numbered_policy, policy_yaml


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def manager(metrics: Metrics, clock: ManualClock) -> PolicyManager:
    policy = Policy()
    return PolicyManager(ActivePolicy(policy, 1, policy.digest, "test", clock.now()), metrics,
                         clock)


def reloads(metrics: Metrics, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "ai_config_reloads_total", {"kind": "policy", "result": result})
    assert value is not None
    return value


def info(metrics: Metrics, generation: int, digest: str) -> float | None:
    return metrics.registry.get_sample_value(
        "ai_config_info", {"kind": "policy", "generation": str(generation), "hash": digest})


def test_initial_policy_is_reported_as_generation_1(manager: PolicyManager,
                                                    metrics: Metrics) -> None:
    assert info(metrics, 1, manager.current.digest) == 1
    assert manager.last_error is None


def test_a_different_valid_document_becomes_the_next_generation(
        manager: PolicyManager, metrics: Metrics, clock: ManualClock) -> None:
    seen: list[ActivePolicy] = []
    manager.subscribe(seen.append)
    clock.advance(5)
    before = manager.current

    outcome = manager.apply_text(policy_yaml(hourly_usd=3), "file:/p.yaml")

    assert outcome.result == "applied"
    active = manager.current
    assert outcome.active is active
    assert (active.generation, active.origin, active.applied_at) == (2, "file:/p.yaml",
                                                                     clock.now())
    assert active.policy.budgets.hourly_usd == 3
    assert active.digest == active.policy.digest != before.digest
    assert seen == [active]
    assert reloads(metrics, "success") == 1
    assert reloads(metrics, "error") == 0
    assert info(metrics, 2, active.digest) == 1
    assert info(metrics, 1, before.digest) is None  # exactly one active series


def test_an_invalid_document_is_rejected_and_the_last_good_policy_stays(
        manager: PolicyManager, metrics: Metrics, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[ActivePolicy] = []
    manager.subscribe(seen.append)
    before = manager.current

    with caplog.at_level(logging.WARNING, logger="app.policy"):
        outcome = manager.apply_text(invalid_budget(), "file:/p.yaml")

    assert outcome.result == "rejected"
    assert manager.current is before and outcome.active is before
    assert "budgets.hourly_usd" in outcome.message
    assert manager.last_error is not None and "budgets.hourly_usd" in manager.last_error
    assert seen == []
    assert reloads(metrics, "error") == 1
    assert reloads(metrics, "success") == 0
    assert info(metrics, 1, before.digest) == 1
    [record] = caplog.records
    assert "budgets.hourly_usd" in record.getMessage()
    assert getattr(record, "result", None) == "rejected"


def test_identical_content_changes_nothing_and_clears_the_last_error(
        manager: PolicyManager, metrics: Metrics) -> None:
    manager.apply_text(policy_yaml(hourly_usd=3), "file:/p.yaml")
    manager.apply_text(invalid_budget(), "file:/p.yaml")
    seen: list[ActivePolicy] = []
    manager.subscribe(seen.append)

    # Same content, different formatting and comments: same policy.
    outcome = manager.apply_text("# reverted\n" + policy_yaml(hourly_usd=3.0), "file:/p.yaml")

    assert outcome.result == "unchanged"
    assert manager.current.generation == 2
    assert manager.last_error is None
    assert seen == []
    assert reloads(metrics, "success") == 1


def test_a_failing_subscriber_does_not_stop_the_others(manager: PolicyManager) -> None:
    seen: list[int] = []

    def broken(_: ActivePolicy) -> None:
        raise RuntimeError("boom")

    manager.subscribe(broken)
    manager.subscribe(lambda active: seen.append(active.generation))
    assert manager.apply_text(policy_yaml(hourly_usd=1), "x").result == "applied"
    assert seen == [2]


async def test_readers_see_one_consistent_policy_during_50_rapid_reloads(
        manager: PolicyManager) -> None:
    """Each reader's snapshot is one document: its budget and its model carry the same number,
    and it does not change under the reader while it 'serves a request'."""
    done = asyncio.Event()
    observed: list[int] = []

    async def reader() -> None:
        last_generation = 0
        while not done.is_set():
            snapshot = manager.current  # one snapshot per request
            for _ in range(3):  # the request awaits a few times while serving
                policy = snapshot.policy
                if snapshot.generation > 1:
                    number = int(policy.budgets.hourly_usd)
                    assert policy.routing.default_model == f"model-{number}"
                    assert set(policy.models) == {f"model-{number}"}
                assert snapshot.digest == policy.digest
                await asyncio.sleep(0)
            assert snapshot.generation >= last_generation  # never goes back in time
            last_generation = snapshot.generation
            observed.append(snapshot.generation)

    async def writer() -> None:
        for i in range(1, 51):
            manager.apply_text(numbered_policy(i), f"test:{i}")
            await asyncio.sleep(0)
        done.set()

    await asyncio.gather(writer(), *(reader() for _ in range(20)))
    assert manager.current.generation == 51
    assert len(set(observed)) > 10  # readers really ran across many generations


def test_start_up_without_a_policy_file_uses_the_built_in_default(clock: ManualClock) -> None:
    active = initial_policy(Settings(policy_file=None), clock)
    assert (active.generation, active.origin) == (1, "built-in default")
    assert active.policy == Policy()


def test_start_up_reads_the_policy_file(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(policy_yaml(hourly_usd=7))
    active = initial_policy(Settings(policy_file=path), clock)
    assert active.policy.budgets.hourly_usd == 7
    assert active.origin == f"file:{path}"


def test_an_invalid_policy_file_at_start_up_is_a_hard_error(tmp_path: Path,
                                                            clock: ManualClock) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(invalid_budget())
    with pytest.raises(PolicyError, match=r"budgets\.hourly_usd"):
        initial_policy(Settings(policy_file=path), clock)


def test_a_missing_policy_file_at_start_up_is_a_hard_error(tmp_path: Path,
                                                           clock: ManualClock) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        initial_policy(Settings(policy_file=tmp_path / "absent.yaml"), clock)
