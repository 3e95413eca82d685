"""Lifecycle: create, keep, grace → disabled → deleted timing, return, never walk back."""

from __future__ import annotations

from datetime import date

import pytest
from policy_builders import context, enrolment, history, staff, student, walk

from ecampus_idm.model import AccountStatus, Category, Role
from ecampus_idm.policies import (
    CalendarPolicy,
    CalendarSettings,
    LifecyclePolicy,
    LifecycleSettings,
    Outcome,
    PersonHistory,
    RetentionPeriods,
)

SETTINGS = LifecycleSettings(
    students=RetentionPeriods(grace_days=30, retention_days=60),
    staff=RetentionPeriods(grace_days=10, retention_days=20),
)
LIFECYCLE = LifecyclePolicy(SETTINGS, CalendarPolicy(CalendarSettings()))
LAST_SEEN = date(2026, 6, 30)
STUDENT_ROLES = frozenset({Role.STUDENT})
STAFF_ROLES = frozenset({Role.TEACHER})


def gone(
    status: AccountStatus = AccountStatus.ACTIVE, roles: frozenset[Role] = STUDENT_ROLES
) -> PersonHistory:
    return history("p-1", LAST_SEEN, roles=roles, status=status)


# -- leaving -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "status", "outcome"),
    [
        (date(2026, 7, 1), AccountStatus.GRACE, Outcome.ALLOW),
        (date(2026, 7, 30), AccountStatus.GRACE, Outcome.ALLOW),
        (date(2026, 7, 31), AccountStatus.DISABLED, Outcome.DENY),
        (date(2026, 9, 28), AccountStatus.DISABLED, Outcome.DENY),
        (date(2026, 9, 29), AccountStatus.DELETED, Outcome.DENY),
    ],
    ids=["first-day-away", "last-grace-day", "disabled", "last-disabled-day", "deleted"],
)
def test_student_grace_then_disable_then_delete(
    today: date, status: AccountStatus, outcome: Outcome
) -> None:
    """A student who left: 30 days of grace, then 60 disabled, then deleted."""
    state = LIFECYCLE.assess(context(today, None, gone()))
    assert (state.status, state.decision.outcome, state.present) == (status, outcome, False)


@pytest.mark.parametrize(
    ("today", "status"),
    [
        (date(2026, 7, 10), AccountStatus.GRACE),
        (date(2026, 7, 11), AccountStatus.DISABLED),
        (date(2026, 7, 30), AccountStatus.DISABLED),
        (date(2026, 7, 31), AccountStatus.DELETED),
    ],
    ids=["last-grace-day", "disabled", "last-disabled-day", "deleted"],
)
def test_staff_periods_apply_to_staff(today: date, status: AccountStatus) -> None:
    """Staff follow their own periods: 10 days of grace, then 20 disabled."""
    assert LIFECYCLE.assess(context(today, None, gone(roles=STAFF_ROLES))).status is status


def test_grace_reason_gives_every_date() -> None:
    """The grace decision tells when access went, and when disable and delete come."""
    decision = LIFECYCLE(context(date(2026, 7, 2), None, gone()))
    assert decision.reason.code == "lifecycle.grace"
    assert decision.reason.data == {
        "username": "jean.dupont",
        "left_on": date(2026, 7, 1),
        "disable_on": date(2026, 7, 31),
        "delete_on": date(2026, 9, 29),
    }
    assert "sera désactivé le 31 juillet 2026 et supprimé le 29 septembre 2026" in (
        decision.reason.fr
    )
    assert "disabled on 31 July 2026 and deleted on 29 September 2026" in decision.reason.en


@pytest.mark.parametrize(
    ("today", "code"),
    [(date(2026, 8, 1), "lifecycle.disabled"), (date(2026, 10, 1), "lifecycle.deleted")],
    ids=["disabled", "deleted"],
)
def test_later_stages_say_so(today: date, code: str) -> None:
    """Disabled and deleted accounts each have their own reason."""
    assert LIFECYCLE(context(today, None, gone())).reason.code == code


def test_a_missed_night_changes_nothing() -> None:
    """The timeline counts from the last day seen, not from the previous run's status."""
    state = LIFECYCLE.assess(context(date(2026, 8, 15), None, gone(AccountStatus.ACTIVE)))
    assert state.status is AccountStatus.DISABLED


