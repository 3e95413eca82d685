"""The domain values: who a person is, where they study or work, and their account.

All values are frozen pydantic models: they can be hashed, compared, serialised to JSON
and passed between the pure parts of the library (policies, mapping, plan) without
anyone mutating them behind another's back.

A national number (NISS) never appears here in clear: a :class:`Person` carries only its
keyed pseudonym (see the identity issue), so that a repr, a log line or a JSON dump of a
person cannot leak it.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

__all__ = [
    "STAFF_ROLES",
    "AcademicYear",
    "Account",
    "AccountStatus",
    "Attribution",
    "Category",
    "EmailIssue",
    "Enrolment",
    "Language",
    "Person",
    "Role",
    "School",
    "SourceKey",
    "StaffFunction",
]


class _Value(BaseModel):
    """Base of every domain value: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Category(StrEnum):
    """A category of teaching (catégorie)."""

    HE = "HE"
    """Haute École (higher education)."""
    PS = "PS"
    """Promotion Sociale (adult education)."""
    SEC = "SEC"
    """Secondary school."""


class Role(StrEnum):
    """A role a person holds; one person may hold several."""

    STUDENT = "student"
    TEACHER = "teacher"
    ADMINISTRATIVE = "administrative"
    STAFF = "staff"
    """A member of the personnel whose function is not encoded: a personnel row with no
    attribution at all. An account (mail, eduroam), no school; dropped once the person
    holds a teacher or administrative role."""


STAFF_ROLES = frozenset({Role.TEACHER, Role.ADMINISTRATIVE, Role.STAFF})
"""The roles of the personnel office's people."""


Language = Literal["fr", "nl", "en"]
"""A language the mails are written in: French, Dutch or English."""


class EmailIssue(StrEnum):
    """What is wrong with the personal e-mail address a source encoded."""

    INVALID = "invalid"
    """Encoded but not an address (a typo in its syntax or domain): the account is
    created, the welcome mail waits until the secretariat or the personnel office
    corrects it."""


class StaffFunction(StrEnum):
    """What a staff member does under an attribution."""

    TEACHER = "teacher"
    ADMINISTRATIVE = "administrative"


class AccountStatus(StrEnum):
    """Where an account stands in its lifecycle."""

    ACTIVE = "active"
    GRACE = "grace"
    """The person left every source; the account still works, school access is gone."""
    DISABLED = "disabled"
    DELETED = "deleted"


