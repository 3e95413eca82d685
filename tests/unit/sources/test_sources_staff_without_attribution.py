"""A personnel row with every attribution column empty: a staff member without attribution.

The product promise: an account (mail, eduroam) without school access, with the reason
"no attribution" in the decision (and in the diagnosis: tests/integration/support).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sources_support import (
    CLOCK,
    SCHOOLS,
    STAFF_HEADER,
    csv_bytes,
    pseudonymiser,
    record,
    staff_row,
    validator,
    write_export,
)

from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.connectors.settings import LogicalField, ready_profile
from ecampus_idm.identity.population import load_population
from ecampus_idm.identity.validate import ValidRecord
from ecampus_idm.mapping import OpenLdapProfile
from ecampus_idm.model import AccountStatus, Person, Role
from ecampus_idm.policies import PersonVerdict, PolicyEngine, StoreSnapshot

_EMPTY_ATTRIBUTION = {"school": "", "category": "", "function": "", "start": "", "end": ""}


def _validate(**changes: str) -> ValidRecord | list[RowIssue]:
    values = dict(zip(ready_profile("personnel").columns.mapped(), staff_row(), strict=True))
    for name, value in changes.items():
        values[LogicalField(name)] = value
    return validator("personnel").validate(record(values))


def _people(tmp_path: Path, *rows: list[str]) -> list[Person]:
    path = write_export(tmp_path / "personnel.csv", csv_bytes(rows, header=STAFF_HEADER))
    source = CsvConnector("personnel", path, ready_profile("personnel"))
    population = load_population([source], pseudonymiser(), clock=CLOCK, schools=SCHOOLS)
    assert len(population.report) == 0, population.report.to_json()
    return population.people.persons()


def _person(tmp_path: Path) -> Person:
    (person,) = _people(tmp_path, staff_row(**_EMPTY_ATTRIBUTION))
    return person


def _verdict(person: Person) -> PersonVerdict:
    (verdict,) = PolicyEngine().decide([person], StoreSnapshot(), CLOCK)
    return verdict


def test_row_without_any_attribution_column_is_kept() -> None:
    """Function, school, category and dates all empty: the row is kept, not quarantined."""
    valid = _validate(**_EMPTY_ATTRIBUTION)
    assert isinstance(valid, ValidRecord), valid
    assert valid.attribution(valid.key) is None
    assert valid.function is None
    assert valid.role is Role.STAFF


@pytest.mark.parametrize(
    "changes",
    [
        {**_EMPTY_ATTRIBUTION, "school": "EPS-MONS", "category": "PS"},
        {**_EMPTY_ATTRIBUTION, "start": "01/09/2020"},
        {"function": ""},
    ],
    ids=["school-only", "start-only", "full-attribution"],
)
def test_attribution_without_function_is_still_quarantined(changes: dict[str, str]) -> None:
    """An attribution begun without its function is incomplete: the function is missing."""
    issues = _validate(**changes)
    assert isinstance(issues, list)
    assert (LogicalField.FUNCTION, IssueCode.MISSING_VALUE) in {
        (LogicalField(i.field or ""), i.code) for i in issues
    }


def test_function_without_attribution_keeps_its_role() -> None:
    """A function but no attribution (existing behaviour): a teacher without attribution."""
    valid = _validate(**{**_EMPTY_ATTRIBUTION, "function": "ENS"})
    assert isinstance(valid, ValidRecord), valid
    assert valid.role is Role.TEACHER


def test_staff_member_without_attribution_is_staff_without_attributions(tmp_path: Path) -> None:
    """The person read from such a row is a staff member with no attribution."""
    person = _person(tmp_path)
    assert person.is_staff
    assert person.roles == frozenset({Role.STAFF})
    assert person.attributions == ()


def test_a_second_row_with_a_function_replaces_the_unknown_one(tmp_path: Path) -> None:
    """The same person attributed elsewhere is a teacher; "function not encoded" goes."""
    rows = (staff_row(**_EMPTY_ATTRIBUTION), staff_row("0043"))
    (person,) = _people(tmp_path, *rows)
    assert person.roles == frozenset({Role.TEACHER})
    assert len(person.attributions) == 1


def test_staff_member_without_attribution_gets_an_active_account(tmp_path: Path) -> None:
    """The policies give such a staff member an active account and no school."""
    verdict = _verdict(_person(tmp_path))
    assert verdict.status is AccountStatus.ACTIVE
    assert verdict.username is not None
    assert verdict.new_account
    assert verdict.groups == frozenset()
    assert verdict.schools == frozenset()
    assert verdict.roles == frozenset({Role.STAFF})


def test_access_decision_says_no_attribution_in_french_first(tmp_path: Path) -> None:
    """The access decision's reason is "no attribution", French first."""
    verdict = _verdict(_person(tmp_path))
    leaves = [leaf for d in verdict.decisions for leaf in d.leaves()]
    reason = next(d.reason for d in leaves if d.reason.code == "access.staff.no_attribution")
    assert "aucune attribution" in reason.fr.casefold()
    assert "no current attribution" in reason.en.casefold()


def test_entry_is_an_employee_without_school(tmp_path: Path) -> None:
    """The directory entry: affiliation employee (neither faculty nor staff), no school."""
    person = _person(tmp_path)
    entry = OpenLdapProfile(
        people_dn="ou=people,dc=t", groups_dn="ou=groups,dc=t", mail_domain="ecampus.test"
    ).person(person, _verdict(person), CLOCK.today())
    assert entry is not None
    attributes = {k.casefold(): v for k, v in entry.attributes.items()}
    assert attributes["edupersonaffiliation"] == ("employee", "member")
    assert attributes["edupersonprimaryaffiliation"] == ("employee",)
    assert not attributes.get("ecampusschool")
