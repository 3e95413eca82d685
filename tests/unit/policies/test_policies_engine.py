"""The engine: every policy applied to a run, in any input order; the package's public API."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest
from policy_builders import attribution, enrolment, history, staff, student, walk

import ecampus_idm.policies
from ecampus_idm.clock import FixedClock
from ecampus_idm.model import AccountStatus, Category, Role
from ecampus_idm.policies import (
    Check,
    Decision,
    NamingSettings,
    PersonVerdict,
    PolicyEngine,
    PolicyInputError,
    PolicySettings,
    Reason,
    StoreSnapshot,
)

ENGINE = PolicyEngine()
EMPTY = StoreSnapshot()
DAY = FixedClock.on(date(2026, 9, 14))


def test_new_student_gets_account_username_and_groups() -> None:
    """An entitled newcomer: a new active account, a username, the school groups."""
    person = student(enrolment(Category.HE, "HEC-TOURNAI", 2026, "INFO"), person_id="s-1")
    (verdict,) = ENGINE.decide([person], EMPTY, DAY)
    assert (verdict.status, verdict.username, verdict.new_account, verdict.present) == (
        AccountStatus.ACTIVE,
        "elodie.vanderstraete",
        True,
        True,
    )
    assert "hec-tournai-info-students" in verdict.groups
    assert [d.policy for d in verdict.decisions] == [
        "student-account",
        "lifecycle",
        "naming",
        "access",
    ]


def test_pending_student_gets_nothing_yet() -> None:
    """Before the opening day: no account, no username, no group; the reason has the day."""
    (verdict,) = ENGINE.decide([student()], EMPTY, FixedClock.on(date(2026, 8, 31)))
    assert (verdict.status, verdict.username, verdict.groups) == (None, None, frozenset())
    assert verdict.decisions[0].reason.data["opens_on"] == date(2026, 9, 1)


def test_staff_without_attribution_has_account_but_no_school_group() -> None:
    """A teacher without attribution: an active account, no group, and a decision saying so."""
    (verdict,) = ENGINE.decide([staff()], EMPTY, DAY)
    assert (verdict.status, verdict.groups) == (AccountStatus.ACTIVE, frozenset())
    assert verdict.decisions[-1].reason.code == "access.staff.no_attribution"


def test_person_who_left_loses_groups_and_enters_grace() -> None:
    """Someone remembered but in no source: grace, no group, not present."""
    past = history("gone", date(2026, 9, 13), roles=frozenset({Role.TEACHER}))
    (verdict,) = ENGINE.decide([], StoreSnapshot(people=(past,)), DAY)
    assert (verdict.status, verdict.groups, verdict.present, verdict.username) == (
        AccountStatus.GRACE,
        frozenset(),
        False,
        "jean.dupont",
    )


def test_returning_person_gets_the_deleted_username_back() -> None:
    """A person whose account was deleted comes back to the same username, re-created."""
    past = history("s-1", date(2024, 6, 30), username="elodie.old", status=AccountStatus.DELETED)
    (verdict,) = ENGINE.decide([student()], StoreSnapshot(people=(past,)), DAY)
    assert (verdict.status, verdict.username, verdict.new_account) == (
        AccountStatus.ACTIVE,
        "elodie.old",
        True,
    )


def test_no_free_username_means_no_account_this_time() -> None:
    """When naming fails, the person gets no account, and the naming reason says why."""
    engine = PolicyEngine(PolicySettings(naming=NamingSettings(reserved={"*"})))
    (verdict,) = engine.decide([staff()], EMPTY, DAY)
    assert (verdict.status, verdict.username, verdict.new_account) == (None, None, False)
    assert verdict.decisions[-1].reason.code == "naming.exhausted"


def test_verdicts_do_not_depend_on_input_order() -> None:
    """The same persons in another order give the same verdicts, sorted by person_id."""
    people = [
        student(person_id="b", given_name="Jean", family_name="Dupont"),
        staff(
            attribution(date(2026, 9, 1)), person_id="a", given_name="Jean", family_name="Dupont"
        ),
        student(person_id="c", given_name="Jean", family_name="Dupont"),
    ]
    forward = ENGINE.decide(people, EMPTY, DAY)
    backward = ENGINE.decide(list(reversed(people)), EMPTY, DAY)
    assert forward == backward
    assert [(v.person_id, v.username) for v in forward] == [
        ("a", "jean.dupont"),
        ("b", "jean.dupont2"),
        ("c", "jean.dupont3"),
    ]


def test_verdicts_serialise_to_json_for_the_plan() -> None:
    """A verdict, with its dates and reasons, serialises to JSON (the dry-run output)."""
    (verdict,) = ENGINE.decide([student()], EMPTY, FixedClock.on(date(2026, 8, 31)))
    document = json.loads(verdict.model_dump_json())
    assert document["decisions"][0]["reason"]["data"]["opens_on"] == "2026-09-01"
    assert PersonVerdict.model_validate(document).person_id == verdict.person_id


def test_same_person_twice_is_refused() -> None:
    """A run listing a person twice is an input error, not a silent choice."""
    with pytest.raises(PolicyInputError, match="given twice: s-1"):
        ENGINE.decide([student(), student()], EMPTY, DAY)


def test_tailored_rule_changes_the_engine_decisions() -> None:
    """Replacing ``account`` on one engine changes its decisions, not another engine's."""
    engine = PolicyEngine()
    closed = Reason(code="test.closed", fr="Fermé.", en="Closed.")
    engine.rules.register("account", Check("closed", lambda _c: Decision.deny("closed", closed)))
    (tailored,) = engine.decide([staff()], EMPTY, DAY)
    (default,) = ENGINE.decide([staff()], EMPTY, DAY)
    assert (tailored.status, default.status) == (None, AccountStatus.ACTIVE)


