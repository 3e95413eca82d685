"""Hashes made by the library ({ARGON2}, {SSHA512}) verify on a real slapd bind."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.errors import InvalidCredentialsError
from ecampus_idm.passwords.hashing import LdapScheme, hash_ldap_password
from ecampus_idm.testing.slapd import SlapdServer

pytestmark = pytest.mark.integration

PASSWORD = "bazoki-muteva-ridopa-sukemi-47"


@pytest.mark.parametrize("scheme", ["ARGON2", "SSHA512"])
def test_library_hash_binds_on_slapd(
    ldap_directory: LdapDirectory, ldap_server: SlapdServer, scheme: LdapScheme
) -> None:
    """An entry created with our hash binds with the password and refuses another."""
    dn = f"uid=hash-{scheme.lower()},{ldap_server.people_dn}"
    ldap_directory.add(
        dn,
        {
            "objectClass": ["inetOrgPerson"],
            "uid": f"hash-{scheme.lower()}",
            "cn": "Hash Test",
            "sn": "Test",
            "userPassword": hash_ldap_password(SecretStr(PASSWORD), scheme),
        },
    )
    ldap_directory.authenticate(dn, SecretStr(PASSWORD))
    with pytest.raises(InvalidCredentialsError):
        ldap_directory.authenticate(dn, SecretStr(PASSWORD + "x"))
