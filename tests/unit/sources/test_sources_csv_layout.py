"""The CSV connector and layout: delimiters, line ends, header checks, truncation, batches."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from sources_support import STUDENT_HEADER, connector, csv_bytes, student_row, write_export

from ecampus_idm.connectors.base import SourceRecord
from ecampus_idm.connectors.errors import (
    ExportRefusedError,
    IncompleteBatchError,
    RefusalReason,
    SourceUnavailableError,
)
from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.connectors.settings import LogicalField, ready_profile


def _items(path: Path) -> list[SourceRecord | RowIssue]:
    return list(connector(path).read())


def _refusal(path: Path) -> ExportRefusedError:
    with pytest.raises(ExportRefusedError) as caught:
        connector(path).read()
    return caught.value


@pytest.mark.parametrize(
    ("delimiter", "newline"),
    [(";", "\r\n"), (",", "\r\n"), (";", "\n"), (",", "\r")],
    ids=["semicolon-crlf", "comma-crlf", "semicolon-lf", "comma-cr"],
)
def test_delimiter_and_line_ends_are_found(tmp_path: Path, delimiter: str, newline: str) -> None:
    """Semicolon or comma, CRLF, LF or CR: the same records come out."""
    rows = [student_row("000001", family="Dupont, Lefèvre"), student_row("000002")]
    data = csv_bytes(rows, delimiter=delimiter, newline=newline)
    items = _items(write_export(tmp_path / "x.csv", data))
    assert [r.text(LogicalField.MATRICULE) for r in items if isinstance(r, SourceRecord)] == [
        "000001",
        "000002",
    ]
    first = items[0]
    assert isinstance(first, SourceRecord)
    assert first.text(LogicalField.FAMILY_NAME) == "Dupont, Lefèvre"


def test_pinned_delimiter_is_used(tmp_path: Path) -> None:
    """A profile may pin the delimiter; a file with the other one then misses columns."""
    pinned = ready_profile("secretariat").model_copy(update={"delimiter": ","})
    path = write_export(tmp_path / "x.csv", csv_bytes([student_row()], delimiter=";"))
    with pytest.raises(ExportRefusedError) as caught:
        connector(path, pinned).read()
    assert caught.value.reason is RefusalReason.MISSING_COLUMNS


def test_leading_zeros_are_kept(tmp_path: Path) -> None:
    """Identifiers stay text: 000123 keeps its zeros, and so does a national number."""
    (item,) = _items(write_export(tmp_path / "x.csv", csv_bytes([student_row("000123")])))
    assert isinstance(item, SourceRecord)
    assert item.text(LogicalField.MATRICULE) == "000123"


def test_quoted_newline_keeps_line_numbers_right(tmp_path: Path) -> None:
    """A value with a line break spans two lines; the next row's line number accounts for it."""
    rows = [student_row("1", family="Van der\r\nStraeten"), student_row("2")]
    items = _items(write_export(tmp_path / "x.csv", csv_bytes(rows)))
    assert [item.line for item in items] == [2, 4]


def test_blank_lines_and_empty_rows_are_skipped(tmp_path: Path) -> None:
    """Blank lines and rows of empty cells (Excel's trailing ;;;;) are not rows."""
    data = csv_bytes([student_row("1"), [""] * 10, student_row("2")]) + b"\r\n\r\n"
    items = _items(write_export(tmp_path / "x.csv", data))
    assert [item.line for item in items] == [2, 4]


def test_wrong_field_count_is_quarantined(tmp_path: Path) -> None:
    """A row with an extra field (a delimiter inside a value) is an issue, not a record."""
    bad = student_row("2")
    bad.insert(2, "Jr")
    items = _items(write_export(tmp_path / "x.csv", csv_bytes([student_row("1"), bad])))
    issue = items[1]
    assert isinstance(issue, RowIssue)
    assert issue.code is IssueCode.FIELD_COUNT
    assert issue.line == 3


def test_header_matching_ignores_case_spaces_and_unicode_form(tmp_path: Path) -> None:
    """Headers match whatever their case, surrounding spaces or Unicode normal form."""
    header = [f"  {unicodedata.normalize('NFD', h).upper()} " for h in STUDENT_HEADER]
    data = csv_bytes([student_row()], header=header)
    (item,) = _items(write_export(tmp_path / "x.csv", data))
    assert isinstance(item, SourceRecord)


def test_renamed_column_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    """A renamed column refuses the export and names the column it was probably renamed to."""
    header = list(STUDENT_HEADER)
    header[3] = "Date naissance"
    refusal = _refusal(write_export(tmp_path / "x.csv", csv_bytes([student_row()], header=header)))
    assert refusal.reason is RefusalReason.MISSING_COLUMNS
    assert "'Date de naissance'" in refusal.detail
    assert "'Date naissance'" in refusal.detail


