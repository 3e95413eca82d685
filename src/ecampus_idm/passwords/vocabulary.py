"""How an account reads in the target directory: attribute names and the disabled rule.

This module owns :class:`AccountVocabulary`, the small object that the reset service
(:class:`~ecampus_idm.passwords.base.DirectoryAccountLookup`) and the support tools
(diagnosis, class listing) use instead of hard-coded OpenLDAP attribute names. It mirrors
what the mapping profiles write (:mod:`ecampus_idm.mapping.openldap`,
:mod:`ecampus_idm.mapping.active_directory`):

================  ===========================  ==========================================
what              OpenLDAP                     Active Directory (defaults, configurable)
================  ===========================  ==========================================
person id         ``ecampusPersonId``          ``employeeNumber``
username          ``uid``                      ``cn`` (the login; the user is ``CN=<login>``)
school codes      ``ecampusSchool``            ``departmentNumber``
personal address  ``ecampusPersonalMail``      ``otherMailbox``
ownership marker  ``ecampusManagedBy``         ``adminDescription``
disabled          ``ecampusAccountStatus:      ``userAccountControl`` bit 2
                  disabled`` or ppolicy's      (``ACCOUNTDISABLE``)
                  permanent lock (``pwdAccount
                  LockedTime: 000001010000Z``)
locked out after  ``pwdAccountLockedTime``     ``lockoutTime`` other than ``0``
failed binds      with a timestamp (not
(not disabled)    disabled: a reset unlocks)
password state    ``userPassword``,            ``pwdLastSet`` (``unicodePwd`` is never
(token            ``pwdChangedTime``           readable)
fingerprint)
password history  ``pwdHistory``               none readable
initial password  ``pwdReset: TRUE`` and no    ``pwdLastSet: 0`` (must change at first
still in force    ``pwdChangedTime`` (set by   logon; any other value: changed since)
                  ppolicy on every change
                  after the add)
================  ===========================  ==========================================

:meth:`AccountVocabulary.initial_password_state` tells, from those attributes alone
(read with the entry, no extra query), whether the initial password the nightly run set
is still the account's. One case needs a look at the hash: on OpenLDAP an entry whose
password was set again after its creation (a ``set_password`` of the run, or an
administrator's reset: ppolicy keeps ``pwdReset`` when ``pwdMustChange`` is on) is
:attr:`InitialPasswordState.UNSURE`, and :meth:`AccountVocabulary.still_initial` compares
the held password with its ``userPassword`` hash, locally, without a bind (a wrong bind
would count towards the ppolicy lockout).

Importing this module loads no LDAP client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from ecampus_idm.directory.base import Modification
from ecampus_idm.directory.filters import Filter, eq
from ecampus_idm.directory.ppolicy import (
    ad_locked_out,
    ppolicy_locked_out,
    ppolicy_permanent_lock,
)
from ecampus_idm.passwords.hashing import verify_ldap_password

if TYPE_CHECKING:
    from pydantic import SecretStr

    from ecampus_idm.config import ActiveDirectorySettings, DirectorySettings
    from ecampus_idm.directory.base import Directory, Entry

__all__ = ["AD_DISABLED_BIT", "AccountVocabulary", "InitialPasswordState", "VocabularyKind"]

VocabularyKind = Literal["openldap", "active_directory"]

AD_DISABLED_BIT = 0x0002
"""``userAccountControl``'s ``ACCOUNTDISABLE`` flag."""

_MARKER = "ecampus-idm"
_STATE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "openldap": ("pwdReset", "pwdChangedTime"),
    "active_directory": ("pwdLastSet",),
}


class InitialPasswordState(StrEnum):
    """Whether an account still has the initial password the nightly run set."""

    IN_FORCE = "in-force"
    """Still the initial password: never changed since it was set."""
    CHANGED = "changed"
    """Changed since (by the user, the reset service or an administrator)."""
    UNSURE = "unsure"
    """Set again after the entry was created: compare the hash (:meth:`~AccountVocabulary.
    still_initial`) to know."""


