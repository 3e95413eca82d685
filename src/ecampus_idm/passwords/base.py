"""The ports of the reset service: who the accounts are, who sends the mail, custody.

The service is given these collaborators; it never builds them. The portal wires a
:class:`DirectoryAccountLookup` on a lazily opened directory, an outbox-backed
:class:`ResetMailer` (from the mail package) and, optionally, the initial-password
custody (anything with a :meth:`CustodyDiscarder.discard` method).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from ecampus_idm.directory.base import Directory, Entry
from ecampus_idm.directory.filters import eq
from ecampus_idm.passwords.settings import PasswordSettings

__all__ = [
    "AccountLookup",
    "CustodyDiscarder",
    "DirectoryAccountLookup",
    "ResetAccount",
    "ResetMail",
    "ResetMailer",
    "normalise_address",
]


def normalise_address(address: str) -> str:
    """Return ``address`` trimmed and case-folded: the form labels and lookups use."""
    return address.strip().casefold()


@dataclass(frozen=True)
class ResetAccount:
    """An account as the reset service sees it.

    Attributes:
        person_id: The owner's stable id.
        dn: The account's entry.
        username: The login.
        display_name: The full name (for the mail and the context check).
        given_name: The given name.
        family_name: The family name.
        schools: The school codes (or names) of the account.
        population: ``student``, ``faculty``, ``staff``... (chooses the length floor).
        disabled: Whether the account is disabled (no reset mail, no reset).
        locked_out: Whether the directory locked it out after failed binds (not
            disabled: the reset goes ahead and lifts the lockout).
        personal_mail: The personal address on the entry.
        state: What the token fingerprint is made of (password hash, change time):
            never shown.
        history: Hashes the directory's history keeps (``pwdHistory``): never shown.
    """

    person_id: str
    dn: str
    username: str
    display_name: str = ""
    given_name: str = ""
    family_name: str = ""
    schools: tuple[str, ...] = ()
    population: str | None = None
    disabled: bool = False
    locked_out: bool = False
    personal_mail: str | None = field(default=None, repr=False)
    state: tuple[str, ...] = field(default=(), repr=False)
    history: tuple[str, ...] = field(default=(), repr=False)

    def fingerprint_material(self) -> tuple[str, ...]:
        """The values whose change kills a token: the password state and personal address."""
        return (*self.state, "mail=" + normalise_address(self.personal_mail or ""))


@runtime_checkable
class AccountLookup(Protocol):
    """Finds accounts by personal address, and reads one account again."""

    def accounts_for_address(self, address: str) -> list[ResetAccount]:
        """Return the accounts whose personal address is ``address`` (case-insensitive)."""
        ...

    def account(self, dn: str) -> ResetAccount | None:
        """Return the account at ``dn`` as it is now, or ``None`` when it is gone."""
        ...


@dataclass(frozen=True)
class ResetMail:
    """One reset mail to send: one account, its own link.

    Attributes:
        person_id: The account's owner.
        username: The login, shown in the mail (a parent may have several children).
        display_name: The owner's name.
        to: The personal address to write to.
        link: The reset link, holding the token: a secret.
        issued_at: When the link was made.
        expires_at: When it stops working.
    """

    person_id: str
    username: str
    display_name: str
    to: str = field(repr=False)
    link: SecretStr
    issued_at: datetime
    expires_at: datetime


@runtime_checkable
class ResetMailer(Protocol):
    """Hands a reset mail over for delivery (an outbox, out of the request path)."""

    def send_reset(self, mail: ResetMail) -> None:
        """Queue or send ``mail``; raise an ``IdmError`` if it cannot be accepted."""
        ...


@runtime_checkable
class CustodyDiscarder(Protocol):
    """The initial-password custody, as far as a reset is concerned.

    :class:`ecampus_idm.custody.PasswordCustody` (``PasswordCustody.for_store(store,
    keyring)``) is one.
    """

    def discard(self, person_id: str, *, reason: str, at: datetime) -> bool:
        """Forget the person's initial password at ``at``; return whether there was one."""
        ...


