"""A mistyped personal e-mail: the person is kept, the address flagged invalid.

Per the support FAQ the account is created and the welcome mail waits for the
secretariat (or the personnel office) to correct the address; the mail leaves the
night after the correction (tests/unit/mail, tests/contracts: two nightly runs).
"""

from __future__ import annotations

from pathlib import Path

from sources_support import (
    CLOCK,
    SCHOOLS,
    STAFF_HEADER,
    csv_bytes,
    pseudonymiser,
    staff_row,
    student_row,
    write_export,
)

from ecampus_idm.connectors.base import Connector
from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.settings import ready_profile
from ecampus_idm.identity.population import load_population
from ecampus_idm.model import AccountStatus, EmailIssue, Person
from ecampus_idm.policies import PolicyEngine, StoreSnapshot


def _people(tmp_path: Path, *sources: tuple[str, str, bytes]) -> list[Person]:
    connectors: list[Connector] = []
    for name, profile, data in sources:
        path = write_export(tmp_path / f"{name}.csv", data)
        connectors.append(CsvConnector(name, path, ready_profile(profile)))
    population = load_population(connectors, pseudonymiser(), clock=CLOCK, schools=SCHOOLS)
    assert len(population.report) == 0, population.report.to_json()
    return population.people.persons()


def _secretariat(email: str) -> tuple[str, str, bytes]:
    return ("secretariat-he", "secretariat", csv_bytes([student_row(email=email)]))


def test_student_with_a_mistyped_address_is_kept_without_address(tmp_path: Path) -> None:
    """The person is read, with no address and the issue "invalid"."""
    (person,) = _people(tmp_path, _secretariat("chloe.vds@gmail"))
    assert person.personal_email is None
    assert person.email_issue is EmailIssue.INVALID


def test_student_with_a_mistyped_address_gets_a_new_account(tmp_path: Path) -> None:
    """The policies create the account as for anyone else."""
    (person,) = _people(tmp_path, _secretariat("chloe.vds@@gmail.com"))
    (verdict,) = PolicyEngine().decide([person], StoreSnapshot(), CLOCK)
    assert verdict.status is AccountStatus.ACTIVE
    assert verdict.new_account
    assert verdict.schools == frozenset({"HEC-TOURNAI"})


def test_a_valid_address_in_another_source_wins(tmp_path: Path) -> None:
    """The same person with a good address in the personnel export: that one, no issue."""
    staff = staff_row(email="chloe.vds@skynet.be", family="Van der Straeten", given="Chloé")
    people = _people(
        tmp_path,
        _secretariat("chloe.vds@gmail"),
        ("personnel", "personnel", csv_bytes([staff], header=STAFF_HEADER)),
    )
    (person,) = people
    assert person.personal_email == "chloe.vds@skynet.be"
    assert person.email_issue is None


def test_a_missing_address_is_not_an_invalid_one(tmp_path: Path) -> None:
    """No address encoded at all: missing, not invalid."""
    (person,) = _people(tmp_path, _secretariat(""))
    assert (person.personal_email, person.email_issue) == (None, None)
