"""The SQL connector: people read from the source software's database (SQLAlchemy Core).

A source is a query (``SELECT ...``) or a table/view; the profile's columns are the
result's column names (case-insensitive). Rows are streamed (``stream_results`` and
``yield_per``), so memory stays flat whatever the table's size.

Trust: the rows are counted first, so that an empty or shrunk result is refused before
anything is yielded; they are counted again while streaming (a second connection) and
the batch is complete only if both counts agree. Values keep their type where it matters
(a ``DATE`` column gives a date); everything else becomes text. Store matricules as text:
an integer column has already lost its leading zeros.

SQLAlchemy's exceptions never escape: they become
:class:`~ecampus_idm.connectors.errors.SourceUnavailableError` with the URL rendered
without password.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine, column, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Select

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
from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.connectors.settings import ExportChecks, LogicalField, SourceProfile

__all__ = ["SqlConnector"]

_ENCODING = "unicode"


class SqlConnector:
    """Read one source from a database query or table.

    Args:
        source: The configured name of the source.
        engine: The SQLAlchemy engine (use :meth:`from_url` to make one).
        profile: How the result's columns map to fields.
        query: A ``SELECT`` statement; exactly one of ``query`` and ``table``.
        table: A table or view name.
        schema: The table's schema, when not the default.
        checks: Thresholds of the whole-export checks.
        fetch_size: Rows fetched per round trip.
        owns_engine: Whether :meth:`close` disposes of the engine.

    Raises:
        ValueError: If not exactly one of ``query`` and ``table`` is given.
    """

    def __init__(
        self,
        source: str,
        engine: Engine,
        profile: SourceProfile,
        *,
        query: str | None = None,
        table: str | None = None,
        schema: str | None = None,
        checks: ExportChecks | None = None,
        fetch_size: int = 1000,
        owns_engine: bool = False,
    ) -> None:
        if (query is None) == (table is None):
            raise ValueError("give exactly one of query and table")
        self._source = source
        self._engine = engine
        self._profile = profile
        self._query = query
        self._table = table
        self._schema = schema
        self._checks = checks or ExportChecks()
        self._fetch_size = fetch_size
        self._owns_engine = owns_engine
        self.location = engine.url.render_as_string(hide_password=True) + (
            f"#{schema + '.' if schema else ''}{table}" if table else "#query"
        )

    @classmethod
    def from_url(
        cls,
        source: str,
        url: str,
        profile: SourceProfile,
        *,
        password: SecretStr | None = None,
        query: str | None = None,
        table: str | None = None,
        schema: str | None = None,
        checks: ExportChecks | None = None,
        fetch_size: int = 1000,
    ) -> SqlConnector:
        """Return a connector with its own engine (no pool: one connection per read).

        Raises:
            SourceUnavailableError: If the URL is invalid or its driver is missing.
        """
        try:
            parsed = make_url(url)
            if password is not None:
                parsed = parsed.set(password=password.get_secret_value())
            engine = create_engine(parsed, poolclass=NullPool)
        except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
            shown = url.split("://", 1)[0] + "://..."
            raise SourceUnavailableError(source, shown, f"unusable database URL ({exc})") from exc
        return cls(
            source,
            engine,
            profile,
            query=query,
            table=table,
            schema=schema,
            checks=checks,
            fetch_size=fetch_size,
            owns_engine=True,
        )

    @property
    def source(self) -> str:
        """The configured name of the source."""
        return self._source

    @property
    def profile(self) -> SourceProfile:
        """The profile the result is read through."""
        return self._profile

    @property
    def checks(self) -> ExportChecks:
        """The thresholds of the whole-export checks."""
        return self._checks

    def close(self) -> None:
        """Dispose of the engine if this connector made it."""
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> SqlConnector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlConnector({self.source!r}, {self.location!r})"

    def read(
        self, ledger: ExportLedger | None = None, *, allow: Collection[RefusalReason] = ()
    ) -> SourceBatch:
        """Check the column names and the row count, then return a streaming batch.

        Raises:
            SourceUnavailableError: If the database cannot be read.
            ExportRefusedError: If a column is missing, or the result is empty or shrank.
        """
        previous = ledger.last_accepted(self.source) if ledger is not None else None
        try:
            with self._engine.connect() as connection:
                statement, columns = self._statement(connection)
                counting = select(func.count()).select_from(statement.subquery("counted"))
                count = connection.execute(counting).scalar_one()
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc
        planned = ExportFacts(
            source=self.source,
            path=self.location,
            rows=int(count),
            columns=columns,
            encoding=_ENCODING,
            fingerprint="",
        )
        check_export(planned, previous, self._checks, allow)
        return SourceBatch(self.source, self.location, columns, self._rows(statement, planned))

    # -- internals -----------------------------------------------------------------------

    def _unavailable(self, exc: SQLAlchemyError) -> SourceUnavailableError:
        # The driver's message, first line only: SQLAlchemy appends the statement.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return SourceUnavailableError(self.source, self.location, f"{type(exc).__name__}: {reason}")

    def _refuse(self, reason: RefusalReason, detail: str) -> ExportRefusedError:
        return ExportRefusedError(self.source, self.location, reason, detail)

    def _statement(self, connection: Connection) -> tuple[Select[Any], tuple[str, ...]]:
        """Return the statement reading the mapped columns, and the columns found."""
        if self._table is not None:
            found = tuple(
                str(column["name"])
                for column in inspect(connection).get_columns(self._table, schema=self._schema)
            )
        else:
            result = connection.execute(text(self._query or ""))
            found = tuple(result.keys())
            result.close()
        folded = {name.casefold(): name for name in found}
        mapped = self._profile.columns.mapped()
        missing = [column for column in mapped.values() if column.casefold() not in folded]
        if missing:
            raise self._refuse(
                RefusalReason.MISSING_COLUMNS,
                f"missing column(s) {', '.join(repr(c) for c in missing)}; "
                f"the result has {len(found)} columns",
            )
        names = [folded[column.casefold()] for column in mapped.values()]
        if self._table is not None:
            source = table(self._table, *(column(name) for name in found), schema=self._schema)
            statement: Select[Any] = select(*(source.c[name] for name in names))
        else:
            textual = text(self._query or "").columns(*(column(name) for name in found))
            query = textual.subquery("source")
            statement = select(*(query.c[name] for name in names))
        return statement, found

    def _rows(self, statement: Select[Any], planned: ExportFacts) -> RowStream:
        """Stream the rows (a second connection), then check the count is unchanged."""
        fields = list(self._profile.columns.mapped())
        hasher = hashlib.sha256()
        count = 0
        try:
            with self._engine.connect() as connection:
                result = connection.execution_options(
                    stream_results=True, yield_per=self._fetch_size
                ).execute(statement)
                for row in result:
                    count += 1
                    hasher.update(repr(tuple(row)).encode("utf-8", "surrogatepass"))
                    yield self._record(fields, tuple(row), count)
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from exc
        if count != planned.rows:
            raise self._refuse(
                RefusalReason.CHANGED_DURING_READ,
                f"{count} rows read, {planned.rows} counted: the data changed during the read",
            )
        return planned.model_copy(update={"fingerprint": hasher.hexdigest()})

    def _record(
        self, fields: list[LogicalField], row: tuple[Any, ...], number: int
    ) -> SourceRecord | RowIssue:
        values: dict[LogicalField, SourceValue] = {}
        for logical, value in zip(fields, row, strict=True):
            converted = _convert(value)
            if converted is None:
                return RowIssue.of(
                    IssueCode.UNDECODABLE_VALUE,
                    source=self.source,
                    path=self.location,
                    line=number,
                    field=str(logical),
                    column=self._profile.columns.mapped()[logical],
                )
            values[logical] = converted
        return SourceRecord(self.source, self.location, number, values)


def _convert(value: object) -> SourceValue | None:  # noqa: PLR0911 - one return per type
    """Return a database value as text or date; ``None`` when it is not readable text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(value)
