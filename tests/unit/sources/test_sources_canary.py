"""Canary: no national number ever shows in a log line, a repr, an error, a report or a file."""

from __future__ import annotations

import csv
import io
import logging
import re
import tomllib
import traceback
from datetime import date
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

from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.errors import ExportRefusedError
from ecampus_idm.connectors.ledger import JsonExportLedger
from ecampus_idm.connectors.sample import national_number, write_sample
from ecampus_idm.connectors.settings import ready_profile
from ecampus_idm.identity.population import Population, load_population
from ecampus_idm.model import School

CANARY = national_number(date(1990, 4, 1), 777)


def _numbers_in(folder: Path) -> set[str]:
    """Return every national number written in the sample's exports (compact)."""
    found: set[str] = set()
    for path in folder.glob("*.csv"):
        data = path.read_bytes()
        text = (
            data.decode("utf-8-sig") if data.startswith(b"\xef\xbb\xbf") else data.decode("cp1252")
        )
        for cell in (
            c
            for row in csv.reader(io.StringIO(text), delimiter=";,"[path.name.endswith("sec.csv")])
            for c in row
        ):
            digits = re.sub(r"[ .\-/]", "", cell)
            if len(digits) >= 10 and digits.isdigit():  # 10: a lost leading zero
                found.add(digits)
    return found


def _run(folder: Path) -> tuple[Population, JsonExportLedger]:
    summary = write_sample(folder, 400, seed=3)
    config = tomllib.loads(summary.config.read_text(encoding="utf-8"))
    schools = [School.model_validate(s) for s in config["schools"]]
    sources = [
        CsvConnector(c["name"], folder / c["path"], ready_profile(c["profile"]))
        for c in config["sources"]["connectors"]
    ]
    ledger = JsonExportLedger(folder / "ledger.json")
    return load_population(
        sources, pseudonymiser(), clock=CLOCK, schools=schools, ledger=ledger
    ), ledger


@pytest.fixture
def everything_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> tuple[str, set[str]]:
    """Run a whole read of a sample at DEBUG and return all it said, with the numbers in it."""
    caplog.set_level(logging.DEBUG)
    folder = tmp_path / "sample"
    population, ledger = _run(folder)
    people = population.people.persons()
    said = [
        caplog.text,
        *(record.getMessage() for record in caplog.records),
        repr(population),
        repr(population.people),
        *(repr(p) + str(p) for p in people),
        *(p.model_dump_json() for p in people),
        population.report.to_json(),
        population.report.render_text(width=300),
        *(repr(r) + str(r.as_dict()) for r in population.reviews),
        (folder / "ledger.json").read_text(encoding="utf-8"),
        repr(ledger),
    ]
    return "\n".join(said), _numbers_in(folder)


def test_sample_has_numbers_to_look_for(everything_said: tuple[str, set[str]]) -> None:
    """The canary can fail: the sample's exports do contain national numbers."""
    _, numbers = everything_said
    assert len(numbers) > 300


def test_no_number_in_logs_reprs_reports_or_ledger(everything_said: tuple[str, set[str]]) -> None:
    """None of the sample's national numbers appears in anything the run said or wrote."""
    said, numbers = everything_said
    leaked = sorted(n for n in numbers if n in said or n[:-2] in said)
    assert leaked == []


def test_person_dump_has_only_the_pseudonym(tmp_path: Path) -> None:
    """A person's JSON carries the keyed pseudonym, never the number, and repr hides both."""
    path = write_export(
        tmp_path / "x.csv", csv_bytes([student_row(niss=CANARY, birth="01/04/1990")])
    )
    population = load_population([connector(path)], pseudonymiser(), clock=CLOCK, schools=SCHOOLS)
    (person,) = population.people.persons()
    assert person.niss_pseudonym == pseudonymiser().pseudonym(CANARY)
    assert CANARY not in person.model_dump_json()
    assert person.niss_pseudonym not in repr(person)


@pytest.mark.parametrize(
    "data",
    [
        csv_bytes([student_row(niss=CANARY)], header=student_row(niss=CANARY)),
        csv_bytes([student_row(niss=CANARY)])[:-20],
        csv_bytes([student_row(family="Lebœuf", niss=CANARY)], encoding="cp1252") + "é".encode(),
    ],
    ids=["number-in-header", "truncated", "mixed-encoding"],
)
def test_refusals_never_carry_the_number(tmp_path: Path, data: bytes) -> None:
    """A refused export's error, repr and traceback say nothing of the numbers in it."""
    path = write_export(tmp_path / "x.csv", data)
    with pytest.raises(ExportRefusedError) as caught:
        connector(path).read()
    text = (
        repr(caught.value) + str(caught.value) + "".join(traceback.format_exception(caught.value))
    )
    assert CANARY not in text


def test_quarantined_number_is_not_in_the_issue(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A number with a bad checksum or in the wrong column is not quoted by the report."""
    caplog.set_level(logging.DEBUG)
    bad = CANARY[:9] + ("00" if CANARY[9:] != "00" else "01")
    rows = [
        student_row("1", niss=bad),
        student_row("2", email=CANARY),
        student_row(CANARY),
    ]
    path = write_export(tmp_path / "x.csv", csv_bytes(rows))
    population = load_population([connector(path)], pseudonymiser(), clock=CLOCK, schools=[])
    said = population.report.to_json() + population.report.render_text(width=300) + caplog.text
    assert len(population.report) >= 3
    assert CANARY not in said
    assert bad not in said
