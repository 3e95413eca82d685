"""Issue 14 item 2: one network flooding the form denies nobody else.

Before: 2,001 requests from one IPv6 /56 (rotating through its 256 /64s) filled the
overall hourly ceiling and every other user's request was suppressed.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

from pw_builders import RecordingMailer, add_account

from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.passwords import PasswordResetService, PasswordSettings

FLOOD_NETWORK = ipaddress.ip_network("2001:db8:aa00::/56")


def _flood(service: PasswordResetService, requests: int) -> None:
    subnets = list(FLOOD_NETWORK.subnets(new_prefix=64))
    for n in range(requests):
        ip = subnets[n % len(subnets)][n // len(subnets) + 1]
        service.request_reset(f"flood{n}@example.org", ip)


def _reasons(service: PasswordResetService) -> list[str | None]:
    audit = service.repository.audit_records(limit=100_000)
    return [a.reason for a in audit if a.kind == "reset.suppressed"]


def test_5000_requests_from_one_56_then_a_victim_elsewhere_gets_the_mail(
    service: PasswordResetService, directory: MemoryDirectory, mailer: RecordingMailer
) -> None:
    """The flood is suppressed by its own network's limit; the victim's mail goes out."""
    add_account(directory, "jean", mail="jean.parent@example.org")
    _flood(service, 5000)
    service.request_reset("jean.parent@example.org", "2001:db8:bb01::7")
    service.process_pending()
    assert [m.to for m in mailer.mails][-1:] == ["jean.parent@example.org"]
    reasons = _reasons(service)
    assert "rate_limit.overall" not in reasons
    assert reasons.count("rate_limit.network") > 4000, Counter(reasons)


def test_a_flood_spread_over_many_networks_is_braked_by_the_ceiling_not_the_first_requests(
    service: PasswordResetService,
    directory: MemoryDirectory,
    mailer: RecordingMailer,
    settings: PasswordSettings,
) -> None:
    """Past the overall ceiling, second requests are refused, a network's first is not."""
    ceiling = settings.rate_limits.overall
    for n in range(ceiling + 200):  # each client IPv4 sends two requests
        ip = ipaddress.ip_address("100.64.0.0") + n // 2
        service.request_reset(f"someone{n}@example.org", ip)
    assert _reasons(service).count("rate_limit.overall") > 0
    add_account(directory, "jean", mail="jean.parent@example.org")
    service.request_reset("jean.parent@example.org", "192.0.2.44")
    service.process_pending(limit=10_000)
    assert "jean.parent@example.org" in [m.to for m in mailer.mails]