class DirectoryAccountLookup:
    """An :class:`AccountLookup` over the :class:`~ecampus_idm.directory.base.Directory` port.

    Reads accounts in the vocabulary of the settings
    (:meth:`~ecampus_idm.passwords.settings.PasswordSettings.vocabulary`): with the
    OpenLDAP profile (:mod:`ecampus_idm.mapping.openldap`) the personal address in
    ``ecampusPersonalMail``, a disabled account marked by ``ecampusAccountStatus:
    disabled`` or ppolicy's permanent lock (a lockout after failed binds is not a
    disabled account: :mod:`ecampus_idm.directory.ppolicy`); with the AD profile
    (:mod:`ecampus_idm.mapping.active_directory`) the personal address in
    ``otherMailbox``, a disabled account by ``userAccountControl`` bit 2, a lockout by
    ``lockoutTime``, the token
    fingerprint from ``pwdLastSet`` (all configurable, see
    :meth:`~ecampus_idm.passwords.settings.PasswordSettings.for_directory`).

    Args:
        directory: The directory (opened lazily by the caller if it wishes).
        base_dn: Where to search accounts.
        settings: The attribute names.
        school_names: School code to name, so that school names count as context words.
    """

    def __init__(
        self,
        directory: Directory,
        *,
        base_dn: str,
        settings: PasswordSettings | None = None,
        school_names: Mapping[str, str] | None = None,
    ) -> None:
        self._directory = directory
        self._base_dn = base_dn
        self._settings = settings or PasswordSettings()
        self._vocabulary = self._settings.vocabulary()
        self._schools = dict(school_names or {})

    def __repr__(self) -> str:
        return f"DirectoryAccountLookup(base_dn={self._base_dn!r})"

    def _attributes(self) -> list[str]:
        return [*self._vocabulary.attributes(), "cn", "displayName", "givenName", "sn"]

    def accounts_for_address(self, address: str) -> list[ResetAccount]:
        """Search accounts by personal address."""
        wanted = normalise_address(address)
        if not wanted:
            return []
        found = self._directory.search(
            self._base_dn,
            eq(self._vocabulary.personal_mail, wanted),
            attributes=self._attributes(),
        )
        accounts = [self._account(entry) for entry in found]
        return sorted((a for a in accounts if a is not None), key=lambda a: a.username)

    def account(self, dn: str) -> ResetAccount | None:
        """Read one account again."""
        entry = self._directory.get(dn, self._attributes())
        return None if entry is None else self._account(entry)

    def _account(self, entry: Entry) -> ResetAccount | None:
        words = self._vocabulary
        person_id = entry.first(words.person_id)
        username = words.username_of(entry)
        if not person_id or not username:
            return None  # not an account managed by ecampus-idm
        schools = entry.get(words.school)
        state = tuple(
            f"{name.casefold()}=" + "\x1f".join(sorted(entry.get(name)))
            for name in words.fingerprint
        )
        history = (
            tuple(_history_hash(value) for value in entry.get(words.history))
            if words.history is not None
            else ()
        )
        return ResetAccount(
            person_id=person_id,
            dn=entry.dn,
            username=username,
            display_name=entry.first("displayName") or entry.first("cn") or "",
            given_name=entry.first("givenName") or "",
            family_name=entry.first("sn") or "",
            schools=tuple(self._schools.get(code, code) for code in schools),
            population=entry.first(words.population) if words.population else None,
            disabled=words.is_disabled(entry),
            locked_out=words.is_locked_out(entry),
            personal_mail=entry.first(words.personal_mail),
            state=state,
            history=tuple(h for h in history if h),
        )


def _history_hash(value: str) -> str:
    """Return the hash in a ``pwdHistory`` value (``time#syntax#length#{SCHEME}hash``)."""
    parts = value.split("#", 3)
    return parts[3] if len(parts) == 4 else ""  # noqa: PLR2004 - the four fields
