"""The Active Directory profile: persons and verdicts become AD users and security groups.

A person with an account becomes one ``user`` object named ``CN=<username>`` under the
people container (or the OU configured for their school or category), with
``sAMAccountName`` (at most 20 characters, enforced here: Samba accepts 21, Windows does
not), ``userPrincipalName``, ``displayName``, names, the institutional ``mail``, and the
personal address, source keys, school codes, person id and ownership marker in
configurable attributes (:class:`~ecampus_idm.config.ActiveDirectorySettings`). Each
group the access policy grants becomes a global security ``group`` under the groups
container, its ``member`` values following the verdicts.

Lifecycle: an active or in-grace account has ``userAccountControl`` 512 (normal,
enabled); a disabled one 514 (normal, disabled); "password never expires" is never set,
so that ``pwdLastSet=0`` (set with the initial password, see
:func:`~ecampus_idm.sync.target.ad_initial_password`) always forces a change at first
logon. ``accountExpires`` is "never" for an active account and the day the account is to
be disabled for one in grace (local midnight, the lifecycle's ``disable_on``). A deleted
account has no desired entry, so the plan deletes it (within the budgets). A person who
left every source keeps their identity attributes: only the status attributes are owned.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from ecampus_idm.config import ActiveDirectorySettings, Settings
from ecampus_idm.directory.active_directory import (
    NEVER_EXPIRES,
    UAC_DISABLED,
    UAC_ENABLED,
    check_uac,
    to_filetime,
)
from ecampus_idm.directory.dn import build_dn
from ecampus_idm.mapping.base import desired_entries
from ecampus_idm.mapping.openldap import MARKER, OpenLdapProfile, open_schools
from ecampus_idm.model import AccountStatus, Category, Person, School
from ecampus_idm.policies.engine import PersonVerdict
from ecampus_idm.sync.budgets import DEFAULT_BUDGETS, Budget
from ecampus_idm.sync.model import DesiredEntry, EntryKind, ObservedEntry, Segment
from ecampus_idm.sync.plan import PlanOptions
from ecampus_idm.sync.target import TargetSpec, ad_initial_password

__all__ = ["MAX_SAM_LENGTH", "ActiveDirectoryProfile", "profile_for", "sam_account_name"]

MAX_SAM_LENGTH = 20
"""Windows' limit on a user's ``sAMAccountName`` (pre-Windows 2000 logon name)."""

_USER_CLASSES = ("top", "person", "organizationalPerson", "user")
_GROUP_CLASSES = ("top", "group")
_SAM_FORBIDDEN = re.compile(r'["/\\\[\]:;|=,+*?<>@\s]')
_HASH_LENGTH = 5


def sam_account_name(username: str, person_id: str) -> str:
    """Return the ``sAMAccountName`` of ``username``: itself when it fits, else shortened.

    Characters AD forbids become ``_``. A name longer than 20 characters keeps its first
    14 and gains ``-`` and 5 characters derived from the person id, so that two long
    names with the same start stay distinct and the result is stable across runs.
    """
    name = _SAM_FORBIDDEN.sub("_", username).rstrip(".") or "_"
    if len(name) <= MAX_SAM_LENGTH:
        return name
    digest = hashlib.sha256(person_id.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    keep = MAX_SAM_LENGTH - _HASH_LENGTH - 1
    return f"{name[:keep].rstrip('.')}-{digest}"


@dataclass(frozen=True)
class ActiveDirectoryProfile:
    """How ecampus-idm lays out people and groups in Active Directory.

    Attributes:
        people_dn: The people container (an OU).
        groups_dn: The groups container.
        mail_domain: Domain of ``mail``.
        schools: The configured schools (segments for budgets, OUs).
        settings: The AD layout (UPN suffix, OUs, attribute names).
        timezone: The zone of the lifecycle's dates (for ``accountExpires``).
        budgets: The safety budgets of the plans.
    """

    people_dn: str
    groups_dn: str
    mail_domain: str
    schools: tuple[School, ...] = ()
    settings: ActiveDirectorySettings = field(default_factory=ActiveDirectorySettings)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Brussels"))
    budgets: tuple[Budget, ...] = DEFAULT_BUDGETS
    _by_code: Mapping[str, School] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {s.code.casefold(): s for s in self.schools})

    @property
    def upn_suffix(self) -> str:
        """The ``userPrincipalName`` suffix."""
        return self.settings.upn_suffix or self.mail_domain

    @property
    def _status(self) -> frozenset[str]:
        return frozenset({"useraccountcontrol", "accountexpires"})

    @property
    def _identity_owned(self) -> frozenset[str]:
        s = self.settings
        return frozenset({"objectclass", s.marker_attribute.lower(), s.person_id_attribute.lower()})

    @property
    def _person_owned(self) -> frozenset[str]:
        s = self.settings
        return (
            self._status
            | self._identity_owned
            | frozenset(
                {
                    "cn",
                    "samaccountname",
                    "userprincipalname",
                    "displayname",
                    "givenname",
                    "sn",
                    "mail",
                    s.personal_mail_attribute.lower(),
                    s.source_keys_attribute.lower(),
                    s.school_attribute.lower(),
                }
            )
        )

    # -- target description --------------------------------------------------------------

    def target(self) -> TargetSpec:
        """The containers, keys, marker and change stamp of an AD target."""
        return TargetSpec(
            containers={EntryKind.PERSON: self.people_dn, EntryKind.GROUP: self.groups_dn},
            key_attributes={
                EntryKind.PERSON: self.settings.person_id_attribute,
                EntryKind.GROUP: "cn",
            },
            marker_attribute=self.settings.marker_attribute,
            marker_value=MARKER,
            version_attribute="uSNChanged",
            # Whether the initial password is still the account's (0: must change).
            extra_attributes=("pwdLastSet",),
            member_attribute="member",
            initial_password=ad_initial_password,
        )

    def plan_options(self) -> PlanOptions:
        """Plan options: AD's status attributes, no placeholder member, budgets, segments."""
        return PlanOptions(
            status_attributes=self._status,
            placeholder_members=frozenset(),
            budgets=self.budgets,
            segment_of=self.segment_of,
        )

    def segment_of(self, entry: ObservedEntry) -> Segment:
        """Category and school of an observed entry (for deletes and budget bases)."""
        if entry.kind is EntryKind.PERSON:
            schools = entry.get(self.settings.school_attribute)
            return self._segment(schools[0] if schools else "")
        return self._group_segment(entry.key or "")

    def container_of(self, schools: tuple[str, ...]) -> str:
        """The container of a person of these schools (their first school's OU)."""
        if schools:
            code = schools[0]
            ous = self.settings.school_ous
            found = next((v for k, v in ous.items() if k.casefold() == code.casefold()), None)
            if found is not None:
                return f"{found},{self.people_dn}"
            school = self._by_code.get(code.casefold())
            if school is not None:
                category = self.settings.category_ous.get(school.category.value)
                if category is not None:
                    return f"{category},{self.people_dn}"
        return self.people_dn

    def person_dn(self, username: str, schools: tuple[str, ...] = ()) -> str:
        """The DN of the account named ``username``."""
        return build_dn("CN", username, self.container_of(schools))

    def group_dn(self, name: str) -> str:
        """The DN of the group ``name``."""
        return build_dn("CN", name, self.groups_dn)

    # -- desired state --------------------------------------------------------------------

    def desired(
        self, persons: Iterable[Person], verdicts: Iterable[PersonVerdict], today: date
    ) -> list[DesiredEntry]:
        """Every desired user and group for the verdicts of a run (see the OpenLDAP profile)."""
        return desired_entries(self, persons, verdicts, today)

    def person(
        self, person: Person | None, verdict: PersonVerdict, today: date
    ) -> DesiredEntry | None:
        """The desired user object of one person's account, or None when there is none."""
        del today  # what is open today (roles, schools) is in the verdict
        status = verdict.status
        if status is None or status is AccountStatus.DELETED or verdict.username is None:
            return None
        s = self.settings
        username = verdict.username
        disabled = status is AccountStatus.DISABLED
        attributes: dict[str, tuple[str, ...]] = {
            "objectClass": _USER_CLASSES,
            s.marker_attribute: (MARKER,),
            s.person_id_attribute: (verdict.person_id,),
            "userAccountControl": (str(check_uac(UAC_DISABLED if disabled else UAC_ENABLED)),),
            "accountExpires": (self._expires(verdict, status),),
        }
        schools = open_schools(verdict) if person is not None else ()
        if person is not None:
            attributes.update(self._identity(person, username, verdict.person_id, schools))
        return DesiredEntry(
            kind=EntryKind.PERSON,
            key=verdict.person_id,
            dn=self.person_dn(username, schools),
            attributes=attributes,
            owned=self._person_owned if person is not None else self._status | self._identity_owned,
            enabled=not disabled,
            segment=self._segment(schools[0] if schools else ""),
            initial_password=verdict.new_account,
            status=status.value,
        )

    def group(self, name: str, member_dns: Iterable[str]) -> DesiredEntry:
        """The desired security group ``name`` with these members."""
        marker = self.settings.marker_attribute
        return DesiredEntry(
            kind=EntryKind.GROUP,
            key=name,
            dn=self.group_dn(name),
            attributes={
                "objectClass": _GROUP_CLASSES,
                "cn": (name,),
                "sAMAccountName": (name,),
                "groupType": (str(self.settings.group_type),),
                marker: (MARKER,),
            },
            owned=frozenset({"objectclass", "cn", "samaccountname", "grouptype", marker.lower()}),
            members=frozenset(member_dns),
            segment=self._group_segment(name),
        )

    def _expires(self, verdict: PersonVerdict, status: AccountStatus) -> str:
        if status is AccountStatus.GRACE:
            for decision in verdict.decisions:
                value = decision.reason.data.get("disable_on")
                if value is not None:
                    day = value if isinstance(value, date) else date.fromisoformat(str(value))
                    midnight = datetime.combine(day, time(), tzinfo=self.timezone)
                    return str(to_filetime(midnight))
        return str(NEVER_EXPIRES)

    def _identity(
        self, person: Person, username: str, person_id: str, schools: tuple[str, ...]
    ) -> dict[str, tuple[str, ...]]:
        s = self.settings
        values: dict[str, tuple[str, ...]] = {
            "cn": (username,),
            "sAMAccountName": (sam_account_name(username, person_id),),
            "userPrincipalName": (f"{username}@{self.upn_suffix}",),
            "displayName": (person.display_name,),
            "sn": (person.family_name,),
            "givenName": (person.given_name,),
            "mail": (f"{username}@{self.mail_domain}",),
        }
        keys = tuple(sorted(str(k) for k in person.source_keys))
        if keys:
            values[s.source_keys_attribute] = keys
        if person.personal_email:
            values[s.personal_mail_attribute] = (person.personal_email,)
        if schools:
            values[s.school_attribute] = schools
        return values

    def _segment(self, code: str) -> Segment:
        school = self._by_code.get(code.casefold())
        if school is None:
            return Segment("", code)
        return Segment(school.category.value, school.code)

    def _group_segment(self, name: str) -> Segment:
        folded = name.casefold()
        matches = [c for c in self._by_code if folded == c or folded.startswith(c + "-")]
        if matches:
            return self._segment(max(matches, key=len))
        for category in Category:
            value = category.value.casefold()
            if folded == value or folded.startswith(f"{value}-"):
                return Segment(category.value, "")
        return Segment()


def profile_for(settings: Settings) -> OpenLdapProfile | ActiveDirectoryProfile:
    """Return the mapping profile ``settings.directory.kind`` names.

    ``openldap`` (the default) gives an :class:`~ecampus_idm.mapping.openldap.OpenLdapProfile`,
    ``active_directory`` an :class:`ActiveDirectoryProfile` with the ``[directory.
    active_directory]`` layout.
    """
    directory = settings.directory
    if directory.kind == "active_directory":
        return ActiveDirectoryProfile(
            directory.people_dn,
            directory.groups_dn,
            settings.institution.mail_domain,
            settings.schools,
            settings=directory.active_directory,
            timezone=settings.institution.zone,
        )
    return OpenLdapProfile(
        directory.people_dn,
        directory.groups_dn,
        settings.institution.mail_domain,
        settings.schools,
    )
