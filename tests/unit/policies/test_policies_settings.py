"""The [policies] configuration: defaults, per category/school lookups, validation messages."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ecampus_idm.model import Category, Role
from ecampus_idm.policies import (
    AccessProfile,
    AccessSettings,
    CalendarSettings,
    InitialPasswordSettings,
    LifecycleSettings,
    MonthDay,
    NamingSettings,
    PasswordQualitySettings,
    PolicySettings,
    RetentionPeriods,
    StaffGrants,
    StudentGrants,
)


def test_defaults_follow_the_faq() -> None:
    """By default HE opens on 1 September, PS and secondary on 1 August."""
    opening = CalendarSettings().opening
    assert opening == {
        Category.HE: MonthDay(9, 1),
        Category.PS: MonthDay(8, 1),
        Category.SEC: MonthDay(8, 1),
    }


@pytest.mark.parametrize("text", ["09-15", "--09-15", " 09-15 "], ids=["plain", "iso", "spaces"])
def test_month_day_parses(text: str) -> None:
    """An opening day is written MM-DD (or ISO's --MM-DD)."""
    settings = CalendarSettings.model_validate({"opening": {"HE": text}})
    assert settings.opening[Category.HE] == MonthDay(9, 15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9/15", "such as 09-01"),
        ("2026-09-15", "such as 09-01"),
        ("13-01", "exists every year"),
        ("02-29", "exists every year"),
        ("04-31", "exists every year"),
    ],
    ids=["slash", "with-year", "month-13", "leap-day", "april-31"],
)
def test_month_day_refused(text: str, message: str) -> None:
    """An opening day that is not a real day of every year is refused, saying what is wanted."""
    with pytest.raises(ValidationError, match=message):
        CalendarSettings.model_validate({"opening": {"HE": text}})


def test_month_day_values_are_accepted_from_python() -> None:
    """Python callers may pass MonthDay values (or pairs) instead of text."""
    settings = CalendarSettings.model_validate(
        {"opening": {Category.HE: MonthDay(9, 15), Category.PS: (8, 16)}}
    )
    assert (settings.opening[Category.HE], settings.opening[Category.PS]) == (
        MonthDay(9, 15),
        MonthDay(8, 16),
    )


def test_categories_left_out_keep_their_default() -> None:
    """Configuring one category keeps the default of the others."""
    settings = CalendarSettings.model_validate({"opening": {"SEC": "08-16"}})
    assert (settings.opening[Category.SEC], settings.opening[Category.HE]) == (
        MonthDay(8, 16),
        MonthDay(9, 1),
    )


def test_month_day_serialises_as_text() -> None:
    """Opening days are written back as MM-DD (config show, JSON)."""
    dumped = CalendarSettings().model_dump(mode="json")
    assert dumped["opening"]["HE"] == "09-01"
    assert str(MonthDay(8, 1)) == "08-01"


def test_school_opening_overrides_its_category_whatever_the_case() -> None:
    """A school's own opening day wins over its category's; codes ignore case."""
    settings = CalendarSettings.model_validate({"school_opening": {"ath-athenee": "08-20"}})
    assert settings.opening_day(Category.SEC, "ATH-Athenee") == MonthDay(8, 20)
    assert settings.opening_day(Category.SEC, "OTHER") == MonthDay(8, 1)


def test_school_codes_differing_by_case_only_are_refused() -> None:
    """Two keys for one school are a configuration error."""
    with pytest.raises(ValidationError, match="differ by more than letter case"):
        CalendarSettings.model_validate({"school_opening": {"ath": "08-20", "ATH": "08-21"}})


def test_unknown_keys_are_refused() -> None:
    """A misspelt key is reported, not ignored."""
    with pytest.raises(ValidationError, match="extra"):
        PolicySettings.model_validate({"calender": {}})


# -- access --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("{school}-{function}", "placeholders among"),
        ("{school!r}", "placeholders among"),
        ("{school:>5}", "placeholders among"),
        ("{school", "balanced braces"),
        ("Students-{school}", "lower-case letters"),
        (".{school}", "lower-case letters"),
        ("{school} students", "lower-case letters"),
        ("", "lower-case letters"),
    ],
    ids=["staff-only", "conversion", "format-spec", "unbalanced", "upper", "dot", "space", "empty"],
)
def test_student_group_patterns_are_checked(pattern: str, message: str) -> None:
    """A group pattern must give valid group names from known placeholders."""
    with pytest.raises(ValidationError, match=message):
        StudentGrants(groups=(pattern,))


def test_staff_patterns_cannot_use_department() -> None:
    """Attributions have no department: the placeholder is refused for staff."""
    with pytest.raises(ValidationError, match="placeholders among"):
        StaffGrants(groups=("{school}-{department}",))


@pytest.mark.parametrize("pattern", ["urn:x {school}", ""], ids=["space", "empty"])
def test_entitlement_patterns_are_checked(pattern: str) -> None:
    """An entitlement pattern must be a URI without spaces."""
    with pytest.raises(ValidationError, match="without spaces"):
        StudentGrants(entitlements=(pattern,))


def test_entitlement_patterns_may_hold_uri_characters() -> None:
    """URN punctuation and upper case are fine in entitlements."""
    grants = StaffGrants(entitlements=("urn:mace:ecampus.test:Valves:{school}#{function}",))
    assert len(grants.entitlements) == 1


def _access() -> AccessSettings:
    return AccessSettings.model_validate(
        {
            "preprovision_days": 14,
            "categories": {
                "SEC": {
                    "preprovision_days": 3,
                    "students": {"groups": ["sec-pupils"]},
                    "staff": {"groups": ["sec-staff"]},
                }
            },
            "schools": {
                "ath-athenee": {
                    "preprovision_days": 0,
                    "students": {"groups": ["ath-pupils"]},
                    "staff": {"groups": ["ath-staff"]},
                },
                "SEC-ONLY-DAYS": {"preprovision_days": 7},
            },
        }
    )


