"""The account vocabulary: OpenLDAP and AD attribute names, disabled rule, settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ecampus_idm.config import DirectorySettings
from ecampus_idm.directory.base import Entry, Modification
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.passwords import PasswordSettings
from ecampus_idm.passwords.base import DirectoryAccountLookup
from ecampus_idm.passwords.vocabulary import AccountVocabulary

BASE = "dc=ecampus,dc=test"
PEOPLE = f"ou=people,{BASE}"


def _directory(kind: str, **extra: object) -> DirectorySettings:
    return DirectorySettings(
        url="ldaps://dc.ecampus.test",
        bind_dn=f"cn=admin,{BASE}",
        bind_password=SecretStr("not-used-here"),
        base_dn=BASE,
        kind=kind,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def _ad_user(directory: MemoryDirectory, login: str, *, uac: str = "512") -> str:
    dn = f"CN={login},{PEOPLE}"
    directory.add(
        dn,
        {
            "objectClass": ["top", "person", "organizationalPerson", "user"],
            "cn": login,
            "sAMAccountName": login[:20],
            "userPrincipalName": f"{login}@ecampus.test",
            "displayName": "Jean Dupont",
            "employeeNumber": f"p-{login}",
            "adminDescription": "ecampus-idm",
            "departmentNumber": "HEC-TOURNAI",
            "otherMailbox": "parent@example.org",
            "userAccountControl": uac,
            "pwdLastSet": "0",
        },
    )
    return dn


@pytest.fixture
def ad_lookup() -> tuple[MemoryDirectory, DirectoryAccountLookup]:
    directory = MemoryDirectory([BASE])
    directory.add(PEOPLE, {"objectClass": "organizationalUnit", "ou": "people"})
    settings = PasswordSettings().for_directory(_directory("active_directory"))
    return directory, DirectoryAccountLookup(directory, base_dn=PEOPLE, settings=settings)


def test_openldap_settings_keep_their_names() -> None:
    """On OpenLDAP, for_directory changes no attribute name and fills people_dn."""
    settings = PasswordSettings().for_directory(_directory("openldap"))
    assert settings.directory_kind == "openldap"
    assert settings.personal_mail_attribute == "ecampusPersonalMail"
    assert settings.fingerprint_attributes == ("userPassword", "pwdChangedTime")
    assert settings.people_dn == PEOPLE


def test_ad_settings_take_the_ad_profile_names() -> None:
    """On AD, the defaults follow the AD profile (configured names included)."""
    directory = _directory("active_directory", active_directory={"personal_mail_attribute": "info"})
    settings = PasswordSettings().for_directory(directory)
    assert settings.directory_kind == "active_directory"
    assert settings.personal_mail_attribute == "info"
    assert settings.person_id_attribute == "employeeNumber"
    assert settings.username_attribute == "cn"
    assert settings.fingerprint_attributes == ("pwdLastSet",)
    assert settings.population_attribute is None


def test_explicit_names_are_kept_on_ad() -> None:
    """A name set in [passwords] wins over the AD default."""
    explicit = PasswordSettings(personal_mail_attribute="mailAlternate", people_dn=f"ou=x,{BASE}")
    settings = explicit.for_directory(_directory("active_directory"))
    assert settings.personal_mail_attribute == "mailAlternate"
    assert settings.people_dn == f"ou=x,{BASE}"
    assert settings.person_id_attribute == "employeeNumber"


@pytest.mark.parametrize(("uac", "disabled"), [("512", False), ("514", True), ("66050", True)])
def test_ad_disabled_is_bit_2_of_user_account_control(uac: str, disabled: bool) -> None:
    """AD: an account is disabled when userAccountControl has bit 2 (whatever else is set)."""
    entry = Entry("CN=x", {"userAccountControl": (uac,)})
    assert AccountVocabulary.active_directory().is_disabled(entry) is disabled


def test_openldap_disabled_by_status_or_lock() -> None:
    """OpenLDAP: the profile's status, or a ppolicy lock, disables."""
    words = AccountVocabulary.openldap()
    assert words.is_disabled(Entry("uid=x", {"ecampusAccountStatus": ("disabled",)}))
    assert words.is_disabled(Entry("uid=x", {"pwdAccountLockedTime": ("000001010000Z",)}))
    assert not words.is_disabled(Entry("uid=x", {"ecampusAccountStatus": ("active",)}))


