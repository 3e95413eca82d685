"""The OpenLDAP profile: persons and verdicts become desired entries and groups.

A person with an account becomes one ``inetOrgPerson`` + ``eduPerson`` +
``schacContactLocation`` + ``ecampusPerson`` entry under the people container, named by
``uid``; each group the access policy grants becomes a ``groupOfNames`` under the groups
container, its members following the verdicts. The profile owns the attributes it writes
(``owned``); anything else on an entry is left as it is.

Lifecycle: an active or in-grace account is usable; a disabled one carries the ppolicy
permanent lock (``pwdAccountLockedTime: 000001010000Z``) and ``ecampusAccountStatus:
disabled``; a deleted account has no desired entry, so the plan deletes it (within the
budgets). A person who left every source keeps their entry's identity attributes as they
are: only the status attributes are owned for them, since no source describes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from ecampus_idm.directory.dn import build_dn
from ecampus_idm.directory.ppolicy import PERMANENT_LOCK
from ecampus_idm.mapping.base import desired_entries
from ecampus_idm.model import AccountStatus, Category, Person, Role, School
from ecampus_idm.policies.engine import PersonVerdict
from ecampus_idm.sync.budgets import DEFAULT_BUDGETS, Budget
from ecampus_idm.sync.model import DesiredEntry, EntryKind, ObservedEntry, Segment
from ecampus_idm.sync.plan import PlanOptions
from ecampus_idm.sync.target import TargetSpec

__all__ = ["LOCKED", "MARKER", "OpenLdapProfile", "open_schools"]

MARKER = "ecampus-idm"
LOCKED = PERMANENT_LOCK
"""ppolicy's value for "locked until an administrator unlocks"."""

_PERSON_CLASSES = ("top", "inetOrgPerson", "eduPerson", "schacContactLocation", "ecampusPerson")
_GROUP_CLASSES = ("top", "groupOfNames", "ecampusManaged")
_STATUS = frozenset({"ecampusaccountstatus", "pwdaccountlockedtime"})
_IDENTITY = frozenset({"objectclass", "ecampusmanagedby", "ecampuspersonid"})
_PERSON_OWNED = (
    _STATUS
    | _IDENTITY
    | frozenset(
        {
            "uid",
            "cn",
            "sn",
            "givenname",
            "displayname",
            "mail",
            "edupersonaffiliation",
            "edupersonprimaryaffiliation",
            "edupersonprincipalname",
            "edupersonentitlement",
            "schachomeorganization",
            "ecampuspersonalmail",
            "ecampussourcekey",
            "ecampusschool",
        }
    )
)
_ABSENT_OWNED = _STATUS | _IDENTITY
_GROUP_OWNED = frozenset({"objectclass", "cn", "ecampusmanagedby"})