_CENTURY = 100
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError("a code is 1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
    return value


Code = Annotated[str, AfterValidator(_check_code)]
"""A short identifier (school code, department code, source name)."""


class School(_Value):
    """A school, site or department group (école / implantation) in one category.

    Attributes:
        code: Stable short code used in group names and configuration (``HEC-TOURNAI``).
        name: Human name, as the secretariat says it.
        category: The category the school belongs to.
        language: The language of its people's mails when their row does not say
            (``None``: the ``[mail]`` rule, French by default).
    """

    code: Code
    name: str = Field(min_length=1)
    category: Category
    language: Language | None = None


class AcademicYear(_Value):
    """An academic year, named by the calendar year it starts in (2026 = 2026-2027).

    Attributes:
        start_year: The calendar year in which the academic year starts.
    """

    start_year: int = Field(ge=2000, le=2200)

    @classmethod
    def parse(cls, text: str) -> AcademicYear:
        """Parse ``"2026-2027"``, ``"2026-27"`` or ``"2026"``.

        Raises:
            ValueError: If the text is not an academic year.
        """
        match = re.fullmatch(r"\s*([0-9]{4})(?:\s*[-/]\s*([0-9]{2}|[0-9]{4}))?\s*", text)
        if not match:
            raise ValueError(f"not an academic year: {text!r}")
        start = int(match.group(1))
        if match.group(2):
            end = int(match.group(2))
            expected = start + 1 if len(match.group(2)) == 4 else (start + 1) % _CENTURY  # noqa: PLR2004 - four digits
            if end != expected:
                raise ValueError(f"academic year must span two consecutive years: {text!r}")
        return cls(start_year=start)

    def __str__(self) -> str:
        return f"{self.start_year}-{self.start_year + 1}"


class SourceKey(_Value):
    """A person's identifier in one source system.

    Attributes:
        source: The configured name of the source (``secretariat-hec``).
        matricule: The person's number there: opaque text, leading zeros kept.
    """

    source: Code
    matricule: str = Field(min_length=1, max_length=64)

    def __str__(self) -> str:
        return f"{self.source}:{self.matricule}"


class Enrolment(_Value):
    """A student in a school (and department) for one academic year.

    Attributes:
        school: Code of the school.
        category: Category of the school (denormalised so policies need no lookup).
        department: Department / section code, when the school has departments.
        academic_year: The academic year of the enrolment.
        encoding_complete: Whether the secretariat marked the record as fully encoded;
            secondary schools open accounts only for complete records.
        source: The source key the enrolment was read from.
    """

    school: Code
    category: Category
    department: Code | None = None
    academic_year: AcademicYear
    encoding_complete: bool = True
    source: SourceKey


class Attribution(_Value):
    """A staff member's assignment to a category/school, between two dates.

    Attributes:
        school: Code of the school.
        category: Category of the school.
        function: Teacher or administrative.
        start: First day of the attribution.
        end: Last day of the attribution (inclusive), or ``None`` when open-ended.
        source: The source key the attribution was read from.
    """

    school: Code
    category: Category
    function: StaffFunction = StaffFunction.TEACHER
    start: date
    end: date | None = None
    source: SourceKey

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end is not None and self.end < self.start:
            raise ValueError("an attribution cannot end before it starts")
        return self

    def is_current(self, day: date) -> bool:
        """Return whether the attribution covers ``day`` (both ends inclusive)."""
        return self.start <= day and (self.end is None or day <= self.end)


class Person(_Value):
    """One human, as correlated across every source that knows them.

    Attributes:
        person_id: Stable internal identifier, never shown to users, never re-used.
        given_name: First name(s) as encoded in the source.
        family_name: Family name as encoded, particles included (``Van der Straeten``).
        birth_date: Date of birth.
        niss_pseudonym: Keyed pseudonym (HMAC) of the national number; never the number.
        personal_email: The personal address for the welcome mail and password resets.
        email_issue: Why there is no ``personal_email`` although a source encoded one
            (``None``: the address is valid, or none was encoded).
        language: The language of the person's mails, when a source column says it.
        language_issue: Whether a source encoded a language that is none of ``fr``,
            ``nl`` or ``en`` (the mail then takes the school's default, and says so on
            the person's timeline).
        roles: The roles the person holds now.
        source_keys: The person's identifiers in every source that knows them.
        enrolments: Current and future enrolments (students).
        attributions: Attributions (staff), past ones included so that lifecycle rules
            can see them end.
    """

    person_id: str = Field(min_length=1, max_length=64)
    given_name: str = Field(min_length=1, max_length=128)
    family_name: str = Field(min_length=1, max_length=128)
    birth_date: date | None = None
    niss_pseudonym: str | None = Field(default=None, repr=False)
    personal_email: str | None = None
    email_issue: EmailIssue | None = None
    language: Language | None = None
    language_issue: bool = False
    roles: frozenset[Role] = frozenset()
    source_keys: frozenset[SourceKey] = frozenset()
    enrolments: tuple[Enrolment, ...] = ()
    attributions: tuple[Attribution, ...] = ()

    @property
    def is_student(self) -> bool:
        """Whether the person holds a student role."""
        return Role.STUDENT in self.roles

    @property
    def is_staff(self) -> bool:
        """Whether the person is staff: teacher, administrative, or function not encoded."""
        return bool(self.roles & STAFF_ROLES)

    @property
    def display_name(self) -> str:
        """Given name then family name, as used in ``cn`` and ``displayName``."""
        return f"{self.given_name} {self.family_name}"


class Account(_Value):
    """A person's eCampus account as the library manages it.

    Attributes:
        username: The login (``prenom.nom``), unique forever.
        person_id: The owner.
        status: Where the account stands in its lifecycle.
        institutional_email: The address of the institutional mailbox.
        created_at: When the account was created.
        status_since: When the account entered its current status.
    """

    username: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,63}$")
    person_id: str = Field(min_length=1, max_length=64)
    status: AccountStatus = AccountStatus.ACTIVE
    institutional_email: str | None = None
    created_at: AwareDatetime
    status_since: AwareDatetime | None = None

    @model_validator(mode="after")
    def _status_not_before_creation(self) -> Self:
        if self.status_since is not None and self.status_since < self.created_at:
            raise ValueError("an account cannot change status before it is created")
        return self

    def is_usable(self) -> bool:
        """Whether the user can log in with this account."""
        return self.status in (AccountStatus.ACTIVE, AccountStatus.GRACE)
