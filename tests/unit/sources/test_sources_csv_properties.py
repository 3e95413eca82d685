"""Property tests: whatever bytes, encodings and rows arrive, only IdmError comes out."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sources_support import STUDENT_HEADER, connector, validator

from ecampus_idm.connectors.base import SourceRecord
from ecampus_idm.connectors.errors import ExportRefusedError
from ecampus_idm.connectors.quarantine import RowIssue
from ecampus_idm.connectors.settings import LogicalField
from ecampus_idm.errors import IdmError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER_LINE = ";".join(STUDENT_HEADER)
NAME_CHARACTERS = st.characters(
    codec="cp1252", categories=["L", "Zs", "Pd", "Po", "Pf", "Pi"], exclude_characters="\x00"
)


@contextmanager
def export(data: bytes) -> Iterator[Path]:
    """Write ``data`` to a temporary export file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        path.write_bytes(data)
        yield path


def read_all(path: Path) -> list[SourceRecord | RowIssue]:
    """Read and validate everything; let only IdmError out."""
    items = list(connector(path).read())
    check = validator()
    for item in items:
        if isinstance(item, SourceRecord):
            check.validate(item)
    return items


@FUZZ
@given(st.binary(max_size=2000))
@example(b"\xef\xbb\xbf")
@example(b"Matricule;Nom\r\n\x81")
@example(b'"' * 3)
def test_random_bytes_only_raise_idm_errors(data: bytes) -> None:
    """Any bytes at all: records, issues or an IdmError, nothing else."""
    with export(data) as path, suppress(IdmError):
        read_all(path)


@FUZZ
@given(
    body=st.binary(max_size=1500),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"]),
)
def test_random_bytes_after_a_valid_header_only_raise_idm_errors(
    body: bytes, encoding: str
) -> None:
    """A real header in any encoding followed by garbage: still only IdmError."""
    header = (HEADER_LINE + "\r\n").encode(encoding, errors="replace")
    with export(header + body) as path, suppress(IdmError):
        read_all(path)


rows = st.lists(
    st.lists(st.text(max_size=30), min_size=0, max_size=12),
    min_size=0,
    max_size=15,
)


@FUZZ
@given(
    rows=rows,
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1"]),
    delimiter=st.sampled_from([";", ","]),
    terminator=st.sampled_from(["\r\n", "\n", "\r"]),
)
def test_random_rows_only_raise_idm_errors(
    rows: list[list[str]], encoding: str, delimiter: str, terminator: str
) -> None:
    """Random cells (any text, quotes, delimiters, line breaks) never escape as other errors."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator)
    writer.writerow(STUDENT_HEADER)
    writer.writerows(rows)
    with export(buffer.getvalue().encode(encoding, errors="replace")) as path, suppress(IdmError):
        read_all(path)


@FUZZ
@given(
    names=st.lists(st.text(NAME_CHARACTERS, min_size=1, max_size=25), min_size=1, max_size=10),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    delimiter=st.sampled_from([";", ","]),
)
def test_names_round_trip_in_every_accepted_encoding(
    names: list[str], encoding: str, delimiter: str
) -> None:
    """Names written in UTF-8 or cp1252 come back exactly (spaces at the ends aside)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(STUDENT_HEADER)
    for i, name in enumerate(names):
        writer.writerow([f"{i:06d}", name, "Jean", "", "", "", "HEC-TOURNAI", "", "2026", "oui"])
    with export(buffer.getvalue().encode(encoding)) as path:
        try:
            items = list(connector(path).read())
        except ExportRefusedError:
            return  # e.g. "Ã©" in a cp1252 file reads as UTF-8 mixed in: refused, not mangled
        got = [r.text(LogicalField.FAMILY_NAME) for r in items if isinstance(r, SourceRecord)]
        assert got == [name.strip() for name in names]
