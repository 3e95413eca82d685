"""The flow contracts (welcome mail, reset, diagnosis) against the throwaway slapd."""

from __future__ import annotations

import pytest

from ecampus_idm.config import DirectorySettings
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.testing.flow_contract import (
    ActivationContract,
    DiagnosisContract,
    ResetFlowContract,
    WelcomeMailContract,
)
from ecampus_idm.testing.slapd import SlapdServer

pytestmark = pytest.mark.ldap


class _OnSlapd:
    """The OpenLDAP target: the session's slapd, its tree emptied after each test."""

    @pytest.fixture
    def flow_directory(self, ldap_directory: LdapDirectory) -> LdapDirectory:
        return ldap_directory

    @pytest.fixture
    def flow_directory_settings(self, ldap_server: SlapdServer) -> DirectorySettings:
        return ldap_server.settings()


class TestWelcomeMailOnOpenLdap(_OnSlapd, WelcomeMailContract):
    """Welcome mails of accounts created in OpenLDAP."""


class TestResetFlowOnOpenLdap(_OnSlapd, ResetFlowContract):
    """ "Mot de passe oublié" on OpenLDAP."""


class TestDiagnosisOnOpenLdap(_OnSlapd, DiagnosisContract):
    """Support diagnosis with OpenLDAP as the target."""


class TestActivationOnOpenLdap(_OnSlapd, ActivationContract):
    """Activation-link welcome mails on OpenLDAP."""