def test_ad_status_of_reads_enabled_or_disabled() -> None:
    """AD only tells enabled from disabled; no UAC at all: unknown."""
    words = AccountVocabulary.active_directory()
    assert words.status_of(Entry("CN=x", {"userAccountControl": ("512",)})) == "active"
    assert words.status_of(Entry("CN=x", {"userAccountControl": ("514",)})) == "disabled"
    assert words.status_of(Entry("CN=x", {})) is None


def test_lookup_finds_ad_account_by_other_mailbox(
    ad_lookup: tuple[MemoryDirectory, DirectoryAccountLookup],
) -> None:
    """The AD lookup reads the login from cn and the owner from employeeNumber."""
    directory, lookup = ad_lookup
    _ad_user(directory, "jean.dupont.de.la.tour.2")
    (account,) = lookup.accounts_for_address("Parent@Example.org")
    assert account.username == "jean.dupont.de.la.tour.2"
    assert account.person_id == "p-jean.dupont.de.la.tour.2"
    assert account.schools == ("HEC-TOURNAI",)
    assert not account.disabled


def test_lookup_sees_ad_disabled_account(
    ad_lookup: tuple[MemoryDirectory, DirectoryAccountLookup],
) -> None:
    """A 514 account is read as disabled."""
    directory, lookup = ad_lookup
    dn = _ad_user(directory, "jean", uac="514")
    account = lookup.account(dn)
    assert account is not None
    assert account.disabled


def test_ad_fingerprint_follows_pwd_last_set(
    ad_lookup: tuple[MemoryDirectory, DirectoryAccountLookup],
) -> None:
    """A password set by another route (pwdLastSet changes) changes the fingerprint."""
    directory, lookup = ad_lookup
    dn = _ad_user(directory, "jean")
    before = lookup.account(dn)
    directory.modify(dn, [Modification.replace("pwdLastSet", "134080000000000000")])
    after = lookup.account(dn)
    assert before is not None
    assert after is not None
    assert before.fingerprint_material() != after.fingerprint_material()


# -- issue 14: a lockout after failed binds is not a disabled account -------------------


@pytest.mark.parametrize(
    ("attributes", "disabled", "locked_out"),
    [
        ({"pwdAccountLockedTime": ("20261205061500Z",)}, False, True),
        ({"pwdAccountLockedTime": ("000001010000Z",)}, True, False),
        ({"pwdAccountLockedTime": ("000001010000z ",)}, True, False),
        (
            {"ecampusAccountStatus": ("disabled",), "pwdAccountLockedTime": ("000001010000Z",)},
            True,
            False,
        ),
        ({"ecampusAccountStatus": ("active",)}, False, False),
    ],
    ids=["ppolicy-lockout", "permanent-lock", "permanent-lock-spelling", "disabled", "active"],
)
def test_openldap_tells_a_lockout_from_the_permanent_lock(
    attributes: dict[str, tuple[str, ...]], *, disabled: bool, locked_out: bool
) -> None:
    """Only the sync's permanent lock disables; ppolicy's timestamp is a lockout."""
    words = AccountVocabulary()
    entry = Entry("uid=x", attributes)
    assert words.is_disabled(entry) is disabled
    assert words.is_locked_out(entry) is locked_out


@pytest.mark.parametrize(
    ("uac", "lockout", "disabled", "locked_out"),
    [
        ("512", "134093340000000000", False, True),
        ("512", "0", False, False),
        ("514", "0", True, False),
        ("514", "134093340000000000", True, True),
    ],
)
def test_ad_tells_a_lockout_from_a_disabled_account(
    uac: str, lockout: str, *, disabled: bool, locked_out: bool
) -> None:
    """AD: bit 2 of userAccountControl disables; a non-zero lockoutTime is a lockout."""
    words = AccountVocabulary.active_directory()
    entry = Entry("CN=x", {"userAccountControl": (uac,), "lockoutTime": (lockout,)})
    assert words.is_disabled(entry) is disabled
    assert words.is_locked_out(entry) is locked_out
    assert "lockoutTime" in words.status_attributes


def test_unlock_is_lockout_time_zero_on_ad_and_the_stamp_removed_on_openldap() -> None:
    """The change that lifts the lockout, per directory kind."""
    assert AccountVocabulary.active_directory().unlock() == Modification.replace("lockoutTime", "0")
    assert AccountVocabulary().unlock() == Modification.delete("pwdAccountLockedTime")
