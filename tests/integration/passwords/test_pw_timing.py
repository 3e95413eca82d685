"""The request answers as fast for a known address as for an unknown one (issue 7).

A security property, not a speed goal: the request path never looks the address up, so
known and unknown addresses take the same code path and the same database writes. The
medians of 500 interleaved requests each must differ by less than 5 ms.
"""

from __future__ import annotations

import statistics
import time

import pytest
from pw_integration import SmtpResetMailer, add_ldap_account

from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.passwords import ACCEPTED, PasswordResetService, PasswordSettings, TokenKeyring
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.smtp import SmtpServer

pytestmark = pytest.mark.integration

REQUESTS = 500


def test_known_and_unknown_addresses_take_the_same_time(  # noqa: PLR0917 - pytest passes fixtures as arguments
    sqlite_store: SqlStore,
    ldap_directory: LdapDirectory,
    ldap_server: SlapdServer,
    smtp: SmtpServer,
    reset_settings: PasswordSettings,
    keyring: TokenKeyring,
) -> None:
    """Median response times for a known and an unknown address differ by under 5 ms."""
    add_ldap_account(ldap_directory, ldap_server.people_dn, "jean", mail="known@example.org")
    opened: list[LdapDirectory] = []

    def open_directory() -> LdapDirectory:
        opened.append(ldap_directory)
        return ldap_directory

    service = PasswordResetService.for_store(
        sqlite_store,
        mailer=SmtpResetMailer(smtp.port),
        settings=reset_settings,
        directory=open_directory,
        keyring=keyring,
    )
    timings: dict[str, list[float]] = {"known@example.org": [], "unknown@example.org": []}
    for n in range(REQUESTS):
        order = list(timings) if n % 2 else list(reversed(timings))
        for address in order:
            start = time.perf_counter()
            answer = service.request_reset(address, f"203.0.113.{n % 250}")
            timings[address].append(time.perf_counter() - start)
            assert answer is ACCEPTED
    known = statistics.median(timings["known@example.org"])
    unknown = statistics.median(timings["unknown@example.org"])
    print(f"median known {known * 1000:.3f} ms, unknown {unknown * 1000:.3f} ms")
    assert abs(known - unknown) < 0.005
    assert opened == []
