"""The sync contract, run against a throwaway Samba AD domain controller.

People and groups are described in the AD profile's vocabulary (``user`` objects named
by ``CN``, ``userAccountControl`` 512/514, security groups), with the profile's own
target description and plan options.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from pydantic import SecretStr

from ecampus_idm.config import ActiveDirectorySettings
from ecampus_idm.directory.active_directory import (
    NEVER_EXPIRES,
    UAC_DISABLED,
    UAC_ENABLED,
    PasswordMustChangeError,
)
from ecampus_idm.directory.base import Directory
from ecampus_idm.directory.dn import build_dn
from ecampus_idm.directory.ldap import ActiveDirectory
from ecampus_idm.mapping.active_directory import ActiveDirectoryProfile
from ecampus_idm.sync import DesiredEntry, EntryKind, PlanOptions, Segment, TargetSpec
from ecampus_idm.testing.samba import SambaServer
from ecampus_idm.testing.sync_contract import SyncContract

pytestmark = pytest.mark.integration

_AD = ActiveDirectorySettings()
_OWNED = frozenset(
    {
        "objectclass",
        "cn",
        "samaccountname",
        "userprincipalname",
        "sn",
        "givenname",
        "mail",
        "useraccountcontrol",
        "accountexpires",
        _AD.marker_attribute.lower(),
        _AD.person_id_attribute.lower(),
    }
)


def _profile(base: str) -> ActiveDirectoryProfile:
    return ActiveDirectoryProfile(f"OU=people,{base}", f"OU=groups,{base}", "ecampus.test")


class TestSyncOnSambaAd(SyncContract):
    """The engine on Samba AD, with the AD profile's target description."""

    def make_person(
        self,
        base: str,
        key: str,
        uid: str,
        *,
        school: str = "HEC-TOURNAI",
        sn: str = "Dupont",
        enabled: bool = True,
    ) -> DesiredEntry:
        """A desired AD user as the AD profile lays it out."""
        attributes = {
            "objectClass": ("top", "person", "organizationalPerson", "user"),
            "cn": (uid,),
            "sAMAccountName": (uid,),
            "userPrincipalName": (f"{uid}@ecampus.test",),
            "sn": (sn,),
            "givenName": ("Jean",),
            "mail": (f"{uid}@ecampus.test",),
            "userAccountControl": (str(UAC_ENABLED if enabled else UAC_DISABLED),),
            "accountExpires": (str(NEVER_EXPIRES),),
            _AD.marker_attribute: ("ecampus-idm",),
            _AD.person_id_attribute: (key,),
        }
        return DesiredEntry(
            kind=EntryKind.PERSON,
            key=key,
            dn=build_dn("CN", uid, f"OU=people,{base}"),
            attributes=attributes,
            owned=_OWNED,
            enabled=enabled,
            segment=Segment("HE", school),
            initial_password=True,
        )

    def make_group(self, base: str, code: str, members: Iterable[DesiredEntry]) -> DesiredEntry:
        """A desired security group, from the AD profile itself."""
        return _profile(base).group(code, (m.dn for m in members))

    def unmanaged_entry(self, uid: str) -> dict[str, str | list[str]]:
        """A user someone else created (no marker)."""
        return {"objectClass": "user", "sAMAccountName": uid, "sn": "Local"}

    def check_initial_password(self, directory: Directory, dn: str, password: SecretStr) -> None:
        """The initial password is right and must be changed first (AD 773)."""
        with pytest.raises(PasswordMustChangeError):
            directory.authenticate(dn, password)

    def options(self, **overrides: Any) -> PlanOptions:
        """The AD profile's plan options (no placeholder member, UAC as status)."""
        defaults = _profile("DC=x").plan_options()
        return PlanOptions(
            status_attributes=defaults.status_attributes,
            placeholder_members=defaults.placeholder_members,
            **overrides,
        )

    @pytest.fixture
    def spec(self, base: str) -> TargetSpec:
        """The AD profile's target description."""
        return _profile(base).target()

    @pytest.fixture
    def directory(self, ad_directory: ActiveDirectory) -> ActiveDirectory:
        return ad_directory

    @pytest.fixture
    def base(self, ad_server: SambaServer) -> str:
        return ad_server.base_dn
