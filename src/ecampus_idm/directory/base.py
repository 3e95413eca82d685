"""The Directory port: what the rest of the library may ask of an LDAP/AD directory.

Two implementations honour this contract and pass the same contract tests
(:class:`ecampus_idm.testing.contracts.DirectoryContract`):
:class:`~ecampus_idm.directory.memory.MemoryDirectory` for fast unit tests and
:class:`~ecampus_idm.directory.ldap.LdapDirectory` for real servers.

The contract:

* Reads: :meth:`Directory.search` is a paged snapshot read; it yields :class:`Entry`
  values whose attribute names are lower-case and whose values are ``str``. Operational
  attributes (``entryCSN``...) are returned only when asked for by name.
* Writes may carry a precondition (``expect``, a filter the entry must still match):
  this is how a plan refuses to overwrite an entry that changed since it was read.
* Writes raise a :class:`~ecampus_idm.errors.DirectoryError` subclass on failure, never
  return ``False``: ``EntryNotFoundError`` (missing entry, or missing parent on add, with
  ``dn`` the parent), ``EntryAlreadyExistsError``, ``NotAllowedOnNonLeafError``,
  ``SchemaViolationError``, ``AttributeValueError``, ``ConstraintViolationError``.
* DNs passed in are strings built with :mod:`ecampus_idm.directory.dn`; filters are
  :class:`~ecampus_idm.directory.filters.Filter` values, never strings.
* Passwords are :class:`pydantic.SecretStr`; they never appear in an error or a log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType, TracebackType
from typing import Literal, Protocol, Self, runtime_checkable

from pydantic import SecretStr

from ecampus_idm.directory.filters import Filter
from ecampus_idm.errors import DirectoryError

__all__ = [
    "AttributeInput",
    "Directory",
    "Entry",
    "ModOp",
    "Modification",
    "Scope",
    "TlsMode",
]

TlsMode = Literal["auto", "starttls", "ldaps", "none"]
"""How a connection is protected: ``auto`` follows the URL scheme (StartTLS for
``ldap://``, implicit TLS for ``ldaps://``); ``none`` is for loopback test servers only."""

AttributeInput = Mapping[str, str | Sequence[str]]
"""Attributes for an add: a name to one value or a sequence of values."""


class Scope(StrEnum):
    """Search scope."""

    BASE = "base"
    ONELEVEL = "one"
    SUBTREE = "sub"


@dataclass(frozen=True)
class Entry:
    """A directory entry as read: a DN and its attribute values.

    Attribute names are lower-case (LDAP names are case-insensitive); values are strings
    in the order the server returned them.

    Attributes:
        dn: The entry's distinguished name, as the server spells it.
        attributes: Lower-case attribute name to its values.
    """

    dn: str
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lowered = {name.lower(): tuple(values) for name, values in self.attributes.items()}
        object.__setattr__(self, "attributes", MappingProxyType(lowered))

    def get(self, attribute: str) -> tuple[str, ...]:
        """Return the values of ``attribute`` (empty when absent)."""
        return self.attributes.get(attribute.lower(), ())

    def first(self, attribute: str) -> str | None:
        """Return the first value of ``attribute``, or ``None`` when absent."""
        values = self.get(attribute)
        return values[0] if values else None

    def __contains__(self, attribute: object) -> bool:
        return isinstance(attribute, str) and attribute.lower() in self.attributes

    def __hash__(self) -> int:
        return hash((self.dn, tuple(sorted(self.attributes.items()))))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return self.dn == other.dn and dict(self.attributes) == dict(other.attributes)

    def __repr__(self) -> str:
        # userPassword holds a hash; a repr has no business showing even that.
        shown = {k: ("<hidden>",) if k == "userpassword" else v for k, v in self.attributes.items()}
        return f"Entry({self.dn!r}, {shown!r})"


class ModOp(StrEnum):
    """The kind of change applied to one attribute."""

    ADD = "add"
    DELETE = "delete"
    REPLACE = "replace"


@dataclass(frozen=True)
class Modification:
    """One attribute change within a modify operation.

    Attributes:
        op: Add values, delete values (all of them when ``values`` is empty), or replace
            all values (removing the attribute when ``values`` is empty).
        attribute: The attribute name.
        values: The values concerned.
    """

    op: ModOp
    attribute: str
    values: tuple[str, ...] = ()

    @classmethod
    def add(cls, attribute: str, *values: str) -> Modification:
        """Add ``values`` to ``attribute``; adding a value already there fails."""
        return cls(ModOp.ADD, attribute, values)

    @classmethod
    def delete(cls, attribute: str, *values: str) -> Modification:
        """Delete ``values`` (or the whole attribute); deleting a missing value fails."""
        return cls(ModOp.DELETE, attribute, values)

    @classmethod
    def replace(cls, attribute: str, *values: str) -> Modification:
        """Replace all values of ``attribute`` (no values: remove it)."""
        return cls(ModOp.REPLACE, attribute, values)


@runtime_checkable
class Directory(Protocol):
    """An LDAP-like directory, read in snapshots and written one operation at a time."""

    @property
    def url(self) -> str:
        """Where the directory is, for messages (never with credentials)."""
        ...

    def search(
        self,
        base: str,
        filter: Filter | None = None,
        *,
        scope: Scope = Scope.SUBTREE,
        attributes: Iterable[str] | None = None,
        page_size: int | None = None,
    ) -> Iterator[Entry]:
        """Yield the entries under ``base`` that match ``filter`` (all entries when None).

        Results are read in pages (RFC 2696) so that a snapshot of 100,000 entries never
        hits a server size limit. ``attributes`` None means all user attributes.

        Raises:
            EntryNotFoundError: If ``base`` does not exist.
            DirectoryUnavailableError: If the directory cannot be reached.
        """
        ...

    def get(self, dn: str, attributes: Iterable[str] | None = None) -> Entry | None:
        """Return the entry at ``dn``, or ``None`` when there is none."""
        ...

    def add(self, dn: str, attributes: AttributeInput) -> None:
        """Create an entry.

        Raises:
            EntryAlreadyExistsError: If ``dn`` exists.
            EntryNotFoundError: If the parent does not exist (``dn`` is the parent's).
            SchemaViolationError: If the schema refuses the entry.
        """
        ...

    def add_many(
        self, entries: Iterable[tuple[str, AttributeInput]]
    ) -> Iterator[DirectoryError | None]:
        """Create many independent entries, as fast as the directory allows.

        Entries of one call must not depend on each other (no parent with its child).

        Yields:
            One result per entry, in input order: ``None`` or the error it got.

        Raises:
            DirectoryUnavailableError: If the directory cannot be reached.
        """
        ...

    def modify(
        self, dn: str, changes: Sequence[Modification], *, expect: Filter | None = None
    ) -> None:
        """Apply ``changes`` to one entry, atomically.

        Args:
            dn: The entry.
            changes: The attribute changes, applied all or none.
            expect: A precondition the entry must still match (RFC 4528 assertion), e.g.
                ``eq("entryCSN", seen)``: the change is refused if the entry moved on.

        Raises:
            EntryNotFoundError: If ``dn`` does not exist.
            AttributeValueError: If a value to add exists or a value to delete does not.
            PreconditionFailedError: If ``expect`` no longer matches.
        """
        ...

    def rename(
        self,
        dn: str,
        new_rdn: str,
        new_parent: str | None = None,
        *,
        expect: Filter | None = None,
    ) -> str:
        """Rename (and optionally move) an entry; the old RDN value is removed.

        Args:
            dn: The entry to rename.
            new_rdn: The new RDN, built with :func:`~ecampus_idm.directory.dn.rdn`.
            new_parent: The new parent DN, or ``None`` to stay under the same parent.
            expect: A precondition the entry must still match (see :meth:`modify`).

        Returns:
            The new DN.

        Raises:
            EntryNotFoundError: If ``dn`` does not exist.
            EntryAlreadyExistsError: If the target DN exists.
            PreconditionFailedError: If ``expect`` no longer matches.
        """
        ...

    def delete(self, dn: str, *, expect: Filter | None = None) -> None:
        """Delete a leaf entry.

        Raises:
            EntryNotFoundError: If ``dn`` does not exist.
            NotAllowedOnNonLeafError: If the entry has children.
            PreconditionFailedError: If ``expect`` no longer matches.
        """
        ...

    def set_password(
        self, dn: str, new_password: SecretStr, *, old_password: SecretStr | None = None
    ) -> None:
        """Change a password with the RFC 3062 password-modify operation.

        Without ``old_password`` this is an administrative reset by the service account;
        with it, the change is made as the user (their old password must be right, and
        the directory's password-quality policy applies).

        Raises:
            EntryNotFoundError: If ``dn`` does not exist.
            InvalidCredentialsError: If ``old_password`` is wrong.
            ConstraintViolationError: If the password policy refuses the new password.
        """
        ...

    def authenticate(self, dn: str, password: SecretStr) -> None:
        """Check that ``dn`` can bind with ``password``.

        Raises:
            InvalidCredentialsError: If it cannot.
        """
        ...

    def close(self) -> None:
        """Release connections; the object may not be used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


def as_values(value: str | Sequence[str]) -> tuple[str, ...]:
    """Return an attribute input value as a tuple of strings."""
    return (value,) if isinstance(value, str) else tuple(value)
