"""The values the sync engine works with: desired and observed entries, operations.

Everything here is frozen and serialisable. A desired entry says what the directory
*should* hold for one managed object (a person or a group); an observed entry is what one
snapshot read found; an :class:`Operation` is one step of a plan. None of them ever holds
a password: a create only says that an initial password must be set, and the password is
supplied at apply time.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = [
    "AttributeChange",
    "Conflict",
    "DesiredEntry",
    "EntryKind",
    "ObservedEntry",
    "OpKind",
    "Operation",
    "Segment",
    "segment_label",
]


class EntryKind(StrEnum):
    """What a managed entry represents."""

    PERSON = "person"
    GROUP = "group"


class OpKind(StrEnum):
    """The kinds of operations a plan contains, in the order apply runs them.

    Each is named for what it does to the person (or the group), so that a plan reviewer
    sees a removal as one: ``grace`` starts the leaver's grace period, ``disable`` locks
    the account, ``reactivate`` gives a locked or graced account back, ``delete`` removes
    it. ``set_password`` gives an existing entry a fresh initial password (the add of an
    interrupted run reached the directory but its outcome was never confirmed, so the
    password it carried was never recorded or mailed). ``repair_member`` rewrites one
    membership whose ``memberOf`` back-link disagrees with the group (OpenLDAP's memberof
    overlay does not heal by itself).
    """

    RENAME = "rename"
    CREATE = "create"
    UPDATE = "update"
    REACTIVATE = "reactivate"
    GRACE = "grace"
    DISABLE = "disable"
    SET_PASSWORD = "set_password"  # noqa: S105 - an operation name, not a secret
    ADD_MEMBER = "add_member"
    REMOVE_MEMBER = "remove_member"
    REPAIR_MEMBER = "repair_member"
    DELETE = "delete"


@dataclass(frozen=True, order=True)
class Segment:
    """Where an entry belongs, for budgets and summaries.

    Attributes:
        category: ``HE``, ``PS``, ``SEC``, or ``""`` when the entry has no school.
        school: The school code, or ``""``.
    """

    category: str = ""
    school: str = ""

    def __str__(self) -> str:
        return self.school or self.category or "-"


NO_SEGMENT_LABEL = "hors école / no school"
"""What ``[-]`` stands for: entries of no school and no category (staff functions...)."""
_CATEGORY_LABELS = {
    "HE": "Haute École, toute la catégorie / whole category",
    "PS": "Promotion sociale, toute la catégorie / Promotion Sociale, whole category",
    "SEC": "enseignement secondaire, toute la catégorie / secondary school, whole category",
}


def segment_label(name: str, school_names: Mapping[str, str] | None = None) -> str:
    """Say what a segment of a summary is (``[HE]``, ``[-]``, ``[HEC-TOURNAI]``).

    A segment is named by its school code, else by its category (an entry of the whole
    category: the ``he-students`` group), else ``-`` (no school, no category).

    Args:
        name: The segment as :class:`Segment` prints it.
        school_names: School code to its name (the configuration's ``[[schools]]``).

    Returns:
        The explanation, or ``""`` for a school code when no names are given.
    """
    if name == "-":
        return NO_SEGMENT_LABEL
    if name in _CATEGORY_LABELS:
        return _CATEGORY_LABELS[name]
    if school_names is None:
        return ""
    folded = {code.casefold(): school for code, school in school_names.items()}
    return folded.get(
        name.casefold(), "école absente de la configuration / school not in the configuration"
    )


def _frozen_attributes(attributes: Mapping[str, Any]) -> Mapping[str, tuple[str, ...]]:
    if isinstance(attributes, MappingProxyType):
        return attributes  # already frozen by one of our values: share it (100,000s of them)
    return MappingProxyType(
        {
            # Interned: the same few dozen names repeat in every entry of a snapshot.
            sys.intern(name.lower()): (values,) if isinstance(values, str) else tuple(values)
            for name, values in attributes.items()
        }
    )


@dataclass(frozen=True)
class DesiredEntry:
    """What the directory should hold for one managed entry.

    Attributes:
        kind: Person or group.
        key: Stable identity within the kind (person id, group code); survives renames.
        dn: Where the entry should be.
        attributes: The values the engine forces (lower-case names), object classes,
            ownership marker and key attribute included.
        owned: Attribute names the engine owns: compared and forced; an owned attribute
            absent from ``attributes`` is removed. Others are never touched.
        enabled: Whether the account should be usable (persons).
        members: Member DNs (groups); compared on normalised DNs.
        segment: Category/school for budgets and summaries.
        initial_password: Whether the account must get an initial password that this
            run holds (persons): set in the add, or on the existing entry when an earlier
            add was never confirmed.
        status: The account status the entry stands for (``active``, ``grace``,
            ``disabled``), which names a status change in the plan; ``""`` for groups.
    """

    kind: EntryKind
    key: str
    dn: str
    attributes: Mapping[str, tuple[str, ...]]
    owned: frozenset[str]
    enabled: bool = True
    members: frozenset[str] = frozenset()
    segment: Segment = field(default_factory=Segment)
    initial_password: bool = False
    status: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", _frozen_attributes(self.attributes))
        if not isinstance(self.owned, frozenset) or any(a != a.lower() for a in self.owned):
            # A profile passes one shared lower-case set for all its entries: keep sharing it.
            object.__setattr__(self, "owned", frozenset(a.lower() for a in self.owned))


@dataclass(frozen=True)
class ObservedEntry:
    """A managed or unmanaged entry as one snapshot read found it.

    Attributes:
        kind: Person or group (from the container it was read in).
        dn: The DN as the server spells it.
        key: The value of the kind's key attribute, or ``None``.
        managed: Whether the entry carries our ownership marker.
        attributes: Its attributes (lower-case names).
        version: The change stamp (``entryCSN``) read with it, for preconditions.
    """

    kind: EntryKind
    dn: str
    key: str | None
    managed: bool
    attributes: Mapping[str, tuple[str, ...]]
    version: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", _frozen_attributes(self.attributes))

    def get(self, attribute: str) -> tuple[str, ...]:
        """Return the values of ``attribute`` (empty when absent)."""
        return self.attributes.get(attribute.lower(), ())


@dataclass(frozen=True)
class AttributeChange:
    """One attribute's values before and after (empty ``after`` removes it)."""

    attribute: str
    before: tuple[str, ...]
    after: tuple[str, ...]


@dataclass(frozen=True)
class Operation:
    """One step of a plan.

    Attributes:
        kind: What to do.
        entry_kind: Person or group.
        key: The managed entry's key.
        dn: The entry's DN before the operation.
        segment: Category/school, for budgets and the summary.
        new_dn: Target DN of a rename.
        attributes: Full attributes of a create.
        changes: Attribute changes of an update, grace, disable or reactivate (a
            repair's: the ``memberOf`` value missing or stale).
        member: The member DN of an add/remove/repair-member operation.
        set_password: Whether a create (or a ``set_password``) sets an initial password.
        expect_version: The change stamp the entry must still have (precondition).
    """

    kind: OpKind
    entry_kind: EntryKind
    key: str
    dn: str
    segment: Segment = field(default_factory=Segment)
    new_dn: str | None = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    changes: tuple[AttributeChange, ...] = ()
    member: str | None = None
    set_password: bool = False
    expect_version: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", _frozen_attributes(self.attributes))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (empty fields left out)."""
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "entry_kind": self.entry_kind.value,
            "key": self.key,
            "dn": self.dn,
            "segment": {"category": self.segment.category, "school": self.segment.school},
        }
        if self.new_dn is not None:
            data["new_dn"] = self.new_dn
        if self.attributes:
            data["attributes"] = {k: list(v) for k, v in sorted(self.attributes.items())}
        if self.changes:
            data["changes"] = [
                {"attribute": c.attribute, "before": list(c.before), "after": list(c.after)}
                for c in self.changes
            ]
        if self.member is not None:
            data["member"] = self.member
        if self.set_password:
            data["set_password"] = True
        if self.expect_version is not None:
            data["expect_version"] = self.expect_version
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Operation:
        """Rebuild an operation from :meth:`to_dict` output."""
        segment = data.get("segment") or {}
        return cls(
            kind=OpKind(data["kind"]),
            entry_kind=EntryKind(data["entry_kind"]),
            key=str(data["key"]),
            dn=str(data["dn"]),
            segment=Segment(segment.get("category", ""), segment.get("school", "")),
            new_dn=data.get("new_dn"),
            attributes={k: tuple(v) for k, v in (data.get("attributes") or {}).items()},
            changes=tuple(
                AttributeChange(c["attribute"], tuple(c["before"]), tuple(c["after"]))
                for c in data.get("changes") or ()
            ),
            member=data.get("member"),
            set_password=bool(data.get("set_password", False)),
            expect_version=data.get("expect_version"),
        )


@dataclass(frozen=True)
class Conflict:
    """Something the plan will not do, and why (for the summary and support).

    Attributes:
        key: The desired entry's key.
        dn: The DN concerned.
        reason: Why it was left alone (e.g. an unmanaged entry holds the DN).
    """

    key: str
    dn: str
    reason: str
