"""The whole reset flow on a real slapd, a real SMTP server and a SQLite store."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from pw_integration import NEW_PASSWORD, OLD_PASSWORD, add_ldap_account, token_in
from pydantic import SecretStr

from ecampus_idm.config import StoreSettings
from ecampus_idm.directory import Modification
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.errors import ConstraintViolationError, InvalidCredentialsError
from ecampus_idm.passwords import PasswordRejectedError, PasswordResetService, TokenInvalidError
from ecampus_idm.passwords.quality import translate_directory_refusal
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.smtp import SmtpServer

pytestmark = pytest.mark.integration

IP = "203.0.113.9"


def mailed_token(service: PasswordResetService, smtp: SmtpServer) -> str:
    service.request_reset("parent@example.org", IP)
    service.process_pending()
    return token_in(smtp.messages[-1])


def test_request_mail_peek_redeem_bind(
    sqlite_service: PasswordResetService,
    ldap_directory: LdapDirectory,
    ldap_server: SlapdServer,
    smtp: SmtpServer,
) -> None:
    """The user gets a mail, opens the link, sets a password and binds with it."""
    dn = add_ldap_account(ldap_directory, ldap_server.people_dn, "jean")
    sqlite_service.request_reset("Parent@Example.org", IP)
    assert smtp.messages == []
    sqlite_service.process_pending()
    (message,) = smtp.messages
    assert message.recipients == ("parent@example.org",)
    assert "Identifiant : jean" in message.text()
    token = token_in(message)
    assert sqlite_service.peek(token).username == "jean"
    sqlite_service.redeem(token, NEW_PASSWORD)
    ldap_directory.authenticate(dn, SecretStr(NEW_PASSWORD))
    with pytest.raises(InvalidCredentialsError):
        ldap_directory.authenticate(dn, SecretStr(OLD_PASSWORD))


def test_reset_leaves_no_must_change_flag(
    sqlite_service: PasswordResetService,
    ldap_directory: LdapDirectory,
    ldap_server: SlapdServer,
    smtp: SmtpServer,
) -> None:
    """The user chose the password: ppolicy's pwdReset flag is removed after the write."""
    dn = add_ldap_account(ldap_directory, ldap_server.people_dn, "jean")
    sqlite_service.redeem(mailed_token(sqlite_service, smtp), NEW_PASSWORD)
    entry = ldap_directory.get(dn, ["pwdReset", "pwdChangedTime"])
    assert entry is not None
    assert entry.get("pwdChangedTime")
    assert entry.get("pwdReset") == ()


def test_ldappasswd_change_kills_the_token(
    sqlite_service: PasswordResetService,
    ldap_directory: LdapDirectory,
    ldap_server: SlapdServer,
    smtp: SmtpServer,
) -> None:
    """A password changed with the ldappasswd CLI makes the mailed link invalid."""
    dn = add_ldap_account(ldap_directory, ldap_server.people_dn, "jean")
    token = mailed_token(sqlite_service, smtp)
    subprocess.run(
        [
            shutil.which("ldappasswd") or "/usr/bin/ldappasswd",
            "-x",
            "-H",
            ldap_server.url,
            "-D",
            ldap_server.admin_dn,
            "-w",
            ldap_server.admin_password.get_secret_value(),
            "-s",
            "changed-by-the-helpdesk-today",
            dn,
        ],
        check=True,
        capture_output=True,
    )
    with pytest.raises(TokenInvalidError) as caught:
        sqlite_service.redeem(token, NEW_PASSWORD)
    assert caught.value.reason == "changed"
    ldap_directory.authenticate(dn, SecretStr("changed-by-the-helpdesk-today"))


def test_reused_password_is_refused_from_the_mirrored_history(
    sqlite_service: PasswordResetService,
    ldap_directory: LdapDirectory,
    ldap_server: SlapdServer,
    smtp: SmtpServer,
) -> None:
    """Where the policy keeps a history, a previous password is refused before writing."""
    ldap_directory.modify(
        ldap_server.policy_dn,
        [Modification.replace("pwdInHistory", "3")],
    )
    try:
        dn = add_ldap_account(ldap_directory, ldap_server.people_dn, "jean")
        ldap_directory.set_password(
            dn, SecretStr(NEW_PASSWORD), old_password=SecretStr(OLD_PASSWORD)
        )
        ldap_directory.set_password(
            dn, SecretStr("une-troisieme-phrase-assez-longue"), old_password=SecretStr(NEW_PASSWORD)
        )
        with pytest.raises(PasswordRejectedError) as caught:
            sqlite_service.redeem(mailed_token(sqlite_service, smtp), NEW_PASSWORD)
        assert [p.code for p in caught.value.problems] == ["quality.reused"]
    finally:
        ldap_directory.modify(
            ldap_server.policy_dn,
            [Modification.replace("pwdInHistory", "0")],
        )


def test_ppolicy_refusal_reads_clearly(
    ldap_directory: LdapDirectory, ldap_server: SlapdServer
) -> None:
    """slapd's quality refusal of a user's own change becomes a French-first message."""
    dn = add_ldap_account(ldap_directory, ldap_server.people_dn, "jean")
    with pytest.raises(ConstraintViolationError) as caught:
        ldap_directory.set_password(dn, SecretStr("court"), old_password=SecretStr(OLD_PASSWORD))
    rejection = translate_directory_refusal(caught.value)
    assert [p.code for p in rejection.problems] == ["directory.quality"]
    assert rejection.message_fr.startswith("L'annuaire refuse ce mot de passe")


def test_canary_appears_in_no_log_line_and_no_database_column(  # noqa: PLR0917 - pytest passes fixtures as arguments
    sqlite_service: PasswordResetService,
    sqlite_store: SqlStore,
    sqlite_settings: StoreSettings,
    ldap_directory: LdapDirectory,
    ldap_server: SlapdServer,
    smtp: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The token, the password and the address are in no log line and nowhere in the file."""
    caplog.set_level(logging.DEBUG)
    add_ldap_account(
        ldap_directory, ldap_server.people_dn, "jean", mail="canary.parent@example.org"
    )
    password = "Canary-Password-7f3a9c-long"
    sqlite_service.request_reset("canary.parent@example.org", IP)
    sqlite_service.request_reset("canary.unknown@example.org", IP)
    sqlite_service.process_pending()
    token = token_in(smtp.messages[-1])
    sqlite_service.peek(token)
    sqlite_service.redeem(token, password)
    with pytest.raises(TokenInvalidError):
        sqlite_service.redeem(token, password)
    sqlite_store.close()
    database = Path(sqlite_settings.url.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    # aiosmtpd ("mail.log") is the receiving server, which does see the mail: not ours.
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))
    assert "ecampus_idm.passwords" in {r.name.rsplit(".", 1)[0] for r in caplog.records}
    for canary in (token, password, "canary.parent", "canary.unknown"):
        assert canary.encode() not in raw
        assert canary not in ours