_DISABLED = "disabled"
_ACTIVE = "active"


@dataclass(frozen=True)
class AccountVocabulary:
    """The attribute names of a managed account in one kind of directory.

    Attributes:
        kind: ``openldap`` or ``active_directory`` (chooses the disabled rule and how a
            reset clears "must change").
        person_id: Attribute holding the stable person id.
        username: Attribute holding the login (on AD the profile names the user
            ``CN=<login>``; ``sAMAccountName`` is shortened past 20 characters and
            ``userPrincipalName`` is ``<login>@<suffix>``).
        school: Attribute holding the school codes.
        personal_mail: Attribute holding the personal address.
        marker: Attribute holding the ownership marker ``ecampus-idm``.
        population: Attribute naming the population (``student``...), if the target has
            one.
        fingerprint: Attributes whose change kills a reset token (password state).
        history: Attribute holding readable password history, if any.
    """

    kind: VocabularyKind = "openldap"
    person_id: str = "ecampusPersonId"
    username: str = "uid"
    school: str = "ecampusSchool"
    personal_mail: str = "ecampusPersonalMail"
    marker: str = "ecampusManagedBy"
    population: str | None = "eduPersonPrimaryAffiliation"
    fingerprint: tuple[str, ...] = ("userPassword", "pwdChangedTime")
    history: str | None = "pwdHistory"

    @classmethod
    def openldap(cls) -> AccountVocabulary:
        """The OpenLDAP profile's vocabulary."""
        return cls()

    @classmethod
    def active_directory(cls, settings: ActiveDirectorySettings | None = None) -> AccountVocabulary:
        """The AD profile's vocabulary, with the configured attribute names."""
        if settings is None:
            from ecampus_idm.config import ActiveDirectorySettings  # noqa: PLC0415 - cycle

            settings = ActiveDirectorySettings()
        return cls(
            kind="active_directory",
            person_id=settings.person_id_attribute,
            username="cn",
            school=settings.school_attribute,
            personal_mail=settings.personal_mail_attribute,
            marker=settings.marker_attribute,
            population=None,
            fingerprint=("pwdLastSet",),
            history=None,
        )

    @classmethod
    def for_directory(cls, directory: DirectorySettings) -> AccountVocabulary:
        """The vocabulary of the profile ``directory.kind`` names."""
        if directory.kind == "active_directory":
            return cls.active_directory(directory.active_directory)
        return cls.openldap()

    @property
    def is_active_directory(self) -> bool:
        """Whether the target is Active Directory."""
        return self.kind == "active_directory"

    @property
    def status_attributes(self) -> tuple[str, ...]:
        """The attributes :meth:`is_disabled` and :meth:`status_of` read."""
        if self.is_active_directory:
            return ("userAccountControl", "lockoutTime")
        return ("ecampusAccountStatus", "pwdAccountLockedTime")

    def attributes(self) -> list[str]:
        """Every attribute of this vocabulary (to request in a search)."""
        names = [
            self.person_id,
            self.username,
            self.school,
            self.personal_mail,
            self.marker,
            *self.status_attributes,
            *self.fingerprint,
            *self.password_state_attributes,
        ]
        names += [n for n in (self.population, self.history) if n is not None]
        return list(dict.fromkeys(names))

    @property
    def password_state_attributes(self) -> tuple[str, ...]:
        """The attributes :meth:`initial_password_state` reads (request them by name)."""
        return _STATE_ATTRIBUTES[self.kind]

    def initial_password_state(
        self, values: Callable[[str], Iterable[str]]
    ) -> InitialPasswordState:
        """Whether the entry still has the initial password the run set (see the module).

        Args:
            values: Returns the values of an attribute of the entry (``Entry.get`` or
                ``ObservedEntry.get``), read with :attr:`password_state_attributes`.
        """
        if self.is_active_directory:
            last_set = [v.strip() for v in values("pwdLastSet")]
            if not last_set:
                return InitialPasswordState.UNSURE  # not read: nothing to tell
            return (
                InitialPasswordState.IN_FORCE
                if last_set[0] == "0"
                else InitialPasswordState.CHANGED
            )
        # Our writes of an initial password always carry pwdReset: TRUE; ppolicy removes
        # it when the user changes the password, and stamps pwdChangedTime on every
        # change after the add.
        if not any(v.strip().upper() == "TRUE" for v in values("pwdReset")):
            return InitialPasswordState.CHANGED
        if any(values("pwdChangedTime")):
            return InitialPasswordState.UNSURE
        return InitialPasswordState.IN_FORCE

    def still_initial(self, directory: Directory, dn: str, password: SecretStr) -> bool | None:
        """Whether ``password`` is the entry's password, by its hash (no bind, no lockout).

        Returns:
            ``None`` when the target cannot tell (AD never shows ``unicodePwd``, or the
            entry is gone or has no readable hash).
        """
        if self.is_active_directory:
            return None
        entry = directory.get(dn, ["userPassword"])
        hashes = entry.get("userPassword") if entry is not None else ()
        if not hashes:
            return None
        return any(verify_ldap_password(password, stored) for stored in hashes)

    def username_of(self, entry: Entry) -> str | None:
        """The login of ``entry`` (``None`` when the attribute is missing)."""
        return entry.first(self.username) or None

    def username_filter(self, username: str) -> Filter:
        """A filter matching the account whose login is ``username``."""
        return eq(self.username, username)

    def managed(self) -> Filter:
        """A filter matching the entries ecampus-idm manages."""
        return eq(self.marker, _MARKER)

    def is_disabled(self, entry: Entry) -> bool:
        """Whether ``entry`` is a disabled account (no reset mail, no reset).

        A lockout after failed binds is not a disabled account (:meth:`is_locked_out`):
        on OpenLDAP only ppolicy's permanent lock, the one the nightly run writes, is.
        """
        if self.is_active_directory:
            return _uac(entry) & AD_DISABLED_BIT != 0
        status = (entry.first("ecampusAccountStatus") or "").casefold()
        return status == _DISABLED or ppolicy_permanent_lock(entry.get("pwdAccountLockedTime"))

    def is_locked_out(self, entry: Entry) -> bool:
        """Whether ``entry`` shows a lockout after failed binds (a reset lifts it).

        Read with :attr:`status_attributes`. ppolicy keeps its stamp after
        ``pwdLockoutDuration`` until the next successful bind, AD keeps ``lockoutTime``
        likewise: the attribute says the account was locked out, not that it still is.
        """
        if self.is_active_directory:
            return ad_locked_out(entry.get("lockoutTime"))
        return ppolicy_locked_out(entry.get("pwdAccountLockedTime"))

    def unlock(self) -> Modification:
        """The change that lifts a lockout after failed binds (and its failure count).

        On AD ``lockoutTime: 0`` (the domain controller resets ``badPwdCount`` with it); on
        OpenLDAP the removal of ppolicy's stamp, which a password change already does
        (ppolicy clears ``pwdAccountLockedTime`` and ``pwdFailureTime`` itself; the
        latter is not writable without the relax control): a no-op there, kept for a
        ppolicy that would not.
        """
        if self.is_active_directory:
            return Modification.replace("lockoutTime", "0")
        return Modification.delete("pwdAccountLockedTime")

    def status_of(self, entry: Entry) -> str | None:
        """The account status the entry shows (``active``, ``grace``, ``disabled``...).

        On OpenLDAP the profile writes it; on AD only enabled/disabled can be told.
        """
        if self.is_active_directory:
            if not entry.get("userAccountControl"):
                return None
            return _DISABLED if self.is_disabled(entry) else _ACTIVE
        return entry.first("ecampusAccountStatus")


def _uac(entry: Entry) -> int:
    try:
        return int(entry.first("userAccountControl") or "0")
    except ValueError:
        return 0
