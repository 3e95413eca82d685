"""The connectors and identity packages as users see them: public API and light imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ecampus_idm.connectors
import ecampus_idm.identity


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_connectors_api_is_pinned() -> None:
    """The names exported by ecampus_idm.connectors are exactly the documented ones."""
    assert sorted(ecampus_idm.connectors.__all__) == sorted(
        [
            "READY_PROFILES",
            "ColumnMap",
            "Connector",
            "CsvConnector",
            "CsvSourceSettings",
            "ExportChecks",
            "ExportFacts",
            "ExportLedger",
            "ExportRefusedError",
            "IncompleteBatchError",
            "IssueCode",
            "JsonExportLedger",
            "LdapSourceConnector",
            "LdapSourceSettings",
            "LedgerError",
            "LogicalField",
            "MemoryExportLedger",
            "QuarantineReport",
            "RefusalReason",
            "RowIssue",
            "SampleError",
            "SampleSummary",
            "SourceBatch",
            "SourceError",
            "SourceKind",
            "SourceProfile",
            "SourceRecord",
            "SourceUnavailableError",
            "SourceValue",
            "SourcesSettings",
            "SqlConnector",
            "SqlSourceSettings",
            "check_export",
            "open_connector",
            "open_connectors",
            "open_ledger",
            "person_filter",
            "ready_profile",
            "write_sample",
        ]
    )
    for name in ecampus_idm.connectors.__all__:
        assert hasattr(ecampus_idm.connectors, name)


def test_identity_api_is_pinned() -> None:
    """The names exported by ecampus_idm.identity are exactly the documented ones."""
    assert sorted(ecampus_idm.identity.__all__) == [
        "Correlation",
        "Correlator",
        "IdentityIndex",
        "MemoryIdentityIndex",
        "NissCheck",
        "NissProblem",
        "PersonBuildError",
        "Population",
        "Pseudonymiser",
        "RecordValidator",
        "ReviewItem",
        "ReviewKind",
        "ValidRecord",
        "check_national_number",
        "contains_national_number",
        "load_population",
    ]
    for name in ecampus_idm.identity.__all__:
        assert hasattr(ecampus_idm.identity, name)


def test_unknown_attribute_is_an_attribute_error() -> None:
    """The lazy attribute hook answers only for SqlConnector."""
    with pytest.raises(AttributeError):
        _ = ecampus_idm.connectors.NoSuchThing  # type: ignore[attr-defined]  # what is tested


@pytest.mark.parametrize(
    "statement",
    ["import ecampus_idm.connectors", "import ecampus_idm.identity"],
    ids=["connectors", "identity"],
)
def test_source_packages_load_no_ldap_client_and_no_sqlalchemy(statement: str) -> None:
    """Reading CSV exports loads neither ldap3 nor SQLAlchemy."""
    loaded = _modules_after(statement)
    assert "ldap3" not in loaded
    assert "sqlalchemy" not in loaded


def test_sql_connector_loads_sqlalchemy_on_demand() -> None:
    """The check above can fail: asking for SqlConnector does load SQLAlchemy."""
    assert "sqlalchemy" in _modules_after("from ecampus_idm.connectors import SqlConnector")


def test_only_the_directory_adapter_imports_ldap3() -> None:
    """The directory source connector reads through the port and never imports ldap3."""
    assert "ldap3" not in _modules_after("import ecampus_idm.connectors.ldap_source")
