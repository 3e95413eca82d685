"""Time, injected.

Nothing in ecampus-idm reads the system clock directly: components receive a
:class:`Clock`. Instants are timezone-aware UTC datetimes; calendar rules (an account
opens on 1 September) are about the *local* date of the institution, which
:meth:`Clock.today` gives in the configured zone (Europe/Brussels by default).
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

__all__ = ["BRUSSELS", "Clock", "FixedClock", "SystemClock", "local_text"]

BRUSSELS = ZoneInfo("Europe/Brussels")


def local_text(instant: datetime | str, zone: ZoneInfo = BRUSSELS, *, seconds: bool = False) -> str:
    """An instant as people read it: the institution's local time, with its zone's name.

    ``2026-12-05 14:02 CET`` (``CEST`` in summer), so that one screen never mixes UTC and
    local times. JSON keeps ISO 8601 with its offset (:meth:`datetime.isoformat`).

    Args:
        instant: A timezone-aware instant, or its ISO 8601 text (as in a JSON document).
        zone: The institution's zone (``settings.institution.zone``).
        seconds: Whether to show the seconds.

    Raises:
        ValueError: If the instant has no offset (a naive time cannot be placed).
    """
    moment = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no time zone to convert from")
    return moment.astimezone(zone).strftime(
        "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    )


@runtime_checkable
class Clock(Protocol):
    """Source of the current time."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
        ...

    def today(self) -> date:
        """Return the institution's local calendar date."""
        ...


class SystemClock:
    """The real clock.

    Args:
        zone: The institution's time zone, used by :meth:`today`.
    """

    def __init__(self, zone: ZoneInfo = BRUSSELS) -> None:
        self.zone = zone

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        return datetime.now(UTC)

    def today(self) -> date:
        """Return today's date in the institution's zone."""
        return self.now().astimezone(self.zone).date()

    def __repr__(self) -> str:
        return f"SystemClock(zone={self.zone.key!r})"


class FixedClock:
    """A clock that only moves when told to; for tests and replays.

    Args:
        start: The initial instant; must be timezone-aware.
        zone: The institution's time zone, used by :meth:`today`.

    Raises:
        ValueError: If ``start`` is naive.
    """

    def __init__(self, start: datetime, zone: ZoneInfo = BRUSSELS) -> None:
        self._now = _aware_utc(start)
        self.zone = zone
        self._lock = threading.Lock()

    @classmethod
    def on(cls, day: date, hour: int = 2, zone: ZoneInfo = BRUSSELS) -> FixedClock:
        """Return a clock set to ``hour`` o'clock local time on ``day`` (a nightly run)."""
        local = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
        return cls(local, zone)

    def now(self) -> datetime:
        """Return the clock's current instant in UTC."""
        with self._lock:
            return self._now

    def today(self) -> date:
        """Return the clock's date in the institution's zone."""
        return self.now().astimezone(self.zone).date()

    def set(self, instant: datetime) -> None:
        """Move the clock to ``instant`` (timezone-aware)."""
        with self._lock:
            self._now = _aware_utc(instant)

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (or back, with a negative delta)."""
        with self._lock:
            self._now += delta

    def __repr__(self) -> str:
        return f"FixedClock({self._now.isoformat()}, zone={self.zone.key!r})"


def _aware_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("a clock needs a timezone-aware datetime")
    return instant.astimezone(UTC)
