"""Sources: read people from the exports, databases and directories of other software.

The port is :class:`Connector` (in :mod:`~ecampus_idm.connectors.base`): a source read
once gives a :class:`SourceBatch` of :class:`SourceRecord` values and
:class:`RowIssue` values, trusted only once complete. Implementations:
:class:`CsvConnector` (secretariat and personnel-office exports),
:class:`SqlConnector` (SQLAlchemy Core; imported on first use) and
:class:`LdapSourceConnector` (another directory, through the Directory port). Column
mappings are :class:`SourceProfile` values (ready ones: :func:`ready_profile`); the whole
section of configuration is :class:`SourcesSettings`. :func:`write_sample` writes
synthetic exports. Validation and correlation are in :mod:`ecampus_idm.identity`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecampus_idm.connectors.base import (
    Connector,
    ExportFacts,
    ExportLedger,
    SourceBatch,
    SourceRecord,
    SourceValue,
    check_export,
)
from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.errors import (
    ExportRefusedError,
    IncompleteBatchError,
    LedgerError,
    RefusalReason,
    SourceError,
    SourceUnavailableError,
)
from ecampus_idm.connectors.factory import open_connector, open_connectors, open_ledger
from ecampus_idm.connectors.ldap_source import LdapSourceConnector, person_filter
from ecampus_idm.connectors.ledger import JsonExportLedger, MemoryExportLedger
from ecampus_idm.connectors.quarantine import IssueCode, QuarantineReport, RowIssue
from ecampus_idm.connectors.sample import SampleError, SampleSummary, write_sample
from ecampus_idm.connectors.settings import (
    READY_PROFILES,
    ColumnMap,
    CsvSourceSettings,
    ExportChecks,
    LdapSourceSettings,
    LogicalField,
    SourceKind,
    SourceProfile,
    SourcesSettings,
    SqlSourceSettings,
    ready_profile,
)

if TYPE_CHECKING:
    from ecampus_idm.connectors.sql import SqlConnector

__all__ = [
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


def __getattr__(name: str) -> Any:
    # SQLAlchemy is loaded only by those who read a database.
    if name == "SqlConnector":
        from ecampus_idm.connectors.sql import SqlConnector  # noqa: PLC0415 - loaded on demand

        return SqlConnector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
