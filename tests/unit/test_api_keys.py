"""Client API keys fail closed: a configured source that yields no keys denies, loudly (ERROR
log, metrics); an unreadable file keeps the last good keys and says so. Real files, a
ManualClock for the re-check and the log rate limit."""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from app.api_keys import LOG_EVERY_SECONDS, ApiKeys, KeyIdentity
from app.clock import ManualClock
from app.metrics import Metrics

_mtimes = itertools.count(1_000_000_000_000_000_000, 1_000_000_000)


def _write(path: Path, text: str) -> None:
    """A new version, the way the kubelet swaps a Secret: a distinct mtime every time."""
    path.write_text(text, encoding="utf-8")
    stamp = next(_mtimes)
    os.utime(path, ns=(stamp, stamp))


def _sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def _errors(metrics: Metrics) -> float | None:
    return _sample(metrics, "ai_config_reloads_total", kind="api_keys", result="error")


def _state(metrics: Metrics) -> str:
    states = [s for s in ("open", "enforced", "deny_all")
              if _sample(metrics, "ai_auth_state", state=s) == 1]
    assert len(states) == 1, states
    return states[0]


def _error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "app.auth" and r.levelno == logging.ERROR]


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def test_nothing_configured_is_open(metrics: Metrics) -> None:
    keys = ApiKeys(None, None, ManualClock(), metrics)
    assert keys.status().state == "open"
    assert _state(metrics) == "open"


@pytest.mark.parametrize("content", [None, "", "\n# only a comment\n", "no-equals-sign\n=nameless"])
def test_configured_file_without_keys_denies_and_says_why(
    tmp_path: Path, metrics: Metrics, caplog: pytest.LogCaptureFixture, content: str | None
) -> None:
    path = tmp_path / "api-keys"
    if content is not None:
        _write(path, content)
    clock = ManualClock()
    with caplog.at_level(logging.INFO, logger="app.auth"):
        keys = ApiKeys(None, path, clock, metrics)
        status = keys.status()
        assert status.state == "deny_all" and status.loaded == 0
        assert status.last_error is not None and str(path) in status.last_error
        assert keys.identify("") is None and keys.identify("anything") is None
        assert _state(metrics) == "deny_all"
        assert _sample(metrics, "ai_api_keys_loaded") == 0
        assert _errors(metrics) == 1
        assert len(_error_lines(caplog)) == 1
        # re-checked every second: still one failure counted, and no flood of log lines
        for _ in range(30):
            clock.advance(1.0)
            assert keys.status().state == "deny_all"
        assert _errors(metrics) == 1 and len(_error_lines(caplog)) == 1
        clock.advance(LOG_EVERY_SECONDS)
        keys.status()
        assert len(_error_lines(caplog)) == 2  # reminded while it lasts
    assert "reason" in _error_lines(caplog)[0].__dict__["fields"]


def test_inline_keys_without_a_valid_entry_deny(metrics: Metrics) -> None:
    keys = ApiKeys("", None, ManualClock(), metrics)
    assert keys.status().state == "deny_all"
    assert ApiKeys("just-a-key", None, ManualClock(), metrics).status().state == "deny_all"


def test_file_fixed_later_is_picked_up(tmp_path: Path, metrics: Metrics) -> None:
    path = tmp_path / "api-keys"
    clock = ManualClock()
    keys = ApiKeys(None, path, clock, metrics)
    assert keys.status().state == "deny_all"
    assert _sample(metrics, "ai_config_rejected", kind="api_keys") == 1
    _write(path, "oncall=s3cret\n")
    clock.advance(1.0)
    status = keys.status()
    assert status.state == "enforced" and status.loaded == 1 and status.last_error is None
    assert _sample(metrics, "ai_config_rejected", kind="api_keys") == 0
    assert keys.identify("s3cret") == KeyIdentity("oncall")
    assert _state(metrics) == "enforced" and _sample(metrics, "ai_api_keys_loaded") == 1
    assert _sample(metrics, "ai_config_reloads_total", kind="api_keys", result="success") == 1


def test_a_rewrite_read_half_way_is_read_again_once_finished(
        tmp_path: Path, metrics: Metrics) -> None:
    """Edited in place (truncate, then write), read in between, finished within the same
    timestamp tick (forced here with utime): the finished file replaces the torn read."""
    path = tmp_path / "keys"
    path.write_text("alice=old-key-1111\n")
    clock = ManualClock()
    keys = ApiKeys(None, path, clock, metrics, recheck_seconds=1)
    tick = path.stat().st_mtime_ns
    with path.open("r+") as f:
        f.truncate(0)
        f.write("alice=new-k")
    os.utime(path, ns=(tick, tick))
    clock.advance(1)
    assert keys.identify("new-k") is not None  # the torn read, for now
    with path.open("r+") as f:
        f.seek(0)
        f.write("alice=new-key-2222\n")
    os.utime(path, ns=(tick, tick))
    clock.advance(1)
    assert keys.identify("new-key-2222") == KeyIdentity("alice")
    assert keys.identify("new-k") is None


def test_unreadable_file_keeps_the_last_keys_and_reports_it(
    tmp_path: Path, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "api-keys"
    _write(path, "oncall=s3cret\nci=other\n")
    clock = ManualClock()
    keys = ApiKeys(None, path, clock, metrics)
    assert keys.status().state == "enforced" and _errors(metrics) == 0
    saved = path.read_text()
    path.unlink()
    clock.advance(1.0)
    with caplog.at_level(logging.INFO, logger="app.auth"):
        status = keys.status()
    assert status.state == "enforced" and status.loaded == 2
    assert status.last_error is not None and "unreadable" in status.last_error
    assert "keeping the last 2 keys" in status.last_error
    assert keys.identify("s3cret") == KeyIdentity("oncall")
    assert _errors(metrics) == 1 and len(_error_lines(caplog)) == 1
    assert "s3cret" not in caplog.text and "other" not in caplog.text
    _write(path, saved)
    clock.advance(1.0)
    assert keys.status().last_error is None


def test_a_file_emptied_on_purpose_revokes_every_key(tmp_path: Path, metrics: Metrics) -> None:
    path = tmp_path / "api-keys"
    _write(path, "oncall=s3cret\n")
    clock = ManualClock()
    keys = ApiKeys(None, path, clock, metrics)
    _write(path, "")
    clock.advance(1.0)
    assert keys.status().state == "deny_all"
    assert keys.identify("s3cret") is None


def test_inline_keys_still_work_while_the_file_fails(tmp_path: Path, metrics: Metrics) -> None:
    keys = ApiKeys("ops=inline-key", tmp_path / "missing", ManualClock(), metrics)
    status = keys.status()
    assert status.state == "enforced" and status.last_error is not None
    assert keys.identify("inline-key") == KeyIdentity("ops")
