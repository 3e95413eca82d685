"""Unit tests of the injected clocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecampus_idm.clock import BRUSSELS, Clock, FixedClock, SystemClock

START = datetime(2026, 8, 31, 22, 30, tzinfo=UTC)


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: such a datetime counts as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    "instant",
    [datetime(2026, 9, 1, 2, 0), datetime(2026, 9, 1, 2, 0, tzinfo=_NoOffset())],
    ids=["no-tzinfo", "tzinfo-without-offset"],
)
def test_fixed_clock_rejects_naive(instant: datetime) -> None:
    """A FixedClock cannot start at a naive datetime."""
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(instant)


def test_fixed_clock_set_rejects_naive() -> None:
    """A FixedClock cannot be moved to a naive datetime."""
    clock = FixedClock(START)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 9, 1))
    assert clock.now() == START


def test_fixed_clock_now_is_utc() -> None:
    """now() is the start instant, expressed in UTC."""
    clock = FixedClock(datetime(2026, 9, 1, 4, 0, tzinfo=timezone(timedelta(hours=2))))
    now = clock.now()
    assert now == datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    assert now.tzinfo is UTC


def test_today_uses_brussels() -> None:
    """22:30 UTC on 31 August is already 1 September in Brussels (CEST, UTC+2)."""
    assert FixedClock(START).today() == date(2026, 9, 1)


def test_today_in_winter() -> None:
    """In winter Brussels is UTC+1: 22:59 UTC is the same day, 23:00 UTC the next."""
    assert FixedClock(datetime(2026, 12, 31, 22, 59, tzinfo=UTC)).today() == date(2026, 12, 31)
    assert FixedClock(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)).today() == date(2027, 1, 1)


def test_today_uses_the_given_zone() -> None:
    """With another zone, today() is the date there."""
    clock = FixedClock(START, zone=ZoneInfo("America/New_York"))
    assert clock.today() == date(2026, 8, 31)


def test_on_gives_that_local_date() -> None:
    """FixedClock.on(day) is at 02:00 local time on that day."""
    clock = FixedClock.on(date(2026, 9, 1))
    assert clock.today() == date(2026, 9, 1)
    assert clock.now() == datetime(2026, 9, 1, 0, 0, tzinfo=UTC)


@settings(deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2200, 12, 31)), st.integers(0, 23))
def test_on_today_round_trips(day: date, hour: int) -> None:
    """FixedClock.on(day, hour).today() is day, DST changes included."""
    assert FixedClock.on(day, hour).today() == day


def test_advance_moves_forward() -> None:
    """advance() adds the delta to now()."""
    clock = FixedClock(START)
    clock.advance(timedelta(hours=1, minutes=30))
    assert clock.now() == START + timedelta(hours=1, minutes=30)
    assert clock.today() == date(2026, 9, 1)


def test_advance_moves_back() -> None:
    """A negative delta moves the clock back."""
    clock = FixedClock(START)
    clock.advance(timedelta(days=-1))
    assert clock.now() == START - timedelta(days=1)


def test_advance_keeps_utc() -> None:
    """After advancing across a DST change, now() is still UTC."""
    clock = FixedClock.on(date(2026, 10, 24))
    clock.advance(timedelta(days=2))
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.today() == date(2026, 10, 26)


def test_set_moves_to_instant() -> None:
    """set() jumps to the instant, converted to UTC."""
    clock = FixedClock(START)
    clock.set(datetime(2027, 1, 1, 12, 0, tzinfo=BRUSSELS))
    assert clock.now() == datetime(2027, 1, 1, 11, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_fixed_clock_repr() -> None:
    """The repr shows the instant and the zone."""
    assert (
        repr(FixedClock(START)) == "FixedClock(2026-08-31T22:30:00+00:00, zone='Europe/Brussels')"
    )


def test_system_clock_now_is_aware_utc() -> None:
    """SystemClock().now() is timezone-aware, in UTC."""
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_system_clock_repr() -> None:
    """The repr names the zone."""
    assert repr(SystemClock(ZoneInfo("UTC"))) == "SystemClock(zone='UTC')"


@pytest.mark.parametrize("clock", [SystemClock(), FixedClock(START)], ids=["system", "fixed"])
def test_clocks_satisfy_protocol(clock: object) -> None:
    """Both clocks are Clocks."""
    assert isinstance(clock, Clock)
