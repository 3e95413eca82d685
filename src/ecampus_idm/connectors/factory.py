"""From configuration to connectors: what the runner calls to read the sources.

The SQL connector (SQLAlchemy) and the LDAP adapter (ldap3) are imported only when a
source of that type is configured, so that importing :mod:`ecampus_idm.connectors`
stays light.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ecampus_idm.connectors.base import Connector, ExportLedger
from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.ledger import JsonExportLedger, MemoryExportLedger
from ecampus_idm.connectors.settings import (
    CsvSourceSettings,
    LdapSourceSettings,
    SourceProfile,
    SourcesSettings,
    SqlSourceSettings,
)

__all__ = ["open_connector", "open_connectors", "open_ledger"]


def open_connector(
    entry: CsvSourceSettings | SqlSourceSettings | LdapSourceSettings, profile: SourceProfile
) -> Connector:
    """Return the connector of one configured source.

    Args:
        entry: The source's configuration.
        profile: Its profile, overrides applied (:meth:`SourcesSettings.profile_for`).

    Raises:
        SourceUnavailableError: If a database URL is unusable.
    """
    if isinstance(entry, CsvSourceSettings):
        return CsvConnector(entry.name, entry.path, profile, checks=entry.checks)
    if isinstance(entry, SqlSourceSettings):
        from ecampus_idm.connectors.sql import SqlConnector  # noqa: PLC0415 - SQLAlchemy when used

        return SqlConnector.from_url(
            entry.name,
            entry.url,
            profile,
            password=entry.password,
            query=entry.query,
            table=entry.table,
            schema=entry.schema_name,
            checks=entry.checks,
            fetch_size=entry.fetch_size,
        )
    from ecampus_idm.connectors.ldap_source import (  # noqa: PLC0415 - ldap3 when used
        LdapSourceConnector,
        person_filter,
    )
    from ecampus_idm.directory.ldap import LdapDirectory  # noqa: PLC0415 - loaded on demand

    directory = LdapDirectory(
        entry.url,
        entry.bind_dn,
        entry.bind_password,
        tls=entry.tls,
        ca_file=entry.ca_file,
        timeout=entry.timeout_seconds,
        page_size=entry.page_size,
    )
    return LdapSourceConnector(
        entry.name,
        directory,
        entry.search_base,
        profile,
        search_filter=person_filter(entry.object_class, entry.where),
        checks=entry.checks,
        owns_directory=True,
    )


@contextmanager
def open_connectors(sources: SourcesSettings) -> Iterator[list[Connector]]:
    """Open every configured source, in order of precedence; close them on exit.

    Example:
        >>> with open_connectors(settings.sources) as connectors:  # doctest: +SKIP
        ...     population = load_population(connectors, ...)
    """
    with ExitStack() as stack:
        connectors: list[Connector] = []
        for entry in sources.connectors:
            connector = open_connector(entry, sources.profile_for(entry))
            close = getattr(connector, "close", None)
            if callable(close):
                stack.callback(close)
            connectors.append(connector)
        yield connectors


def open_ledger(sources: SourcesSettings) -> ExportLedger:
    """Return the configured ledger: a JSON file, or memory when no path is set."""
    if sources.ledger_path is None:
        return MemoryExportLedger()
    return JsonExportLedger(sources.ledger_path)