def test_status_is_never_walked_back_while_away() -> None:
    """An account already deleted (by hand, early) stays deleted, with its own reason."""
    decision = LIFECYCLE(context(date(2026, 7, 2), None, gone(AccountStatus.DELETED)))
    assert (decision.reason.code, decision.reason.data["username"]) == (
        "lifecycle.kept_status",
        "jean.dupont",
    )
    assert LIFECYCLE.assess(
        context(date(2026, 7, 2), None, gone(AccountStatus.DELETED))
    ).status is (AccountStatus.DELETED)


def test_person_no_longer_entitled_is_treated_as_gone() -> None:
    """In a source but denied (no enrolment left): the same timeline, with that reason."""
    person = student(person_id="p-1").model_copy(update={"enrolments": ()})
    state = LIFECYCLE.assess(context(date(2026, 7, 2), person, gone()))
    assert (state.status, state.present) == (AccountStatus.GRACE, False)
    assert state.decision.reason.fr.startswith("La personne ne remplit pas les conditions")
    assert state.eligibility is not None


def test_nobody_without_account_needs_nothing() -> None:
    """Someone gone (or never entitled) without account: no status, nothing to do."""
    state = LIFECYCLE.assess(
        context(date(2026, 7, 2), None, history("p-1", LAST_SEEN, username=None))
    )
    assert (state.status, state.decision.reason.code) == (None, "lifecycle.none")


# -- coming and staying --------------------------------------------------------------------


def test_newcomer_entitled_gets_an_account_created() -> None:
    """An entitled person without account gets one to create."""
    state = LIFECYCLE.assess(context(date(2026, 9, 1), student()))
    assert (state.status, state.new_account, state.present) == (AccountStatus.ACTIVE, True, True)
    assert state.decision.reason.code == "lifecycle.create"


def test_newcomer_pending_waits_without_account() -> None:
    """A person waiting for their opening day has no account yet but counts as present."""
    state = LIFECYCLE.assess(context(date(2026, 8, 31), student()))
    assert (state.status, state.present, state.decision.outcome) == (None, True, Outcome.PENDING)


def test_active_account_stays_active() -> None:
    """An entitled person keeps their active account."""
    state = LIFECYCLE.assess(context(date(2026, 9, 1), student(person_id="p-1"), gone()))
    assert (state.status, state.new_account, state.decision.reason.code) == (
        AccountStatus.ACTIVE,
        False,
        "lifecycle.active",
    )


def test_active_account_stays_active_while_pending() -> None:
    """A staff member whose data became incomplete keeps the active account."""
    person = staff(person_id="p-1", birth_date=None)
    state = LIFECYCLE.assess(context(date(2026, 9, 1), person, gone(roles=STAFF_ROLES)))
    assert state.status is AccountStatus.ACTIVE


@pytest.mark.parametrize(
    ("previous", "new_account"),
    [
        (AccountStatus.GRACE, False),
        (AccountStatus.DISABLED, False),
        (AccountStatus.DELETED, True),
    ],
    ids=["from-grace", "from-disabled", "from-deleted"],
)
def test_returning_person_gets_the_old_account_back(
    previous: AccountStatus, new_account: bool
) -> None:
    """Back and entitled: the old account is active again (re-created if it was deleted)."""
    state = LIFECYCLE.assess(context(date(2027, 9, 1), student(person_id="p-1"), gone(previous)))
    assert (state.status, state.new_account) == (AccountStatus.ACTIVE, new_account)
    assert state.decision.reason.code == "lifecycle.returned"
    assert "jean.dupont" in state.decision.reason.fr


def test_returning_person_not_yet_entitled_is_held() -> None:
    """Back in a source before the opening day: the account keeps its status meanwhile."""
    person = student(enrolment(Category.HE, "HEC", 2027), person_id="p-1")
    state = LIFECYCLE.assess(context(date(2027, 8, 20), person, gone(AccountStatus.DISABLED)))
    assert (state.status, state.present, state.decision.reason.code) == (
        AccountStatus.DISABLED,
        True,
        "lifecycle.held",
    )


def test_every_lifecycle_decision_has_both_languages() -> None:
    """Every lifecycle decision says why in French and, differently, in English."""
    decisions = [
        LIFECYCLE(context(day, person, gone(status)))
        for day in (date(2026, 7, 2), date(2026, 8, 2), date(2026, 12, 1), date(2027, 9, 1))
        for person in (None, student(person_id="p-1"))
        for status in AccountStatus
    ]
    assert all(d.reason.fr.strip() and d.reason.en.strip() for d in walk(decisions))
    assert all(d.reason.fr != d.reason.en for d in walk(decisions))