def test_missing_header_never_quotes_a_data_cell_with_digits(tmp_path: Path) -> None:
    """A file without header: the refusal quotes no cell with digits (it might be a NISS)."""
    data = csv_bytes([student_row()], header=student_row("999"))
    refusal = _refusal(write_export(tmp_path / "x.csv", data))
    assert refusal.reason is RefusalReason.MISSING_COLUMNS
    assert "85073003328" not in str(refusal)
    assert "999" not in str(refusal)


def test_duplicate_mapped_column_is_refused(tmp_path: Path) -> None:
    """A mapped column present twice is ambiguous: refused."""
    header = [*STUDENT_HEADER, "NISS"]
    data = csv_bytes([[*student_row(), "x"]], header=header)
    assert (
        _refusal(write_export(tmp_path / "x.csv", data)).reason is RefusalReason.DUPLICATE_COLUMNS
    )


@pytest.mark.parametrize(
    "data",
    [b"", b"\r\n\r\n", csv_bytes([])],
    ids=["zero-bytes", "blank-lines", "header-only"],
)
def test_empty_export_is_refused(tmp_path: Path, data: bytes) -> None:
    """An empty file or a header alone is refused as empty."""
    assert _refusal(write_export(tmp_path / "x.csv", data)).reason is RefusalReason.EMPTY


def test_cut_last_row_is_refused_as_truncated(tmp_path: Path) -> None:
    """A last row with missing columns and no end of line means the file was cut."""
    data = csv_bytes([student_row("1"), student_row("2")])
    refusal = _refusal(write_export(tmp_path / "x.csv", data[: len(data) - 40]))
    assert refusal.reason is RefusalReason.TRUNCATED
    assert refusal.line == 3


def test_short_last_row_with_line_end_is_only_an_issue(tmp_path: Path) -> None:
    """A short last row that ends its line is a bad row, not a cut file."""
    data = csv_bytes([student_row("1"), ["2", "Dupont"]])
    items = _items(write_export(tmp_path / "x.csv", data))
    assert isinstance(items[-1], RowIssue)


def test_refusal_happens_before_any_row_is_yielded(tmp_path: Path) -> None:
    """read() refuses a bad export itself: there is no batch to iterate at all."""
    data = csv_bytes([student_row("1"), student_row("2")])
    path = write_export(tmp_path / "x.csv", data[:-30])
    seen: list[object] = []
    with pytest.raises(ExportRefusedError):
        seen.extend(connector(path).read())
    assert seen == []


def test_export_rewritten_during_the_read_is_refused(tmp_path: Path) -> None:
    """If the bytes change between the check and the stream, the batch is refused at the end."""
    path = write_export(tmp_path / "x.csv", csv_bytes([student_row("1"), student_row("2")]))
    batch = connector(path).read()
    path.write_bytes(csv_bytes([student_row("1"), student_row("3")]))
    with pytest.raises(ExportRefusedError) as caught:
        list(batch)
    assert caught.value.reason is RefusalReason.CHANGED_DURING_READ
    assert not batch.complete


def test_batch_is_complete_only_after_the_last_row(tmp_path: Path) -> None:
    """Facts are available once the batch is read to the end, not before."""
    path = write_export(tmp_path / "x.csv", csv_bytes([student_row("1"), student_row("2")]))
    batch = connector(path).read()
    iterator = iter(batch)
    next(iterator)
    assert not batch.complete
    with pytest.raises(IncompleteBatchError):
        _ = batch.facts
    list(iterator)
    assert batch.complete
    assert batch.facts.rows == 2


def test_batch_can_be_read_only_once(tmp_path: Path) -> None:
    """A second iteration is refused rather than silently empty."""
    batch = connector(write_export(tmp_path / "x.csv", csv_bytes([student_row()]))).read()
    list(batch)
    with pytest.raises(IncompleteBatchError):
        list(batch)


def test_closed_batch_stays_incomplete(tmp_path: Path) -> None:
    """A batch closed early releases its file and never becomes complete."""
    batch = connector(
        write_export(tmp_path / "x.csv", csv_bytes([student_row("1"), student_row("2")]))
    ).read()
    next(iter(batch))
    batch.close()
    assert not batch.complete


def test_missing_file_is_unavailable(tmp_path: Path) -> None:
    """A missing export is a source that cannot be read, with the path in the message."""
    with pytest.raises(SourceUnavailableError) as caught:
        connector(tmp_path / "absent.csv").read()
    assert "absent.csv" in str(caught.value)


def test_record_repr_hides_the_national_number(tmp_path: Path) -> None:
    """A record's repr shows its fields but never the national number."""
    (item,) = _items(write_export(tmp_path / "x.csv", csv_bytes([student_row()])))
    assert "85073003328" not in repr(item)
    assert "<hidden>" in repr(item)