@pytest.mark.parametrize(
    ("category", "school", "expected"),
    [
        (Category.SEC, "ATH-ATHENEE", ("ath-pupils", "ath-staff", 0)),
        (Category.SEC, "SEC-ONLY-DAYS", ("sec-pupils", "sec-staff", 7)),
        (Category.SEC, "OTHER", ("sec-pupils", "sec-staff", 3)),
        (Category.HE, "HEC", ("{category}-students", "{category}-staff", 14)),
    ],
    ids=["school", "school-days-only", "category", "default"],
)
def test_access_rules_are_looked_up_school_then_category_then_default(
    category: Category, school: str, expected: tuple[str, str, int]
) -> None:
    """A school's rules win over its category's, which win over the defaults."""
    access = _access()
    found = (
        access.student_grants(category, school).groups[0],
        access.staff_grants(category, school).groups[0],
        access.preprovision_days_for(category, school),
    )
    assert found == expected


def test_access_profile_days_are_bounded() -> None:
    """Pre-provisioning cannot be negative."""
    with pytest.raises(ValidationError):
        AccessProfile(preprovision_days=-1)


# -- lifecycle -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (frozenset({Role.STUDENT}), (10, 100)),
        (frozenset({Role.TEACHER}), (20, 50)),
        (frozenset({Role.ADMINISTRATIVE}), (20, 50)),
        (frozenset({Role.STUDENT, Role.TEACHER}), (20, 100)),
        (frozenset(), (20, 100)),
    ],
    ids=["student", "teacher", "administrative", "both", "unknown"],
)
def test_periods_follow_the_population(roles: frozenset[Role], expected: tuple[int, int]) -> None:
    """Each population has its periods; both or unknown get the longer of each."""
    settings = LifecycleSettings(
        students=RetentionPeriods(grace_days=10, retention_days=100),
        staff=RetentionPeriods(grace_days=20, retention_days=50),
    )
    periods = settings.periods_for(roles)
    assert (periods.grace_days, periods.retention_days) == expected


# -- naming --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("{given_initial}{family_initial}", "using {given} or {family}"),
        ("{given}_{family}", "lower-case letters, digits"),
        ("{given}.{surname}", "placeholders among"),
    ],
    ids=["initials-only", "underscore", "unknown"],
)
def test_username_patterns_are_checked(pattern: str, message: str) -> None:
    """A username pattern needs a name and only username characters."""
    with pytest.raises(ValidationError, match=message):
        NamingSettings(patterns=(pattern,))


def test_reserved_names_are_lower_cased() -> None:
    """Reserved names are compared in lower case."""
    assert NamingSettings.model_validate({"reserved": ["Admin", " SVC-* "]}).reserved == {
        "admin",
        "svc-*",
    }


@pytest.mark.parametrize("reserved", [["a b"], "admin"], ids=["space", "not-a-list"])
def test_bad_reserved_lists_are_refused(reserved: Any) -> None:
    """Reserved names are a list of username-like names."""
    with pytest.raises(ValidationError):
        NamingSettings.model_validate({"reserved": reserved})


def test_reserved_list_has_the_usual_role_names() -> None:
    """The default reserved list covers role and system accounts."""
    assert {"admin", "root", "postmaster", "krbtgt"} <= NamingSettings().reserved


# -- passwords -----------------------------------------------------------------------------


def test_default_password_shape_is_worth_80_bits() -> None:
    """The default initial password has at least 80 bits of entropy and 30 characters."""
    settings = InitialPasswordSettings()
    assert settings.entropy_bits >= 80
    assert settings.length == 30


def test_weak_password_shapes_are_refused() -> None:
    """A shape worth less than 80 bits is a configuration error."""
    with pytest.raises(ValidationError, match="at least 80 bits"):
        InitialPasswordSettings(words=2)


def test_blocklist_is_compared_without_case() -> None:
    """Blocklisted passwords are stored case-folded."""
    assert PasswordQualitySettings(blocklist=frozenset({"Azerty123"})).blocklist == {"azerty123"}


def test_initial_passwords_must_meet_the_minimum_length() -> None:
    """Initial passwords shorter than the quality minimum are refused at load time."""
    with pytest.raises(ValidationError, match="between 40 and 128"):
        PolicySettings(password_quality=PasswordQualitySettings(min_length=40))


def test_initial_passwords_must_fit_the_maximum_length() -> None:
    """Initial passwords longer than the quality maximum are refused at load time."""
    long_shape = InitialPasswordSettings(words=10, syllables_per_word=8, digits=8)
    with pytest.raises(ValidationError, match="this shape: 178"):
        PolicySettings(initial_password=long_shape)


def test_whole_section_loads_from_toml_like_data() -> None:
    """A [policies] table as TOML gives it loads into the settings."""
    settings = PolicySettings.model_validate(
        {
            "calendar": {"opening": {"HE": "09-14"}, "staff_required_fields": ["birth_date"]},
            "access": {"schools": {"HEC-MONS": {"preprovision_days": 30}}},
            "lifecycle": {"staff": {"grace_days": 7, "retention_days": 90}},
            "naming": {"max_length": 64, "given_names": "all"},
            "initial_password": {"words": 5},
            "password_quality": {"ad_complexity": False},
        }
    )
    assert settings.access.preprovision_days_for(Category.HE, "hec-mons") == 30
    assert settings.calendar.staff_required_fields == ("birth_date",)
