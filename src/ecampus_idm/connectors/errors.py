"""The errors of the source connectors: exports refused as a whole, sources unreachable.

A bad *row* is not an error: it becomes a :class:`~ecampus_idm.connectors.quarantine.RowIssue`
in the quarantine report and the run goes on. The exceptions here are about a whole
source, and each one means "do not trust this source today":

    IdmError
    └── SourceError                      source, path
        ├── SourceUnavailableError       the file, database or directory cannot be read (reason)
        ├── ExportRefusedError           the export failed a whole-file check (reason, detail)
        ├── LedgerError                  the ledger of accepted exports is unreadable
        └── IncompleteBatchError         a batch's facts were asked before it was read to the end

Messages never contain a value read from a row: a national number typed into the wrong
column must not end up in a log line through an exception.
"""

from __future__ import annotations

from enum import StrEnum

from ecampus_idm.errors import IdmError

__all__ = [
    "ExportRefusedError",
    "IncompleteBatchError",
    "LedgerError",
    "RefusalReason",
    "SourceError",
    "SourceUnavailableError",
]


class RefusalReason(StrEnum):
    """Why an export was refused as a whole."""

    EMPTY = "empty"
    """No data row at all (a header alone, or nothing)."""
    MISSING_COLUMNS = "missing-columns"
    """A column the profile maps is not in the header (missing or renamed)."""
    DUPLICATE_COLUMNS = "duplicate-columns"
    """A column the profile maps appears twice in the header."""
    INVALID_ENCODING = "invalid-encoding"
    """Bytes that are neither UTF-8 nor cp1252 (or not the pinned encoding)."""
    MIXED_ENCODING = "mixed-encoding"
    """UTF-8 sequences and non-UTF-8 bytes in the same file."""
    UNSUPPORTED_ENCODING = "unsupported-encoding"
    """UTF-16 or UTF-32: a byte-order mark, or NUL bytes in every other byte."""
    BINARY = "binary"
    """Not a text export: a ZIP (xlsx), PDF, OLE2 (xls)... file, or too many control bytes."""
    ENCODING_CHANGED = "encoding-changed"
    """The encoding differs from the last accepted export of the source."""
    SHRANK = "shrank"
    """Fewer rows than the last accepted export, beyond the configured share."""
    TRUNCATED = "truncated"
    """The file ends in the middle of a row or of a character."""
    MALFORMED = "malformed"
    """The CSV structure cannot be read (e.g. a field beyond the size limit)."""
    CHANGED_DURING_READ = "changed-during-read"
    """The export changed while it was being read."""
    TOO_MANY_REJECTED = "too-many-rejected"
    """More rows were quarantined than the configured share."""


class SourceError(IdmError):
    """A source as a whole cannot be used for this run.

    Attributes:
        source: The configured name of the source.
        path: The file, table or directory read (never with credentials).
    """

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        super().__init__(message)


class SourceUnavailableError(SourceError):
    """The file, database or directory behind a source cannot be read.

    Attributes:
        reason: A short technical reason (file not found, connection refused...).
    """

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.reason = reason
        super().__init__(source, path, f"source {source!r} cannot be read from {path}: {reason}")


class ExportRefusedError(SourceError):
    """An export failed a whole-file sanity check and is refused as a whole.

    Nothing read from a refused export may be used: a truncated or empty file must never
    look like people who left.

    Attributes:
        reason: Which check failed.
        detail: What was found, in words (counts, column names, byte offset).
        offset: Byte offset of the problem in the file, when there is one.
        line: Line of the problem in the file, when there is one.
    """

    def __init__(
        self,
        source: str,
        path: str,
        reason: RefusalReason,
        detail: str,
        *,
        offset: int | None = None,
        line: int | None = None,
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.offset = offset
        self.line = line
        where = f" at byte {offset}" if offset is not None else ""
        where += f" (line {line})" if line is not None else ""
        super().__init__(
            source,
            path,
            f"export {path} of source {source!r} refused ({reason}){where}: {detail}",
        )


class LedgerError(SourceError):
    """The ledger of accepted exports cannot be read or written.

    A damaged ledger is an error, never an empty one: starting from nothing would
    silently switch off the shrink check.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.reason = reason
        super().__init__("*", path, f"export ledger {path} is unusable: {reason}")


class IncompleteBatchError(SourceError):
    """A batch was used in a way its state does not allow.

    Its facts were asked before every row was read, or it was read a second time.
    """

    def __init__(self, source: str, path: str, detail: str) -> None:
        super().__init__(source, path, f"batch of source {source!r} from {path}: {detail}")
