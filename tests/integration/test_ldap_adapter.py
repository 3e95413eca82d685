"""What only a real server can show: TLS, binds, errors, schema and overlays of slapd."""

from __future__ import annotations

import logging
import socket
import traceback

import pytest
from pydantic import SecretStr

from ecampus_idm.directory import Modification, open_directory
from ecampus_idm.directory.dn import build_dn
from ecampus_idm.directory.filters import eq
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.errors import (
    ConstraintViolationError,
    DirectoryBindError,
    DirectoryUnavailableError,
    SchemaViolationError,
)
from ecampus_idm.testing.slapd import SlapdServer, start_slapd

pytestmark = pytest.mark.ldap

CANARY = "Canary-Bind-Pw-4471"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _everything_said(error: BaseException) -> str:
    return repr(error) + str(error) + "".join(traceback.format_exception(error))


def test_ldaps_connection_reads(ldap_server: SlapdServer) -> None:
    """An ldaps:// connection with the server's CA reads the base entry."""
    with ldap_server.connect("ldaps") as directory:
        assert directory.get(ldap_server.base_dn) is not None


def test_plain_ldap_allowed_on_loopback_only(ldap_server: SlapdServer) -> None:
    """tls='none' works against 127.0.0.1 and is refused for a remote host."""
    with ldap_server.connect("none") as directory:
        assert directory.get(ldap_server.people_dn) is not None
    with pytest.raises(DirectoryUnavailableError, match="in clear"):
        LdapDirectory("ldap://ldap.example.be", "cn=x", SecretStr(CANARY), tls="none")


def test_untrusted_certificate_is_refused(ldap_server: SlapdServer) -> None:
    """With the system trust store (not the test CA), StartTLS fails as unavailable."""
    directory = LdapDirectory(ldap_server.url, ldap_server.admin_dn, ldap_server.admin_password)
    with pytest.raises(DirectoryUnavailableError) as caught:
        directory.check()
    assert ldap_server.url in str(caught.value)


def test_wrong_host_name_is_refused(ldap_server: SlapdServer) -> None:
    """The certificate names 127.0.0.1 and localhost; another name for the host fails."""
    port = ldap_server.url.rsplit(":", 1)[1]
    directory = LdapDirectory(
        f"ldap://127.0.0.2:{port}",
        ldap_server.admin_dn,
        ldap_server.admin_password,
        ca_file=ldap_server.ca_file,
        timeout=2,
    )
    with pytest.raises(DirectoryUnavailableError):
        directory.check()


def test_localhost_name_is_accepted(ldap_server: SlapdServer) -> None:
    """The DNS name in the certificate is checked too: localhost passes."""
    port = ldap_server.url.rsplit(":", 1)[1]
    with LdapDirectory(
        f"ldap://localhost:{port}",
        ldap_server.admin_dn,
        ldap_server.admin_password,
        ca_file=ldap_server.ca_file,
    ) as directory:
        directory.check()


def test_unreachable_directory_names_url_never_password() -> None:
    """Nobody listening: DirectoryUnavailableError with the URL and without the password."""
    url = f"ldap://127.0.0.1:{_free_port()}"
    directory = LdapDirectory(url, "cn=admin,dc=x", SecretStr(CANARY), timeout=2)
    with pytest.raises(DirectoryUnavailableError) as caught:
        directory.check()
    said = _everything_said(caught.value)
    assert url in str(caught.value)
    assert CANARY not in said


