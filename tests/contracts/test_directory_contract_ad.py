"""The Directory contract, run against a throwaway Samba AD domain controller."""

from __future__ import annotations

from typing import ClassVar

import pytest

from ecampus_idm.directory.base import Directory
from ecampus_idm.directory.ldap import ActiveDirectory
from ecampus_idm.testing.contracts import DirectoryContract
from ecampus_idm.testing.samba import SambaServer

pytestmark = pytest.mark.integration


class TestActiveDirectory(DirectoryContract):
    """The AD flavour of the ldap3 adapter honours the contract on Samba AD."""

    naming: ClassVar[str] = "cn"
    stamp: ClassVar[str] = "uSNChanged"
    stamp_is_operational: ClassVar[bool] = False
    multi_valued: ClassVar[str] = "departmentNumber"

    def person_entry(self, uid: str, **extra: str | list[str]) -> dict[str, str | list[str]]:
        """An enabled AD user that may have no password yet (PASSWD_NOTREQD, 544)."""
        attributes: dict[str, str | list[str]] = {
            "objectClass": "user",
            "uid": uid,
            "sn": "Test",
            "userAccountControl": "544",
        }
        attributes.update(extra)
        return attributes

    def check_password_storage(self, directory: Directory, dn: str, clear: str) -> None:
        """AD never returns ``unicodePwd`` (nor a ``userPassword`` holding it)."""
        entry = directory.get(dn, ["unicodePwd", "userPassword"])
        assert entry is not None
        assert "unicodepwd" not in entry
        assert all(clear not in v for v in entry.get("userPassword"))

    @pytest.fixture
    def directory(self, ad_directory: ActiveDirectory) -> ActiveDirectory:
        return ad_directory

    @pytest.fixture
    def base(self, ad_server: SambaServer) -> str:
        return ad_server.people_dn
