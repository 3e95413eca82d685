"""The CSV connector: exports written by secretariat and personnel-office software.

What such files look like, and what this module does about it:

* **Encoding.** A UTF-8 byte-order mark means UTF-8; otherwise strict UTF-8 is tried,
  then strict cp1252 (Windows' Western encoding, which has ``’``, ``œ``, ``€``). Never
  latin-1: it would silently turn ``’`` into a control character. Bytes that are neither
  (cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined), UTF-8 mixed with cp1252 and
  UTF-16/UTF-32 (with or without byte-order mark) are refused with the byte offset.
* **Binary or text.** A file is refused whole as binary when it starts with the magic
  number of a ZIP (an ``.xlsx``, ``.ods``), PDF, OLE2 (an old ``.xls``), gzip, 7-Zip or
  RAR file, or when NUL and other control bytes (C0 but tab, LF and CR; DEL) are more
  than 1 % of its first 64 KiB or of the whole file (and at least 16 of them). A text
  export with a few such bytes is read: each row holding one in a mapped field is
  quarantined (``control-character``, with its line and field), the others are used.
* **Layout.** ``;`` (Belgian Excel) or ``,``, found from the header; CRLF, LF or CR;
  quoted fields with embedded newlines; blank lines and rows of empty cells skipped.
  Values stay text: ``000123`` keeps its zeros.
* **Trust.** :meth:`CsvConnector.read` reads the file twice. The first pass finds the
  encoding, hashes the bytes, checks the header against the profile and counts the
  rows, then runs :func:`~ecampus_idm.connectors.base.check_export` (empty, shrink,
  encoding change) *before* yielding anything. The second pass streams the rows (memory
  stays flat) and, at the end, checks that it read the very bytes the first pass
  checked: an export rewritten meanwhile is refused.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import logging
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

from ecampus_idm.connectors.base import (
    ASCII,
    ExportFacts,
    ExportLedger,
    RowStream,
    SourceBatch,
    SourceRecord,
    check_export,
)
from ecampus_idm.connectors.errors import (
    ExportRefusedError,
    RefusalReason,
    SourceUnavailableError,
)
from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.connectors.settings import ExportChecks, LogicalField, SourceProfile

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["CsvConnector"]

_UTF8_BOM = codecs.BOM_UTF8
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# A UTF-8 multi-byte sequence. In a cp1252 file it would read as an upper-case accented
# letter followed by punctuation ("Ã©"): the mark of UTF-8 text pasted into cp1252.
# 0xA0 (a no-break space after "É" is common in cp1252 data) does not count.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\x9f\xa1-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_ZIP = "a ZIP archive (an Excel .xlsx or LibreOffice .ods workbook?), not a CSV export"
# Magic numbers of the files that are mistaken for an export, with what they are.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", _ZIP),
    (b"PK\x05\x06", _ZIP),
    (b"PK\x07\x08", _ZIP),
    (b"%PDF-", "a PDF document, not a CSV export"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an OLE2 compound file (an old Excel .xls workbook?), not a CSV export",
    ),
    (b"\x1f\x8b", "a gzip archive, not a CSV export"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive, not a CSV export"),
    (b"Rar!\x1a\x07", "a RAR archive, not a CSV export"),
)
# Control bytes no text export holds (tab, LF and CR are CSV); the same as characters.
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_CONTROL_BYTE = re.compile(b"[" + re.escape(_CONTROL_BYTES) + b"]")
_CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SAMPLE = 64 * 1024
_MAX_CONTROL_SHARE = 0.01
_MIN_BINARY_CONTROLS = 16
# UTF-16 text of Latin letters has a NUL in every other byte; 30 % of either half is far
# beyond any damaged text export.
_WIDE_NUL_SHARE = 0.3
_MIN_WIDE_SAMPLE = 16
_log = logging.getLogger(__name__)
_DELIMITERS = (";", ",")
_SUGGESTION_CUTOFF = 0.6


@dataclass(frozen=True, slots=True)
class _Scan:
    """What the byte pass found."""

    codec: str
    label: str
    fingerprint: str
    ends_with_newline: bool
    controls: int


@dataclass(frozen=True, slots=True)
class _Layout:
    """What the text pass found."""

    header: tuple[str, ...]
    header_line: int
    delimiter: str
    positions: tuple[tuple[LogicalField, int], ...]
    rows: int


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).replace("\ufeff", "").strip().casefold()


def _blank(row: list[str]) -> bool:
    if not row:
        return True
    # The first cell (usually the matricule) settles almost every row cheaply.
    return not row[0].strip() and not "".join(row).strip()


class _HashingReader(io.RawIOBase):
    """A raw reader that hashes every byte it hands over."""

    def __init__(self, raw: IO[bytes], hasher: hashlib._Hash) -> None:
        super().__init__()
        self._raw = raw
        self._hasher = hasher

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        count = len(data)
        view[:count] = data
        self._hasher.update(data)
        return count


class CsvConnector:
    """Read one CSV export through a profile.

    Args:
        source: The configured name of the source (``secretariat-hec``).
        path: The export file.
        profile: How its columns map to fields.
        checks: Thresholds of the whole-export checks.
        chunk_size: Bytes read at a time by the byte pass.
    """

    def __init__(
        self,
        source: str,
        path: Path,
        profile: SourceProfile,
        *,
        checks: ExportChecks | None = None,
        chunk_size: int = 1 << 20,
    ) -> None:
        self._source = source
        self.path = path
        self._profile = profile
        self._checks = checks or ExportChecks()
        self._chunk_size = chunk_size

    @property
    def source(self) -> str:
        """The configured name of the source."""
        return self._source

    @property
    def profile(self) -> SourceProfile:
        """The profile the export is read through."""
        return self._profile

    @property
    def checks(self) -> ExportChecks:
        """The thresholds of the whole-export checks."""
        return self._checks

    def read(
        self, ledger: ExportLedger | None = None, *, allow: Collection[RefusalReason] = ()
    ) -> SourceBatch:
        """Check the whole export, then return a batch streaming its rows.

        Args:
            ledger: The last accepted exports, for the shrink and encoding checks.
            allow: Refusal reasons the operator accepts for this run.

        Raises:
            SourceUnavailableError: If the file cannot be read.
            ExportRefusedError: If the export fails a check; nothing was yielded.
        """
        previous = ledger.last_accepted(self.source) if ledger is not None else None
        scan = self._scan()
        layout = self._layout(scan)
        facts = ExportFacts(
            source=self.source,
            path=str(self.path),
            rows=layout.rows,
            columns=layout.header,
            encoding=scan.label,
            fingerprint=scan.fingerprint,
        )
        check_export(facts, previous, self._checks, allow)
        _log.debug(
            "export %s of %s checked: %s, delimiter %r, %d rows",
            self.path,
            self.source,
            scan.label,
            layout.delimiter,
            layout.rows,
        )
        return SourceBatch(
            self.source, str(self.path), layout.header, self._rows(scan, layout, facts)
        )

    def __repr__(self) -> str:
        return f"CsvConnector({self.source!r}, {str(self.path)!r})"

    # -- errors --------------------------------------------------------------------------

    def _refuse(
        self,
        reason: RefusalReason,
        detail: str,
        *,
        offset: int | None = None,
        line: int | None = None,
    ) -> NoReturn:
        raise ExportRefusedError(
            self.source, str(self.path), reason, detail, offset=offset, line=line
        )

    def _unavailable(self, exc: OSError) -> SourceUnavailableError:
        return SourceUnavailableError(
            self.source, str(self.path), exc.strerror or type(exc).__name__
        )

    # -- pass 1: bytes -------------------------------------------------------------------

    def _scan(self) -> _Scan:
        """Hash the bytes, find the encoding; refuse what cannot be text."""
        hasher = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        position = 0
        utf8_error: int | None = None
        non_ascii = False
        decoded_non_ascii = False
        controls = 0
        first_control: int | None = None
        last = b""
        try:
            with self.path.open("rb") as handle:
                bom = self._sniff(handle.read(_SAMPLE))
                handle.seek(0)
                while chunk := handle.read(self._chunk_size):
                    hasher.update(chunk)
                    found = len(chunk) - len(chunk.translate(None, _CONTROL_BYTES))
                    if found:
                        controls += found
                        if first_control is None:
                            match = _CONTROL_BYTE.search(chunk)
                            first_control = position + (match.start() if match else 0)
                    if utf8_error is None and not chunk.isascii():
                        non_ascii = True
                        pending = len(decoder.getstate()[0])
                        try:
                            decoded_non_ascii |= not decoder.decode(chunk).isascii()
                        except UnicodeDecodeError as exc:
                            utf8_error = position - pending + exc.start
                    position += len(chunk)
                    last = chunk[-1:]
        except OSError as exc:
            raise self._unavailable(exc) from exc
        self._check_controls(controls, position, first_control, "the file")
        if utf8_error is None:
            pending = len(decoder.getstate()[0])
            if pending:
                if decoded_non_ascii:
                    self._refuse(
                        RefusalReason.TRUNCATED,
                        "the file ends in the middle of a UTF-8 character",
                        offset=position - pending,
                    )
                utf8_error = position - pending
        codec, label = self._choose_encoding(bom, non_ascii, decoded_non_ascii, utf8_error)
        return _Scan(codec, label, hasher.hexdigest(), last in (b"\n", b"\r"), controls)

    def _sniff(self, head: bytes) -> bool:
        """Refuse a file whose first bytes show it is not a text export; return the BOM.

        Args:
            head: The first bytes of the file (up to 64 KiB).

        Returns:
            Whether the file starts with a UTF-8 byte-order mark.
        """
        for magic, what in _MAGIC:
            if head.startswith(magic):
                self._refuse(RefusalReason.BINARY, what, offset=0)
        if head.startswith(_UTF8_BOM):
            return True
        if any(head.startswith(mark) for mark in _WIDE_BOMS):
            self._refuse(
                RefusalReason.UNSUPPORTED_ENCODING,
                "UTF-16/UTF-32 byte-order mark: export as UTF-8 or Windows-1252 (cp1252)",
                offset=0,
            )
        if len(head) >= _MIN_WIDE_SAMPLE:
            halves = (head[0::2], head[1::2])
            if any(half.count(0) >= _WIDE_NUL_SHARE * len(half) for half in halves):
                self._refuse(
                    RefusalReason.UNSUPPORTED_ENCODING,
                    "NUL bytes in every other byte: UTF-16 without a byte-order mark; export "
                    "as UTF-8 or Windows-1252 (cp1252)",
                    offset=head.find(0),
                )
        found = len(head) - len(head.translate(None, _CONTROL_BYTES))
        match = _CONTROL_BYTE.search(head)
        self._check_controls(
            found, len(head), match.start() if match else None, f"the first {len(head)} bytes"
        )
        return False

    def _check_controls(self, count: int, size: int, first: int | None, where: str) -> None:
        """Refuse as binary when control bytes are more than 1 % of ``size`` bytes."""
        if count >= _MIN_BINARY_CONTROLS and count > _MAX_CONTROL_SHARE * size:
            self._refuse(
                RefusalReason.BINARY,
                f"{count} NUL or other control bytes in {where} ({count / size:.1%}, more "
                f"than {_MAX_CONTROL_SHARE:.0%}): not a text export",
                offset=first,
            )

    def _choose_encoding(
        self, bom: bool, non_ascii: bool, decoded_non_ascii: bool, utf8_error: int | None
    ) -> tuple[str, str]:
        pinned = self.profile.encoding
        if utf8_error is None:
            if bom:
                return "utf-8-sig", "utf-8-sig"
            if not non_ascii:
                return "utf-8", ASCII
            if pinned == "cp1252" and decoded_non_ascii:
                self._refuse(
                    RefusalReason.INVALID_ENCODING,
                    "the file is UTF-8 but the profile says cp1252",
                )
            return "utf-8", "utf-8"
        byte = self._byte_at(utf8_error)
        if bom or pinned == "utf-8":
            why = "starts with a UTF-8 byte-order mark" if bom else "the profile says UTF-8"
            self._refuse(
                RefusalReason.INVALID_ENCODING,
                f"{why}, but byte 0x{byte:02X} is not UTF-8",
                offset=utf8_error,
            )
        self._check_cp1252(mixed_check=pinned != "cp1252", utf8_error=utf8_error)
        return "cp1252", "cp1252"

    def _byte_at(self, offset: int) -> int:
        try:
            with self.path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read(1)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return data[0] if data else 0

    def _check_cp1252(self, *, mixed_check: bool, utf8_error: int) -> None:
        position = 0
        tail = b""
        try:
            with self.path.open("rb") as handle:
                while chunk := handle.read(self._chunk_size):
                    try:
                        chunk.decode("cp1252")
                    except UnicodeDecodeError as exc:
                        offset = position + exc.start
                        self._refuse(
                            RefusalReason.INVALID_ENCODING,
                            f"byte 0x{chunk[exc.start]:02X} is neither UTF-8 nor "
                            "Windows-1252 (cp1252)",
                            offset=offset,
                        )
                    if mixed_check:
                        found = _UTF8_SEQUENCE.search(tail + chunk)
                        if found:
                            self._refuse(
                                RefusalReason.MIXED_ENCODING,
                                f"UTF-8 text at byte {position - len(tail) + found.start()} "
                                f"but a non-UTF-8 byte at {utf8_error} (rows pasted from "
                                "another file?); set the profile's encoding if the file "
                                "really is cp1252",
                                offset=position - len(tail) + found.start(),
                            )
                    tail = chunk[-3:]
                    position += len(chunk)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    # -- pass 1: text --------------------------------------------------------------------

    def _open_text(self, codec: str) -> IO[str]:
        try:
            return self.path.open(encoding=codec, errors="strict", newline="")
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def _layout(self, scan: _Scan) -> _Layout:
        """Find the header and delimiter, map the columns, count the rows."""
        line = 0
        try:
            with self._open_text(scan.codec) as handle:
                header_text = ""
                while not header_text.strip():
                    header_text = handle.readline()
                    line += 1
                    if not header_text:
                        self._refuse(RefusalReason.EMPTY, "the file has no header and no row")
                delimiter, header = self._header(header_text)
                positions = self._positions(header, line)
                reader = csv.reader(handle, delimiter=delimiter)
                rows = 0
                width = 0
                for row in reader:
                    if _blank(row):
                        continue
                    rows += 1
                    width = len(row)
                if rows and width < len(header) and not scan.ends_with_newline:
                    self._refuse(
                        RefusalReason.TRUNCATED,
                        f"the last row has {width} of {len(header)} columns and no end of "
                        "line: the file was cut",
                        line=line + reader.line_num,
                    )
        except csv.Error as exc:
            self._refuse(RefusalReason.MALFORMED, f"unreadable CSV ({exc})", line=line + 1)
        except UnicodeDecodeError as exc:
            self._refuse(RefusalReason.CHANGED_DURING_READ, f"the file changed ({exc.reason})")
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return _Layout(header, line, delimiter, positions, rows)

    def _header(self, text: str) -> tuple[str, tuple[str, ...]]:
        wanted = {_fold(column) for column in self.profile.columns.mapped().values()}
        candidates = _DELIMITERS if self.profile.delimiter == "auto" else (self.profile.delimiter,)
        best: tuple[int, int, str, tuple[str, ...]] | None = None
        for delimiter in candidates:
            cells = tuple(next(csv.reader([text], delimiter=delimiter), []))
            score = (len(wanted & {_fold(c) for c in cells}), len(cells))
            if best is None or score > best[:2]:
                best = (*score, delimiter, cells)
        assert best is not None  # noqa: S101 - candidates is never empty
        return best[2], tuple(cell.replace("\ufeff", "").strip() for cell in best[3])

    def _positions(
        self, header: tuple[str, ...], line: int
    ) -> tuple[tuple[LogicalField, int], ...]:
        folded = [_fold(cell) for cell in header]
        positions: list[tuple[LogicalField, int]] = []
        missing: list[str] = []
        for field, column in self.profile.columns.mapped().items():
            found = [i for i, cell in enumerate(folded) if cell == _fold(column)]
            if len(found) > 1:
                self._refuse(
                    RefusalReason.DUPLICATE_COLUMNS,
                    f"column {column!r} appears {len(found)} times in the header",
                    line=line,
                )
            if not found:
                missing.append(column)
            else:
                positions.append((field, found[0]))
        if missing:
            self._refuse(
                RefusalReason.MISSING_COLUMNS, self._missing_detail(missing, header), line=line
            )
        return tuple(positions)

    def _missing_detail(self, missing: list[str], header: tuple[str, ...]) -> str:
        # Suggestions come from the header, which might be a data row of a file without
        # header: cells with digits are never quoted (a national number must not leak).
        quotable = [cell for cell in header if cell and not any(ch.isdigit() for ch in cell)]
        parts = []
        for column in missing:
            close = difflib.get_close_matches(column, quotable, n=1, cutoff=_SUGGESTION_CUTOFF)
            hint = f" (renamed to {close[0]!r}?)" if close else ""
            parts.append(f"{column!r}{hint}")
        return f"missing column(s) {', '.join(parts)}; the header has {len(header)} columns"

    # -- pass 2: rows --------------------------------------------------------------------

    def _rows(self, scan: _Scan, layout: _Layout, facts: ExportFacts) -> RowStream:
        """Stream the rows, then check the bytes were those of the first pass."""
        hasher = hashlib.sha256()
        count = 0
        path = str(self.path)
        width = len(layout.header)
        positions = layout.positions
        consumed = layout.header_line
        # Control bytes (below the binary share) sit in a few rows: only then are rows
        # searched, so a clean export pays nothing.
        controls = scan.controls > 0
        try:
            with (
                self.path.open("rb") as raw,
                io.TextIOWrapper(
                    io.BufferedReader(_HashingReader(raw, hasher)),
                    encoding=scan.codec,
                    errors="strict",
                    newline="",
                ) as text,
            ):
                for _ in range(layout.header_line):
                    text.readline()
                reader = csv.reader(text, delimiter=layout.delimiter)
                for row in reader:
                    line = consumed + 1
                    consumed = layout.header_line + reader.line_num
                    if _blank(row):
                        continue
                    count += 1
                    if len(row) != width:
                        yield RowIssue.of(
                            IssueCode.FIELD_COUNT, source=self.source, path=path, line=line
                        )
                        continue
                    if controls and _CONTROL_CHARACTER.search("".join(row)):
                        issues = self._control_issues(row, layout, line)
                        if issues:
                            yield from issues
                            continue
                    yield SourceRecord(
                        self.source, path, line, {field: row[i] for field, i in positions}
                    )
        except csv.Error as exc:
            self._refuse(RefusalReason.CHANGED_DURING_READ, f"the file changed ({exc})")
        except UnicodeDecodeError as exc:
            self._refuse(RefusalReason.CHANGED_DURING_READ, f"the file changed ({exc.reason})")
        except OSError as exc:
            raise self._unavailable(exc) from exc
        if hasher.hexdigest() != scan.fingerprint or count != layout.rows:
            self._refuse(
                RefusalReason.CHANGED_DURING_READ,
                "the file changed while it was read (an export still being written?)",
            )
        return facts

    def _control_issues(self, row: list[str], layout: _Layout, line: int) -> list[RowIssue]:
        """Return a ``control-character`` issue for each mapped field holding one."""
        positions = layout.positions
        bad = [(f, i) for f, i in positions if _CONTROL_CHARACTER.search(row[i])]
        if not bad:
            return []  # only in columns the profile does not read
        matricule = next(
            (row[i].strip() for f, i in positions if f is LogicalField.MATRICULE), None
        )
        if matricule is not None and _CONTROL_CHARACTER.search(matricule):
            matricule = None
        return [
            RowIssue.of(
                IssueCode.CONTROL_CHARACTER,
                source=self.source,
                path=str(self.path),
                line=line,
                field=str(field),
                column=layout.header[i],
                matricule=matricule,
            )
            for field, i in bad
        ]
