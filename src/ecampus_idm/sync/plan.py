"""``plan(desired, observed, options) -> Plan``: the pure, deterministic diff.

No I/O happens here. Given what the directory should hold (desired entries from the
mapping) and what one snapshot read found (observed entries), the plan lists the
operations that make the second into the first, in a stable order:

* only entries carrying our ownership marker are ever changed; a desired DN held by an
  entry we do not manage is a :class:`~ecampus_idm.sync.model.Conflict`, never a write;
* attributes are compared one by one and only the *owned* ones are forced; ``objectClass``
  is additive (classes added by others stay);
* a change of the status attributes (account lock...) is named by what it does to the
  person: ``grace``, ``disable`` or ``reactivate`` (never an "update" that hides a
  removal), so budgets count them and a reviewer sees them;
* group membership is diffed member by member, on normalised DNs, assuming referential
  integrity (the directory rewrites or removes member values when a person is renamed or
  deleted: refint on OpenLDAP, linked attributes on AD); with
  :attr:`PlanOptions.member_of_attribute` the persons' ``memberOf`` is compared with the
  groups too, and a disagreement becomes a ``repair_member``;
* a new account whose entry already exists (an interrupted run's add that was never
  confirmed) gets a ``set_password``, so that the password mailed is the one it has;
* ``frozen`` persons (their source was refused tonight) get no operation at all;
* persons are created before groups, so that a group never lists a member that does not
  exist yet (OpenLDAP's memberof overlay would give that member no ``memberOf``);
* every modify carries the entry's change stamp as a precondition, so a plan applied
  after someone else changed the entry refuses to overwrite it.

The result is a frozen :class:`Plan` with a content hash; it is also the dry-run output.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ecampus_idm.directory.dn import normalize_dn, parse_dn
from ecampus_idm.directory.ppolicy import PERMANENT_LOCK
from ecampus_idm.errors import IdmError
from ecampus_idm.sync.budgets import DEFAULT_BUDGETS, Budget, TrippedBudget, check_budgets
from ecampus_idm.sync.model import (
    AttributeChange,
    Conflict,
    DesiredEntry,
    EntryKind,
    ObservedEntry,
    Operation,
    OpKind,
    Segment,
    segment_label,
)

__all__ = ["FORMAT", "Plan", "PlanIntegrityError", "PlanOptions", "plan"]

FORMAT = "ecampus-idm/plan/2"
"""Version 2 names status changes by their effect (grace, disable, reactivate)."""
_ORDER = {kind: index for index, kind in enumerate(OpKind)}


class PlanIntegrityError(IdmError):
    """A serialised plan does not match its hash, or is not a plan at all."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a valid plan: {reason}")


def _no_segment(_: ObservedEntry) -> Segment:
    return Segment()


@dataclass(frozen=True)
class PlanOptions:
    """How to compare and what to protect.

    Attributes:
        status_attributes: Attributes whose change enables or disables an account.
        member_attribute: The group membership attribute.
        placeholder_members: Member values that are never diffed (``cn=nobody``, needed
            because ``groupOfNames`` must have a member).
        dn_valued: Attributes compared as normalised DNs.
        additive: Owned attributes the engine only adds to, never removes from.
        budgets: The safety budgets.
        segment_of: Segment of an observed entry (for deletes and percentage bases).
        member_of_attribute: The back-link a managed person carries for each group that
            lists it (``memberOf``), compared with the groups' members so that drift is
            repaired; ``None`` when the target keeps no such attribute.
        owned_values: For some owned attributes, the only values the engine writes and
            removes (matched case-insensitively); any other value was put there by the
            directory and is left alone unless the engine writes one of its own in its
            place. ppolicy's ``pwdAccountLockedTime``: the engine owns the permanent lock
            it writes to disable an account, never the lockout timestamp ppolicy stamps
            after failed binds (that one is cleared by the reset, see
            :mod:`ecampus_idm.directory.ppolicy`).
    """

    status_attributes: frozenset[str] = frozenset({"pwdaccountlockedtime", "ecampusaccountstatus"})
    member_attribute: str = "member"
    placeholder_members: frozenset[str] = frozenset({"cn=nobody"})
    dn_valued: frozenset[str] = frozenset({"member"})
    additive: frozenset[str] = frozenset({"objectclass"})
    budgets: tuple[Budget, ...] = DEFAULT_BUDGETS
    segment_of: Callable[[ObservedEntry], Segment] = field(default=_no_segment, compare=False)
    member_of_attribute: str | None = None
    owned_values: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: {"pwdaccountlockedtime": frozenset({PERMANENT_LOCK})},
        compare=False,
    )


