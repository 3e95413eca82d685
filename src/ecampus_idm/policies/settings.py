"""Typed configuration of the policies: the ``[policies]`` section of the TOML file.

Every tunable of the policies lives here, validated when the configuration is loaded so
that a bad value is reported with its key (``policies.calendar.opening.HE``) before any
run. Each model is frozen and refuses unknown keys, like the other configuration
sections. Rules that differ per category or per school are looked up school first, then
category, then the default.

Example::

    [policies.calendar.opening]
    HE = "09-01"
    PS = "08-01"
    SEC = "08-01"

    [policies.access]
    preprovision_days = 14

    [policies.access.schools.ATH-ATHENEE.staff]
    groups = ["{school}-staff", "sec-staff"]

    [policies.lifecycle.students]
    grace_days = 120
    retention_days = 245

    [policies.naming]
    patterns = ["{given}.{family}"]
    max_length = 20
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import date
from typing import Annotated, ClassVar, Literal, NamedTuple, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from ecampus_idm.model import STAFF_ROLES, Category, Code, Role
from ecampus_idm.policies._alphabet import shape_entropy_bits, shape_length

__all__ = [
    "DEFAULT_RESERVED_USERNAMES",
    "AccessProfile",
    "AccessSettings",
    "CalendarSettings",
    "IdentityField",
    "InitialPasswordSettings",
    "LifecycleSettings",
    "MonthDay",
    "NamingSettings",
    "PasswordQualitySettings",
    "PolicySettings",
    "RetentionPeriods",
    "StaffGrants",
    "StudentGrants",
]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


# -- calendar ------------------------------------------------------------------------------


class MonthDay(NamedTuple):
    """A day of the year without the year (``09-01`` is 1 September)."""

    month: int
    day: int

    def in_year(self, year: int) -> date:
        """Return this day in ``year``."""
        return date(year, self.month, self.day)

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"


def _parse_month_day(value: object) -> object:
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(?:--)?([0-9]{2})-([0-9]{2})\s*", value)
        if not match:
            raise ValueError("a month and day such as 09-01")
        return MonthDay(int(match.group(1)), int(match.group(2)))
    return value


def _real_month_day(value: MonthDay) -> MonthDay:
    try:
        value.in_year(2001)  # not a leap year: the day must exist every year
    except ValueError as exc:
        raise ValueError("a day that exists every year, such as 09-01 (not 02-29)") from exc
    return value


OpeningDay = Annotated[
    MonthDay,
    BeforeValidator(_parse_month_day),
    AfterValidator(_real_month_day),
    PlainSerializer(str, return_type=str),
]
"""A :class:`MonthDay`, written ``"MM-DD"`` in the configuration."""

IdentityField = Literal["birth_date", "personal_email", "niss_pseudonym"]
"""A field of :class:`~ecampus_idm.model.Person` that a source may leave empty."""

_DEFAULT_OPENING = {
    Category.HE: MonthDay(9, 1),
    Category.PS: MonthDay(8, 1),
    Category.SEC: MonthDay(8, 1),
}


def _upper_keys(value: Mapping[str, object], what: str) -> dict[str, object]:
    upper = {key.upper(): item for key, item in value.items()}
    if len(upper) != len(value):
        raise ValueError(f"{what} codes that differ by more than letter case")
    return upper


class CalendarSettings(_Section):
    """When accounts open.

    Attributes:
        opening: The day student accounts of an academic year open, per category, in the
            calendar year the academic year starts (categories left out keep their
            default: HE 09-01, PS 08-01, SEC 08-01).
        school_opening: Per-school exceptions to ``opening``, by school code.
        encoding_required: Categories whose enrolments open only once the secretariat
            has marked them fully encoded (``encoding_complete``).
        student_required_fields: Identity fields a student needs before an account opens.
        staff_required_fields: Identity fields a staff member needs before an account
            opens; the decision names those missing.
    """

    opening: Mapping[Category, OpeningDay] = Field(default_factory=lambda: dict(_DEFAULT_OPENING))
    school_opening: Mapping[Code, OpeningDay] = Field(default_factory=dict)
    encoding_required: frozenset[Category] = frozenset({Category.SEC})
    student_required_fields: tuple[IdentityField, ...] = ()
    staff_required_fields: tuple[IdentityField, ...] = (
        "birth_date",
        "personal_email",
        "niss_pseudonym",
    )

    @field_validator("opening")
    @classmethod
    def _keep_defaults(cls, value: Mapping[Category, MonthDay]) -> dict[Category, MonthDay]:
        return {**_DEFAULT_OPENING, **value}

    @field_validator("school_opening", mode="before")
    @classmethod
    def _school_codes(cls, value: object) -> object:
        return _upper_keys(value, "school") if isinstance(value, Mapping) else value

    def opening_day(self, category: Category, school: str) -> MonthDay:
        """Return the opening day for ``school`` (its exception) or its category."""
        return self.school_opening.get(school.upper(), self.opening[category])


# -- access --------------------------------------------------------------------------------

_GROUP_LITERAL = re.compile(r"[a-z0-9._-]*")


def _placeholders(pattern: str, allowed: frozenset[str]) -> list[str]:
    """Return the literal parts of ``pattern``; raise ValueError unless it is well-formed."""
    literals: list[str] = []
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(f"a pattern with balanced braces ({pattern!r})") from exc
    for literal, field, spec, conversion in parsed:
        literals.append(literal)
        if field is None:
            continue
        if field not in allowed or spec or conversion:
            names = ", ".join(f"{{{name}}}" for name in sorted(allowed))
            raise ValueError(f"placeholders among {names} ({pattern!r})")
    return literals


class _Grants(_Section):
    placeholders: ClassVar[frozenset[str]] = frozenset()

    groups: tuple[str, ...] = ()
    entitlements: tuple[str, ...] = ()

    @field_validator("groups")
    @classmethod
    def _group_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            literals = _placeholders(pattern, cls.placeholders)
            bad_start = pattern[:1] in ("", ".", "_", "-")
            if bad_start or not all(_GROUP_LITERAL.fullmatch(part) for part in literals):
                raise ValueError(
                    f"group names of lower-case letters, digits, '.', '_' and '-' ({pattern!r})"
                )
        return value

    @field_validator("entitlements")
    @classmethod
    def _entitlement_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            literals = _placeholders(pattern, cls.placeholders)
            if not pattern or any(char.isspace() for part in literals for char in part):
                raise ValueError(f"entitlement URIs without spaces ({pattern!r})")
        return value


class StudentGrants(_Grants):
    """Groups and entitlements a current enrolment gives.

    Patterns may use ``{category}``, ``{school}`` and ``{department}``; a pattern with
    ``{department}`` is skipped for an enrolment without department. Values are
    lower-cased.

    Attributes:
        groups: Group name patterns.
        entitlements: ``eduPersonEntitlement`` URI patterns.
    """

    placeholders: ClassVar[frozenset[str]] = frozenset({"category", "school", "department"})


class StaffGrants(_Grants):
    """Groups and entitlements a current attribution gives.

    Patterns may use ``{category}``, ``{school}`` and ``{function}`` (``teacher`` or
    ``administrative``). Values are lower-cased.

    Attributes:
        groups: Group name patterns.
        entitlements: ``eduPersonEntitlement`` URI patterns.
    """

    placeholders: ClassVar[frozenset[str]] = frozenset({"category", "school", "function"})


class AccessProfile(_Section):
    """Access rules for one category or one school; what is left out is inherited.

    Attributes:
        students: Replaces the student grants.
        staff: Replaces the staff grants.
        preprovision_days: Replaces the number of days a future attribution is granted
            ahead of its start.
    """

    students: StudentGrants | None = None
    staff: StaffGrants | None = None
    preprovision_days: int | None = Field(default=None, ge=0, le=366)


class AccessSettings(_Section):
    """Which groups and entitlements enrolments and attributions give.

    Attributes:
        students: Default student grants.
        staff: Default staff grants.
        preprovision_days: Days before its start that a future attribution is granted.
        categories: Rules per category.
        schools: Rules per school code (take precedence over the category's).
    """

    students: StudentGrants = StudentGrants(
        groups=("{category}-students", "{school}-students", "{school}-{department}-students")
    )
    staff: StaffGrants = StaffGrants(
        groups=("{category}-staff", "{school}-staff", "{school}-{function}")
    )
    preprovision_days: int = Field(default=14, ge=0, le=366)
    categories: Mapping[Category, AccessProfile] = Field(default_factory=dict)
    schools: Mapping[Code, AccessProfile] = Field(default_factory=dict)

    @field_validator("schools", mode="before")
    @classmethod
    def _school_codes(cls, value: object) -> object:
        return _upper_keys(value, "school") if isinstance(value, Mapping) else value

    def _profiles(self, category: Category, school: str) -> tuple[AccessProfile, ...]:
        return tuple(
            profile
            for profile in (self.schools.get(school.upper()), self.categories.get(category))
            if profile is not None
        )

    def student_grants(self, category: Category, school: str) -> StudentGrants:
        """Return the student grants that apply in ``school``."""
        profiles = self._profiles(category, school)
        return next((p.students for p in profiles if p.students), self.students)

    def staff_grants(self, category: Category, school: str) -> StaffGrants:
        """Return the staff grants that apply in ``school``."""
        profiles = self._profiles(category, school)
        return next((p.staff for p in profiles if p.staff), self.staff)

    def preprovision_days_for(self, category: Category, school: str) -> int:
        """Return the pre-provisioning days that apply in ``school``."""
        profiles = self._profiles(category, school)
        days = (p.preprovision_days for p in profiles if p.preprovision_days is not None)
        return next(days, self.preprovision_days)


# -- lifecycle -----------------------------------------------------------------------------


class RetentionPeriods(_Section):
    """How long an account outlives its owner's presence in the sources.

    Attributes:
        grace_days: Days the account keeps working (without school access) after the
            person left every source.
        retention_days: Days the account then stays disabled before it is deleted.
    """

    grace_days: int = Field(ge=0, le=3650)
    retention_days: int = Field(ge=0, le=3650)


class LifecycleSettings(_Section):
    """Grace and retention periods per population.

    The student grace period spans a summer: a student the secretariat drops at the end
    of the year and re-enrols in September keeps a working account.

    Attributes:
        students: Periods for people who were students.
        staff: Periods for people who were teachers or administrative staff.
    """

    students: RetentionPeriods = RetentionPeriods(grace_days=120, retention_days=245)
    staff: RetentionPeriods = RetentionPeriods(grace_days=30, retention_days=335)

    def periods_for(self, roles: frozenset[Role]) -> RetentionPeriods:
        """Return the periods for someone who held ``roles``.

        A student-only person gets the student periods, a staff-only person the staff
        ones; someone who was both, or whose roles are unknown, gets the longer of each.
        """
        student = Role.STUDENT in roles
        staff = bool(roles & STAFF_ROLES)
        if student and not staff:
            return self.students
        if staff and not student:
            return self.staff
        return RetentionPeriods(
            grace_days=max(self.students.grace_days, self.staff.grace_days),
            retention_days=max(self.students.retention_days, self.staff.retention_days),
        )


# -- naming --------------------------------------------------------------------------------

DEFAULT_RESERVED_USERNAMES = frozenset(
    {
        "abuse",
        "admin",
        "administrateur",
        "administrator",
        "contact",
        "direction",
        "ecampus",
        "guest",
        "helpdesk",
        "hostmaster",
        "info",
        "invite",
        "krbtgt",
        "mailer-daemon",
        "no-reply",
        "nobody",
        "noreply",
        "postmaster",
        "root",
        "secretariat",
        "security",
        "support",
        "system",
        "webmaster",
    }
)
"""Names that mean a role or a system account, never a person."""

_USERNAME_PLACEHOLDERS = frozenset({"given", "family", "given_initial", "family_initial"})


class NamingSettings(_Section):
    """How usernames are made.

    Attributes:
        patterns: Username patterns tried in order, with ``{given}``, ``{family}``,
            ``{given_initial}`` and ``{family_initial}``; a numeric suffix is added to the
            first one when every pattern is taken.
        given_names: ``first`` uses the first given name only (sources often hold all of
            them), ``all`` joins them.
        max_length: Longest username (20 for Active Directory's ``sAMAccountName``).
        first_suffix: The first numeric suffix tried on a collision.
        reserved: Names never issued; ``*`` and ``?`` wildcards allowed (``svc-*``).
    """

    patterns: tuple[str, ...] = Field(default=("{given}.{family}",), min_length=1)
    given_names: Literal["first", "all"] = "first"
    max_length: int = Field(default=20, ge=4, le=64)
    first_suffix: int = Field(default=2, ge=1, le=9)
    reserved: frozenset[str] = DEFAULT_RESERVED_USERNAMES

    @field_validator("patterns")
    @classmethod
    def _username_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            literals = _placeholders(pattern, _USERNAME_PLACEHOLDERS)
            fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f}
            if not fields & {"given", "family"}:
                raise ValueError(f"a pattern using {{given}} or {{family}} ({pattern!r})")
            if not all(re.fullmatch(r"[a-z0-9.-]*", part) for part in literals):
                raise ValueError(f"lower-case letters, digits, '.' and '-' around ({pattern!r})")
        return value

    @field_validator("reserved", mode="before")
    @classmethod
    def _lower_reserved(cls, value: object) -> object:
        if isinstance(value, (list, tuple, set, frozenset)):
            return frozenset(str(name).strip().lower() for name in value)
        return value

    @field_validator("reserved")
    @classmethod
    def _reserved_names(cls, value: frozenset[str]) -> frozenset[str]:
        bad = sorted(name for name in value if not re.fullmatch(r"[a-z0-9.*?-]+", name))
        if bad:
            raise ValueError(f"names of letters, digits, '.', '-', '*' or '?' ({bad[0]!r})")
        return value


# -- passwords -----------------------------------------------------------------------------


class PasswordQualitySettings(_Section):
    """What every password must meet (NIST SP 800-63B rev. 4, plus AD when it is a target).

    Attributes:
        min_length: Shortest password (15: a password used as the only factor).
        max_length: Longest password accepted (NIST: at least 64).
        ad_complexity: Also require Active Directory's rule: three of upper case, lower
            case, digits and other characters, and no part of the username or name.
        context_token_length: Parts of the username and name at least this long may not
            appear in the password (Active Directory uses 3).
        blocklist: Passwords refused outright (compared without case).
    """

    min_length: int = Field(default=15, ge=8, le=64)
    max_length: int = Field(default=128, ge=64, le=4096)
    ad_complexity: bool = True
    context_token_length: int = Field(default=3, ge=3, le=16)
    blocklist: frozenset[str] = frozenset()

    @field_validator("blocklist")
    @classmethod
    def _lower_blocklist(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(word.casefold() for word in value)


class InitialPasswordSettings(_Section):
    """The shape of generated initial passwords: words of syllables, then digits.

    With the defaults a password looks like ``bazoki-muteva-ridopa-sukemi-47``: 30
    characters, 80.7 bits of entropy.

    Attributes:
        words: Number of words.
        syllables_per_word: Consonant-vowel syllables per word.
        digits: Digits at the end (at least one: Active Directory wants digits).
        min_entropy_bits: The shape must be worth at least this many bits.
    """

    words: int = Field(default=4, ge=1, le=10)
    syllables_per_word: int = Field(default=3, ge=1, le=8)
    digits: int = Field(default=2, ge=1, le=8)
    min_entropy_bits: float = Field(default=80.0, ge=80.0, le=512.0)

    @model_validator(mode="after")
    def _strong_enough(self) -> Self:
        if self.entropy_bits < self.min_entropy_bits:
            raise ValueError(
                f"a password shape worth at least {self.min_entropy_bits:g} bits "
                f"(this one: {self.entropy_bits:.1f}; add words, syllables or digits)"
            )
        return self

    @property
    def entropy_bits(self) -> float:
        """Entropy of one generated password, in bits."""
        return shape_entropy_bits(self.words, self.syllables_per_word, self.digits)

    @property
    def length(self) -> int:
        """Length of every generated password."""
        return shape_length(self.words, self.syllables_per_word, self.digits)


# -- all of it -----------------------------------------------------------------------------


class PolicySettings(_Section):
    """The ``[policies]`` section: every policy's tunables.

    Attributes:
        calendar: When accounts open.
        access: Which groups and entitlements enrolments and attributions give.
        lifecycle: Grace and retention periods.
        naming: How usernames are made.
        initial_password: The shape of initial passwords.
        password_quality: What every password must meet.
    """

    calendar: CalendarSettings = CalendarSettings()
    access: AccessSettings = AccessSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    naming: NamingSettings = NamingSettings()
    initial_password: InitialPasswordSettings = InitialPasswordSettings()
    password_quality: PasswordQualitySettings = PasswordQualitySettings()

    @model_validator(mode="after")
    def _initial_passwords_pass_quality(self) -> Self:
        length = self.initial_password.length
        quality = self.password_quality
        if not quality.min_length <= length <= quality.max_length:
            raise ValueError(
                f"initial passwords between {quality.min_length} and {quality.max_length} "
                f"characters long (this shape: {length})"
            )
        return self
