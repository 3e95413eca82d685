"""Unit tests of the domain values: academic years, attributions, people and accounts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from ecampus_idm.model import (
    AcademicYear,
    Account,
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

KEY = SourceKey(source="secretariat-hec", matricule="000123")
CREATED = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
NISS_PSEUDONYM = "pseudo-6f1e9c2a77d04b"


def attribution(start: date, end: date | None = None) -> Attribution:
    """Return a teacher attribution at HEC between ``start`` and ``end``."""
    return Attribution(school="HEC", category=Category.HE, start=start, end=end, source=KEY)


def person(**changes: object) -> Person:
    """Return a person with sensible defaults, changed by ``changes``."""
    fields: dict[str, object] = {
        "person_id": "p-1",
        "given_name": "Jean",
        "family_name": "Van der Straeten",
        "niss_pseudonym": NISS_PSEUDONYM,
    }
    fields.update(changes)
    return Person.model_validate(fields)


# -- academic year -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2026-2027", "2026-27", "2026", "2026/2027", " 2026 - 27 ", "2099-2100"],
    ids=["long", "short", "start-only", "slash", "spaces", "century-long"],
)
def test_academic_year_parse(text: str) -> None:
    """The usual spellings of an academic year parse to its start year."""
    assert AcademicYear.parse(text).start_year == int(text.strip()[:4])


@pytest.mark.parametrize(
    "text",
    [
        "2026-2028",
        "2026-28",
        "2026-2026",
        "2026-2025",
        "abc",
        "",
        "26-27",
        "2026-7",
        "1999",
        "2201",
    ],
    ids=[
        "gap-long",
        "gap-short",
        "same-year",
        "backwards",
        "letters",
        "empty",
        "two-digit-start",
        "one-digit-end",
        "before-range",
        "after-range",
    ],
)
def test_academic_year_parse_rejects(text: str) -> None:
    """Text that is not an academic year of two consecutive years is refused."""
    with pytest.raises(ValueError, match=r"academic year|greater than|less than"):
        AcademicYear.parse(text)


def test_academic_year_short_form_across_a_century() -> None:
    """The short form works across a century boundary (2099-00 is 2099-2100)."""
    assert AcademicYear.parse("2099-00").start_year == 2099


def test_academic_year_str() -> None:
    """str() gives the long form."""
    assert str(AcademicYear(start_year=2026)) == "2026-2027"


def test_academic_year_str_parses_back() -> None:
    """The long form produced by str() parses back to an equal value."""
    year = AcademicYear(start_year=2031)
    assert AcademicYear.parse(str(year)) == year


# -- attribution ---------------------------------------------------------------------------


def test_attribution_end_before_start_rejected() -> None:
    """An attribution cannot end before it starts."""
    with pytest.raises(ValidationError, match="cannot end before it starts"):
        attribution(date(2026, 9, 1), date(2026, 8, 31))


def test_attribution_of_one_day_allowed() -> None:
    """An attribution may start and end on the same day."""
    assert attribution(date(2026, 9, 1), date(2026, 9, 1)).is_current(date(2026, 9, 1))


@pytest.mark.parametrize(
    ("day", "current"),
    [
        (date(2026, 8, 31), False),
        (date(2026, 9, 1), True),
        (date(2027, 1, 15), True),
        (date(2027, 6, 30), True),
        (date(2027, 7, 1), False),
    ],
    ids=["day-before-start", "start-day", "middle", "end-day", "day-after-end"],
)
def test_attribution_is_current_bounds(day: date, current: bool) -> None:
    """Both ends of an attribution are inclusive."""
    assert attribution(date(2026, 9, 1), date(2027, 6, 30)).is_current(day) is current


@pytest.mark.parametrize(
    ("day", "current"),
    [(date(2026, 8, 31), False), (date(2026, 9, 1), True), (date(2199, 12, 31), True)],
    ids=["before-start", "start-day", "far-future"],
)
def test_open_ended_attribution_is_current(day: date, current: bool) -> None:
    """An attribution without an end is current from its start on."""
    assert attribution(date(2026, 9, 1)).is_current(day) is current


def test_attribution_default_function_is_teacher() -> None:
    """Without a function, an attribution is a teaching one."""
    assert attribution(date(2026, 9, 1)).function is StaffFunction.TEACHER


# -- frozen values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (AcademicYear(start_year=2026), "start_year"),
        (School(code="HEC", name="HEC", category=Category.HE), "name"),
        (KEY, "matricule"),
        (person(), "given_name"),
        (attribution(date(2026, 9, 1)), "end"),
        (Account(username="jean.dupont", person_id="p-1", created_at=CREATED), "status"),
    ],
    ids=["academic-year", "school", "source-key", "person", "attribution", "account"],
)
def test_values_are_frozen(value: object, field: str) -> None:
    """Assigning to a field of a domain value raises."""
    with pytest.raises(ValidationError, match="frozen"):
        setattr(value, field, None)


def test_unknown_field_rejected() -> None:
    """Domain values refuse fields they do not know."""
    with pytest.raises(ValidationError, match="Extra inputs"):
        School.model_validate({"code": "HEC", "name": "HEC", "category": "HE", "city": "Mons"})


def test_values_are_hashable_and_compare_by_value() -> None:
    """Two equal people are equal and hash alike (they can go in sets)."""
    assert person() == person()
    assert len({person(), person(), person(person_id="p-2")}) == 2


# -- person --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "student", "staff"),
    [
        (frozenset(), False, False),
        (frozenset({Role.STUDENT}), True, False),
        (frozenset({Role.TEACHER}), False, True),
        (frozenset({Role.ADMINISTRATIVE}), False, True),
        (frozenset({Role.STUDENT, Role.TEACHER}), True, True),
    ],
    ids=["none", "student", "teacher", "administrative", "student-and-teacher"],
)
def test_person_roles(roles: frozenset[Role], student: bool, staff: bool) -> None:
    """is_student and is_staff follow the roles held."""
    someone = person(roles=roles)
    assert (someone.is_student, someone.is_staff) == (student, staff)


def test_person_repr_hides_niss_pseudonym() -> None:
    """Neither repr() nor str() of a person shows the NISS pseudonym."""
    someone = person()
    assert someone.niss_pseudonym == NISS_PSEUDONYM
    assert NISS_PSEUDONYM not in repr(someone)
    assert NISS_PSEUDONYM not in str(someone)


def test_person_display_name() -> None:
    """The display name is the given name then the family name, particles kept."""
    assert person().display_name == "Jean Van der Straeten"


def test_person_strips_whitespace() -> None:
    """Names are stripped of surrounding whitespace from the source."""
    assert person(given_name="  Jean ").given_name == "Jean"


@pytest.mark.parametrize(
    "changes",
    [{"given_name": ""}, {"given_name": "   "}, {"family_name": "x" * 129}, {"person_id": ""}],
    ids=["empty-given-name", "blank-given-name", "long-family-name", "empty-id"],
)
def test_person_rejects_bad_names(changes: dict[str, object]) -> None:
    """Names and ids must be non-empty and bounded."""
    with pytest.raises(ValidationError):
        person(**changes)


# -- codes and keys ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["HEC", "HEC-TOURNAI", "ips_mons.2", "7", "A" * 64], ids=str.lower)
def test_school_code_accepted(code: str) -> None:
    """Codes of letters, digits, '.', '_' and '-' starting alphanumeric are valid."""
    assert School(code=code, name="x", category=Category.SEC).code == code


@pytest.mark.parametrize(
    "code",
    ["", "-HEC", ".HEC", "HEC TOURNAI", "HEC/TOURNAI", "ÉCOLE", "A" * 65],
    ids=["empty", "leading-dash", "leading-dot", "space", "slash", "non-ascii", "too-long"],
)
def test_school_code_rejected(code: str) -> None:
    """Anything else is not a code."""
    with pytest.raises(ValidationError, match="a code is"):
        School(code=code, name="x", category=Category.SEC)


def test_school_category_must_be_known() -> None:
    """The category is one of HE, PS, SEC."""
    with pytest.raises(ValidationError, match="'HE', 'PS' or 'SEC'"):
        School.model_validate({"code": "X", "name": "x", "category": "UNIV"})


def test_source_key_keeps_leading_zeros() -> None:
    """A matricule is opaque text: leading zeros are kept, str() joins source and number."""
    assert str(KEY) == "secretariat-hec:000123"


def test_enrolment_nests_academic_year() -> None:
    """An enrolment is built from plain data, academic year included."""
    enrolment = Enrolment.model_validate(
        {
            "school": "HEC",
            "category": "HE",
            "academic_year": {"start_year": 2026},
            "source": {"source": "secretariat-hec", "matricule": "42"},
        }
    )
    assert enrolment.academic_year == AcademicYear(start_year=2026)
    assert enrolment.encoding_complete is True


# -- account -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username", ["jean.dupont", "a", "jean-marie.dupont2", "0" + "a" * 63], ids=str
)
def test_account_username_accepted(username: str) -> None:
    """Lower-case logins of letters, digits, '.' and '-' are valid."""
    assert Account(username=username, person_id="p-1", created_at=CREATED).username == username


@pytest.mark.parametrize(
    "username",
    ["", "Jean.Dupont", ".jean", "-jean", "jean dupont", "jean_dupont", "jéan", "a" * 65],
    ids=[
        "empty",
        "upper-case",
        "leading-dot",
        "leading-dash",
        "space",
        "underscore",
        "accent",
        "too-long",
    ],
)
def test_account_username_rejected(username: str) -> None:
    """Other logins are refused."""
    with pytest.raises(ValidationError, match="pattern"):
        Account(username=username, person_id="p-1", created_at=CREATED)


def test_account_requires_aware_created_at() -> None:
    """A naive creation time is refused."""
    with pytest.raises(ValidationError, match="timezone"):
        Account(username="jean", person_id="p-1", created_at=datetime(2026, 9, 1, 2, 0))


def test_account_status_since_before_creation_rejected() -> None:
    """An account cannot change status before it is created."""
    with pytest.raises(ValidationError, match="before it is created"):
        Account(
            username="jean",
            person_id="p-1",
            created_at=CREATED,
            status_since=CREATED - timedelta(seconds=1),
        )


def test_account_status_since_at_creation_allowed() -> None:
    """The status may date from the creation instant itself."""
    account = Account(username="jean", person_id="p-1", created_at=CREATED, status_since=CREATED)
    assert account.status_since == CREATED


@pytest.mark.parametrize(
    ("status", "usable"),
    [
        (AccountStatus.ACTIVE, True),
        (AccountStatus.GRACE, True),
        (AccountStatus.DISABLED, False),
        (AccountStatus.DELETED, False),
    ],
    ids=str,
)
def test_account_is_usable(status: AccountStatus, usable: bool) -> None:
    """Active and grace accounts can log in; disabled and deleted ones cannot."""
    account = Account(username="jean", person_id="p-1", created_at=CREATED, status=status)
    assert account.is_usable() is usable
