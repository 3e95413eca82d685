"""Synthetic exports: deterministic, realistic, and readable by the ready profiles."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ecampus_idm.connectors.base import SourceRecord
from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.sample import BadRow, SampleError, write_sample
from ecampus_idm.connectors.settings import LogicalField, SourcesSettings, ready_profile

ENCODINGS = {
    "personnel.csv": ("cp1252", b";"),
    "secretariat-he.csv": ("utf-8-sig", b";"),
    "secretariat-ps.csv": ("cp1252", b";"),
    "secretariat-ps-staff.csv": ("cp1252", b";"),
    "secretariat-sec.csv": ("utf-8", b","),
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample of 1,500 people, written once for the module."""
    folder = tmp_path_factory.mktemp("sample")
    write_sample(folder, 1500, seed=5)
    return folder


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    """The same seed writes the same files, byte for byte; another seed does not."""
    write_sample(tmp_path / "a", 200, seed=1)
    write_sample(tmp_path / "b", 200, seed=1)
    write_sample(tmp_path / "c", 200, seed=2)
    for name in ENCODINGS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "secretariat-he.csv").read_bytes() != (
        tmp_path / "c" / "secretariat-he.csv"
    ).read_bytes()


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_each_export_has_its_documented_encoding(sample: Path, name: str) -> None:
    """Each file is in the encoding and delimiter its software uses."""
    encoding, delimiter = ENCODINGS[name]
    data = (sample / name).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") is (encoding == "utf-8-sig")
    data.decode(encoding)
    assert delimiter in data.split(b"\n", 1)[0]


def test_cp1252_exports_really_need_cp1252(sample: Path) -> None:
    """The cp1252 files hold characters UTF-8 would not read (’, œ, é as single bytes)."""
    data = (sample / "secretariat-ps.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_names_have_accents_particles_apostrophes_and_hyphens(sample: Path) -> None:
    """Family names show the variety the naming rules must survive."""
    names = {
        r.text(LogicalField.FAMILY_NAME)
        for r in CsvConnector(
            "he", sample / "secretariat-he.csv", ready_profile("secretariat")
        ).read()
        if isinstance(r, SourceRecord)
    }
    joined = " ".join(names)
    for fragment in ("Van ", "de ", "'", "’", "-", "é", "œ"):
        assert fragment in joined


def test_parents_share_an_address(sample: Path) -> None:
    """Pupils of one family share their parent's e-mail address."""
    emails = [
        r.text(LogicalField.PERSONAL_EMAIL)
        for r in CsvConnector(
            "sec", sample / "secretariat-sec.csv", ready_profile("secretariat")
        ).read()
        if isinstance(r, SourceRecord) and r.text(LogicalField.PERSONAL_EMAIL)
    ]
    assert len(set(emails)) < len(emails)


def test_summary_counts_rows_defects_and_people_in_two_sources(tmp_path: Path) -> None:
    """The summary says what was written: rows per file, defects of every kind, overlaps."""
    summary = write_sample(tmp_path, 3000, seed=9)
    assert summary.people == 3000
    assert set(summary.bad_rows) == {str(kind) for kind in BadRow}
    assert summary.in_two_sources > 0
    for name, path in summary.files.items():
        lines = path.read_bytes().count(b"\n")
        assert lines >= summary.rows[name] + 1
    assert summary.as_dict()["config"].endswith("sources.toml")


def test_written_config_is_a_valid_sources_section(sample: Path) -> None:
    """The sources.toml written beside the exports validates as a sources section."""
    document = tomllib.loads((sample / "sources.toml").read_text(encoding="utf-8"))
    section = SourcesSettings.model_validate({**document["sources"], "pseudonym_key": "k" * 32})
    assert section.connectors[0].name == "personnel"
    assert len(document["schools"]) == 7


@pytest.mark.parametrize(
    ("people", "share"), [(0, 0.04), (10, 0.9)], ids=["no-people", "too-many-bad-rows"]
)
def test_out_of_range_arguments_are_refused(tmp_path: Path, people: int, share: float) -> None:
    """Nonsense arguments raise SampleError."""
    with pytest.raises(SampleError):
        write_sample(tmp_path, people, bad_share=share)


def test_unwritable_folder_is_a_sample_error(tmp_path: Path) -> None:
    """A folder that cannot be created is a SampleError, not an OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(SampleError):
        write_sample(blocker / "out", 10)
