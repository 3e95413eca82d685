"""The directory connector: people read from another directory, through the Directory port.

Some schools keep their people in a directory of their own (a secondary school's AD, a
former OpenLDAP). This connector reads one through
:class:`~ecampus_idm.directory.base.Directory` (a paged snapshot search), so it works the
same against the in-memory twin and a real server, and never imports an LDAP client
itself. The profile's columns are attribute names; a multi-valued attribute gives its
first value.

Trust: a search cannot be counted before it is read, so the checks run at the end. The
batch is complete only then; an attribute the profile maps that no entry carries counts
as a missing column (a renamed attribute must not look like people without a name).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping

from ecampus_idm.connectors.base import (
    ExportFacts,
    ExportLedger,
    RowStream,
    SourceBatch,
    SourceRecord,
    SourceValue,
    check_export,
)
from ecampus_idm.connectors.errors import (
    ExportRefusedError,
    RefusalReason,
    SourceUnavailableError,
)
from ecampus_idm.connectors.settings import ExportChecks, LogicalField, SourceProfile
from ecampus_idm.directory.base import Directory, Scope
from ecampus_idm.directory.filters import Filter, eq
from ecampus_idm.errors import DirectoryError

__all__ = ["LdapSourceConnector", "person_filter"]

_ENCODING = "unicode"


def person_filter(object_class: str, where: Mapping[str, str] | None = None) -> Filter:
    """Return the filter of person entries: an object class and equality conditions."""
    result: Filter = eq("objectClass", object_class)
    for attribute, value in sorted((where or {}).items()):
        result = result & eq(attribute, value)
    return result


class LdapSourceConnector:
    """Read one source from a directory.

    Args:
        source: The configured name of the source.
        directory: The directory to read (any :class:`~ecampus_idm.directory.base.Directory`).
        base_dn: Where the people are.
        profile: Attribute names for each field.
        search_filter: Which entries are people; every entry under ``base_dn`` when None.
        checks: Thresholds of the whole-export checks.
        page_size: Search page size.
        owns_directory: Whether :meth:`close` closes the directory.
    """

    def __init__(
        self,
        source: str,
        directory: Directory,
        base_dn: str,
        profile: SourceProfile,
        *,
        search_filter: Filter | None = None,
        checks: ExportChecks | None = None,
        page_size: int | None = None,
        owns_directory: bool = False,
    ) -> None:
        self._source = source
        self._owns_directory = owns_directory
        self._directory = directory
        self._base_dn = base_dn
        self._profile = profile
        self._filter = search_filter
        self._checks = checks or ExportChecks()
        self._page_size = page_size
        self.location = f"{directory.url}/{base_dn}"

    @property
    def source(self) -> str:
        """The configured name of the source."""
        return self._source

    @property
    def profile(self) -> SourceProfile:
        """The profile the entries are read through."""
        return self._profile

    @property
    def checks(self) -> ExportChecks:
        """The thresholds of the whole-export checks."""
        return self._checks

    def close(self) -> None:
        """Close the directory if this connector opened it."""
        if self._owns_directory:
            self._directory.close()

    def __repr__(self) -> str:
        return f"LdapSourceConnector({self.source!r}, {self.location!r})"

    def read(
        self, ledger: ExportLedger | None = None, *, allow: Collection[RefusalReason] = ()
    ) -> SourceBatch:
        """Return a batch that searches the directory as it is read.

        The checks (missing attributes, empty, shrink) run when the search is exhausted;
        nothing is trusted before.
        """
        previous = ledger.last_accepted(self.source) if ledger is not None else None
        columns = tuple(self._profile.columns.mapped().values())
        return SourceBatch(
            self.source, self.location, columns, self._rows(previous, allow, columns)
        )

    def _rows(
        self,
        previous: ExportFacts | None,
        allow: Collection[RefusalReason],
        columns: tuple[str, ...],
    ) -> RowStream:
        mapped = self._profile.columns.mapped()
        wanted = sorted({attribute.lower() for attribute in mapped.values()})
        seen: set[str] = set()
        hasher = hashlib.sha256()
        count = 0
        try:
            entries = self._directory.search(
                self._base_dn,
                self._filter,
                scope=Scope.SUBTREE,
                attributes=wanted,
                page_size=self._page_size,
            )
            for entry in entries:
                if entry.dn.lower() == self._base_dn.lower():
                    continue
                count += 1
                values: dict[LogicalField, SourceValue] = {}
                for logical, attribute in mapped.items():
                    value = entry.first(attribute)
                    if value is not None:
                        seen.add(attribute.lower())
                        values[logical] = value
                hasher.update(repr((entry.dn, sorted(values.items()))).encode("utf-8", "replace"))
                yield SourceRecord(self.source, entry.dn, count, values)
        except DirectoryError as exc:
            raise SourceUnavailableError(self.source, self.location, str(exc)) from exc
        if count:
            absent = [attribute for attribute in mapped.values() if attribute.lower() not in seen]
            if absent and RefusalReason.MISSING_COLUMNS not in allow:
                raise ExportRefusedError(
                    self.source,
                    self.location,
                    RefusalReason.MISSING_COLUMNS,
                    f"no entry has the attribute(s) {', '.join(repr(a) for a in absent)} "
                    "(renamed in the directory, or not readable by this account?)",
                )
        facts = ExportFacts(
            source=self.source,
            path=self.location,
            rows=count,
            columns=columns,
            encoding=_ENCODING,
            fingerprint=hasher.hexdigest(),
        )
        check_export(facts, previous, self._checks, allow)
        return facts
