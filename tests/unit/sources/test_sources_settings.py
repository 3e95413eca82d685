"""Source configuration: profiles, connector entries, the pseudonym key, and the factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from sources_support import csv_bytes, student_row, write_export

from ecampus_idm.connectors import LdapSourceConnector, SqlConnector, open_connectors, open_ledger
from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.ledger import JsonExportLedger, MemoryExportLedger
from ecampus_idm.connectors.settings import (
    READY_PROFILES,
    CsvSourceSettings,
    LogicalField,
    SourceKind,
    SourceProfile,
    SourcesSettings,
    ready_profile,
)
from ecampus_idm.errors import ConfigError

KEY = "k" * 40


def sources(**changes: Any) -> SourcesSettings:
    """Return a valid sources section changed by ``changes``."""
    data: dict[str, Any] = {
        "pseudonym_key": KEY,
        "connectors": [
            {"name": "secretariat-hec", "type": "csv", "path": "he.csv", "profile": "secretariat"}
        ],
    }
    data.update(changes)
    return SourcesSettings.model_validate(data)


@pytest.mark.parametrize("name", READY_PROFILES)
def test_ready_profiles_load(name: str) -> None:
    """Every shipped profile is valid."""
    assert ready_profile(name).columns.matricule == "Matricule"


def test_ready_profiles_have_the_expected_kinds() -> None:
    """The secretariat profile reads students, the personnel profile reads staff."""
    assert ready_profile("secretariat").kind is SourceKind.STUDENT
    assert ready_profile("personnel").kind is SourceKind.STAFF
    assert ready_profile("personnel").columns.start == "Début attribution"


def test_unknown_ready_profile_is_a_config_error() -> None:
    """Asking for a profile that is not shipped names the ones that are."""
    with pytest.raises(ConfigError, match="secretariat"):
        ready_profile("nope")


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "student", "columns": {"matricule": "M", "family_name": "N", "given_name": "P"}},
        {
            "kind": "staff",
            "columns": {"matricule": "M", "family_name": "N", "given_name": "P", "school": "S"},
            "constants": {"school": "X"},
        },
        {
            "kind": "staff",
            "columns": {"matricule": "M", "family_name": "N", "given_name": "P"},
            "constants": {"national_number": "X"},
        },
        {
            "kind": "staff",
            "columns": {"matricule": "M", "family_name": "N", "given_name": "P"},
            "date_formats": ["%Y"],
        },
        {
            "kind": "staff",
            "columns": {"matricule": "M", "family_name": "N", "given_name": "P"},
            "constants": {"category": "Université"},
        },
        {
            "kind": "staff",
            "columns": {"matricule": "M", "family_name": "N", "given_name": "P"},
            "true_values": ["oui"],
            "false_values": ["OUI"],
        },
    ],
    ids=[
        "student-without-school",
        "mapped-and-constant",
        "identity-constant",
        "date-without-day",
        "unknown-category",
        "yes-and-no",
    ],
)
def test_incoherent_profiles_are_refused(data: dict[str, Any]) -> None:
    """A profile that could not validate rows correctly is refused up front."""
    with pytest.raises(ValidationError):
        SourceProfile.model_validate(data)


def test_column_overrides_apply_to_the_profile() -> None:
    """A connector may rename one column of its profile."""
    settings = sources(
        connectors=[
            {
                "name": "hec",
                "type": "csv",
                "path": "he.csv",
                "profile": "secretariat",
                "columns": {"department": "Orientation"},
            }
        ]
    )
    profile = settings.profile_for(settings.connectors[0])
    assert profile.columns.department == "Orientation"
    assert profile.columns.matricule == "Matricule"


def test_custom_profiles_are_found_by_name() -> None:
    """A profile defined in the section is used by name."""
    custom = {
        "kind": "staff",
        "columns": {"matricule": "id", "family_name": "sn", "given_name": "gn"},
    }
    settings = sources(
        profiles={"mine": custom},
        connectors=[{"name": "x", "type": "csv", "path": "x.csv", "profile": "mine"}],
    )
    assert settings.profile_for(settings.connectors[0]).columns.matricule == "id"


@pytest.mark.parametrize(
    "changes",
    [
        {"pseudonym_key": "short"},
        {"connectors": [{"name": "x", "type": "csv", "path": "x.csv", "profile": "unknown"}]},
        {
            "connectors": [
                {"name": "x", "type": "csv", "path": "x.csv", "profile": "secretariat"},
                {"name": "X", "type": "csv", "path": "y.csv", "profile": "secretariat"},
            ]
        },
        {
            "connectors": [
                {"name": "x", "type": "sql", "url": "sqlite:///x", "profile": "personnel"}
            ]
        },
        {
            "connectors": [
                {
                    "name": "x",
                    "type": "sql",
                    "url": "postgresql://u:pw@db/x",
                    "table": "t",
                    "profile": "personnel",
                }
            ]
        },
        {"connectors": [{"name": "x", "type": "ftp", "path": "x.csv", "profile": "secretariat"}]},
        {"unknown": 1},
    ],
    ids=[
        "short-key",
        "unknown-profile",
        "duplicate-names",
        "sql-without-query",
        "password-in-url",
        "bad-type",
        "unknown-key",
    ],
)
def test_bad_sections_are_refused(changes: dict[str, Any]) -> None:
    """Mistakes in the section are found when the configuration is read."""
    with pytest.raises(ValidationError):
        sources(**changes)


def test_key_never_appears_in_errors_or_reprs() -> None:
    """The pseudonym key is a secret: not in the repr, not in a validation error."""
    assert KEY not in repr(sources())
    with pytest.raises(ValidationError) as caught:
        sources(pseudonym_key="tooshort-secret")
    assert "tooshort-secret" not in str(caught.value)


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """Export and ledger paths are relative to the configuration file's folder."""
    settings = sources(ledger_path="var/ledger.json").resolve_paths(tmp_path)
    entry = settings.connectors[0]
    assert isinstance(entry, CsvSourceSettings)
    assert entry.path == tmp_path / "he.csv"
    assert settings.ledger_path == tmp_path / "var" / "ledger.json"


