"""The sync contract, run against the in-memory directory and a real slapd."""

from __future__ import annotations

import pytest

from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.sync_contract import SyncContract


class TestSyncOnMemory(SyncContract):
    """The engine on the in-memory twin."""

    @pytest.fixture
    def directory(self, memory_directory: MemoryDirectory) -> MemoryDirectory:
        return memory_directory

    @pytest.fixture
    def base(self) -> str:
        return "dc=ecampus,dc=test"


@pytest.mark.ldap
class TestSyncOnSlapd(SyncContract):
    """The engine on a throwaway slapd (ppolicy, refint, memberof)."""

    @pytest.fixture
    def directory(self, ldap_directory: LdapDirectory) -> LdapDirectory:
        return ldap_directory

    @pytest.fixture
    def base(self, ldap_server: SlapdServer) -> str:
        return ldap_server.base_dn
