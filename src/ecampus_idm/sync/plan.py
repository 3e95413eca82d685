"""``plan(desired, observed, options) -> Plan``: the pure, deterministic diff.

No I/O happens here. Given what the directory should hold (desired entries from the
mapping) and what one snapshot read found (observed entries), the plan lists the
operations that make the second into the first, in a stable order:

* only entries carrying our ownership marker are ever changed; a desired DN held by an
  entry we do not manage is a :class:`~ecampus_idm.sync.model.Conflict`, never a write;
* attributes are compared one by one and only the *owned* ones are forced; ``objectClass``
  is additive (classes added by others stay);
* a change of the status attributes (account lock...) makes the operation an enable or a
  disable, so budgets can count them;
* group membership is diffed member by member, on normalised DNs, assuming referential
  integrity (the directory rewrites or removes member values when a person is renamed or
  deleted: refint on OpenLDAP, linked attributes on AD);
* every modify carries the entry's change stamp as a precondition, so a plan applied
  after someone else changed the entry refuses to overwrite it.

The result is a frozen :class:`Plan` with a content hash; it is also the dry-run output.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecampus_idm.directory.dn import normalize_dn, parse_dn
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
)

__all__ = ["FORMAT", "Plan", "PlanIntegrityError", "PlanOptions", "plan"]

FORMAT = "ecampus-idm/plan/1"
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
    """

    status_attributes: frozenset[str] = frozenset({"pwdaccountlockedtime", "ecampusaccountstatus"})
    member_attribute: str = "member"
    placeholder_members: frozenset[str] = frozenset({"cn=nobody"})
    dn_valued: frozenset[str] = frozenset({"member"})
    additive: frozenset[str] = frozenset({"objectclass"})
    budgets: tuple[Budget, ...] = DEFAULT_BUDGETS
    segment_of: Callable[[ObservedEntry], Segment] = field(default=_no_segment, compare=False)


@dataclass(frozen=True)
class Plan:
    """A reviewed-or-reviewable list of operations, with its content hash.

    Attributes:
        operations: The operations, in apply order.
        conflicts: What the plan refuses to do, and why.
        tripped: Budgets exceeded; a plan with any is held.
        hash: SHA-256 of the canonical JSON of operations and conflicts.
    """

    operations: tuple[Operation, ...]
    conflicts: tuple[Conflict, ...] = ()
    tripped: tuple[TrippedBudget, ...] = ()
    hash: str = ""

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
        return cls(operations, conflicts, tripped, computed)

    def summary(self) -> str:
        """A readable summary: counts per operation and per school, budgets, conflicts."""
        if self.is_empty and not self.conflicts:
            return f"Plan {self.hash[:12]}: nothing to do."
        lines = [f"Plan {self.hash[:12]}{' — HELD' if self.held else ''}"]
        lines.extend(f"  {kind:<14} {count:>7}" for kind, count in self.counts().items())
        for segment, counts in self.counts_per_segment().items():
            detail = ", ".join(f"{k} {v}" for k, v in counts.items())
            lines.append(f"  [{segment}] {detail}")
        lines.extend(f"  budget tripped: {t.message}" for t in self.tripped)
        lines.extend(f"  conflict: {c.dn}: {c.reason}" for c in self.conflicts)
        if self.held:
            lines.append(f"  apply with --approve {self.hash} after review")
        return "\n".join(lines)


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
) -> Plan:
    """Compute the operations that turn ``observed`` into ``desired``.

    Args:
        desired: What the directory should hold for managed entries.
        observed: What the snapshot read found (managed and unmanaged entries).
        options: Comparison rules and budgets.

    Returns:
        The plan; ``plan.held`` tells whether a budget tripped.
    """
    return _Planner(options or PlanOptions()).run(tuple(desired), tuple(observed))


class _Planner:
    def __init__(self, options: PlanOptions) -> None:
        self.options = options
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
        operations = sorted(
            self.operations,
            key=lambda op: (_ORDER[op.kind], op.entry_kind.value, op.key, op.member or ""),
        )
        entries, members = self._bases(observed)
        tripped = check_budgets(operations, self.options.budgets, entries, members)
        return Plan(tuple(operations), tuple(self.conflicts), tripped)

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
        changes = self._changes(target, current, skip)
        if not changes:
            return
        status = {c.attribute for c in changes} & self.options.status_attributes
        kind = OpKind.UPDATE
        if status:
            kind = OpKind.ENABLE if target.enabled else OpKind.DISABLE
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
