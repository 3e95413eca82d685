"""Access: groups from current enrolments and attributions, boundaries, pre-provisioning."""

from __future__ import annotations

from datetime import date

import pytest
from policy_builders import attribution, context, enrolment, history, staff, student, walk

from ecampus_idm.model import Category, Role, StaffFunction
from ecampus_idm.policies import (
    AccessPolicy,
    AccessSettings,
    CalendarPolicy,
    CalendarSettings,
    Outcome,
)

START, END = date(2026, 9, 14), date(2027, 6, 30)


def policy(settings: AccessSettings | None = None) -> AccessPolicy:
    return AccessPolicy(settings or AccessSettings(), CalendarPolicy(CalendarSettings()))


ACCESS = policy()


# -- staff: attribution boundaries ---------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "code", "granted"),
    [
        (date(2026, 8, 30), "access.attribution.future", False),
        (date(2026, 8, 31), "access.attribution.early", True),
        (date(2026, 9, 13), "access.attribution.early", True),
        (START, "access.attribution", True),
        (END, "access.attribution", True),
        (date(2027, 7, 1), "access.attribution.ended", False),
    ],
    ids=["before-window", "window-opens", "eve", "start", "end", "day-after-end"],
)
def test_attribution_boundaries(today: date, code: str, granted: bool) -> None:
    """Access starts 14 days before the start, lasts through the end day, stops the day after."""
    access = ACCESS.assess(context(today, staff(attribution(START, END))))
    assert access.decisions[0].reason.code == code
    assert ("eps-charleroi-staff" in access.groups) is granted


def test_future_attribution_says_when_access_opens() -> None:
    """A future attribution is pending with the day access opens, in both languages."""
    decision = ACCESS.assess(context(date(2026, 8, 1), staff(attribution(START)))).decisions[0]
    assert decision.pending
    assert decision.reason.data["access_from"] == date(2026, 8, 31)
    assert "accès ouvert le 31 août 2026" in decision.reason.fr
    assert "access opens on 31 August 2026" in decision.reason.en


def test_open_ended_attribution_stays_current() -> None:
    """An attribution without end gives access for as long as it is listed."""
    access = ACCESS.assess(context(date(2030, 1, 1), staff(attribution(START))))
    assert "ps-staff" in access.groups


def test_preprovisioning_is_configurable_per_school() -> None:
    """A school can grant future attributions later (here: not ahead at all)."""
    settings = AccessSettings.model_validate(
        {"schools": {"EPS-CHARLEROI": {"preprovision_days": 0}}}
    )
    access = policy(settings).assess(context(date(2026, 9, 13), staff(attribution(START))))
    assert (access.groups, access.decisions[0].outcome) == (frozenset(), Outcome.PENDING)


def test_staff_groups_follow_category_school_and_function() -> None:
    """A current attribution gives the category, school and function groups."""
    person = staff(attribution(START, function=StaffFunction.ADMINISTRATIVE))
    access = ACCESS.assess(context(START, person))
    assert access.groups == {"ps-staff", "eps-charleroi-staff", "eps-charleroi-administrative"}


def test_staff_without_attribution_keeps_the_account_without_school_access() -> None:
    """No attribution at all: no group, and the decision says the account is kept."""
    decision = ACCESS(context(START, staff()))
    assert (decision.outcome, decision.reason.code) == (
        Outcome.DENY,
        "access.staff.no_attribution",
    )
    assert "le compte (messagerie, eduroam) est conservé" in decision.reason.fr
    assert "the account (mail, eduroam) is kept" in decision.reason.en


def test_ended_attribution_leaves_no_access_and_says_both() -> None:
    """After the end, the reasons tell the end date and that the account is kept."""
    access = ACCESS.assess(context(date(2027, 7, 1), staff(attribution(START, END))))
    assert [d.reason.code for d in access.decisions] == [
        "access.attribution.ended",
        "access.staff.no_attribution",
    ]
    assert access.groups == frozenset()


def test_attributions_in_two_schools_give_both() -> None:
    """Each current attribution adds its school; an ended one adds nothing."""
    person = staff(
        attribution(START, school="EPS-CHARLEROI"),
        attribution(date(2025, 9, 1), date(2026, 6, 30), school="HEC-MONS", category=Category.HE),
        attribution(START, school="ATH-ATHENEE", category=Category.SEC),
    )
    access = ACCESS.assess(context(START, person))
    assert {"eps-charleroi-staff", "ath-athenee-staff"} <= access.groups
    assert not {g for g in access.groups if g.startswith("hec-mons")}


