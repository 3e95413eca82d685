"""The sliding-minute rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ecampus_idm.mail.settings import ThrottleSettings
from ecampus_idm.mail.throttle import Throttle

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def test_domain_limit_frees_after_a_minute() -> None:
    """The third message to a domain limited to 2/min waits for the first one's minute."""
    throttle = Throttle(ThrottleSettings(per_domain_per_minute=2, overall_per_minute=0))
    throttle.record("gmail.com", T0)
    throttle.record("gmail.com", T0 + timedelta(seconds=10))
    assert throttle.domain_free_at("gmail.com", T0 + timedelta(seconds=20)) == T0 + timedelta(
        minutes=1
    )
    assert throttle.domain_free_at("skynet.be", T0 + timedelta(seconds=20)) is None
    assert throttle.domain_free_at("gmail.com", T0 + timedelta(minutes=1)) is None


def test_domain_override_wins() -> None:
    """A per-domain override replaces the general per-domain rate."""
    throttle = Throttle(ThrottleSettings(per_domain_per_minute=100, domains={"gmail.com": 1}))
    throttle.record("gmail.com", T0)
    assert throttle.domain_free_at("gmail.com", T0) is not None


def test_off_never_holds_back() -> None:
    """The off throttle lets everything through."""
    throttle = Throttle.off()
    for _ in range(1000):
        throttle.record("gmail.com", T0)
    assert throttle.domain_free_at("gmail.com", T0) is None
    assert throttle.overall_free_at(T0) is None
