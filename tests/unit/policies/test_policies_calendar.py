"""Calendar: the FAQ's opening days per category, secondary encoding, staff identity data."""

from __future__ import annotations

from datetime import date

import pytest
from policy_builders import context, enrolment, history, staff, student, walk

from ecampus_idm.model import Category, Enrolment, Role
from ecampus_idm.policies import (
    CalendarPolicy,
    CalendarSettings,
    Check,
    Decision,
    Outcome,
    Reason,
    RuleRegistry,
)

CALENDAR = CalendarPolicy(CalendarSettings())


def decide(today: date, *enrolments: Enrolment) -> Decision:
    return CALENDAR(context(today, student(*enrolments)))


# -- the seed dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "today", "outcome"),
    [
        (Category.PS, date(2026, 7, 31), Outcome.PENDING),
        (Category.PS, date(2026, 8, 1), Outcome.ALLOW),
        (Category.HE, date(2026, 8, 31), Outcome.PENDING),
        (Category.HE, date(2026, 9, 1), Outcome.ALLOW),
        (Category.SEC, date(2026, 7, 31), Outcome.PENDING),
        (Category.SEC, date(2026, 8, 1), Outcome.ALLOW),
    ],
    ids=["ps-31-july", "ps-1-august", "he-31-august", "he-1-september", "sec-31-july", "sec-1-aug"],
)
def test_student_accounts_open_on_the_category_day(
    category: Category, today: date, outcome: Outcome
) -> None:
    """Student accounts open on the FAQ's day for the category, not a day before."""
    decision = decide(today, enrolment(category, "SCHOOL", 2026))
    assert decision.outcome is outcome


@pytest.mark.parametrize(
    ("category", "today", "opens_fr", "opens_en"),
    [
        (Category.PS, date(2026, 7, 31), "1er août 2026", "1 August 2026"),
        (Category.HE, date(2026, 8, 31), "1er septembre 2026", "1 September 2026"),
    ],
    ids=["ps", "he"],
)
def test_pending_student_is_told_the_day(
    category: Category, today: date, opens_fr: str, opens_en: str
) -> None:
    """Before the opening day the reason gives the day the account will be created."""
    decision = decide(today, enrolment(category, "SCHOOL", 2026))
    assert decision.reason.code == "calendar.enrolment.before_opening"
    assert f"le compte sera créé le {opens_fr}" in decision.reason.fr
    assert f"the account will be created on {opens_en}" in decision.reason.en
    assert decision.reason.data["opens_on"] == date(2026, 9 if category is Category.HE else 8, 1)


def test_secondary_waits_for_the_encoding_after_1_august() -> None:
    """After 1 August, a secondary pupil the secretariat has not finished encoding waits."""
    decision = decide(date(2026, 8, 20), enrolment(Category.SEC, "ATH", 2026, complete=False))
    assert (decision.outcome, decision.reason.code) == (
        Outcome.PENDING,
        "calendar.enrolment.encoding",
    )
    assert "n'a pas terminé l'encodage" in decision.reason.fr


def test_secondary_opens_once_encoded() -> None:
    """The same pupil, once encoded, gets an account."""
    decision = decide(date(2026, 8, 20), enrolment(Category.SEC, "ATH", 2026, complete=True))
    assert decision.allowed


def test_secondary_before_1_august_mentions_both_conditions() -> None:
    """Before 1 August an unencoded pupil is told the day and that encoding must be done."""
    decision = decide(date(2026, 7, 15), enrolment(Category.SEC, "ATH", 2026, complete=False))
    assert decision.reason.code == "calendar.enrolment.before_opening"
    assert "si le secrétariat a terminé l'encodage" in decision.reason.fr
    assert "finished encoding" in decision.reason.en


@pytest.mark.parametrize("category", [Category.HE, Category.PS], ids=["he", "ps"])
def test_encoding_flag_matters_only_where_configured(category: Category) -> None:
    """HE and PS enrolments open whatever the encoding flag says (default settings)."""
    decision = decide(date(2026, 9, 1), enrolment(category, "X", 2026, complete=False))
    assert decision.allowed


def test_school_opening_exception_applies() -> None:
    """A school with its own opening day follows it, not its category's."""
    settings = CalendarSettings.model_validate({"school_opening": {"HEC-MONS": "09-14"}})
    calendar = CalendarPolicy(settings)
    person = student(enrolment(Category.HE, "HEC-MONS", 2026))
    assert calendar(context(date(2026, 9, 13), person)).pending
    assert calendar(context(date(2026, 9, 14), person)).allowed


def test_last_years_enrolment_keeps_the_account_open() -> None:
    """An enrolment of the previous academic year is still open (until the source drops it)."""
    assert decide(date(2026, 8, 15), enrolment(Category.HE, "HEC", 2025)).allowed


def test_one_open_enrolment_is_enough() -> None:
    """A student with an open and a coming enrolment is allowed, for the open one."""
    decision = decide(
        date(2026, 8, 15),
        enrolment(Category.HE, "HEC", 2026),
        enrolment(Category.PS, "EPS", 2026),
    )
    opened = [d.reason.data["school"] for d in decision.leaves() if d.policy == "enrolment-open"]
    assert (decision.allowed, opened) == (True, ["EPS"])


def test_several_pending_enrolments_are_all_told() -> None:
    """A student waiting on two enrolments is told about both."""
    decision = decide(
        date(2026, 7, 1),
        enrolment(Category.HE, "HEC", 2026),
        enrolment(Category.PS, "EPS", 2026),
    )
    assert decision.pending
    assert [d.reason.data["school"] for d in decision.leaves()] == ["HEC", "EPS"]