@dataclass(frozen=True)
class OpenLdapProfile:
    """How ecampus-idm lays out people and groups in an OpenLDAP directory.

    Attributes:
        people_dn: The people container.
        groups_dn: The groups container.
        mail_domain: Domain of ``mail`` and ``eduPersonPrincipalName``.
        schools: The configured schools (segments for budgets and summaries).
        budgets: The safety budgets of the plans.
    """

    people_dn: str
    groups_dn: str
    mail_domain: str
    schools: tuple[School, ...] = ()
    budgets: tuple[Budget, ...] = DEFAULT_BUDGETS
    _by_code: Mapping[str, School] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {s.code.casefold(): s for s in self.schools})

    # -- target description --------------------------------------------------------------

    def target(self) -> TargetSpec:
        """The containers, keys and marker the snapshot and apply use."""
        return TargetSpec(
            containers={EntryKind.PERSON: self.people_dn, EntryKind.GROUP: self.groups_dn},
            # The lock, the back-links, and whether the initial password is still the
            # entry's (AccountVocabulary.initial_password_state): operational, by name.
            extra_attributes=("pwdAccountLockedTime", "memberOf", "pwdReset", "pwdChangedTime"),
        )

    def plan_options(self) -> PlanOptions:
        """Plan options: the status attributes, budgets and segments of this profile."""
        return PlanOptions(
            status_attributes=_STATUS,
            budgets=self.budgets,
            segment_of=self.segment_of,
            # The memberof overlay keeps the back-link, but never repairs one it missed.
            member_of_attribute="memberof",
        )

    def segment_of(self, entry: ObservedEntry) -> Segment:
        """Category and school of an observed entry (for deletes and budget bases)."""
        if entry.kind is EntryKind.PERSON:
            schools = entry.get("ecampusSchool")
            return self._segment(schools[0] if schools else "")
        return self._group_segment(entry.key or "")

    def person_dn(self, username: str) -> str:
        """The DN of the account named ``username``."""
        return build_dn("uid", username, self.people_dn)

    def group_dn(self, name: str) -> str:
        """The DN of the group ``name``."""
        return build_dn("cn", name, self.groups_dn)

    # -- desired state --------------------------------------------------------------------

    def desired(
        self, persons: Iterable[Person], verdicts: Iterable[PersonVerdict], today: date
    ) -> list[DesiredEntry]:
        """Every desired person and group entry for the verdicts of a run.

        Args:
            persons: The persons the sources describe today.
            verdicts: The policy engine's verdicts (one per person known to sources or store).
            today: The run's local date (current attributions and enrolments).
        """
        return desired_entries(self, persons, verdicts, today)

    def person(
        self, person: Person | None, verdict: PersonVerdict, today: date
    ) -> DesiredEntry | None:
        """The desired entry of one person's account, or None when there is none."""
        del today  # what is open today (roles, schools) is in the verdict
        status = verdict.status
        if status is None or status is AccountStatus.DELETED or verdict.username is None:
            return None
        username = verdict.username
        attributes: dict[str, tuple[str, ...]] = {
            "objectClass": _PERSON_CLASSES,
            "ecampusManagedBy": (MARKER,),
            "ecampusPersonId": (verdict.person_id,),
            "ecampusAccountStatus": (status.value,),
        }
        if status is AccountStatus.DISABLED:
            attributes["pwdAccountLockedTime"] = (LOCKED,)
        schools = open_schools(verdict) if person is not None else ()
        if person is not None:
            attributes.update(self._identity(person, username, verdict, schools))
        return DesiredEntry(
            kind=EntryKind.PERSON,
            key=verdict.person_id,
            dn=self.person_dn(username),
            attributes=attributes,
            owned=_PERSON_OWNED if person is not None else _ABSENT_OWNED,
            enabled=status is not AccountStatus.DISABLED,
            segment=self._segment(schools[0] if schools else ""),
            initial_password=verdict.new_account,
            status=status.value,
        )

    def group(self, name: str, member_dns: Iterable[str]) -> DesiredEntry:
        """The desired group ``name`` with these members."""
        return DesiredEntry(
            kind=EntryKind.GROUP,
            key=name,
            dn=self.group_dn(name),
            attributes={
                "objectClass": _GROUP_CLASSES,
                "cn": (name,),
                "ecampusManagedBy": (MARKER,),
            },
            owned=_GROUP_OWNED,
            members=frozenset(member_dns),
            segment=self._group_segment(name),
        )

    def _identity(
        self,
        person: Person,
        username: str,
        verdict: PersonVerdict,
        schools: tuple[str, ...],
    ) -> dict[str, tuple[str, ...]]:
        address = f"{username}@{self.mail_domain}"
        affiliations = _affiliations(verdict.roles)  # the open roles only
        values: dict[str, tuple[str, ...]] = {
            "uid": (username,),
            "cn": (person.display_name,),
            "displayName": (person.display_name,),
            "sn": (person.family_name,),
            "givenName": (person.given_name,),
            "mail": (address,),
            "eduPersonPrincipalName": (address,),
            "eduPersonAffiliation": affiliations,
            "eduPersonPrimaryAffiliation": (_primary(verdict.roles),),
            "schacHomeOrganization": (self.mail_domain,),
            "ecampusSourceKey": tuple(sorted(str(k) for k in person.source_keys)),
        }
        if verdict.entitlements:
            values["eduPersonEntitlement"] = tuple(sorted(verdict.entitlements))
        if person.personal_email:
            values["ecampusPersonalMail"] = (person.personal_email,)
        if schools:
            values["ecampusSchool"] = schools
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
        for category in Category:  # category-wide groups ("he-students")
            if folded == category.value.casefold() or folded.startswith(
                f"{category.value.casefold()}-"
            ):
                return Segment(category.value, "")
        return Segment()


def open_schools(verdict: PersonVerdict) -> tuple[str, ...]:
    """The school codes an entry shows: the verdict's open schools, sorted.

    Never the person's raw enrolments or attributions: a school that is not open yet for
    the person's role there (a Haute École enrolment before 1 September) must not show.
    """
    return tuple(sorted(verdict.schools))


def _affiliations(roles: frozenset[Role]) -> tuple[str, ...]:
    values = {"member"} if roles else set()
    if Role.STUDENT in roles:
        values.add("student")
    if Role.TEACHER in roles:
        values |= {"faculty", "employee"}
    if Role.ADMINISTRATIVE in roles:
        values |= {"staff", "employee"}
    if Role.STAFF in roles:
        values.add("employee")  # function not encoded: neither faculty nor staff
    return tuple(sorted(values))


def _primary(roles: frozenset[Role]) -> str:
    for role, affiliation in (
        (Role.TEACHER, "faculty"),
        (Role.ADMINISTRATIVE, "staff"),
        (Role.STUDENT, "student"),
        (Role.STAFF, "employee"),
    ):
        if role in roles:
            return affiliation
    return "affiliate"
