"""The OpenLDAP profile: verdicts become entries and groups, end to end on the memory twin."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.mapping import LOCKED, OpenLdapProfile
from ecampus_idm.model import (
    AcademicYear,
    AccountStatus,
    Attribution,
    Category,
    Enrolment,
    Person,
    Role,
    School,
    SourceKey,
    StaffFunction,
)
from ecampus_idm.policies import PersonVerdict, PolicyEngine, StoreSnapshot
from ecampus_idm.sync import EntryKind, Segment, apply, plan, read_snapshot
from ecampus_idm.testing.plugin import memory_base_tree

BASE = "dc=ecampus,dc=test"
SCHOOLS = (
    School(code="HEC-TOURNAI", name="HE Tournai", category=Category.HE),
    School(code="EPS-CHARLEROI", name="EPS Charleroi", category=Category.PS),
)
KEY = SourceKey(source="secretariat-hec", matricule="000042")
HR = SourceKey(source="personnel", matricule="007")


def profile() -> OpenLdapProfile:
    return OpenLdapProfile(f"ou=people,{BASE}", f"ou=groups,{BASE}", "ecampus.test", SCHOOLS)


def student(
    person_id: str = "p-1", given: str = "Hélène", family: str = "Van der Straeten"
) -> Person:
    return Person(
        person_id=person_id,
        given_name=given,
        family_name=family,
        birth_date=date(2005, 3, 1),
        personal_email="helene@example.org",
        roles=frozenset({Role.STUDENT}),
        source_keys=frozenset({KEY}),
        enrolments=(
            Enrolment(
                school="HEC-TOURNAI",
                category=Category.HE,
                department="INFO",
                academic_year=AcademicYear(start_year=2026),
                source=KEY,
            ),
        ),
    )


def teacher(person_id: str = "p-2") -> Person:
    return Person(
        person_id=person_id,
        given_name="Marc",
        family_name="Dubois",
        birth_date=date(1980, 1, 1),
        personal_email="marc@example.org",
        niss_pseudonym="pseudonym-of-marc",
        roles=frozenset({Role.TEACHER}),
        source_keys=frozenset({HR}),
        attributions=(
            Attribution(
                school="EPS-CHARLEROI",
                category=Category.PS,
                function=StaffFunction.TEACHER,
                start=date(2026, 1, 1),
                source=HR,
            ),
        ),
    )


def verdicts(
    persons: list[Person], day: date, snapshot: StoreSnapshot | None = None
) -> list[PersonVerdict]:
    return list(PolicyEngine().decide(persons, snapshot or StoreSnapshot(), FixedClock.on(day)))


def test_student_entry_attributes() -> None:
    """A new HE student maps to a uid entry with eduPerson values, owned, with a password.

    The username is cut at 20 characters by the naming policy (the AD limit).
    """
    person = student()
    (verdict,) = verdicts([person], date(2026, 9, 2))
    entries = profile().desired([person], [verdict], date(2026, 9, 2))
    person_entry = next(e for e in entries if e.kind is EntryKind.PERSON)
    assert person_entry.dn == f"uid=helene.vanderstraete,ou=people,{BASE}"
    assert person_entry.attributes["edupersonaffiliation"] == ("member", "student")
    assert person_entry.attributes["mail"] == ("helene.vanderstraete@ecampus.test",)
    assert person_entry.attributes["ecampussourcekey"] == ("secretariat-hec:000042",)
    assert person_entry.initial_password
    assert person_entry.segment == Segment("HE", "HEC-TOURNAI")
    groups = {e.key: e for e in entries if e.kind is EntryKind.GROUP}
    assert groups
    assert all(person_entry.dn in g.members for g in groups.values())
    assert {g.segment for g in groups.values()} >= {Segment("HE", "HEC-TOURNAI")}


def test_pending_student_has_no_entry() -> None:
    """Before 1 September an HE student gets no entry at all."""
    person = student()
    assert (
        profile().desired([person], verdicts([person], date(2026, 8, 31)), date(2026, 8, 31)) == []
    )


def test_whole_chain_creates_then_converges() -> None:
    """Policies → mapping → plan → apply on the memory twin; the next plan is empty."""
    persons = [student(), teacher()]
    day = date(2026, 9, 2)
    desired = profile().desired(persons, verdicts(persons, day), day)
    directory = memory_base_tree()
    spec = profile().target()
    first = plan(desired, read_snapshot(directory, spec), profile().plan_options())
    report = apply(first, directory, spec, passwords=lambda key: SecretStr(f"Pw-{key}-long-enough"))
    assert report.ok
    # Once recorded, the accounts are no longer new: the next run's desired state says so.
    recorded = [replace(e, initial_password=False) for e in desired]
    assert plan(recorded, read_snapshot(directory, spec), profile().plan_options()).is_empty
    directory.authenticate(f"uid=marc.dubois,ou=people,{BASE}", SecretStr("Pw-p-2-long-enough"))


@pytest.mark.parametrize(
    ("status", "locked"),
    [(AccountStatus.DISABLED, True), (AccountStatus.GRACE, False)],
    ids=["disabled", "grace"],
)
def test_absent_person_keeps_identity_and_owns_status_only(
    status: AccountStatus, locked: bool
) -> None:
    """A leaver's entry keeps names as they are; only the status attributes are forced."""
    verdict = PersonVerdict(
        person_id="p-1",
        present=False,
        status=status,
        username="helene.vanderstraeten",
        new_account=False,
        decisions=(),
    )
    entry = profile().person(None, verdict, date(2026, 3, 1))
    assert entry is not None
    assert "sn" not in entry.owned
    assert ("pwdaccountlockedtime" in entry.attributes) is locked
    assert entry.attributes.get("pwdaccountlockedtime", (LOCKED,)) == (LOCKED,)
    assert entry.enabled is not locked


def test_segment_of_observed_group_uses_school_prefix() -> None:
    """A group named after a school belongs to that school's segment."""
    group = profile().group("eps-charleroi-staff", [])
    assert group.segment == Segment("PS", "EPS-CHARLEROI")
    assert profile().group("he-students", []).segment == Segment("HE", "")
    assert profile().group("everyone", []).segment == Segment()