def test_open_connectors_builds_csv_connectors(tmp_path: Path) -> None:
    """The factory gives one connector per entry, with its profile and checks."""
    write_export(tmp_path / "he.csv", csv_bytes([student_row()]))
    settings = sources(
        connectors=[
            {
                "name": "hec",
                "type": "csv",
                "path": "he.csv",
                "profile": "secretariat",
                "checks": {"max_shrink_share": 0.1},
            }
        ]
    ).resolve_paths(tmp_path)
    with open_connectors(settings) as connectors:
        (connector,) = connectors
        assert isinstance(connector, CsvConnector)
        assert connector.checks.max_shrink_share == 0.1
        assert len(list(connector.read())) == 1


def test_open_ledger_follows_the_configuration(tmp_path: Path) -> None:
    """A ledger path gives a JSON ledger; none gives a memory ledger."""
    assert isinstance(open_ledger(sources()), MemoryExportLedger)
    assert isinstance(open_ledger(sources(ledger_path=str(tmp_path / "l.json"))), JsonExportLedger)


def test_profile_lookup_is_case_insensitive() -> None:
    """Yes/no words and codes in a profile are compared without case."""
    profile = SourceProfile.model_validate(
        {
            "kind": "staff",
            "columns": {"matricule": "M", "family_name": "N", "given_name": "P"},
            "category_codes": {"Haute École": "HE"},
        }
    )
    assert profile.category(" haute école ") is not None
    assert profile.category("sec") is not None
    assert LogicalField.CATEGORY not in profile.columns.mapped()


def test_settings_secret_type() -> None:
    """The key is held as a SecretStr."""
    assert isinstance(sources().pseudonym_key, SecretStr)


LDAP_ENTRY = {
    "name": "ad-ath",
    "type": "ldap",
    "url": "ldaps://ad.ath.example",
    "bind_dn": "cn=reader,dc=ath,dc=example",
    "bind_password": "Bind-Secret-1",
    "search_base": "ou=eleves,dc=ath,dc=example",
    "profile": "secretariat",
}


@pytest.mark.parametrize(
    "changes",
    [{"url": "http://ad"}, {"url": "ldap://user:pw@ad"}, {"bind_dn": "not a dn"}],
    ids=["not-ldap", "credentials-in-url", "bad-dn"],
)
def test_bad_directory_sources_are_refused(changes: dict[str, str]) -> None:
    """A directory source needs an ldap(s) URL without credentials and valid DNs."""
    with pytest.raises(ValidationError):
        sources(connectors=[{**LDAP_ENTRY, **changes}])


def test_open_connectors_builds_directory_and_database_sources(tmp_path: Path) -> None:
    """The factory makes a directory connector (no connection yet) and an SQL connector."""
    settings = sources(
        connectors=[
            LDAP_ENTRY,
            {
                "name": "gpe",
                "type": "sql",
                "url": f"sqlite:///{tmp_path}/x.db",
                "table": "t",
                "profile": "personnel",
            },
        ]
    )
    with open_connectors(settings) as connectors:
        ldap, sql = connectors
        assert isinstance(ldap, LdapSourceConnector)
        assert isinstance(sql, SqlConnector)
        assert "Bind-Secret-1" not in repr(ldap) + ldap.location
