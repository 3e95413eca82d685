"""No school shows before it opens: the verdict carries only the open roles and schools.

A person who is both a Haute École student (HE opens on 1 September) and a Promotion
Sociale teacher (open now) has an account from July, through the teacher role; until
1 September nothing of the HE school may show: no group, no school attribute, no student
affiliation, in either directory profile.
"""

from __future__ import annotations

from datetime import date

from policy_builders import attribution, enrolment, staff, student, walk

from ecampus_idm.clock import FixedClock
from ecampus_idm.mapping import OpenLdapProfile
from ecampus_idm.mapping.active_directory import ActiveDirectoryProfile
from ecampus_idm.model import AccountStatus, Category, Person, Role, School
from ecampus_idm.policies import PersonVerdict, PolicyEngine, StoreSnapshot
from ecampus_idm.sync import EntryKind

BASE = "dc=ecampus,dc=test"
JULY, SEPTEMBER = date(2026, 7, 15), date(2026, 9, 2)
SCHOOLS = (
    School(code="HEC-MONS", name="HE Mons", category=Category.HE),
    School(code="EPS-CHARLEROI", name="EPS Charleroi", category=Category.PS),
)


def both() -> Person:
    """An HE student at Mons (2026-2027) who teaches at EPS Charleroi since February."""
    return staff(
        attribution(date(2026, 2, 1), school="EPS-CHARLEROI"),
        person_id="b-1",
        roles=frozenset({Role.TEACHER, Role.STUDENT}),
        enrolments=(enrolment(Category.HE, "HEC-MONS", 2026, "INFO"),),
    )


def verdict_on(day: date, person: Person | None = None) -> PersonVerdict:
    (verdict,) = PolicyEngine().decide([person or both()], StoreSnapshot(), FixedClock.on(day))
    return verdict


def test_he_school_is_not_in_the_verdict_before_it_opens() -> None:
    """In July: an account (teacher role), the PS school only, and a reason for HE."""
    verdict = verdict_on(JULY)
    assert verdict.status is AccountStatus.ACTIVE
    assert verdict.roles == {Role.TEACHER}
    assert verdict.schools == {"EPS-CHARLEROI"}
    assert not {g for g in verdict.groups if g.startswith(("hec-", "he-"))}
    assert "eps-charleroi-staff" in verdict.groups
    closed = [d for d in walk(verdict.decisions) if d.reason.code == "access.school.not_open"]
    assert len(closed) == 1
    assert closed[0].pending
    assert closed[0].reason.data["school"] == "HEC-MONS"
    assert closed[0].reason.data["opens_on"] == date(2026, 9, 1)
    assert "HEC-MONS ouvre le 1er septembre 2026" in closed[0].reason.fr
    assert "HEC-MONS opens on 1 September 2026" in closed[0].reason.en


def test_he_school_shows_from_its_opening_day() -> None:
    """From 1 September the student role and the HE school show with the PS one."""
    verdict = verdict_on(date(2026, 9, 1))
    assert verdict.roles == {Role.TEACHER, Role.STUDENT}
    assert verdict.schools == {"EPS-CHARLEROI", "HEC-MONS"}
    assert "hec-mons-info-students" in verdict.groups
    assert not [d for d in walk(verdict.decisions) if d.reason.code == "access.school.not_open"]


def test_staff_role_with_incomplete_identity_shows_no_school() -> None:
    """A student whose staff role is not open yet (identity incomplete) shows no staff school."""
    person = staff(
        attribution(date(2026, 2, 1), school="EPS-CHARLEROI"),
        roles=frozenset({Role.TEACHER, Role.STUDENT}),
        enrolments=(enrolment(Category.HE, "HEC-MONS", 2026),),
        niss_pseudonym=None,
    )
    verdict = verdict_on(SEPTEMBER, person)
    assert verdict.status is AccountStatus.ACTIVE
    assert verdict.roles == {Role.STUDENT}
    assert verdict.schools == {"HEC-MONS"}
    assert not {g for g in verdict.groups if g.startswith(("eps-", "ps-"))}


def test_only_current_enrolments_give_a_school() -> None:
    """Last year's enrolment elsewhere no longer shows once the new one is current."""
    person = student(
        enrolment(Category.HE, "HEC-TOURNAI", 2025),
        enrolment(Category.HE, "HEC-MONS", 2026),
    )
    assert verdict_on(date(2026, 8, 20), person).schools == {"HEC-TOURNAI"}
    assert verdict_on(SEPTEMBER, person).schools == {"HEC-MONS"}


def test_openldap_entry_shows_only_open_schools_and_roles() -> None:
    """The OpenLDAP entry follows the verdict: no HE school nor student affiliation in July."""
    person = both()
    profile = OpenLdapProfile(f"ou=people,{BASE}", f"ou=groups,{BASE}", "ecampus.test", SCHOOLS)
    july = profile.desired([person], [verdict_on(JULY)], JULY)
    entry = next(e for e in july if e.kind is EntryKind.PERSON)
    assert entry.attributes["ecampusschool"] == ("EPS-CHARLEROI",)
    assert "student" not in entry.attributes["edupersonaffiliation"]
    assert not [e for e in july if e.kind is EntryKind.GROUP and e.key.startswith("hec-")]
    september = profile.desired([person], [verdict_on(SEPTEMBER)], SEPTEMBER)
    entry = next(e for e in september if e.kind is EntryKind.PERSON)
    assert entry.attributes["ecampusschool"] == ("EPS-CHARLEROI", "HEC-MONS")
    assert "student" in entry.attributes["edupersonaffiliation"]


def test_active_directory_user_shows_only_open_schools() -> None:
    """The AD user follows the same verdict: school attribute and OU of open schools only."""
    person = both()
    profile = ActiveDirectoryProfile(
        f"OU=people,{BASE}", f"OU=groups,{BASE}", "ecampus.test", SCHOOLS
    )
    july = profile.desired([person], [verdict_on(JULY)], JULY)
    user = next(e for e in july if e.kind is EntryKind.PERSON)
    assert user.attributes["departmentnumber"] == ("EPS-CHARLEROI",)
    assert not [e for e in july if e.kind is EntryKind.GROUP and e.key.startswith("hec-")]
    september = profile.desired([person], [verdict_on(SEPTEMBER)], SEPTEMBER)
    user = next(e for e in september if e.kind is EntryKind.PERSON)
    assert user.attributes["departmentnumber"] == ("EPS-CHARLEROI", "HEC-MONS")
