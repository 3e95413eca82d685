"""The AD profile: verdicts become AD users and groups (no server needed)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import ActiveDirectorySettings, Settings
from ecampus_idm.directory.active_directory import NEVER_EXPIRES, from_filetime
from ecampus_idm.mapping.active_directory import (
    MAX_SAM_LENGTH,
    ActiveDirectoryProfile,
    profile_for,
    sam_account_name,
)
from ecampus_idm.mapping.openldap import OpenLdapProfile
from ecampus_idm.model import (
    AcademicYear,
    AccountStatus,
    Category,
    Enrolment,
    Person,
    Role,
    School,
    SourceKey,
)
from ecampus_idm.policies import PersonVerdict, PolicyEngine, StoreSnapshot
from ecampus_idm.policies.base import Decision, Outcome, Reason
from ecampus_idm.sync import EntryKind, Segment, TargetSpec

BASE = "DC=ecampus,DC=test"
PEOPLE = f"OU=people,{BASE}"
SCHOOLS = (
    School(code="HEC-TOURNAI", name="HE Tournai", category=Category.HE),
    School(code="EPS-CHARLEROI", name="EPS Charleroi", category=Category.PS),
)
KEY = SourceKey(source="secretariat-hec", matricule="000042")
BRUSSELS = ZoneInfo("Europe/Brussels")


def profile(**layout: object) -> ActiveDirectoryProfile:
    return ActiveDirectoryProfile(
        PEOPLE,
        f"OU=groups,{BASE}",
        "ecampus.test",
        SCHOOLS,
        settings=ActiveDirectorySettings.model_validate(layout),
        timezone=BRUSSELS,
    )


def student() -> Person:
    return Person(
        person_id="p-1",
        given_name="Hélène",
        family_name="Van der Straeten",
        birth_date=date(2005, 3, 1),
        personal_email="helene@example.org",
        roles=frozenset({Role.STUDENT}),
        source_keys=frozenset({KEY}),
        enrolments=(
            Enrolment(
                school="HEC-TOURNAI",
                category=Category.HE,
                department="INFO",
                academic_year=AcademicYear(start_year=2026),
                source=KEY,
            ),
        ),
    )


def verdict_of(person: Person, day: date) -> PersonVerdict:
    (verdict,) = PolicyEngine().decide([person], StoreSnapshot(), FixedClock.on(day))
    return verdict


def absent(status: AccountStatus, *decisions: Decision) -> PersonVerdict:
    return PersonVerdict(
        person_id="p-1",
        present=False,
        status=status,
        username="helene.vanderstraete",
        new_account=False,
        decisions=decisions,
    )


def test_student_becomes_an_enabled_ad_user() -> None:
    """A new student maps to a user with sAMAccountName, UPN, mail and UAC 512."""
    person = student()
    day = date(2026, 9, 2)
    entries = profile().desired([person], [verdict_of(person, day)], day)
    user = next(e for e in entries if e.kind is EntryKind.PERSON)
    assert user.dn == f"CN=helene.vanderstraete,{PEOPLE}"
    a = user.attributes
    assert a["objectclass"] == ("top", "person", "organizationalPerson", "user")
    assert a["samaccountname"] == ("helene.vanderstraete",)
    assert a["userprincipalname"] == ("helene.vanderstraete@ecampus.test",)
    assert a["mail"] == ("helene.vanderstraete@ecampus.test",)
    assert a["displayname"] == ("Hélène Van der Straeten",)
    assert a["othermailbox"] == ("helene@example.org",)
    assert a["extensionname"] == ("secretariat-hec:000042",)
    assert a["departmentnumber"] == ("HEC-TOURNAI",)
    assert a["employeenumber"] == ("p-1",)
    assert a["admindescription"] == ("ecampus-idm",)
    assert a["useraccountcontrol"] == ("512",)
    assert a["accountexpires"] == (str(NEVER_EXPIRES),)
    assert user.initial_password
    assert user.segment == Segment("HE", "HEC-TOURNAI")


def test_groups_are_global_security_groups_with_members() -> None:
    """Each granted group is a security group whose members are the users' DNs."""
    person = student()
    day = date(2026, 9, 2)
    entries = profile().desired([person], [verdict_of(person, day)], day)
    user = next(e for e in entries if e.kind is EntryKind.PERSON)
    groups = [e for e in entries if e.kind is EntryKind.GROUP]
    assert groups
    for group in groups:
        assert group.attributes["objectclass"] == ("top", "group")
        assert group.attributes["grouptype"] == ("-2147483646",)
        assert group.attributes["samaccountname"] == (group.key,)
        assert group.members == frozenset({user.dn})


def test_configurable_attributes_are_used() -> None:
    """Personal mail, source keys, school and person id go where the settings say."""
    layout = {
        "personal_mail_attribute": "info",
        "source_keys_attribute": "carLicense",
        "person_id_attribute": "uid",
        "marker_attribute": "employeeType",
    }
    person = student()
    day = date(2026, 9, 2)
    user = profile(**layout).desired([person], [verdict_of(person, day)], day)[0]
    assert user.attributes["info"] == ("helene@example.org",)
    assert user.attributes["carlicense"] == ("secretariat-hec:000042",)
    assert user.attributes["uid"] == ("p-1",)
    assert user.attributes["employeetype"] == ("ecampus-idm",)
    spec = profile(**layout).target()
    assert spec.key_attributes[EntryKind.PERSON] == "uid"
    assert spec.marker_attribute == "employeeType"