@dataclass(frozen=True)
class Plan:
    """A reviewed-or-reviewable list of operations, with its content hash.

    Attributes:
        operations: The operations, in apply order.
        conflicts: What the plan refuses to do, and why.
        tripped: Budgets exceeded; a plan with any is held.
        hash: SHA-256 of the canonical JSON of operations and conflicts.
        deferred: Operations left out because they concern a frozen person (one whose
            source was refused tonight); not part of the hash.
    """

    operations: tuple[Operation, ...]
    conflicts: tuple[Conflict, ...] = ()
    tripped: tuple[TrippedBudget, ...] = ()
    hash: str = ""
    deferred: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not self.hash:
            object.__setattr__(self, "hash", _content_hash(self.operations, self.conflicts))

    @property
    def held(self) -> bool:
        """Whether a budget tripped: apply needs ``approve=plan.hash``."""
        return bool(self.tripped)

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to do."""
        return not self.operations

    def counts(self) -> dict[str, int]:
        """Operations per kind (only the kinds present)."""
        counter = Counter(op.kind.value for op in self.operations)
        return {kind.value: counter[kind.value] for kind in OpKind if counter[kind.value]}

    def counts_per_segment(self) -> dict[str, dict[str, int]]:
        """Operations per school (or category) and kind."""
        result: dict[str, Counter[str]] = {}
        for op in self.operations:
            result.setdefault(str(op.segment), Counter())[op.kind.value] += 1
        return {segment: dict(sorted(c.items())) for segment, c in sorted(result.items())}

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (never contains a password)."""
        return {
            "format": FORMAT,
            "hash": self.hash,
            "held": self.held,
            "deferred": self.deferred,
            "counts": self.counts(),
            "per_segment": self.counts_per_segment(),
            "tripped": [
                {
                    "budget": t.budget.describe(),
                    "kind": t.budget.kind.value,
                    "scope": t.scope,
                    "count": t.count,
                    "base": t.base,
                    "message": t.message,
                }
                for t in self.tripped
            ],
            "conflicts": [{"key": c.key, "dn": c.dn, "reason": c.reason} for c in self.conflicts],
            "operations": [op.to_dict() for op in self.operations],
        }

    def to_json(self) -> str:
        """Serialise the plan (reviewable, storable, approvable by hash)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Read a plan written by :meth:`to_json`, checking its hash.

        Budgets are kept as recorded (a held plan stays held).

        Raises:
            PlanIntegrityError: If the text is not a plan or its content was altered.
        """
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise PlanIntegrityError(f"format is not {FORMAT}")
            operations = tuple(Operation.from_dict(op) for op in data["operations"])
            conflicts = tuple(Conflict(**c) for c in data["conflicts"])
            tripped = tuple(
                TrippedBudget(
                    Budget(OpKind(t["kind"])), t["scope"], int(t["count"]), int(t["base"])
                )
                for t in data["tripped"]
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PlanIntegrityError(str(exc) or type(exc).__name__) from exc
        computed = _content_hash(operations, conflicts)
        if computed != data.get("hash"):
            raise PlanIntegrityError("its content does not match its hash")
        return cls(operations, conflicts, tripped, computed, int(data.get("deferred", 0)))

    def segment_labels(self, school_names: Mapping[str, str] | None = None) -> dict[str, str]:
        """What each segment of :meth:`counts_per_segment` is (``"HE"``: ``"Haute École..."``).

        Args:
            school_names: School code to its name, from the configuration; without it a
                school code has no label.
        """
        labels = {name: segment_label(name, school_names) for name in self.counts_per_segment()}
        return {name: label for name, label in labels.items() if label}

    def summary(self, school_names: Mapping[str, str] | None = None) -> str:
        """A readable summary: counts per operation and per school, budgets, conflicts.

        Each segment is explained: ``[-] hors école / no school``, ``[HE] Haute École...``
        (the whole category), ``[HEC-TOURNAI]`` with its name from ``school_names``.
        """
        if self.is_empty and not self.conflicts:
            return f"Plan {self.hash[:12]}: nothing to do."
        lines = [f"Plan {self.hash[:12]}{' — HELD' if self.held else ''}"]
        lines.extend(f"  {kind:<14} {count:>7}" for kind, count in self.counts().items())
        labels = self.segment_labels(school_names)
        for segment, counts in self.counts_per_segment().items():
            detail = ", ".join(f"{k} {v}" for k, v in counts.items())
            label = f" {labels[segment]}:" if segment in labels else ""
            lines.append(f"  [{segment}]{label} {detail}")
        lines.extend(f"  budget tripped: {t.message}" for t in self.tripped)
        lines.extend(f"  conflict: {c.dn}: {c.reason}" for c in self.conflicts)
        if self.held:
            lines.append(
                f"  apply with --approve {self.hash} (or apply --plan FILE, the file of"
                " plan --out) after review"
            )
        return "\n".join(lines)


_STATUS_KINDS = {"grace": OpKind.GRACE, "disabled": OpKind.DISABLE, "active": OpKind.REACTIVATE}


def _status_kind(target: DesiredEntry) -> OpKind:
    """Name a change of the status attributes by what it does to the account."""
    kind = _STATUS_KINDS.get(target.status)
    if kind is not None:
        return kind
    return OpKind.REACTIVATE if target.enabled else OpKind.DISABLE


def _content_hash(operations: tuple[Operation, ...], conflicts: tuple[Conflict, ...]) -> str:
    canonical = json.dumps(
        {
            "format": FORMAT,
            "operations": [op.to_dict() for op in operations],
            "conflicts": [[c.key, c.dn, c.reason] for c in conflicts],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def plan(
    desired: Iterable[DesiredEntry],
    observed: Iterable[ObservedEntry],
    options: PlanOptions | None = None,
    *,
    frozen: Collection[str] = (),
) -> Plan:
    """Compute the operations that turn ``observed`` into ``desired``.

    Args:
        desired: What the directory should hold for managed entries.
        observed: What the snapshot read found (managed and unmanaged entries).
        options: Comparison rules and budgets.
        frozen: Keys of persons to leave exactly as they are: no operation on their
            entry, no membership of theirs added, removed or repaired (a source they
            depend on was refused, so what the desired state says of them is not known).

    Returns:
        The plan; ``plan.held`` tells whether a budget tripped, ``plan.deferred`` how many
        operations the frozen persons would have had.
    """
    return _Planner(options or PlanOptions(), frozenset(frozen)).run(
        tuple(desired), tuple(observed)
    )


class _Planner:
    def __init__(self, options: PlanOptions, frozen: frozenset[str] = frozenset()) -> None:
        self.options = options
        self.frozen = frozen
        self.operations: list[Operation] = []
        self.conflicts: list[Conflict] = []

    def run(self, desired: tuple[DesiredEntry, ...], observed: tuple[ObservedEntry, ...]) -> Plan:
        by_dn = {normalize_dn(o.dn): o for o in observed}
        managed: dict[tuple[EntryKind, str], ObservedEntry] = {}
        duplicates: set[tuple[EntryKind, str]] = set()
        for entry in observed:
            if entry.managed and entry.key is not None:
                slot = (entry.kind, entry.key)
                if slot in managed:
                    duplicates.add(slot)
                managed[slot] = entry
        wanted = {(d.kind, d.key): d for d in desired}
        renamed: dict[str, str] = {}  # normalised old DN -> new DN (refint rewrites members)
        deleted: set[str] = set()
        for slot in sorted(managed.keys() - wanted.keys()):
            entry = managed[slot]
            if slot in duplicates:
                continue
            deleted.add(normalize_dn(entry.dn))
            self.operations.append(
                Operation(
                    OpKind.DELETE,
                    entry.kind,
                    entry.key or "",
                    entry.dn,
                    segment=self.options.segment_of(entry),
                    expect_version=entry.version,
                )
            )
        for slot in sorted(wanted):
            target = wanted[slot]
            if slot in duplicates:
                self.conflicts.append(
                    Conflict(target.key, target.dn, "several managed entries have this key")
                )
                continue
            current = managed.get(slot)
            if current is None:
                self._create(target, by_dn.get(normalize_dn(target.dn)))
            else:
                self._converge(target, current, by_dn, renamed)
        for slot in sorted(wanted):
            target = wanted[slot]
            current = managed.get(slot)
            if target.kind is EntryKind.GROUP and current is not None and slot not in duplicates:
                self._members(target, current, renamed, deleted)
        if self.options.member_of_attribute is not None:
            self._back_links(managed, duplicates, renamed, deleted)
        planned, deferred = self._freeze(self.operations, managed, wanted)
        # Persons are created before the groups that list them: a member added to a
        # group before its entry exists gets no memberOf from OpenLDAP's overlay.
        operations = sorted(
            planned,
            key=lambda op: (
                _ORDER[op.kind],
                op.entry_kind is not EntryKind.PERSON,
                op.key,
                op.member or "",
            ),
        )
        entries, members = self._bases(observed)
        tripped = check_budgets(operations, self.options.budgets, entries, members)
        return Plan(tuple(operations), tuple(self.conflicts), tripped, deferred=deferred)

    def _freeze(
        self,
        operations: list[Operation],
        managed: Mapping[tuple[EntryKind, str], ObservedEntry],
        wanted: Mapping[tuple[EntryKind, str], DesiredEntry],
    ) -> tuple[list[Operation], int]:
        """Leave out every operation on a frozen person; return the rest and the count."""
        if not self.frozen:
            return operations, 0
        dns: set[str] = set()
        for key in self.frozen:
            slot = (EntryKind.PERSON, key)
            if slot in managed:
                dns.add(normalize_dn(managed[slot].dn))
            if slot in wanted:
                dns.add(normalize_dn(wanted[slot].dn))
        member = self.options.member_attribute.lower()
        kept: list[Operation] = []
        for op in operations:
            if op.entry_kind is EntryKind.PERSON and op.key in self.frozen:
                continue
            if op.member is not None and normalize_dn(op.member) in dns:
                continue
            if op.kind is OpKind.DELETE and op.entry_kind is EntryKind.GROUP:
                group = managed.get((EntryKind.GROUP, op.key))
                listed = group.get(member) if group is not None else ()
                if any(normalize_dn(v) in dns for v in listed):
                    continue  # a group a frozen person is in stays, with them
            if op.kind is OpKind.CREATE and op.entry_kind is EntryKind.GROUP and dns:
                values = op.attributes.get(member, ())
                left = tuple(v for v in values if normalize_dn(v) not in dns)
                if len(left) != len(values):
                    kept.append(replace(op, attributes={**op.attributes, member: left}))
                    continue
            kept.append(op)
        return kept, len(operations) - len(kept)

    # -- per entry ---------------------------------------------------------------------------

    def _create(self, target: DesiredEntry, holder: ObservedEntry | None) -> None:
        if holder is not None:
            reason = (
                "an entry not managed by ecampus-idm holds this DN"
                if not holder.managed
                else f"a managed entry with another key ({holder.key}) holds this DN"
            )
            self.conflicts.append(Conflict(target.key, target.dn, reason))
            return
        attributes = target.attributes
        if target.kind is EntryKind.GROUP:
            attributes = {
                **attributes,
                self.options.member_attribute.lower(): tuple(
                    sorted(target.members | self.options.placeholder_members)
                ),
            }
        self.operations.append(
            Operation(
                OpKind.CREATE,
                target.kind,
                target.key,
                target.dn,
                segment=target.segment,
                attributes=attributes,
                set_password=target.initial_password,
            )
        )

    def _converge(
        self,
        target: DesiredEntry,
        current: ObservedEntry,
        by_dn: Mapping[str, ObservedEntry],
        renamed: dict[str, str],
    ) -> None:
        dn, version, skip = current.dn, current.version, frozenset[str]()
        if normalize_dn(current.dn) != normalize_dn(target.dn):
            holder = by_dn.get(normalize_dn(target.dn))
            if holder is not None:
                self.conflicts.append(
                    Conflict(target.key, target.dn, "cannot rename: the new DN is taken")
                )
                return
            self.operations.append(
                Operation(
                    OpKind.RENAME,
                    target.kind,
                    target.key,
                    current.dn,
                    segment=target.segment,
                    new_dn=target.dn,
                    expect_version=current.version,
                )
            )
            renamed[normalize_dn(current.dn)] = target.dn
            # The rename sets the new naming value; later steps address the new DN.
            dn, version = target.dn, None
            skip = frozenset(kind.lower() for kind, _ in parse_dn(target.dn)[0])
        if target.initial_password:
            # The account is new to the store yet its entry exists: an earlier add reached
            # the directory without its outcome being confirmed, and nobody holds the
            # password it carried. It gets one this run holds. Apply runs it after the
            # entry's other writes, which carry the stamp seen at planning; it carries none.
            self.operations.append(
                Operation(
                    OpKind.SET_PASSWORD,
                    target.kind,
                    target.key,
                    dn,
                    segment=target.segment,
                    set_password=True,
                )
            )
        changes = self._changes(target, current, skip)
        if not changes:
            return
        status = {c.attribute for c in changes} & self.options.status_attributes
        kind = OpKind.UPDATE
        if status:
            kind = _status_kind(target)
        self.operations.append(
            Operation(
                kind,
                target.kind,
                target.key,
                dn,
                segment=target.segment,
                changes=changes,
                expect_version=version,
            )
        )

    def _changes(
        self, target: DesiredEntry, current: ObservedEntry, skip: frozenset[str]
    ) -> tuple[AttributeChange, ...]:
        changes: list[AttributeChange] = []
        member = self.options.member_attribute.lower()
        for attribute in sorted(target.owned - skip - {member}):
            want = target.attributes.get(attribute, ())
            have = current.get(attribute)
            if attribute in self.options.additive:
                missing = {v.casefold() for v in want} - {v.casefold() for v in have}
                if missing:
                    merged = have + tuple(v for v in want if v.casefold() in missing)
                    changes.append(AttributeChange(attribute, have, merged))
                continue
            owned_values = self.options.owned_values.get(attribute)
            if owned_values is not None and not want:
                ours = {v.casefold() for v in owned_values}
                # Only the engine's own values go; the directory's stay (single-valued
                # attributes: a value of the engine's replaces the directory's).
                want = tuple(v for v in have if v.casefold() not in ours)
            if self._same(attribute, want, have):
                continue
            changes.append(AttributeChange(attribute, have, tuple(want)))
        return tuple(changes)

    def _same(self, attribute: str, want: tuple[str, ...], have: tuple[str, ...]) -> bool:
        if attribute in self.options.dn_valued:
            return {normalize_dn(v) for v in want} == {normalize_dn(v) for v in have}
        return sorted(want) == sorted(have)

    def _members(
        self,
        target: DesiredEntry,
        current: ObservedEntry,
        renamed: Mapping[str, str],
        deleted: set[str],
    ) -> None:
        placeholders = {normalize_dn(p) for p in self.options.placeholder_members}
        have: dict[str, str] = {}
        for value in current.get(self.options.member_attribute):
            key = normalize_dn(value)
            if key in placeholders or key in deleted:
                continue  # the directory removes members of deleted entries itself
            moved = renamed.get(key)
            have[normalize_dn(moved) if moved else key] = moved or value
        want = {normalize_dn(v): v for v in target.members}
        dn = renamed.get(normalize_dn(current.dn), current.dn)
        for key in sorted(want.keys() - have.keys()):
            self.operations.append(
                Operation(
                    OpKind.ADD_MEMBER,
                    EntryKind.GROUP,
                    target.key,
                    dn,
                    segment=target.segment,
                    member=want[key],
                )
            )
        for key in sorted(have.keys() - want.keys()):
            self.operations.append(
                Operation(
                    OpKind.REMOVE_MEMBER,
                    EntryKind.GROUP,
                    target.key,
                    dn,
                    segment=target.segment,
                    member=have[key],
                )
            )

    def _back_links(
        self,
        managed: Mapping[tuple[EntryKind, str], ObservedEntry],
        duplicates: set[tuple[EntryKind, str]],
        renamed: Mapping[str, str],
        deleted: set[str],
    ) -> None:
        """Plan a repair for each person whose ``memberOf`` disagrees with the groups.

        The groups' ``member`` values are the truth; a person's back-link to a managed
        group that lists it is *missing*, one to a managed group that does not is
        *stale*. Entries this plan renames or deletes, and pairs a member operation of
        this plan already rewrites, are left to the next run's read.
        """
        attribute = self.options.member_of_attribute
        assert attribute is not None  # noqa: S101 - the caller checked
        placeholders = {normalize_dn(p) for p in self.options.placeholder_members}
        touched = {
            (normalize_dn(op.dn), normalize_dn(op.member))
            for op in self.operations
            if op.member is not None
        }
        groups: dict[str, ObservedEntry] = {}
        listed: dict[str, set[str]] = {}
        for slot, entry in managed.items():
            dn = normalize_dn(entry.dn)
            if slot[0] is not EntryKind.GROUP or slot in duplicates:
                continue
            if dn in deleted or dn in renamed:
                continue
            groups[dn] = entry
            for value in entry.get(self.options.member_attribute):
                member = normalize_dn(value)
                if member not in placeholders:
                    listed.setdefault(member, set()).add(dn)
        for slot, entry in sorted(managed.items()):
            dn = normalize_dn(entry.dn)
            if slot[0] is not EntryKind.PERSON or slot in duplicates:
                continue
            if dn in deleted or dn in renamed:
                continue
            have = {normalize_dn(v) for v in entry.get(attribute)} & groups.keys()
            want = listed.get(dn, set())
            for group_dn in sorted(have ^ want):
                if (group_dn, dn) in touched:
                    continue
                group = groups[group_dn]
                link = (group.dn,)
                self.operations.append(
                    Operation(
                        OpKind.REPAIR_MEMBER,
                        EntryKind.GROUP,
                        group.key or "",
                        group.dn,
                        changes=(
                            AttributeChange(attribute, (), link)
                            if group_dn in want
                            else AttributeChange(attribute, link, ()),
                        ),
                        segment=self.options.segment_of(group),
                        member=entry.dn,
                    )
                )

    def _bases(
        self, observed: tuple[ObservedEntry, ...]
    ) -> tuple[Counter[Segment], Counter[Segment]]:
        entries: Counter[Segment] = Counter()
        members: Counter[Segment] = Counter()
        for entry in observed:
            if not entry.managed:
                continue
            segment = self.options.segment_of(entry)
            if entry.kind is EntryKind.PERSON:
                entries[segment] += 1
            else:
                members[segment] += len(entry.get(self.options.member_attribute))
        return entries, members
