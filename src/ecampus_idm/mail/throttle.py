"""Sending rates: per receiving domain and overall, over a sliding minute.

The September wave sends thousands of welcome mails; receivers take a burst from one
sender for spam. :class:`Throttle` answers, for each message, *send now*, or *not before*
an instant: the flush keeps a message whose domain is over its rate for later in the same
flush (other domains go on), and waits when the overall rate is reached. Time comes from
the injected clock, so tests drive it without sleeping.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from ecampus_idm.mail.settings import ThrottleSettings

__all__ = ["Throttle"]

_WINDOW = timedelta(minutes=1)


class Throttle:
    """Sliding-window rate limits.

    Args:
        settings: The limits (0: off).
    """

    def __init__(self, settings: ThrottleSettings) -> None:
        self.settings = settings
        self._overall: deque[datetime] = deque()
        self._domains: dict[str, deque[datetime]] = {}

    @classmethod
    def off(cls) -> Throttle:
        """A throttle that never holds anything back."""
        return cls(ThrottleSettings(per_domain_per_minute=0, overall_per_minute=0))

    def _limit(self, domain: str) -> int:
        return self.settings.domains.get(domain, self.settings.per_domain_per_minute)

    @staticmethod
    def _free_at(sent: deque[datetime], limit: int, now: datetime) -> datetime | None:
        while sent and sent[0] <= now - _WINDOW:
            sent.popleft()
        if limit <= 0 or len(sent) < limit:
            return None
        return sent[len(sent) - limit] + _WINDOW

    def domain_free_at(self, domain: str, now: datetime) -> datetime | None:
        """``None`` if ``domain`` may receive now, else when it may."""
        return self._free_at(self._domains.setdefault(domain, deque()), self._limit(domain), now)

    def overall_free_at(self, now: datetime) -> datetime | None:
        """``None`` if a message may leave now, else when one may."""
        return self._free_at(self._overall, self.settings.overall_per_minute, now)

    def record(self, domain: str, now: datetime) -> None:
        """Count one message sent to ``domain`` at ``now``."""
        self._overall.append(now)
        self._domains.setdefault(domain, deque()).append(now)
