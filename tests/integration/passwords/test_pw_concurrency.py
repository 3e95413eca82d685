"""Concurrent redeems of one token on two service instances sharing a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from pw_integration import NEW_PASSWORD, SmtpResetMailer, add_ldap_account, token_in
from pydantic import SecretStr

from ecampus_idm.config import StoreSettings
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.passwords import (
    PasswordResetService,
    PasswordSettings,
    ResetDone,
    TokenError,
    TokenKeyring,
)
from ecampus_idm.store.sql import SqlStore, open_store
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.smtp import SmtpServer

pytestmark = pytest.mark.integration


@pytest.fixture
def second_store(postgres_settings: StoreSettings) -> Iterator[SqlStore]:
    store = open_store(postgres_settings)
    yield store
    store.close()


def test_twenty_concurrent_redeems_make_one_change(  # noqa: PLR0917 - pytest passes fixtures as arguments
    postgres_store: SqlStore,
    second_store: SqlStore,
    ldap_directory: LdapDirectory,
    ldap_server: SlapdServer,
    smtp: SmtpServer,
    reset_settings: PasswordSettings,
    keyring: TokenKeyring,
) -> None:
    """Twenty threads over two instances redeem one token: one success, one password change."""
    second_directory = ldap_server.connect()
    services = [
        PasswordResetService.for_store(
            store,
            mailer=SmtpResetMailer(smtp.port),
            settings=reset_settings,
            directory=directory,
            keyring=keyring,
        )
        for store, directory in ((postgres_store, ldap_directory), (second_store, second_directory))
    ]
    dn = add_ldap_account(ldap_directory, ldap_server.people_dn, "jean")
    services[0].request_reset("parent@example.org", "203.0.113.9")
    services[1].process_pending()
    token = token_in(smtp.messages[-1])
    changes: list[str] = []
    services[0].hooks.on_after_reset(lambda e: changes.append(e.step))
    services[1].hooks.on_after_reset(lambda e: changes.append(e.step))
    barrier = threading.Barrier(20)

    def redeem(n: int) -> ResetDone | TokenError:
        password = f"{NEW_PASSWORD}-{n:02d}"
        barrier.wait()
        try:
            return services[n % 2].redeem(token, password)
        except TokenError as exc:
            return exc

    try:
        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(redeem, range(20)))
    finally:
        second_directory.close()
    successes = [r for r in results if isinstance(r, ResetDone)]
    assert len(successes) == 1
    assert changes == ["after_reset"]
    winner = next(n for n, r in enumerate(results) if isinstance(r, ResetDone))
    ldap_directory.authenticate(dn, SecretStr(f"{NEW_PASSWORD}-{winner:02d}"))
    changed = [
        e for e in postgres_store.events_for_person("p-jean") if e.kind == "password.changed"
    ]
    assert len(changed) == 1