def test_student_without_enrolment_is_denied() -> None:
    """The student role without any enrolment gives no account."""
    person = student().model_copy(update={"enrolments": ()})
    decision = CALENDAR(context(date(2026, 9, 1), person))
    assert (decision.outcome, decision.reason.code) == (
        Outcome.DENY,
        "calendar.not_student+calendar.not_staff",
    )


def test_enrolment_rule_alone_denies_without_enrolments() -> None:
    """The enrolment rule, used on its own, denies a person without enrolments."""
    person = student().model_copy(update={"enrolments": ()})
    decision = CALENDAR.rules["enrolment-open"](context(date(2026, 9, 1), person))
    assert decision.reason.code == "calendar.enrolment.none"


def test_person_in_no_source_is_denied() -> None:
    """Without a person (only a history), every rule says the person is in no source."""
    decision = CALENDAR(context(date(2026, 9, 1), None, history("gone", date(2026, 1, 1))))
    assert {d.reason.code for d in decision.leaves()} == {"calendar.absent"}


# -- staff ---------------------------------------------------------------------------------


def test_staff_with_complete_identity_gets_an_account_without_attribution() -> None:
    """A teacher with complete identity data gets an account, attribution or not."""
    decision = CALENDAR(context(date(2026, 3, 3), staff()))
    assert decision.allowed
    assert "24 heures" in decision.reason.fr


@pytest.mark.parametrize(
    ("missing", "fr", "en"),
    [
        (("birth_date",), "il manque : date de naissance.", "missing: birth date."),
        (
            ("personal_email", "niss_pseudonym"),
            "adresse e-mail personnelle et numéro de registre national",
            "personal e-mail address and national register number",
        ),
    ],
    ids=["one", "two"],
)
def test_staff_with_missing_identity_is_told_which_field(
    missing: tuple[str, ...], fr: str, en: str
) -> None:
    """Incomplete identity data makes a staff member wait, naming each missing field."""
    person = staff(**dict.fromkeys(missing))
    decision = CALENDAR(context(date(2026, 3, 3), person))
    assert (decision.outcome, decision.reason.data["missing"]) == (Outcome.PENDING, missing)
    assert fr in decision.reason.fr
    assert en in decision.reason.en
    assert "bureau du personnel" in decision.reason.fr


def test_administrative_staff_counts_as_staff() -> None:
    """Administrative staff get accounts like teachers."""
    person = staff(roles=frozenset({Role.ADMINISTRATIVE}))
    assert CALENDAR(context(date(2026, 3, 3), person)).allowed


def test_student_identity_requirements_are_configurable() -> None:
    """Students can be required to have a personal e-mail before their account opens."""
    calendar = CalendarPolicy(CalendarSettings(student_required_fields=("personal_email",)))
    decision = calendar(context(date(2026, 9, 1), student()))
    assert decision.reason.data["missing"] == ("personal_email",)
    assert "secrétariat" in decision.reason.fr


def test_staff_who_is_also_a_pending_student_gets_the_staff_account() -> None:
    """One person, several roles: the staff account does not wait for the student date."""
    person = staff(
        roles=frozenset({Role.TEACHER, Role.STUDENT}), enrolments=(enrolment(Category.HE),)
    )
    assert CALENDAR(context(date(2026, 8, 1), person)).policy == "staff-account"


def test_registry_replacement_changes_the_account_rule() -> None:
    """Replacing a leaf rule in the registry changes the composed ``account`` rule."""
    registry = RuleRegistry()
    calendar = CalendarPolicy(CalendarSettings(), registry)
    always = Reason(code="test.always", fr="Toujours.", en="Always.")
    registry.register("staff-identity", Check("x", lambda _c: Decision.allow("x", always)))
    person = staff(birth_date=None)
    assert calendar(context(date(2026, 3, 3), person)).allowed


# -- current enrolments --------------------------------------------------------------------


def test_current_enrolments_move_to_the_new_year_when_it_opens() -> None:
    """A re-enrolled student's current enrolment switches on the opening day: a move."""
    person = student(
        enrolment(Category.HE, "HEC-TOURNAI", 2025, "INFO"),
        enrolment(Category.HE, "HEC-MONS", 2026, "ECO"),
    )
    before = CALENDAR.current_enrolments(person, date(2026, 8, 31))
    after = CALENDAR.current_enrolments(person, date(2026, 9, 1))
    assert [e.school for e in before] == ["HEC-TOURNAI"]
    assert [e.school for e in after] == ["HEC-MONS"]


def test_current_enrolments_keep_each_category() -> None:
    """Enrolments in two categories are both current, in a stable order."""
    person = student(
        enrolment(Category.PS, "EPS", 2026),
        enrolment(Category.HE, "HEC", 2026, "B"),
        enrolment(Category.HE, "HEC", 2026, "A"),
    )
    current = CALENDAR.current_enrolments(person, date(2026, 9, 1))
    assert [(e.school, e.department) for e in current] == [
        ("HEC", "A"),
        ("HEC", "B"),
        ("EPS", None),
    ]


def test_every_calendar_decision_has_both_languages() -> None:
    """Every calendar decision, combined or not, says why in French and, differently, English."""
    people = [
        student(enrolment(c, "S", 2026, complete=done)) for c in Category for done in (True, False)
    ] + [staff(), staff(birth_date=None), staff(roles=frozenset())]
    days = [date(2026, 7, 31), date(2026, 8, 1), date(2026, 9, 1)]
    decisions = [CALENDAR(context(day, p)) for p in people for day in days]
    assert all(d.reason.fr.strip() and d.reason.en.strip() for d in walk(decisions))
    assert all(d.reason.fr != d.reason.en for d in walk(decisions))
