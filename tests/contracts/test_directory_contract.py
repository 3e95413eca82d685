"""The Directory contract, run against the in-memory directory and a real slapd."""

from __future__ import annotations

import pytest

from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.testing.contracts import PpolicyContract
from ecampus_idm.testing.slapd import SlapdServer


class TestMemoryDirectory(PpolicyContract):
    """The in-memory twin honours the contract."""

    @pytest.fixture
    def directory(self, memory_directory: MemoryDirectory) -> MemoryDirectory:
        return memory_directory

    @pytest.fixture
    def base(self) -> str:
        return "ou=people,dc=ecampus,dc=test"


@pytest.mark.ldap
class TestLdapDirectory(PpolicyContract):
    """The ldap3 adapter on a throwaway slapd honours the contract."""

    @pytest.fixture
    def directory(self, ldap_directory: LdapDirectory) -> LdapDirectory:
        return ldap_directory

    @pytest.fixture
    def base(self, ldap_server: SlapdServer) -> str:
        return ldap_server.people_dn
