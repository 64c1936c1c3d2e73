"""GCRA on an injected clock (issue 17, rate limits): a minute's burst, then the steady rate;
Retry-After is the exact wait; tokens are charged after the call and their debt delays the
caller; the headers' numbers."""

from __future__ import annotations

import pytest

from app.api.rate_limit import rate_limit_headers
from app.clock import ManualClock
from app.ratelimit.gcra import Decision, retry_after_header
from app.ratelimit.memory import MemoryRateStore


def store() -> tuple[MemoryRateStore, ManualClock]:
    clock = ManualClock()
    return MemoryRateStore(clock), clock


def admitted(s: MemoryRateStore, n: int, rpm: int, tpm: int = 0, caller: str = "a") -> int:
    return sum(s.admit(caller, rpm, tpm).allowed for _ in range(n))


@pytest.mark.parametrize("rpm", [1, 6, 60, 1000])
def test_a_burst_admits_exactly_the_limit_then_refuses_until_one_interval_passed(rpm: int) -> None:
    s, clock = store()
    assert admitted(s, rpm + 5, rpm) == rpm
    refused = s.admit("a", rpm, 0)
    assert not refused.allowed and refused.refused_by == "requests"
    interval = 60 / rpm
    assert refused.retry_after_seconds == pytest.approx(interval, abs=1e-4)
    clock.advance(interval - 0.01)
    assert not s.admit("a", rpm, 0).allowed
    clock.advance(0.01)
    assert s.admit("a", rpm, 0).allowed
    assert not s.admit("a", rpm, 0).allowed


def test_the_steady_rate_is_the_limit_per_minute() -> None:
    s, clock = store()
    assert admitted(s, 10, 10) == 10  # the burst
    total = 0
    for _ in range(600):  # ten minutes in 1 s steps
        clock.advance(1)
        total += admitted(s, 5, 10)
    assert total == 100  # 10 per minute, not one more


def test_retry_after_is_exact_and_rounded_up_to_whole_seconds() -> None:
    s, clock = store()
    assert admitted(s, 7, 7) == 7  # interval 60/7 = 8.571 s
    clock.advance(3.0)
    refused = s.admit("a", 7, 0)
    assert refused.retry_after_seconds == pytest.approx(60 / 7 - 3.0, abs=1e-4)
    assert retry_after_header(refused.retry_after_seconds) == 6
    assert retry_after_header(5.0) == 5 and retry_after_header(0.01) == 1
    clock.advance(refused.retry_after_seconds)
    assert s.admit("a", 7, 0).allowed


def test_callers_have_buckets_of_their_own() -> None:
    s, _ = store()
    assert admitted(s, 5, 3, caller="a") == 3
    assert admitted(s, 5, 3, caller="b") == 3


def test_tokens_are_charged_after_the_call_and_their_debt_delays_the_next_request() -> None:
    s, clock = store()
    tpm = 6000  # 100 tokens a second
    assert s.admit("a", 0, tpm).allowed  # nothing known yet: admitted
    s.charge("a", tpm, 9000)  # the call used more than a minute's worth: 3000 tokens of debt
    refused = s.admit("a", 0, tpm)
    assert not refused.allowed and refused.refused_by == "tokens"
    # Admitted again once one token is back: the debt (3000) plus one token, at 100/s.
    assert refused.retry_after_seconds == pytest.approx(30.01, abs=1e-3)
    assert refused.tokens is not None and refused.tokens.remaining == 0
    clock.advance(30.0)
    assert not s.admit("a", 0, tpm).allowed
    clock.advance(0.02)
    ok = s.admit("a", 0, tpm)
    assert ok.allowed and ok.tokens is not None and ok.tokens.remaining == 2


def test_a_request_refused_by_tokens_spends_no_request() -> None:
    s, clock = store()
    s.charge("a", 60, 120)  # 60 tokens per minute, 120 used: a minute of debt
    for _ in range(10):
        assert not s.admit("a", 2, 60).allowed
    clock.advance(61)
    assert admitted(s, 3, 2, tpm=60) == 2  # the full request burst is still there


def test_the_longer_wait_names_the_refusal_when_both_limits_refuse() -> None:
    s, _ = store()
    assert admitted(s, 1, 1) == 1  # requests: 60 s to wait
    s.charge("a", 60, 150)  # tokens: 90 s of debt + 1 s for a token
    refused = s.admit("a", 1, 60)
    assert refused.refused_by == "tokens"
    assert refused.retry_after_seconds == pytest.approx(91, abs=1e-3)


def test_headers_say_limit_remaining_and_seconds_until_full() -> None:
    s, clock = store()
    first = s.admit("a", 4, 6000)
    assert rate_limit_headers(first) == {
        "X-RateLimit-Limit": "4", "X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "15",
        "X-RateLimit-Limit-Tokens": "6000", "X-RateLimit-Remaining-Tokens": "6000",
        "X-RateLimit-Reset-Tokens": "0",
    }
    s.charge("a", 6000, 1500)
    clock.advance(5)
    second = s.admit("a", 4, 6000)
    headers = rate_limit_headers(second)
    assert headers["X-RateLimit-Remaining"] == "2"  # 35 s of allowance left, 15 s a request
    assert headers["X-RateLimit-Reset"] == "25"  # two requests ahead (30 s) minus 5 s
    assert headers["X-RateLimit-Remaining-Tokens"] == "5000"  # 1500 used, 500 back
    assert headers["X-RateLimit-Reset-Tokens"] == "10"


def test_only_the_limits_a_caller_has_are_in_the_headers() -> None:
    s, _ = store()
    d: Decision = s.admit("a", 0, 100)
    assert set(rate_limit_headers(d)) == {"X-RateLimit-Limit-Tokens",
                                          "X-RateLimit-Remaining-Tokens",
                                          "X-RateLimit-Reset-Tokens"}


def test_full_buckets_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.ratelimit.memory.SWEEP_AT", 3)
    s, clock = store()
    for caller in "abcde":
        s.admit(caller, 60, 0)
    clock.advance(2)
    s.admit("f", 60, 0)
    assert len(s._requests) == 1  # the table holds only the caller not yet full