def test_every_decision_of_a_year_has_both_languages() -> None:
    """Over a year of runs and every kind of person, each decision says why in FR and EN."""
    people = [
        student(enrolment(Category.HE, "HEC", 2026, "INFO"), person_id="s-he"),
        student(enrolment(Category.PS, "EPS", 2026), person_id="s-ps"),
        student(enrolment(Category.SEC, "ATH", 2026, complete=False), person_id="s-sec"),
        staff(attribution(date(2026, 9, 1), date(2026, 12, 31)), person_id="t-1"),
        staff(person_id="t-2", birth_date=None),
    ]
    snapshot = StoreSnapshot(
        people=(
            history("gone", date(2026, 6, 30)),
            history("t-1", date(2026, 6, 30), username="jp.dhondt", status=AccountStatus.DISABLED),
        )
    )
    decisions = [
        d
        for month in range(1, 13)
        for verdict in ENGINE.decide(people, snapshot, FixedClock.on(date(2026, month, 1)))
        for d in verdict.decisions
    ]
    assert all(d.reason.fr.strip() and d.reason.en.strip() for d in walk(decisions))
    assert all(d.reason.fr != d.reason.en for d in walk(decisions))


def test_public_api_is_pinned() -> None:
    """The names exported by ecampus_idm.policies are exactly the documented ones."""
    assert sorted(ecampus_idm.policies.__all__) == [
        "Access",
        "AccessPolicy",
        "AccessProfile",
        "AccessSettings",
        "AllOf",
        "AnyOf",
        "CalendarPolicy",
        "CalendarSettings",
        "Check",
        "Context",
        "Decision",
        "InitialPasswordError",
        "InitialPasswordGenerator",
        "InitialPasswordSettings",
        "LifecyclePolicy",
        "LifecycleSettings",
        "LifecycleState",
        "MonthDay",
        "NamingSettings",
        "Not",
        "Outcome",
        "PasswordQualitySettings",
        "PersonHistory",
        "PersonVerdict",
        "Policy",
        "PolicyEngine",
        "PolicyError",
        "PolicyInputError",
        "PolicySettings",
        "Reason",
        "RetentionPeriods",
        "Rule",
        "RuleRegistry",
        "StaffGrants",
        "StoreSnapshot",
        "StudentGrants",
        "UnknownRuleError",
        "UsernameChoice",
        "UsernameGenerator",
        "check_password",
    ]


def test_policies_import_loads_no_ldap_client() -> None:
    """Importing the policies loads neither ldap3 nor the sync engine."""
    code = "import sys, ecampus_idm.policies; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(result.stdout.split())
    assert "ecampus_idm.policies.engine" in loaded
    assert not {"ldap3", "ecampus_idm.sync", "ecampus_idm.directory.ldap"} & loaded