def test_wrong_bind_password_is_a_bind_error_without_the_password(
    ldap_server: SlapdServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused service bind is DirectoryBindError; the password is nowhere to be seen."""
    caplog.set_level(logging.DEBUG)
    directory = LdapDirectory(
        ldap_server.url, ldap_server.admin_dn, SecretStr(CANARY), ca_file=ldap_server.ca_file
    )
    with pytest.raises(DirectoryBindError) as caught:
        directory.check()
    said = _everything_said(caught.value) + repr(directory) + caplog.text
    assert ldap_server.url in str(caught.value)
    assert CANARY not in said


def test_settings_route_opens_the_same_directory(ldap_server: SlapdServer) -> None:
    """open_directory(settings) gives a working adapter with the settings' options."""
    settings = ldap_server.settings()
    with open_directory(settings) as directory:
        assert directory.url == ldap_server.url
        assert directory.get(ldap_server.groups_dn) is not None
    assert CANARY not in repr(settings)


def test_our_schema_is_loaded(ldap_directory: LdapDirectory, ldap_server: SlapdServer) -> None:
    """eduPerson, SCHAC and ecampusPerson attributes are accepted and searchable."""
    dn = build_dn("uid", "jean.dupont", ldap_server.people_dn)
    ldap_directory.add(
        dn,
        {
            "objectClass": [
                "inetOrgPerson",
                "eduPerson",
                "schacContactLocation",
                "schacLinkageIdentifiers",
                "ecampusPerson",
            ],
            "uid": "jean.dupont",
            "cn": "Jean Dupont",
            "sn": "Dupont",
            "eduPersonAffiliation": ["student", "member"],
            "eduPersonPrimaryAffiliation": "student",
            "eduPersonPrincipalName": "jean.dupont@ecampus.test",
            "eduPersonEntitlement": "urn:mace:ecampus.test:school:HEC-TOURNAI",
            "schacHomeOrganization": "ecampus.test",
            "schacPersonalUniqueCode": "urn:schac:personalUniqueCode:int:esi:ecampus.test:42",
            "ecampusManagedBy": "ecampus-idm",
            "ecampusPersonId": "p-000042",
            "ecampusPersonalMail": "jean.dupont@gmail.com",
            "ecampusSourceKey": ["secretariat-hec:000042"],
        },
    )
    found = list(
        ldap_directory.search(
            ldap_server.people_dn, eq("ecampusSourceKey", "secretariat-hec:000042")
        )
    )
    assert [e.first("uid") for e in found] == ["jean.dupont"]


def test_unknown_attribute_is_a_schema_violation(
    ldap_directory: LdapDirectory, ldap_server: SlapdServer
) -> None:
    """An attribute the schema does not know is refused with SchemaViolationError."""
    with pytest.raises(SchemaViolationError):
        ldap_directory.add(
            build_dn("uid", "x", ldap_server.people_dn),
            {"objectClass": "inetOrgPerson", "cn": "x", "sn": "x", "favouriteColour": "blue"},
        )


def test_ecampus_person_requires_the_ownership_marker(
    ldap_directory: LdapDirectory, ldap_server: SlapdServer
) -> None:
    """ecampusPerson inherits MUST ecampusManagedBy: an unmarked managed entry is refused."""
    with pytest.raises(SchemaViolationError):
        ldap_directory.add(
            build_dn("uid", "unmarked", ldap_server.people_dn),
            {"objectClass": ["inetOrgPerson", "ecampusPerson"], "cn": "u", "sn": "u"},
        )


def test_memberof_overlay_maintains_back_links(
    ldap_directory: LdapDirectory, ldap_server: SlapdServer
) -> None:
    """Adding a member to a groupOfNames shows up as memberOf on the person."""
    person = build_dn("uid", "member", ldap_server.people_dn)
    ldap_directory.add(person, {"objectClass": "inetOrgPerson", "cn": "m", "sn": "m"})
    group = build_dn("cn", "HEC-TOURNAI", ldap_server.groups_dn)
    ldap_directory.add(
        group, {"objectClass": "groupOfNames", "cn": "HEC-TOURNAI", "member": "cn=nobody"}
    )
    ldap_directory.modify(group, [Modification.add("member", person)])
    entry = ldap_directory.get(person, ["memberOf"])
    assert entry is not None
    assert entry.get("memberOf") == (group,)


def test_password_policy_applies_to_user_changes(
    ldap_directory: LdapDirectory, ldap_server: SlapdServer
) -> None:
    """ppolicy refuses a too-short password chosen by the user (ConstraintViolationError)."""
    dn = build_dn("uid", "short", ldap_server.people_dn)
    ldap_directory.add(dn, {"objectClass": "inetOrgPerson", "cn": "s", "sn": "s"})
    ldap_directory.set_password(dn, SecretStr("Initial-Password-2026"))
    with pytest.raises(ConstraintViolationError):
        ldap_directory.set_password(
            dn, SecretStr("short"), old_password=SecretStr("Initial-Password-2026")
        )


def test_server_stops_and_cleans_up() -> None:
    """A stopped server is not running and its own folder is gone."""
    server = start_slapd()
    workdir = server.workdir
    assert server.is_running()
    server.stop()
    assert not server.is_running()
    assert not workdir.exists()


def test_connection_recovers_after_server_restart_failure(ldap_server: SlapdServer) -> None:
    """After a network failure the next operation reconnects instead of failing forever."""
    directory = ldap_server.connect()
    directory.check()
    directory._connection.socket.close()  # simulate a dropped connection
    with pytest.raises(DirectoryUnavailableError):
        directory.get(ldap_server.base_dn)
    assert directory.get(ldap_server.base_dn) is not None
    directory.close()