# -- students ------------------------------------------------------------------------------


def test_student_groups_follow_the_current_enrolment() -> None:
    """A student gets the category, school and department groups, lower case."""
    person = student(enrolment(Category.HE, "HEC-TOURNAI", 2026, "INFO"))
    access = ACCESS.assess(context(date(2026, 9, 1), person))
    assert access.groups == {"he-students", "hec-tournai-students", "hec-tournai-info-students"}


def test_department_pattern_is_skipped_without_department() -> None:
    """An enrolment without department does not produce a half-filled group name."""
    person = student(enrolment(Category.PS, "EPS-CHARLEROI", 2026))
    access = ACCESS.assess(context(date(2026, 9, 1), person))
    assert access.groups == {"ps-students", "eps-charleroi-students"}


def test_a_move_changes_the_groups_on_the_next_run() -> None:
    """A corrected department in the source gives the new groups on the next run."""
    before = student(enrolment(Category.HE, "HEC-TOURNAI", 2026, "INFO"))
    after = student(enrolment(Category.HE, "HEC-MONS", 2026, "ECO"))
    day = date(2026, 10, 5)
    assert ACCESS.assess(context(day, before)).groups != ACCESS.assess(context(day, after)).groups
    assert "hec-mons-eco-students" in ACCESS.assess(context(day, after)).groups


def test_pending_student_has_no_school_access() -> None:
    """Before the opening day a student gets no group nor school; the decision says when."""
    access = ACCESS.assess(context(date(2026, 8, 31), student()))
    assert (access.groups, access.schools, access.roles) == (frozenset(),) * 3
    (decision,) = access.decisions
    assert (decision.outcome, decision.reason.code) == (Outcome.PENDING, "access.school.not_open")
    assert decision.reason.data["opens_on"] == date(2026, 9, 1)


def test_entitlements_are_rendered_like_groups() -> None:
    """Entitlement patterns are filled in like group patterns."""
    settings = AccessSettings.model_validate(
        {"students": {"groups": [], "entitlements": ["urn:mace:ecampus:valves:{school}"]}}
    )
    access = policy(settings).assess(context(date(2026, 9, 1), student()))
    assert access.entitlements == {"urn:mace:ecampus:valves:hec-tournai"}


def test_student_who_is_staff_gets_both() -> None:
    """One person, two roles: student and staff groups together."""
    person = staff(
        attribution(START),
        roles=frozenset({Role.TEACHER, Role.STUDENT}),
        enrolments=(enrolment(Category.HE, "HEC-MONS", 2026),),
    )
    access = ACCESS.assess(context(START, person))
    assert {"hec-mons-students", "eps-charleroi-staff"} <= access.groups


# -- nobody --------------------------------------------------------------------------------


def test_person_in_no_source_loses_every_access_at_once() -> None:
    """Someone in no source gets no group, and the reason says access is removed."""
    access = ACCESS.assess(context(date(2026, 10, 1), None, history("gone", date(2026, 9, 30))))
    assert (access.groups, access.decisions[0].reason.code) == (frozenset(), "access.absent")


def test_person_without_role_gets_nothing() -> None:
    """A person in a source without role gets no access, with a reason."""
    person = student(roles=frozenset())
    assert ACCESS(context(date(2026, 10, 1), person)).reason.code == "access.no_role"


def test_summary_names_every_granting_school() -> None:
    """The summary decision of several grants keeps each one as a cause."""
    person = student(enrolment(Category.HE, "HEC", 2026), enrolment(Category.PS, "EPS", 2026))
    decision = ACCESS(context(date(2026, 9, 1), person))
    assert [d.reason.data["school"] for d in decision.leaves()] == ["HEC", "EPS"]


def test_every_access_decision_has_both_languages() -> None:
    """Every access decision says why in French and, differently, in English."""
    people = [
        staff(attribution(START, END)),
        staff(),
        student(enrolment(Category.HE, "HEC", 2026, "INFO")),
        student(roles=frozenset()),
    ]
    days = [date(2026, 8, 1), date(2026, 9, 1), START, date(2027, 7, 1)]
    decisions = [
        d for p in people for day in days for d in ACCESS.assess(context(day, p)).decisions
    ]
    assert all(d.reason.fr.strip() and d.reason.en.strip() for d in walk(decisions))
    assert all(d.reason.fr != d.reason.en for d in walk(decisions))