def test_disabled_account_is_514_and_not_enabled() -> None:
    """A disabled account carries userAccountControl 514."""
    entry = profile().person(None, absent(AccountStatus.DISABLED), date(2027, 3, 1))
    assert entry is not None
    assert entry.attributes["useraccountcontrol"] == ("514",)
    assert not entry.enabled
    assert "sn" not in entry.owned


def test_grace_account_expires_when_it_will_be_disabled() -> None:
    """In grace, accountExpires is local midnight of the lifecycle's disable_on."""
    decision = Decision.of(
        Outcome.ALLOW,
        "lifecycle",
        Reason(code="lifecycle.grace", fr="…", en="…", data={"disable_on": date(2027, 1, 30)}),
    )
    entry = profile().person(None, absent(AccountStatus.GRACE, decision), date(2026, 12, 1))
    assert entry is not None
    assert entry.attributes["useraccountcontrol"] == ("512",)
    midnight = datetime.combine(date(2027, 1, 30), time(), tzinfo=BRUSSELS)
    assert from_filetime(entry.attributes["accountexpires"][0]) == midnight


def test_ou_per_school_then_per_category() -> None:
    """A school's OU wins; else the category's OU; else the people container."""
    layout = {"school_ous": {"HEC-TOURNAI": "OU=tournai,OU=HE"}, "category_ous": {"PS": "OU=PS"}}
    p = profile(**layout)
    assert p.person_dn("x", ("HEC-TOURNAI",)) == f"CN=x,OU=tournai,OU=HE,{PEOPLE}"
    assert p.person_dn("x", ("EPS-CHARLEROI",)) == f"CN=x,OU=PS,{PEOPLE}"
    assert p.person_dn("x", ("UNKNOWN",)) == f"CN=x,{PEOPLE}"


def test_target_uses_usn_and_unicode_pwd() -> None:
    """The AD target stamps with uSNChanged and sets the initial password with pwdLastSet=0."""
    from pydantic import SecretStr  # noqa: PLC0415 - only this test needs it

    spec = profile().target()
    assert isinstance(spec, TargetSpec)
    assert spec.version_attribute == "uSNChanged"
    assert spec.initial_password(SecretStr("Pw-2026-long")) == {
        "unicodePwd": "Pw-2026-long",
        "pwdLastSet": "0",
    }
    options = profile().plan_options()
    assert options.placeholder_members == frozenset()
    assert "useraccountcontrol" in options.status_attributes


def test_profile_for_follows_the_directory_kind() -> None:
    """directory.kind picks the profile; OpenLDAP stays the default."""
    directory = {
        "url": "ldaps://127.0.0.2",
        "bind_dn": f"CN=Administrator,CN=Users,{BASE}",
        "bind_password": "x",
        "base_dn": BASE,
    }
    assert isinstance(profile_for(Settings(directory=directory)), OpenLdapProfile)
    ad = profile_for(Settings(directory={**directory, "kind": "active_directory"}))
    assert isinstance(ad, ActiveDirectoryProfile)
    assert ad.upn_suffix == "ecampus.test"


def test_long_username_gets_a_short_stable_sam_account_name() -> None:
    """A 21+ character username keeps its UPN but gets a 20-character sAMAccountName."""
    long_name = "marie-christine.vanderstraeten"
    sam = sam_account_name(long_name, "p-7")
    assert len(sam) == MAX_SAM_LENGTH
    assert sam == sam_account_name(long_name, "p-7")
    assert sam != sam_account_name(long_name, "p-8")
    assert sam.startswith("marie-christin-")


@given(username=st.text(min_size=1, max_size=80), person_id=st.text(min_size=1, max_size=40))
def test_sam_account_name_never_exceeds_20(username: str, person_id: str) -> None:
    """Whatever the username, the sAMAccountName has at most 20 characters."""
    sam = sam_account_name(username, person_id)
    assert 1 <= len(sam) <= MAX_SAM_LENGTH
    assert not set(sam) & set('"/\\[]:;|=,+*?<>@')


@given(username=st.from_regex(r"[a-z][a-z0-9.-]{0,60}", fullmatch=True))
def test_profile_never_produces_a_21_character_sam_account_name(username: str) -> None:
    """The AD profile's user entries never carry a sAMAccountName over 20 characters."""
    verdict = PersonVerdict(
        person_id="p-1",
        present=True,
        status=AccountStatus.ACTIVE,
        username=username,
        new_account=True,
        decisions=(),
    )
    entry = profile().person(student(), verdict, date(2026, 9, 2))
    assert entry is not None
    (sam,) = entry.attributes["samaccountname"]
    assert len(sam) <= MAX_SAM_LENGTH
    assert entry.attributes["userprincipalname"] == (f"{username}@ecampus.test",)


@pytest.mark.parametrize("name", ["jean.dupont", "a", "x" * 20])
def test_short_usernames_are_kept(name: str) -> None:
    """A username of 20 characters or fewer is its own sAMAccountName."""
    assert sam_account_name(name, "p-1") == name
