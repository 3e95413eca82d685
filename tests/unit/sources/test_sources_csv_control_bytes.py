"""Control bytes in a CSV export: a few bad rows are quarantined, a binary file is refused."""

from __future__ import annotations

import codecs
import io
import zipfile
from pathlib import Path

import pytest
from sources_support import (
    CLOCK,
    SCHOOLS,
    connector,
    csv_bytes,
    pseudonymiser,
    student_row,
    write_export,
)

from ecampus_idm.connectors.base import SourceRecord
from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.errors import ExportRefusedError, RefusalReason
from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.connectors.settings import ready_profile
from ecampus_idm.identity.population import load_population


def _split(path: Path, **kwargs: int) -> tuple[list[SourceRecord], list[RowIssue], int]:
    batch = CsvConnector("sec", path, ready_profile("secretariat"), **kwargs).read()
    items = list(batch)
    records = [item for item in items if isinstance(item, SourceRecord)]
    issues = [item for item in items if isinstance(item, RowIssue)]
    return records, issues, batch.facts.rows


def _rows(count: int, bad: dict[int, str] | None = None) -> list[list[str]]:
    rows = [student_row(f"{i:06d}", niss="", family=f"Nom{i}") for i in range(count)]
    for index, family in (bad or {}).items():
        rows[index] = student_row(f"{index:06d}", niss="", family=family)
    return rows


def test_one_nul_in_a_50000_row_export_quarantines_one_row(tmp_path: Path) -> None:
    """One NUL in one row of 50,000: that row is quarantined, the 49,999 others are read."""
    path = write_export(tmp_path / "he.csv", csv_bytes(_rows(50_000, {31_337: "Du\x00pont"})))
    records, issues, rows = _split(path)
    assert rows == 50_000
    assert len(records) == 49_999
    (issue,) = issues
    assert issue.code is IssueCode.CONTROL_CHARACTER
    assert (issue.path, issue.line, issue.field, issue.column) == (
        str(path),
        31_337 + 2,
        "family_name",
        "Nom",
    )
    assert issue.matricule == "031337"
    assert "031337" not in {r.values["matricule"] for r in records}


@pytest.mark.parametrize(
    "byte", ["\x00", "\x07", "\x1b", "\x7f", "\x0b"], ids=["nul", "bell", "escape", "del", "vt"]
)
def test_a_control_byte_in_a_field_quarantines_its_row(tmp_path: Path, byte: str) -> None:
    """Any control byte but tab and line breaks inside a field sets its row aside."""
    path = write_export(tmp_path / "he.csv", csv_bytes(_rows(200, {7: f"Le{byte}roy"})))
    records, issues, _ = _split(path)
    assert len(records) == 199
    assert [(i.code, i.line, i.field) for i in issues] == [
        (IssueCode.CONTROL_CHARACTER, 9, "family_name")
    ]
    assert "contrôle" in issues[0].message_fr
    assert "control" in issues[0].message_en


def test_control_bytes_found_across_read_chunks(tmp_path: Path) -> None:
    """Small read chunks find the same bad row (the scan counts bytes across chunks)."""
    path = write_export(tmp_path / "he.csv", csv_bytes(_rows(40, {3: "A\x00\x00B"})))
    records, issues, _ = _split(path, chunk_size=7)
    assert len(records) == 39
    assert [(i.code, i.line) for i in issues] == [(IssueCode.CONTROL_CHARACTER, 5)]


def test_line_break_inside_a_quoted_field_is_not_a_control_character(tmp_path: Path) -> None:
    """CR and LF inside a quoted value are CSV, not corruption: the row is read."""
    path = write_export(tmp_path / "he.csv", csv_bytes(_rows(5, {2: "Du\r\npont"})))
    records, issues, _ = _split(path)
    assert len(records) == 5
    assert issues == []


def test_population_accepts_the_export_and_quarantines_the_row(tmp_path: Path) -> None:
    """Through the whole read, the source is accepted and one row is in the report."""
    path = write_export(tmp_path / "he.csv", csv_bytes(_rows(20, {4: "Mar\x00tin"})))
    population = load_population([connector(path)], pseudonymiser(), clock=CLOCK, schools=SCHOOLS)
    assert population.is_authoritative("sec")
    assert [(i.code, i.line) for i in population.report] == [(IssueCode.CONTROL_CHARACTER, 6)]
    assert len(list(population.people)) == 19
    assert '"control-character"' in population.report.to_json()


def _xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>" * 50)
    return buffer.getvalue()


_TEXT = csv_bytes(_rows(30))
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"\xff" * 512


@pytest.mark.parametrize(
    ("data", "reason", "says"),
    [
        (_xlsx(), RefusalReason.BINARY, "ZIP"),
        (_OLE2, RefusalReason.BINARY, "OLE2"),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
            RefusalReason.BINARY,
            "PDF",
        ),
        (
            codecs.BOM_UTF16_LE + _TEXT.decode().encode("utf-16-le"),
            RefusalReason.UNSUPPORTED_ENCODING,
            "UTF-16",
        ),
        (_TEXT.decode().encode("utf-16-le"), RefusalReason.UNSUPPORTED_ENCODING, "UTF-16"),
        (_TEXT.decode().encode("utf-16-be"), RefusalReason.UNSUPPORTED_ENCODING, "UTF-16"),
        (
            csv_bytes(_rows(30, dict.fromkeys(range(0, 30, 3), "Du" + "\x00" * 8 + "pont"))),
            RefusalReason.BINARY,
            "control",
        ),
    ],
    ids=[
        "xlsx",
        "xls-ole2",
        "pdf",
        "utf16-le-bom",
        "utf16-le-no-bom",
        "utf16-be-no-bom",
        "many-nuls",
    ],
)
def test_binary_file_is_refused_whole_naming_it(
    tmp_path: Path, data: bytes, reason: RefusalReason, says: str
) -> None:
    """A workbook, a PDF, UTF-16 or a file full of NULs is refused whole, with the reason."""
    path = write_export(tmp_path / "secretariat-he.csv", data)
    with pytest.raises(ExportRefusedError) as caught:
        connector(path).read()
    assert caught.value.reason is reason
    assert says.casefold() in caught.value.detail.casefold()
    assert str(path) in str(caught.value)


def test_binary_rule_counts_the_whole_file(tmp_path: Path) -> None:
    """Control bytes spread past the first sample still refuse the file once above 1 %."""
    head = csv_bytes(_rows(2_000))
    tail = csv_bytes(
        [student_row(f"9{i:05d}", niss="", family="X\x00\x00\x00\x00\x00Y") for i in range(2_000)],
        header=(),
    ).split(b"\r\n", 1)[1]
    path = write_export(tmp_path / "he.csv", head + tail)
    with pytest.raises(ExportRefusedError) as caught:
        connector(path).read()
    assert caught.value.reason is RefusalReason.BINARY
