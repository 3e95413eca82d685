"""Builders of persons, histories and contexts for the policy tests (plain functions)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

from ecampus_idm.model import (
    AcademicYear,
    Account,
    AccountStatus,
    Attribution,
    Category,
    Enrolment,
    Person,
    Role,
    SourceKey,
    StaffFunction,
)
from ecampus_idm.policies import Context, Decision, PersonHistory

KEY = SourceKey(source="secretariat", matricule="000123")
HR_KEY = SourceKey(source="personnel", matricule="000456")
CREATED = datetime(2020, 9, 1, 2, 0, tzinfo=UTC)


def enrolment(
    category: Category = Category.HE,
    school: str = "HEC-TOURNAI",
    year: int = 2026,
    department: str | None = None,
    *,
    complete: bool = True,
) -> Enrolment:
    """Return an enrolment for academic year ``year``."""
    return Enrolment(
        school=school,
        category=category,
        department=department,
        academic_year=AcademicYear(start_year=year),
        encoding_complete=complete,
        source=KEY,
    )


def attribution(
    start: date,
    end: date | None = None,
    school: str = "EPS-CHARLEROI",
    category: Category = Category.PS,
    function: StaffFunction = StaffFunction.TEACHER,
) -> Attribution:
    """Return an attribution from ``start`` to ``end`` (inclusive)."""
    return Attribution(
        school=school, category=category, function=function, start=start, end=end, source=HR_KEY
    )


def student(*enrolments: Enrolment, person_id: str = "s-1", **changes: object) -> Person:
    """Return a student with ``enrolments`` (one HE 2026 enrolment by default)."""
    fields: dict[str, object] = {
        "person_id": person_id,
        "given_name": "Élodie",
        "family_name": "Van der Straeten",
        "roles": frozenset({Role.STUDENT}),
        "enrolments": enrolments or (enrolment(),),
    }
    fields.update(changes)
    return Person.model_validate(fields)


def staff(*attributions: Attribution, person_id: str = "t-1", **changes: object) -> Person:
    """Return a teacher with complete identity data and ``attributions``."""
    fields: dict[str, object] = {
        "person_id": person_id,
        "given_name": "Jean-Pierre",
        "family_name": "D’Hondt",
        "birth_date": date(1980, 5, 17),
        "personal_email": "jp.dhondt@example.org",
        "niss_pseudonym": "pseudo-1",
        "roles": frozenset({Role.TEACHER}),
        "attributions": attributions,
    }
    fields.update(changes)
    return Person.model_validate(fields)


def account(
    person_id: str,
    username: str = "jean.dupont",
    status: AccountStatus = AccountStatus.ACTIVE,
) -> Account:
    """Return an account of ``person_id``."""
    return Account(username=username, person_id=person_id, status=status, created_at=CREATED)


def history(
    person_id: str,
    last_seen: date,
    *,
    roles: frozenset[Role] = frozenset({Role.STUDENT}),
    username: str | None = "jean.dupont",
    status: AccountStatus = AccountStatus.ACTIVE,
) -> PersonHistory:
    """Return a history with an account (unless ``username`` is None)."""
    return PersonHistory(
        person_id=person_id,
        last_seen=last_seen,
        roles=roles,
        account=account(person_id, username, status) if username else None,
    )


def context(
    today: date, person: Person | None = None, past: PersonHistory | None = None
) -> Context:
    """Return a context on ``today``."""
    return Context(today=today, person=person, history=past)


def walk(decisions: tuple[Decision, ...] | list[Decision]) -> Iterator[Decision]:
    """Yield every decision and every cause inside them."""
    for decision in decisions:
        yield decision
        yield from walk(decision.causes)
