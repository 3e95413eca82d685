"""The CSV connector and encodings: BOM, UTF-8, cp1252, and what it refuses."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from sources_support import connector, csv_bytes, student_row, write_export

from ecampus_idm.connectors.base import SourceRecord
from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.errors import ExportRefusedError, RefusalReason
from ecampus_idm.connectors.settings import LogicalField, SourceProfile, ready_profile

NAMES = ("D’Hondt", "Cœurderoy", "Hélène", "Lebœuf-Müller", "Šimek", "O'Neil")


def _records(path: Path) -> list[SourceRecord]:
    return [item for item in connector(path).read() if isinstance(item, SourceRecord)]


def _family_names(path: Path) -> list[str]:
    return [r.text(LogicalField.FAMILY_NAME) for r in _records(path)]


def test_cp1252_round_trips_exactly(tmp_path: Path) -> None:
    """A cp1252 export with ’, œ and é gives back exactly the names that were written."""
    rows = [student_row(f"{i:06d}", family=name, given="Éloïse") for i, name in enumerate(NAMES)]
    path = write_export(tmp_path / "x.csv", csv_bytes(rows, encoding="cp1252"))
    records = _records(path)
    assert [r.text(LogicalField.FAMILY_NAME) for r in records] == list(NAMES)
    assert {r.text(LogicalField.GIVEN_NAME) for r in records} == {"Éloïse"}


def test_cp1252_is_recorded_as_the_encoding(tmp_path: Path) -> None:
    """The facts of a cp1252 export say cp1252."""
    path = write_export(
        tmp_path / "x.csv", csv_bytes([student_row(family="Lebœuf")], encoding="cp1252")
    )
    batch = connector(path).read()
    list(batch)
    assert batch.facts.encoding == "cp1252"


def test_curly_apostrophe_is_never_a_latin1_control_character(tmp_path: Path) -> None:
    """Byte 0x92 reads as ’ (cp1252), never as U+0092 (what latin-1 would make of it)."""
    path = write_export(
        tmp_path / "x.csv", csv_bytes([student_row(family="D’Hoore")], encoding="cp1252")
    )
    (name,) = _family_names(path)
    assert "\x92" not in name
    assert name == "D’Hoore"


@pytest.mark.parametrize(
    ("encoding", "label"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")],
    ids=["utf-8", "utf-8-bom"],
)
def test_utf8_with_and_without_bom(tmp_path: Path, encoding: str, label: str) -> None:
    """UTF-8 exports read the same with or without byte-order mark, which is not kept."""
    path = write_export(
        tmp_path / "x.csv", csv_bytes([student_row(family="Müller")], encoding=encoding)
    )
    batch = connector(path).read()
    records = [item for item in batch if isinstance(item, SourceRecord)]
    assert records[0].text(LogicalField.FAMILY_NAME) == "Müller"
    assert batch.columns[0] == "Matricule"
    assert batch.facts.encoding == label


def test_ascii_file_is_recorded_as_ascii(tmp_path: Path) -> None:
    """A file without a single accent is recorded as ascii (compatible with any encoding)."""
    minimal = SourceProfile.model_validate(
        {"kind": "staff", "columns": {"matricule": "id", "family_name": "sn", "given_name": "gn"}}
    )
    data = csv_bytes([["1", "Dupont", "Jean"]], header=("id", "sn", "gn"))
    batch = connector(write_export(tmp_path / "x.csv", data), minimal).read()
    list(batch)
    assert batch.facts.encoding == "ascii"


def test_undefined_cp1252_byte_is_refused_with_its_offset(tmp_path: Path) -> None:
    """Byte 0x81 is neither UTF-8 nor cp1252: refused, naming the file and the offset."""
    data = csv_bytes([student_row(family="Dupont")], encoding="cp1252")
    offset = data.index(b"Dupont") + 2
    data = data[:offset] + b"\x81" + data[offset + 1 :]
    path = write_export(tmp_path / "bad.csv", data)
    with pytest.raises(ExportRefusedError) as caught:
        connector(path).read()
    assert caught.value.reason is RefusalReason.INVALID_ENCODING
    assert caught.value.offset == offset
    assert str(path) in str(caught.value)
    assert "0x81" in str(caught.value)


def test_utf8_mixed_with_cp1252_is_refused(tmp_path: Path) -> None:
    """Rows in UTF-8 and rows in cp1252 in one file are refused rather than mangled."""
    first = csv_bytes([student_row("1", family="Hélène")], encoding="utf-8")
    second = csv_bytes([student_row("2", family="Lebœuf")], encoding="cp1252", header=())
    second = second.split(b"\r\n", 1)[1]  # drop the empty header line
    path = write_export(tmp_path / "mixed.csv", first + second)
    with pytest.raises(ExportRefusedError) as caught:
        connector(path).read()
    assert caught.value.reason is RefusalReason.MIXED_ENCODING


def test_pinned_cp1252_accepts_what_looks_mixed(tmp_path: Path) -> None:
    """With the profile pinned to cp1252 the mixed-encoding guess is not made."""
    data = csv_bytes(
        [student_row("1", family="Ã©cole"), student_row("2", family="Lebœuf")], encoding="cp1252"
    )
    path = write_export(tmp_path / "x.csv", data)
    pinned = ready_profile("secretariat").model_copy(update={"encoding": "cp1252"})
    names = [
        r.text(LogicalField.FAMILY_NAME)
        for r in connector(path, pinned).read()
        if isinstance(r, SourceRecord)
    ]
    assert names == ["Ã©cole", "Lebœuf"]


def test_pinned_utf8_refuses_cp1252(tmp_path: Path) -> None:
    """A profile pinned to UTF-8 refuses a cp1252 file instead of guessing."""
    path = write_export(
        tmp_path / "x.csv", csv_bytes([student_row(family="Lebœuf")], encoding="cp1252")
    )
    pinned = ready_profile("secretariat").model_copy(update={"encoding": "utf-8"})
    with pytest.raises(ExportRefusedError) as caught:
        connector(path, pinned).read()
    assert caught.value.reason is RefusalReason.INVALID_ENCODING


def test_pinned_cp1252_refuses_a_utf8_file(tmp_path: Path) -> None:
    """A profile pinned to cp1252 refuses a file that is plainly UTF-8 (software changed)."""
    path = write_export(
        tmp_path / "x.csv", csv_bytes([student_row(family="Lebœuf")], encoding="utf-8")
    )
    pinned = ready_profile("secretariat").model_copy(update={"encoding": "cp1252"})
    with pytest.raises(ExportRefusedError) as caught:
        connector(path, pinned).read()
    assert caught.value.reason is RefusalReason.INVALID_ENCODING


def test_bom_followed_by_cp1252_is_refused(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark promises UTF-8: cp1252 bytes after it are refused."""
    data = codecs.BOM_UTF8 + csv_bytes([student_row(family="Lebœuf")], encoding="cp1252")
    path = write_export(tmp_path / "x.csv", data)
    with pytest.raises(ExportRefusedError) as caught:
        connector(path).read()
    assert caught.value.reason is RefusalReason.INVALID_ENCODING


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"], ids=["utf-16", "utf-32"])
def test_wide_unicode_is_refused_clearly(tmp_path: Path, encoding: str) -> None:
    """UTF-16/32 exports (with their byte-order mark) are refused with a clear reason."""
    path = write_export(tmp_path / "x.csv", csv_bytes([student_row()], encoding=encoding))
    with pytest.raises(ExportRefusedError) as caught:
        connector(path).read()
    assert caught.value.reason is RefusalReason.UNSUPPORTED_ENCODING


def test_utf8_cut_inside_a_character_is_truncated(tmp_path: Path) -> None:
    """A UTF-8 file that ends in the middle of a character was cut: refused as truncated."""
    data = csv_bytes([student_row(family="Hélène")]) + "999;Lebœ".encode()[:-1]
    path = write_export(tmp_path / "x.csv", data)
    with pytest.raises(ExportRefusedError) as caught:
        connector(path).read()
    assert caught.value.reason is RefusalReason.TRUNCATED


def test_small_chunks_find_the_same_encoding(tmp_path: Path) -> None:
    """Multi-byte characters split across read chunks are decoded as one."""
    rows = [student_row(f"{i:04d}", family="Hélène Œuvray") for i in range(50)]
    path = write_export(tmp_path / "x.csv", csv_bytes(rows))
    small = CsvConnector("s", path, ready_profile("secretariat"), chunk_size=7)
    batch = small.read()
    names = {r.text(LogicalField.FAMILY_NAME) for r in batch if isinstance(r, SourceRecord)}
    assert names == {"Hélène Œuvray"}
    assert batch.facts.encoding == "utf-8"
