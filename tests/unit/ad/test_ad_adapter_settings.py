"""The AD adapter and settings refuse what cannot work, before any connection."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ecampus_idm.config import ActiveDirectorySettings, DirectorySettings
from ecampus_idm.directory import open_directory
from ecampus_idm.directory.ldap import AD_MAX_PAGE_SIZE, ActiveDirectory, LdapDirectory
from ecampus_idm.errors import DirectoryUnavailableError

ADMIN = "CN=Administrator,CN=Users,DC=ecampus,DC=test"
CANARY = "Canary-Bind-Secret-9"


def _settings(**overrides: object) -> DirectorySettings:
    values: dict[str, object] = {
        "url": "ldaps://127.0.0.2",
        "bind_dn": ADMIN,
        "bind_password": CANARY,
        "base_dn": "DC=ecampus,DC=test",
        "kind": "active_directory",
    }
    values.update(overrides)
    return DirectorySettings.model_validate(values)


def test_plain_ldap_is_refused_even_on_loopback() -> None:
    """AD over plain LDAP is refused with a French-first message, loopback or not."""
    with pytest.raises(DirectoryUnavailableError, match="exige LDAPS ou StartTLS"):
        ActiveDirectory("ldap://127.0.0.1", ADMIN, SecretStr(CANARY), tls="none")


def test_settings_refuse_tls_none_for_ad() -> None:
    """The configuration refuses tls = none with kind = active_directory."""
    with pytest.raises(ValueError, match="StartTLS"):
        _settings(url="ldap://127.0.0.1", tls="none")


def test_settings_default_to_openldap() -> None:
    """Existing configurations keep the OpenLDAP adapter and profile."""
    settings = _settings(kind="openldap")
    assert type(open_directory(settings)) is LdapDirectory
    assert DirectorySettings.model_fields["kind"].default == "openldap"


def test_kind_active_directory_opens_the_ad_adapter() -> None:
    """kind = active_directory gives the AD flavour, whose repr hides the password."""
    directory = open_directory(_settings())
    assert isinstance(directory, ActiveDirectory)
    assert CANARY not in repr(directory)


def test_page_size_is_capped_at_ad_max_page_size() -> None:
    """A page size above AD's MaxPageSize is lowered to 1000."""
    directory = ActiveDirectory("ldaps://127.0.0.2", ADMIN, SecretStr(CANARY), page_size=5000)
    assert directory._page_size == AD_MAX_PAGE_SIZE


@pytest.mark.parametrize("name", ["", "1abc", "bad name", "x;y"])
def test_bad_attribute_names_are_refused(name: str) -> None:
    """A configurable attribute must look like an LDAP attribute name."""
    with pytest.raises(ValueError, match="personal_mail_attribute"):
        ActiveDirectorySettings(personal_mail_attribute=name)


def test_bad_ou_is_refused() -> None:
    """An OU for a school must be a valid RDN sequence."""
    with pytest.raises(ValueError, match="distinguished name"):
        ActiveDirectorySettings(school_ous={"HEC-TOURNAI": "not a dn"})
