"""The flow contracts (welcome mail, reset, diagnosis) against a throwaway Samba AD DC.

The domain controller is the session's (``ad_server``); ``ad_directory`` empties its
people and groups containers after each test. The only difference the contracts see: an
initial password is right but must be changed before use (bind result 773).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from ecampus_idm.config import DirectorySettings
from ecampus_idm.directory.active_directory import PasswordMustChangeError
from ecampus_idm.directory.base import Directory, Modification
from ecampus_idm.directory.ldap import ActiveDirectory
from ecampus_idm.testing.flow_contract import (
    ActivationContract,
    DiagnosisContract,
    ResetFlowContract,
    WelcomeMailContract,
)
from ecampus_idm.testing.samba import SambaServer

pytestmark = pytest.mark.integration


class _OnSambaAd:
    """The AD target: the session's Samba DC, its containers emptied after each test."""

    @pytest.fixture
    def flow_directory(self, ad_directory: ActiveDirectory) -> ActiveDirectory:
        return ad_directory

    @pytest.fixture
    def flow_directory_settings(self, ad_server: SambaServer) -> DirectorySettings:
        return ad_server.settings()

    @pytest.fixture
    def lockout_policy(self, ad_server: SambaServer) -> Iterator[None]:
        """The domain locks an account after 5 bad binds for this test (0 by default)."""
        admin = ad_server.connect()
        before = admin.get(ad_server.base_dn, ["lockoutThreshold"])
        threshold = (before.first("lockoutThreshold") if before else None) or "0"
        admin.modify(ad_server.base_dn, [Modification.replace("lockoutThreshold", "5")])
        try:
            yield
        finally:
            admin.modify(ad_server.base_dn, [Modification.replace("lockoutThreshold", threshold)])
            admin.close()

    def check_initial_password(self, directory: Directory, dn: str, password: SecretStr) -> None:
        """The initial password is right and must be changed first (AD 773)."""
        with pytest.raises(PasswordMustChangeError):
            directory.authenticate(dn, password)


class TestWelcomeMailOnSambaAd(_OnSambaAd, WelcomeMailContract):
    """Welcome mails of accounts created in Active Directory."""


class TestResetFlowOnSambaAd(_OnSambaAd, ResetFlowContract):
    """ "Mot de passe oublié" on Active Directory."""


class TestDiagnosisOnSambaAd(_OnSambaAd, DiagnosisContract):
    """Support diagnosis with Active Directory as the target."""


class TestActivationOnSambaAd(_OnSambaAd, ActivationContract):
    """Activation-link welcome mails on Active Directory."""
