"""The Connector port: how people are read from a source, and when a read can be trusted.

A connector (CSV export, SQL query, another directory) turns one source into a
:class:`SourceBatch`: a single-use stream of :class:`SourceRecord` values (a row's
mapped fields, still as text) and of :class:`~ecampus_idm.connectors.quarantine.RowIssue`
values (rows that cannot even be mapped). Typing and validating the fields is the job
of :mod:`ecampus_idm.identity`.

Trust comes last. A batch is *complete* only when it was read to the end and passed
the whole-export checks (:func:`check_export`: not empty, no shrink beyond the configured
share, no encoding change against the last accepted export recorded in the
:class:`ExportLedger`). Until then, whatever it yielded is provisional: a consumer keeps
it aside and drops it if iteration ends with an
:class:`~ecampus_idm.connectors.errors.ExportRefusedError`. The CSV connector runs the
checks before yielding anything; the SQL connector counts first and checks again at
the end; the directory connector can only check at the end.
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Iterator, Mapping
from datetime import date
from typing import NamedTuple, Protocol, runtime_checkable

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ecampus_idm.connectors.errors import (
    ExportRefusedError,
    IncompleteBatchError,
    RefusalReason,
)
from ecampus_idm.connectors.quarantine import RowIssue
from ecampus_idm.connectors.settings import ExportChecks, LogicalField, SourceProfile

__all__ = [
    "ASCII",
    "Connector",
    "ExportFacts",
    "ExportLedger",
    "SourceBatch",
    "SourceRecord",
    "SourceValue",
    "check_export",
    "encodings_compatible",
]

SourceValue = str | date
"""A field as a source gives it: text (CSV, LDAP) or a date (SQL date columns)."""

ASCII = "ascii"
"""The encoding recorded for a file whose bytes are all ASCII: compatible with any."""

_HIDDEN_FIELDS = frozenset({LogicalField.NATIONAL_NUMBER})


class SourceRecord(NamedTuple):
    """One row of a source, its mapped fields still as the source gave them.

    A named tuple rather than a frozen dataclass: one is made per row, and a frozen
    dataclass costs ten times as much to build.

    Attributes:
        source: The configured name of the source.
        path: The file, table or directory entry the row came from.
        line: The line where the row starts (1 is the header), or the row number.
        values: Logical field to value; a field with no value is absent or ``""``.
    """

    source: str
    path: str
    line: int
    values: Mapping[LogicalField, SourceValue]

    def text(self, field: LogicalField) -> str:
        """Return the value of ``field`` as stripped text (``""`` when absent)."""
        value = self.values.get(field, "")
        return value.strip() if isinstance(value, str) else value.isoformat()

    def __repr__(self) -> str:
        # The national number is in clear here, for a moment: never in a repr.
        shown = {str(k): ("<hidden>" if k in _HIDDEN_FIELDS else v) for k, v in self.values.items()}
        return f"SourceRecord({self.source!r}, {self.path!r}, line={self.line}, {shown!r})"


class ExportFacts(BaseModel):
    """What is known of one export once it was read: recorded when it is accepted.

    Attributes:
        source: The configured name of the source.
        path: The file, table or directory read.
        rows: The number of data rows (blank lines excluded).
        columns: The columns of the header (or the mapped attributes) as found.
        encoding: ``utf-8``, ``utf-8-sig``, ``cp1252``, ``ascii`` (compatible with any),
            or ``unicode`` for sources that deliver text (SQL, LDAP).
        fingerprint: SHA-256 of the bytes read (or of the rows, for SQL and LDAP).
        accepted_at: When the export was accepted, once it is.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    path: str
    rows: int = Field(ge=0)
    columns: tuple[str, ...] = ()
    encoding: str
    fingerprint: str
    accepted_at: AwareDatetime | None = None


@runtime_checkable
class ExportLedger(Protocol):
    """The last accepted export of each source, to compare the next one against."""

    def last_accepted(self, source: str) -> ExportFacts | None:
        """Return the facts of the last accepted export of ``source``, if any."""
        ...

    def record_accepted(self, facts: ExportFacts) -> None:
        """Remember ``facts`` as the last accepted export of ``facts.source``."""
        ...


def encodings_compatible(previous: str, current: str) -> bool:
    """Return whether an export in ``current`` may follow one in ``previous``.

    Pure ASCII is compatible with everything (a file without accents says nothing about
    the encoding); a BOM does not change the encoding (``utf-8-sig`` is ``utf-8``).
    """
    if ASCII in (previous, current):
        return True
    return previous.removesuffix("-sig") == current.removesuffix("-sig")


