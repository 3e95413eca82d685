"""The language of a person's mails, from an optional source column (issue 15, item 6).

Mapped with ``columns = { language = "Langue" }`` on a connector. ``fr``, ``nl``, ``en``
and the usual words or codes for them are read; anything else keeps the row (the person
still needs an account), leaves the language to the school and flags the person.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sources_support import (
    CLOCK,
    SCHOOLS,
    STUDENT_HEADER,
    csv_bytes,
    pseudonymiser,
    student_record,
    student_row,
    validator,
    write_export,
)

from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.settings import LogicalField, ready_profile
from ecampus_idm.identity.population import load_population
from ecampus_idm.identity.validate import ValidRecord
from ecampus_idm.model import Person


def _valid(language: str) -> ValidRecord:
    profile = ready_profile("secretariat").with_columns({LogicalField.LANGUAGE: "Langue"})
    result = validator(profile).validate(student_record(language=language))
    assert isinstance(result, ValidRecord), result
    return result


@pytest.mark.parametrize(
    ("cell", "language"),
    [
        ("fr", "fr"),
        ("NL", "nl"),
        ("en", "en"),
        ("Français", "fr"),
        ("Néerlandais", "nl"),
        ("Nederlands", "nl"),
        ("English", "en"),
        ("nl-BE", "nl"),
        ("fr_BE", "fr"),
        ("N", "nl"),
    ],
)
def test_language_column_is_read(cell: str, language: str) -> None:
    """A code or a usual word for fr, nl or en gives that language."""
    record = _valid(cell)
    assert (record.language, record.language_issue) == (language, False)


@pytest.mark.parametrize("cell", ["de", "Deutsch", "klingon", "fr nl"])
def test_unknown_language_keeps_the_row_and_flags_it(cell: str) -> None:
    """A value that is no mail language does not quarantine the row: no language, flagged."""
    record = _valid(cell)
    assert (record.language, record.language_issue) == (None, True)


def test_empty_language_is_no_language_and_no_issue() -> None:
    """An empty cell leaves the language to the school, without a flag."""
    record = _valid("")
    assert (record.language, record.language_issue) == (None, False)


def _people(tmp_path: Path, language_cells: list[str]) -> list[Person]:
    rows = [
        [*student_row(f"00012{i}", email=f"p{i}@gmail.com", niss=""), cell]
        for i, cell in enumerate(language_cells)
    ]
    data = csv_bytes(rows, header=(*STUDENT_HEADER, "Langue"))
    path = write_export(tmp_path / "sec.csv", data)
    profile = ready_profile("secretariat").with_columns({LogicalField.LANGUAGE: "Langue"})
    population = load_population(
        [CsvConnector("sec", path, profile)], pseudonymiser(), clock=CLOCK, schools=SCHOOLS
    )
    assert len(population.report) == 0, population.report.to_json()
    return population.people.persons()


def test_person_carries_the_language_of_their_row(tmp_path: Path) -> None:
    """Read through a CSV export, the person holds the row's language or its flag."""
    people = _people(tmp_path, ["Nederlands", "xx"])
    languages = sorted((p.language or "-", p.language_issue) for p in people)
    assert languages == [("-", True), ("nl", False)]
