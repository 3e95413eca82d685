"""Rate limits of reset requests: per address, per client IP, overall, and per account.

Fixed windows counted in the repository (so every portal instance shares them): each
request increments its address, IP and (IPv6) network counters, every time, so a limited
request takes the same path as any other; the first counter over its limit names the
reason (``rate_limit.address``...). An IPv6 client is counted per /64 (one home holds a
whole /64) and per /56 (a home or small office is often given a /56: 256 /64s an
attacker can rotate through). The overall counter counts only the requests that passed
those limits, and never refuses the first request of a network in its window: one
network cannot use up everybody's ceiling (issue 14's "kill switch"). The per-account
limit is applied by the worker, once the address has been looked up, out of the request
path.

Counters are keyed by keyed labels (HMACs): an address or IP is never stored in clear.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ecampus_idm.clock import Clock
from ecampus_idm.passwords.repository import ResetRepository
from ecampus_idm.passwords.settings import RateLimitSettings

__all__ = ["RateLimiter"]

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class RateLimiter:
    """Counts requests and says which limit, if any, a request goes over.

    Args:
        repository: Where the counters live.
        settings: The limits.
        clock: Where "now" comes from.
    """

    def __init__(
        self, repository: ResetRepository, settings: RateLimitSettings, clock: Clock
    ) -> None:
        self._repository = repository
        self._settings = settings
        self._clock = clock

    def __repr__(self) -> str:
        return f"RateLimiter(window={self._settings.window_seconds}s)"

    def window_start(self, at: datetime) -> datetime:
        """Return the start of the window holding ``at``."""
        seconds = int((at - _EPOCH).total_seconds())
        return _EPOCH + timedelta(seconds=seconds - seconds % self._settings.window_seconds)

    def check_request(
        self, address_label: str, ip_label: str, network_label: str | None = None
    ) -> str | None:
        """Count one request; return the reason it is over a limit, or ``None``.

        Args:
            address_label: Label of the submitted address.
            ip_label: Label of the client IP (an IPv6 client's /64).
            network_label: Label of the client's wider network (an IPv6 client's /56),
                ``None`` for IPv4.

        The overall ceiling counts only the requests that passed their own address, IP
        and network limits, so one network flooding the form fills its own buckets, not
        everybody's; and even past the ceiling, the first request of a network in the
        window goes through: the ceiling brakes a spread-out flood without refusing a
        legitimate user elsewhere.
        """
        s = self._settings
        window = self.window_start(self._clock.now())
        counts = [
            (
                "rate_limit.address",
                self._repository.hit(f"a:{address_label}", window),
                s.per_address,
            ),
            ("rate_limit.ip", self._repository.hit(f"i:{ip_label}", window), s.per_ip),
        ]
        network_count = counts[1][1]
        if network_label is not None:
            network_count = self._repository.hit(f"n:{network_label}", window)
            counts.append(("rate_limit.network", network_count, s.per_network))
        reason = next((reason for reason, count, limit in counts if count > limit), None)
        if reason is not None:
            return reason
        overall = self._repository.hit("all", window)
        if overall > s.overall and network_count > 1:
            return "rate_limit.overall"
        return None

    def check_account(self, person_id: str) -> str | None:
        """Count one reset mail for the account; return ``rate_limit.account`` if over."""
        window = self.window_start(self._clock.now())
        count = self._repository.hit(f"p:{person_id}", window)
        return "rate_limit.account" if count > self._settings.per_account else None
