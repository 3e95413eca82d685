"""The AD flavour of the adapter on Samba AD: TLS, typed password errors, no secret leaks."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from ecampus_idm.directory.active_directory import (
    AccountDisabledError,
    PasswordMustChangeError,
    PasswordRefusedError,
)
from ecampus_idm.directory.base import Modification
from ecampus_idm.directory.dn import build_dn
from ecampus_idm.directory.ldap import ActiveDirectory
from ecampus_idm.errors import (
    ConstraintViolationError,
    DirectoryUnavailableError,
    InvalidCredentialsError,
)
from ecampus_idm.testing.samba import SambaServer

pytestmark = pytest.mark.integration


def _user(directory: ActiveDirectory, base: str, name: str, **extra: str) -> str:
    dn = build_dn("CN", name, base)
    attributes = {"objectClass": "user", "sAMAccountName": name, **extra}
    directory.add(dn, attributes)
    return dn


def test_starttls_works_as_well_as_ldaps(ad_server: SambaServer) -> None:
    """ldap:// with StartTLS reaches the same directory, certificate checked."""
    with ad_server.connect(tls="starttls") as directory:
        assert directory.get(ad_server.people_dn) is not None


def test_server_certificate_is_really_verified(ad_server: SambaServer) -> None:
    """Without our test CA (system trust store only) the TLS handshake is refused."""
    directory = ActiveDirectory(ad_server.ldaps_url, ad_server.admin_dn, ad_server.admin_password)
    with pytest.raises(DirectoryUnavailableError):
        directory.check()


def test_initial_password_in_the_add_must_be_changed(
    ad_directory: ActiveDirectory, ad_server: SambaServer
) -> None:
    """unicodePwd + pwdLastSet=0 in the add: the first bind answers 773."""
    dn = _user(
        ad_directory,
        ad_server.people_dn,
        "first.login",
        unicodePwd="Premier-Passe-2026",
        pwdLastSet="0",
        userAccountControl="512",
    )
    with pytest.raises(PasswordMustChangeError):
        ad_directory.authenticate(dn, SecretStr("Premier-Passe-2026"))


def test_refused_password_is_typed_french_and_secret_free(
    ad_directory: ActiveDirectory, ad_server: SambaServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A too-short password gives PasswordRefusedError (52D); the password shows nowhere."""
    caplog.set_level(logging.DEBUG)
    dn = _user(ad_directory, ad_server.people_dn, "short.pw", userAccountControl="544")
    with pytest.raises(PasswordRefusedError) as caught:
        ad_directory.set_password(dn, SecretStr("Ab1!"))
    assert "mot de passe refusé" in str(caught.value)
    assert "Ab1!" not in str(caught.value)
    assert "Ab1!" not in caplog.text


def test_wrong_old_password_is_invalid_credentials(
    ad_directory: ActiveDirectory, ad_server: SambaServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A change with a wrong old password is InvalidCredentialsError; no password leaks."""
    caplog.set_level(logging.DEBUG)
    dn = _user(ad_directory, ad_server.people_dn, "old.pw", userAccountControl="544")
    ad_directory.set_password(dn, SecretStr("Canary-First-2026"))
    with pytest.raises(InvalidCredentialsError) as caught:
        ad_directory.set_password(
            dn, SecretStr("Canary-Second-2026"), old_password=SecretStr("Canary-Wrong-2026")
        )
    for secret in ("Canary-First-2026", "Canary-Second-2026", "Canary-Wrong-2026"):
        assert secret not in str(caught.value)
        assert secret not in caplog.text


def test_disabled_account_bind_is_533(
    ad_directory: ActiveDirectory, ad_server: SambaServer
) -> None:
    """userAccountControl 514: the right password gets AccountDisabledError (533)."""
    dn = _user(ad_directory, ad_server.people_dn, "gone.away", userAccountControl="544")
    ad_directory.set_password(dn, SecretStr("Encore-Valide-2026"))
    ad_directory.modify(dn, [Modification.replace("userAccountControl", "514")])
    with pytest.raises(AccountDisabledError, match="désactivé"):
        ad_directory.authenticate(dn, SecretStr("Encore-Valide-2026"))


def test_unicode_pwd_is_never_readable(
    ad_directory: ActiveDirectory, ad_server: SambaServer
) -> None:
    """Reading unicodePwd back gives nothing: AD never returns it."""
    dn = _user(ad_directory, ad_server.people_dn, "hidden.pw", userAccountControl="544")
    ad_directory.set_password(dn, SecretStr("Invisible-2026"))
    entry = ad_directory.get(dn, ["unicodePwd"])
    assert entry is not None
    assert "unicodepwd" not in entry


def test_group_with_a_missing_member_names_the_member_not_the_parent(
    ad_directory: ActiveDirectory, ad_server: SambaServer
) -> None:
    """AD's noSuchObject for a missing member is not reported as a missing parent."""
    with pytest.raises(ConstraintViolationError, match="membre du groupe"):
        ad_directory.add(
            build_dn("CN", "lonely", ad_server.groups_dn),
            {"objectClass": "group", "member": build_dn("CN", "nobody", ad_server.people_dn)},
        )
