"""A refused API key is logged at ERROR at most once a minute per model (on the injected clock),
with the number of refusals held back, the variable and the fix, and never the key; the state
reads failing until a call succeeds."""

from __future__ import annotations

import logging

import pytest

from app.clock import ManualClock
from app.resilience.redis_dependency import redact_redis_url
from app.resilience.upstream_auth import UpstreamAuthTracker

MODEL = "claude-sonnet-4-6"


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == "app.upstream_auth" and r.levelno == logging.ERROR]


def test_refusals_are_logged_once_per_interval_with_the_count_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    auth = UpstreamAuthTracker(clock, log_interval_seconds=60)
    with caplog.at_level(logging.INFO, logger="app.upstream_auth"):
        auth.failure(MODEL, 401, "Anthropic API 401 authentication_error: invalid x-api-key")
        for _ in range(3):
            clock.advance(10)
            auth.failure(MODEL, 401, "again")
        assert len(_errors(caplog)) == 1
        clock.advance(29.9)  # 59.9 s after the first line
        auth.failure(MODEL, 401, "again")
        assert len(_errors(caplog)) == 1
        clock.advance(0.1)
        auth.failure(MODEL, 401, "again")
        auth.failure("claude-haiku-4-5-20251001", 403, "permission")  # its own budget of lines
    lines = _errors(caplog)
    assert len(lines) == 3
    first, second = lines[0], lines[1]
    assert "ANTHROPIC_API_KEY is rejected" in first.getMessage()
    assert "existingSecret" in first.getMessage()
    assert first.fields["setting"] == "ANTHROPIC_API_KEY"  # type: ignore[attr-defined]
    assert first.fields["suppressed"] == 0  # type: ignore[attr-defined]
    assert second.fields["suppressed"] == 4  # type: ignore[attr-defined]
    assert second.fields["failures"] == 6  # type: ignore[attr-defined]
    snap = auth.snapshot(MODEL)
    assert snap.failing and snap.failures == 6 and snap.last_status == 401
    assert snap.last_failure_at == clock.now().isoformat()
    assert auth.failing_models() == ["claude-haiku-4-5-20251001", MODEL]


def test_a_success_clears_the_state_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    auth = UpstreamAuthTracker(clock)
    auth.success(MODEL)  # nothing to clear: no line
    auth.failure(MODEL, 401, "refused")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="app.upstream_auth"):
        auth.success(MODEL)
    assert [r.getMessage() for r in caplog.records] == [
        "the Anthropic API accepts ANTHROPIC_API_KEY again"]
    assert not auth.snapshot(MODEL).failing
    assert auth.failing_models() == []
    auth.failure(MODEL, 401, "refused")  # logged at once again: a new episode
    assert len(_errors(caplog)) == 1


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:s3cret@redis.example:6379/0", "redis://:***@redis.example:6379/0"),
    ("rediss://app:s3cret@10.0.0.1:6380/2", "rediss://app:***@10.0.0.1:6380/2"),
    ("redis://redis-mastr:6379/0", "redis://redis-mastr:6379/0"),
    ("redis://h:6379/0?password=s3cret", "redis://h:6379/0?***"),
])
def test_the_redis_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redact_redis_url(url) == shown