def check_export(
    facts: ExportFacts,
    previous: ExportFacts | None,
    checks: ExportChecks,
    allow: Collection[RefusalReason] = (),
) -> None:
    """Refuse an export that is empty, shrank too much or changed encoding.

    Args:
        facts: The export just read.
        previous: The last accepted export of the same source, if any.
        checks: The thresholds configured for the source.
        allow: Reasons an operator explicitly accepts for this run (a known shrink at
            the end of the year, a new export software).

    Raises:
        ExportRefusedError: If a check fails and its reason is not allowed.
    """

    def refuse(reason: RefusalReason, detail: str) -> None:
        if reason not in allow:
            raise ExportRefusedError(facts.source, facts.path, reason, detail)

    if facts.rows == 0:
        refuse(RefusalReason.EMPTY, "the export has no data row")
    if previous is None:
        return
    if checks.refuse_encoding_change and not encodings_compatible(
        previous.encoding, facts.encoding
    ):
        refuse(
            RefusalReason.ENCODING_CHANGED,
            f"encoded as {facts.encoding}, the last accepted export was {previous.encoding}",
        )
    floor = previous.rows * (1 - checks.max_shrink_share)
    if facts.rows < floor:
        lost = 1 - facts.rows / previous.rows
        refuse(
            RefusalReason.SHRANK,
            f"{facts.rows} rows against {previous.rows} in the last accepted export "
            f"({lost:.0%} fewer; at most {checks.max_shrink_share:.0%} allowed)",
        )


RowStream = Generator[SourceRecord | RowIssue, None, ExportFacts]
"""What a connector hands to a batch: rows, then the export's facts as return value."""


class SourceBatch:
    """One read of one source: a single-use stream of records and row issues.

    Iterate it once. When the iteration ends normally, the export passed every check
    and :attr:`facts` is available; if it ends with an
    :class:`~ecampus_idm.connectors.errors.ExportRefusedError` (or any
    :class:`~ecampus_idm.connectors.errors.SourceError`), nothing it yielded may be used.

    Args:
        source: The configured name of the source.
        path: The file, table or directory read.
        columns: The columns found (header, result columns, mapped attributes).
        rows: A generator of rows that returns the export's facts when exhausted.
    """

    def __init__(self, source: str, path: str, columns: tuple[str, ...], rows: RowStream) -> None:
        self.source = source
        self.path = path
        self.columns = columns
        self._rows = rows
        self._started = False
        self._facts: ExportFacts | None = None

    def __iter__(self) -> Iterator[SourceRecord | RowIssue]:
        if self._started:
            raise IncompleteBatchError(self.source, self.path, "a batch can be read only once")
        self._started = True
        self._facts = yield from self._rows

    def close(self) -> None:
        """Stop reading early and release the file or connection; the batch stays incomplete."""
        self._started = True
        self._rows.close()

    @property
    def complete(self) -> bool:
        """Whether every row was read and the export passed its checks."""
        return self._facts is not None

    @property
    def facts(self) -> ExportFacts:
        """The facts of the export, once complete.

        Raises:
            IncompleteBatchError: If the batch was not read to the end.
        """
        if self._facts is None:
            raise IncompleteBatchError(self.source, self.path, "not read to the end yet")
        return self._facts

    def __repr__(self) -> str:
        state = "complete" if self.complete else ("reading" if self._started else "new")
        return f"SourceBatch({self.source!r}, {self.path!r}, {state})"


@runtime_checkable
class Connector(Protocol):
    """A source of people: a CSV export, a database query, another directory."""

    @property
    def source(self) -> str:
        """The configured name of the source (``secretariat-hec``)."""
        ...

    @property
    def profile(self) -> SourceProfile:
        """How the source's columns map to fields, and how its values are written."""
        ...

    @property
    def checks(self) -> ExportChecks:
        """The thresholds of the source's whole-export checks."""
        ...

    def read(
        self, ledger: ExportLedger | None = None, *, allow: Collection[RefusalReason] = ()
    ) -> SourceBatch:
        """Open the source and return a batch to iterate once.

        Args:
            ledger: The last accepted exports, for the shrink and encoding checks; without
                it only the structural checks run.
            allow: Refusal reasons the operator accepts for this run.

        Raises:
            SourceUnavailableError: If the source cannot be read.
            ExportRefusedError: If a check can already fail before any row is read.
        """
        ...
