"""Fixtures of the password integration tests: a service on slapd, a store and SMTP."""

from __future__ import annotations

import pytest
from pw_integration import SmtpResetMailer

from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.passwords import PasswordResetService, PasswordSettings, TokenKeyring
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.smtp import SmtpServer


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    """The shared recording SMTP server (ecampus_idm.testing.smtp)."""
    return smtp_server


@pytest.fixture
def keyring() -> TokenKeyring:
    return TokenKeyring.generate()


@pytest.fixture
def reset_settings(ldap_server: SlapdServer) -> PasswordSettings:
    return PasswordSettings(
        people_dn=ldap_server.people_dn,
        policy_dn=ldap_server.policy_dn,
        reset_url="https://portal.ecampus.test/mot-de-passe",
    )


@pytest.fixture
def sqlite_service(
    sqlite_store: SqlStore,
    ldap_directory: LdapDirectory,
    smtp: SmtpServer,
    reset_settings: PasswordSettings,
    keyring: TokenKeyring,
) -> PasswordResetService:
    return PasswordResetService.for_store(
        sqlite_store,
        mailer=SmtpResetMailer(smtp.port),
        settings=reset_settings,
        directory=ldap_directory,
        keyring=keyring,
    )
