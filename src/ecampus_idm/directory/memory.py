"""An in-memory directory that honours the Directory contract, for fast unit tests.

It models what the contract promises and nothing more: a tree of entries with parent/child
rules, case-insensitive names and values, atomic modifies, subtree renames, change stamps
(``entryCSN``) and preconditions, referential integrity of ``member`` (like refint), hashed
passwords and the ppolicy account lock (any ``pwdAccountLockedTime`` refuses binds; a
password change removes it, as slapd's ppolicy does). It has no schema beyond "an entry
needs an objectClass". Like slapd's memberof overlay it keeps an operational ``memberOf`` on
the members of a group when the group's ``member`` values change, and, like the overlay, not
when the member is added after a group already listing it (the drift the planner repairs).
The contract tests (:class:`ecampus_idm.testing.contracts.DirectoryContract`) run against it
and against a real slapd, which is what makes it trustworthy.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Self

from pydantic import SecretStr

from ecampus_idm.directory.base import (
    AttributeInput,
    Entry,
    Modification,
    ModOp,
    Scope,
    as_values,
)
from ecampus_idm.directory.dn import dn_path, format_dn, normalize_dn, parent_dn, parse_dn
from ecampus_idm.directory.filters import Filter
from ecampus_idm.errors import (
    AttributeValueError,
    DirectoryError,
    EntryAlreadyExistsError,
    EntryNotFoundError,
    InvalidCredentialsError,
    InvalidDnError,
    NotAllowedOnNonLeafError,
    PreconditionFailedError,
    SchemaViolationError,
)
from ecampus_idm.passwords.hashing import hash_ldap_password, verify_ldap_password

__all__ = ["MemoryDirectory"]

_PASSWORD_ATTRIBUTE = "userpassword"  # noqa: S105 - an attribute name, not a secret


_CSN = "entrycsn"
_MEMBER_OF = "memberof"
_MEMBER = "member"
_CHANGES = itertools.count(1)


def _next_csn() -> str:
    # Shaped like OpenLDAP's entryCSN; only equality matters (preconditions).
    return f"{next(_CHANGES):020d}.000000Z#000000#000#000000"


class _Stored:
    """One entry: its DN, attributes (lower-case name -> (name, values)) and change stamp."""

    __slots__ = ("attributes", "csn", "dn", "member_of")

    def __init__(self, dn: str, attributes: dict[str, tuple[str, list[str]]]) -> None:
        self.dn = dn
        self.attributes = attributes
        self.csn = _next_csn()
        self.member_of: list[str] = []  # operational, kept by the directory only

    def touch(self) -> None:
        self.csn = _next_csn()

    def lowered(self) -> dict[str, list[str]]:
        values = {key: values for key, (_, values) in self.attributes.items()}
        values[_CSN] = [self.csn]
        if self.member_of:
            values[_MEMBER_OF] = list(self.member_of)
        return values

    def snapshot(self, wanted: set[str] | None) -> Entry:
        every = wanted is None or "*" in wanted  # "*": all user attributes (RFC 4511)
        attributes = {
            name: tuple(values)
            for key, (name, values) in self.attributes.items()
            if every or (wanted is not None and key in wanted)
        }
        if wanted is not None and _CSN in wanted:  # operational: only when asked for
            attributes["entryCSN"] = (self.csn,)
        if wanted is not None and _MEMBER_OF in wanted and self.member_of:
            attributes["memberOf"] = tuple(self.member_of)
        return Entry(self.dn, attributes)

    def require(self, expect: Filter | None) -> None:
        if expect is not None and not expect.matches(self.lowered()):
            raise PreconditionFailedError(self.dn)


class MemoryDirectory:
    """A thread-safe in-memory :class:`~ecampus_idm.directory.base.Directory`.

    Like OpenLDAP with the refint overlay (and AD's linked attributes), it keeps
    references consistent: renaming or deleting an entry rewrites or removes the values
    that point at it in ``referential_attributes`` (``member`` by default).

    Args:
        suffixes: Naming contexts that exist from the start (e.g. ``dc=ecampus,dc=test``);
            entries can only be added below an existing entry or a suffix.
        referential_attributes: DN-valued attributes kept consistent on rename/delete.
    """

    def __init__(
        self, suffixes: Iterable[str] = (), referential_attributes: Iterable[str] = ("member",)
    ) -> None:
        self._entries: dict[str, _Stored] = {}
        self._referential = tuple(a.lower() for a in referential_attributes)
        self._lock = threading.RLock()
        for suffix in suffixes:
            key = normalize_dn(suffix)
            value = parse_dn(suffix)[0][0]
            self._entries[key] = _Stored(
                suffix,
                {
                    "objectclass": ("objectClass", ["top", "dcObject", "organization"]),
                    value[0].lower(): (value[0], [value[1]]),
                    "o": ("o", [value[1]]),
                },
            )

    @property
    def url(self) -> str:
        """A pseudo-URL naming this directory in messages."""
        return f"memory://{id(self):x}"

    # -- reads ---------------------------------------------------------------------------

    def search(
        self,
        base: str,
        filter: Filter | None = None,
        *,
        scope: Scope = Scope.SUBTREE,
        attributes: Iterable[str] | None = None,
        page_size: int | None = None,
    ) -> Iterator[Entry]:
        """Yield matching entries (a consistent snapshot taken at the first page)."""
        del page_size  # every "page" is the whole result: memory has no size limit
        wanted = None if attributes is None else {a.lower() for a in attributes}
        base_path = dn_path(base)
        with self._lock:
            if ",".join(base_path) not in self._entries:
                raise EntryNotFoundError(base)
            found = []
            for stored in self._entries.values():
                if not _in_scope(dn_path(stored.dn), base_path, scope):
                    continue
                if filter is None or filter.matches(stored.lowered()):
                    found.append(stored.snapshot(wanted))
        yield from found

    def get(self, dn: str, attributes: Iterable[str] | None = None) -> Entry | None:
        """Return the entry at ``dn`` or ``None``."""
        wanted = None if attributes is None else {a.lower() for a in attributes}
        with self._lock:
            stored = self._entries.get(normalize_dn(dn))
            return None if stored is None else stored.snapshot(wanted)

    # -- writes --------------------------------------------------------------------------

    def add(self, dn: str, attributes: AttributeInput) -> None:
        """Create an entry (cleartext ``userPassword`` values are hashed, like ppolicy)."""
        key = normalize_dn(dn)
        stored: dict[str, tuple[str, list[str]]] = {}
        for name, raw in attributes.items():
            values = _dedupe(dn, as_values(raw))
            if values:
                stored[name.lower()] = (name, values)
        if not stored.get("objectclass", ("", []))[1]:
            raise SchemaViolationError(dn, "no objectClass attribute")
        for kind, value in parse_dn(dn)[0]:
            present = stored.setdefault(kind.lower(), (kind, []))[1]
            if value.casefold() not in {v.casefold() for v in present}:
                present.append(value)
        if _PASSWORD_ATTRIBUTE in stored:
            name, values = stored[_PASSWORD_ATTRIBUTE]
            stored[_PASSWORD_ATTRIBUTE] = (name, [_hashed(v) for v in values])
        with self._lock:
            if key in self._entries:
                raise EntryAlreadyExistsError(dn)
            parent = parent_dn(dn)
            if normalize_dn(parent) not in self._entries:
                raise EntryNotFoundError(parent)
            self._entries[key] = _Stored(dn, stored)
            self._back_link(dn, [(True, v) for v in stored.get(_MEMBER, ("", []))[1]])

    def add_many(
        self, entries: Iterable[tuple[str, AttributeInput]]
    ) -> Iterator[DirectoryError | None]:
        """Add each entry; yield None or its error, in order."""
        for dn, attributes in entries:
            try:
                self.add(dn, attributes)
            except DirectoryError as exc:
                yield exc
            else:
                yield None

    def modify(
        self, dn: str, changes: Sequence[Modification], *, expect: Filter | None = None
    ) -> None:
        """Apply all changes or none."""
        with self._lock:
            stored = self._require(dn)
            stored.require(expect)
            work = {key: (name, list(values)) for key, (name, values) in stored.attributes.items()}
            links: list[tuple[bool, str]] = []  # the overlay's view: each change in turn
            for change in changes:
                before = list(work.get(_MEMBER, ("", []))[1])
                _apply(dn, work, change)
                if change.attribute.lower() == _MEMBER:
                    links.extend(_member_changes(before, work.get(_MEMBER, ("", []))[1]))
            rdn_pairs = parse_dn(dn)[0]
            for kind, value in rdn_pairs:
                current = work.get(kind.lower(), ("", []))[1]
                if value.casefold() not in {v.casefold() for v in current}:
                    raise SchemaViolationError(dn, f"cannot remove the naming value of {kind}")
            if not work.get("objectclass", ("", []))[1]:
                raise SchemaViolationError(dn, "no objectClass attribute")
            stored.attributes = {k: v for k, v in work.items() if v[1]}
            stored.touch()
            self._back_link(stored.dn, links)

    def rename(
        self,
        dn: str,
        new_rdn: str,
        new_parent: str | None = None,
        *,
        expect: Filter | None = None,
    ) -> str:
        """Rename or move an entry and its subtree."""
        new_pairs = parse_dn(new_rdn)
        if len(new_pairs) != 1:
            raise SchemaViolationError(dn, f"not a single RDN: {new_rdn!r}")
        with self._lock:
            stored = self._require(dn)
            stored.require(expect)
            old_key = normalize_dn(dn)
            parent = parent_dn(dn) if new_parent is None else new_parent
            target = f"{new_rdn},{parent}" if parent else new_rdn
            target_key = normalize_dn(target)
            if target_key in self._entries and target_key != old_key:
                raise EntryAlreadyExistsError(target)
            if normalize_dn(parent) not in self._entries and parent:
                raise EntryNotFoundError(parent)
            old_path = dn_path(dn)
            if _within(dn_path(target), old_path) and target_key != old_key:
                raise SchemaViolationError(dn, "cannot move an entry below itself")
            attributes = stored.attributes
            for kind, value in parse_dn(dn)[0]:
                name, values = attributes.get(kind.lower(), (kind, []))
                kept = [v for v in values if v.casefold() != value.casefold()]
                attributes[kind.lower()] = (name, kept)
            for kind, value in new_pairs[0]:
                name, values = attributes.get(kind.lower(), (kind, []))
                if value.casefold() not in {v.casefold() for v in values}:
                    values = [*values, value]
                attributes[kind.lower()] = (name, values)
            stored.attributes = {k: v for k, v in attributes.items() if v[1]}
            stored.touch()
            moved = [
                (key, entry)
                for key, entry in self._entries.items()
                if _within(dn_path(entry.dn), old_path)
            ]
            target_rdns = parse_dn(target)
            for key, _ in moved:
                del self._entries[key]
            renames: dict[str, str] = {}
            for _, entry in moved:
                own = parse_dn(entry.dn)
                old = normalize_dn(entry.dn)
                entry.dn = format_dn(own[: len(own) - len(old_path)] + target_rdns)
                self._entries[normalize_dn(entry.dn)] = entry
                renames[old] = entry.dn
            self._rewrite_references(renames)
            return stored.dn

    def delete(self, dn: str, *, expect: Filter | None = None) -> None:
        """Delete a leaf entry."""
        path = dn_path(dn)
        with self._lock:
            self._require(dn).require(expect)
            if any(
                len(dn_path(o.dn)) > len(path) and _within(dn_path(o.dn), path)
                for o in self._entries.values()
            ):
                raise NotAllowedOnNonLeafError(dn)
            del self._entries[",".join(path)]
            self._rewrite_references({",".join(path): None})

    def set_password(
        self, dn: str, new_password: SecretStr, *, old_password: SecretStr | None = None
    ) -> None:
        """Store a salted hash of ``new_password`` (checking ``old_password`` if given)."""
        with self._lock:
            stored = self._require(dn)
            if old_password is not None:
                self._check(dn, stored, old_password)
            stored.touch()
            stored.attributes[_PASSWORD_ATTRIBUTE] = (
                "userPassword",
                [hash_ldap_password(new_password)],
            )
            # ppolicy: a password change removes the lock, the permanent one included.
            stored.attributes.pop("pwdaccountlockedtime", None)

    def authenticate(self, dn: str, password: SecretStr) -> None:
        """Check ``password`` against the entry's stored hash."""
        with self._lock:
            stored = self._entries.get(normalize_dn(dn))
            if stored is None:
                raise InvalidCredentialsError(dn)
            self._check(dn, stored, password)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryDirectory({len(self._entries)} entries)"

    def _back_link(self, group: str, links: Iterable[tuple[bool, str]]) -> None:
        """Add (True) or remove (False) ``group`` in the ``memberOf`` of existing members."""
        for added, value in links:
            try:
                member = self._entries.get(normalize_dn(value))
            except InvalidDnError:
                continue
            if member is None:
                continue  # like the overlay: a member added later gets no back-link
            folded = [normalize_dn(v) for v in member.member_of]
            present = normalize_dn(group) in folded
            if added and not present:
                member.member_of.append(group)
            elif not added and present:
                del member.member_of[folded.index(normalize_dn(group))]

    def _rewrite_references(self, targets: Mapping[str, str | None]) -> None:
        """Point references at renamed entries to their new DN; drop those to deleted ones."""
        for entry in self._entries.values():
            if entry.member_of:
                kept = []
                for value in entry.member_of:
                    key = normalize_dn(value)
                    if key not in targets:
                        kept.append(value)
                    elif targets[key] is not None:
                        kept.append(targets[key] or "")
                entry.member_of = kept
            for attribute in self._referential:
                name, values = entry.attributes.get(attribute, (attribute, []))
                if not values:
                    continue
                rewritten = []
                for value in values:
                    try:
                        key = normalize_dn(value)
                    except InvalidDnError:  # not a DN: nothing to keep consistent
                        key = ""
                    if key not in targets:
                        rewritten.append(value)
                    elif targets[key] is not None:
                        rewritten.append(targets[key] or "")
                if rewritten != values:
                    entry.attributes[attribute] = (name, rewritten)
                    entry.touch()

    # -- helpers -------------------------------------------------------------------------

    def _require(self, dn: str) -> _Stored:
        stored = self._entries.get(normalize_dn(dn))
        if stored is None:
            raise EntryNotFoundError(dn)
        return stored

    @staticmethod
    def _check(dn: str, stored: _Stored, password: SecretStr) -> None:
        if stored.attributes.get("pwdaccountlockedtime", ("", []))[1]:
            # ppolicy: a locked account cannot bind (any lock is treated as permanent).
            raise InvalidCredentialsError(dn)
        hashes = stored.attributes.get(_PASSWORD_ATTRIBUTE, ("", []))[1]
        if not any(verify_ldap_password(password, h) for h in hashes):
            raise InvalidCredentialsError(dn)


def _apply(dn: str, work: dict[str, tuple[str, list[str]]], change: Modification) -> None:
    key = change.attribute.lower()
    name, current = work.get(key, (change.attribute, []))
    folded = [v.casefold() for v in current]
    values = list(change.values)
    if key == _PASSWORD_ATTRIBUTE:
        values = [_hashed(v) for v in values]
    if change.op is ModOp.REPLACE:
        work[key] = (name, _dedupe(dn, values))
    elif change.op is ModOp.ADD:
        for value in _dedupe(dn, values):
            if value.casefold() in folded:
                raise AttributeValueError(dn, f"{change.attribute}: value already present")
            current.append(value)
            folded.append(value.casefold())
        work[key] = (name, current)
    elif not values:
        if not current:
            raise AttributeValueError(dn, f"{change.attribute}: no such attribute")
        work[key] = (name, [])
    else:
        for value in values:
            if value.casefold() not in folded:
                raise AttributeValueError(dn, f"{change.attribute}: no such value")
            index = folded.index(value.casefold())
            del current[index]
            del folded[index]
        work[key] = (name, current)


def _member_changes(before: Sequence[str], after: Sequence[str]) -> list[tuple[bool, str]]:
    """The members one change removed (False) then added (True), by normalised DN."""

    def keyed(values: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for value in values:
            try:
                found[normalize_dn(value)] = value
            except InvalidDnError:
                continue
        return found

    old, new = keyed(before), keyed(after)
    return [(False, old[k]) for k in old.keys() - new.keys()] + [
        (True, new[k]) for k in new.keys() - old.keys()
    ]


def _dedupe(dn: str, values: Iterable[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        if value.casefold() in seen:
            raise AttributeValueError(dn, "duplicate value")
        seen.add(value.casefold())
        out.append(value)
    return out


def _hashed(value: str) -> str:
    return value if value.startswith("{") else hash_ldap_password(SecretStr(value))


def _within(path: tuple[str, ...], base: tuple[str, ...]) -> bool:
    return len(path) >= len(base) and path[len(path) - len(base) :] == base


def _in_scope(path: tuple[str, ...], base: tuple[str, ...], scope: Scope) -> bool:
    if scope is Scope.BASE:
        return path == base
    if not _within(path, base):
        return False
    return scope is Scope.SUBTREE or len(path) == len(base) + 1
