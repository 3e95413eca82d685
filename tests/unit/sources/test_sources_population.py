"""A whole read: sources to people, with refusals that never abort the run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from sources_support import (
    CLOCK,
    SCHOOLS,
    STAFF_HEADER,
    connector,
    csv_bytes,
    pseudonymiser,
    staff_row,
    student_row,
    write_export,
)

from ecampus_idm.connectors.base import ExportFacts
from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.errors import ExportRefusedError, LedgerError, RefusalReason
from ecampus_idm.connectors.ledger import JsonExportLedger, MemoryExportLedger
from ecampus_idm.connectors.sample import write_sample
from ecampus_idm.connectors.settings import ExportChecks, ready_profile
from ecampus_idm.identity.population import load_population
from ecampus_idm.model import EmailIssue, Role, School


def _sources(tmp_path: Path) -> list[CsvConnector]:
    personnel = write_export(
        tmp_path / "personnel.csv", csv_bytes([staff_row()], header=STAFF_HEADER, encoding="cp1252")
    )
    students = write_export(
        tmp_path / "he.csv",
        csv_bytes(
            [
                student_row("000123", family="D’Hondt", given="Lieven"),
                student_row("000124", niss="", family="Dupont"),
            ]
        ),
    )
    return [
        connector(personnel, "personnel", "personnel"),
        connector(students, "secretariat", "secretariat-he"),
    ]


def test_teacher_who_studies_is_one_person_with_both_roles(tmp_path: Path) -> None:
    """Personnel office and secretariat agree on a number: one person, two roles."""
    population = load_population(_sources(tmp_path), pseudonymiser(), clock=CLOCK, schools=SCHOOLS)
    assert population.complete
    people = {p.family_name: p for p in population.people}
    assert people["D’Hondt"].roles == {Role.TEACHER, Role.STUDENT}
    assert people["Dupont"].roles == {Role.STUDENT}


def test_accepted_exports_are_recorded_with_their_time(tmp_path: Path) -> None:
    """Each accepted export goes to the ledger, stamped with the clock's time."""
    ledger = MemoryExportLedger()
    population = load_population(
        _sources(tmp_path), pseudonymiser(), clock=CLOCK, schools=SCHOOLS, ledger=ledger
    )
    recorded = ledger.last_accepted("secretariat-he")
    assert recorded is not None
    assert recorded.rows == 2
    assert recorded.accepted_at == CLOCK.now()
    assert population.accepted["secretariat-he"] == recorded


def test_refused_source_does_not_abort_the_run(tmp_path: Path) -> None:
    """A source that shrank is refused; the others are read; the run says it is incomplete."""
    ledger = MemoryExportLedger()
    ledger.record_accepted(
        ExportFacts(
            source="secretariat-he", path="he.csv", rows=100, encoding="utf-8", fingerprint="x"
        )
    )
    population = load_population(
        _sources(tmp_path), pseudonymiser(), clock=CLOCK, schools=SCHOOLS, ledger=ledger
    )
    assert not population.complete
    assert population.is_authoritative("personnel")
    assert not population.is_authoritative("secretariat-he")
    assert len(population.people) == 1
    (refusal,) = population.report.refusals
    assert refusal.reason == str(RefusalReason.SHRANK)
    assert ledger.last_accepted("secretariat-he") == ExportFacts(
        source="secretariat-he", path="he.csv", rows=100, encoding="utf-8", fingerprint="x"
    )


def test_operator_may_allow_a_refusal_for_one_source(tmp_path: Path) -> None:
    """An allowed reason for a source lets it through for this run."""
    ledger = MemoryExportLedger()
    ledger.record_accepted(
        ExportFacts(
            source="secretariat-he", path="he.csv", rows=100, encoding="utf-8", fingerprint="x"
        )
    )
    population = load_population(
        _sources(tmp_path),
        pseudonymiser(),
        clock=CLOCK,
        schools=SCHOOLS,
        ledger=ledger,
        allow={"secretariat-he": {RefusalReason.SHRANK}},
    )
    assert population.complete


def test_too_many_quarantined_rows_refuse_the_source(tmp_path: Path) -> None:
    """When most rows fail (a changed date format), the source is refused, not half-read."""
    rows = [student_row(f"{i:04d}", birth="1985-30-07", niss="") for i in range(5)]
    path = write_export(tmp_path / "he.csv", csv_bytes(rows))
    source = CsvConnector(
        "he", path, ready_profile("secretariat"), checks=ExportChecks(max_rejected_share=0.5)
    )
    ledger = MemoryExportLedger()
    population = load_population(
        [source], pseudonymiser(), clock=CLOCK, schools=SCHOOLS, ledger=ledger
    )
    refusal = population.failed["he"]
    assert isinstance(refusal, ExportRefusedError)
    assert refusal.reason is RefusalReason.TOO_MANY_REJECTED
    assert len(population.report) == 5
    assert len(population.people) == 0
    assert ledger.last_accepted("he") is None


def test_unreadable_source_is_reported_and_skipped(tmp_path: Path) -> None:
    """A missing export is a failed source, not a crash."""
    missing = connector(tmp_path / "absent.csv", "secretariat", "absent")
    population = load_population(
        [missing, *_sources(tmp_path)], pseudonymiser(), clock=CLOCK, schools=SCHOOLS
    )
    assert set(population.failed) == {"absent"}
    assert len(population.people) == 2


def test_damaged_ledger_stops_the_run(tmp_path: Path) -> None:
    """Without a readable ledger the shrink check is off: the run stops instead."""
    damaged = tmp_path / "ledger.json"
    damaged.write_text("{", encoding="utf-8")
    with pytest.raises(LedgerError):
        load_population(
            _sources(tmp_path),
            pseudonymiser(),
            clock=CLOCK,
            schools=SCHOOLS,
            ledger=JsonExportLedger(damaged),
        )


def test_sample_quarantine_matches_its_bad_rows(tmp_path: Path) -> None:
    """Reading a sample quarantines exactly the rows written with a defect."""
    summary = write_sample(tmp_path, 600, seed=11)
    config = tomllib.loads(summary.config.read_text(encoding="utf-8"))
    schools = [School.model_validate(s) for s in config["schools"]]
    sources = [
        CsvConnector(c["name"], tmp_path / c["path"], ready_profile(c["profile"]))
        for c in config["sources"]["connectors"]
    ]
    population = load_population(sources, pseudonymiser(), clock=CLOCK, schools=schools)
    assert population.complete
    assert len(population.report) == summary.total_bad_rows
    assert summary.total_bad_rows > 0
    # Mistyped addresses quarantine nothing: the people are kept, their address flagged.
    flagged = [p for p in population.people if p.email_issue is EmailIssue.INVALID]
    assert 0 < len(flagged) <= summary.invalid_emails
    multi = [p for p in population.people if len({k.source for k in p.source_keys}) > 1]
    assert multi
