"""Calendar-aligned UTC windows: period labels, resets, rollover, leap day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.budget.windows import current_windows, window_key


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, *,
       micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_keys_name_the_period() -> None:
    hourly, daily, monthly = current_windows(at(2026, 11, 27, 6, 15))
    assert (hourly.storage_key, daily.storage_key, monthly.storage_key) == (
        "hourly:2026-11-27T06",
        "daily:2026-11-27",
        "monthly:2026-11",
    )


def test_half_a_second_before_the_hour() -> None:
    w = window_key("hourly", at(2026, 11, 27, 6, 59, 59, micro=500_000))
    assert w.period == "2026-11-27T06"
    assert w.resets_at == at(2026, 11, 27, 7)
    assert w.seconds_until_reset(at(2026, 11, 27, 6, 59, 59, micro=500_000)) == 0.5


def test_the_hour_rolls_over_exactly_at_the_boundary() -> None:
    assert window_key("hourly", at(2026, 11, 27, 7)).period == "2026-11-27T07"
    assert window_key("hourly", at(2026, 11, 27, 6, 59, 59, micro=999_999)).period == (
        "2026-11-27T06"
    )


def test_day_rollover_at_midnight() -> None:
    now = at(2026, 11, 27, 23, 59, 59, micro=500_000)
    hourly, daily, _ = current_windows(now)
    assert hourly.period == "2026-11-27T23"
    assert daily.period == "2026-11-27"
    assert daily.resets_at == at(2026, 11, 28)
    assert daily.seconds_until_reset(now) == 0.5
    _, after, _ = current_windows(now + timedelta(seconds=0.5))
    assert after.period == "2026-11-28"


@pytest.mark.parametrize(
    ("now", "period", "resets"),
    [
        (at(2026, 11, 30, 23, 59, 59), "2026-11", at(2026, 12, 1)),
        (at(2026, 12, 31, 23, 59, 59), "2026-12", at(2027, 1, 1)),
        (at(2027, 2, 1), "2027-02", at(2027, 3, 1)),
        (at(2028, 2, 29, 12), "2028-02", at(2028, 3, 1)),
        (at(2028, 1, 31, 23), "2028-01", at(2028, 2, 1)),
    ],
)
def test_month_boundaries(now: datetime, period: str, resets: datetime) -> None:
    w = window_key("monthly", now)
    assert (w.period, w.resets_at) == (period, resets)


def test_leap_day_is_its_own_day_and_rolls_into_march() -> None:
    last = at(2028, 2, 29, 23, 59, 59, micro=500_000)
    _, daily, monthly = current_windows(last)
    assert daily.period == "2028-02-29"
    assert daily.resets_at == at(2028, 3, 1)
    assert monthly.seconds_until_reset(last) == 0.5
    _, next_day, next_month = current_windows(last + timedelta(seconds=0.5))
    assert (next_day.period, next_month.period) == ("2028-03-01", "2028-03")


def test_other_time_zones_are_converted_to_utc() -> None:
    plus_five = timezone(timedelta(hours=5))
    w = window_key("hourly", datetime(2026, 11, 27, 1, 30, tzinfo=plus_five))
    assert w.period == "2026-11-26T20"


def test_naive_times_and_unknown_windows_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_key("hourly", datetime(2026, 11, 27))
    with pytest.raises(ValueError, match="unknown budget window"):
        window_key("weekly", at(2026, 11, 27))


def test_closed_periods_are_kept_for_a_while_then_may_be_forgotten() -> None:
    w = window_key("hourly", at(2026, 11, 27, 6))
    assert w.keep_until > w.resets_at


def test_an_hour_reuses_its_periods_and_the_next_hour_has_its_own() -> None:
    """A paid question reuses the hour's periods (issue 14) and gets the same ones as building
    each window at its own time would."""
    first = current_windows(at(2026, 11, 30, 23, 0, 1))
    assert current_windows(at(2026, 11, 30, 23, 59, 59, micro=999_999)) is first
    assert first == tuple(window_key(name, at(2026, 11, 30, 23, 42)) for name in
                          ("hourly", "daily", "monthly"))
    later = current_windows(at(2026, 12, 1, 0, 0))
    assert later is not first
    assert [w.period for w in later] == ["2026-12-01T00", "2026-12-01", "2026-12"]
