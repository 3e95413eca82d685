"""``apply(plan, directory)``: the only writer, applying exactly the reviewed plan.

* A held plan (a budget tripped) is applied only with ``approve=plan.hash``; approving
  another hash is refused before anything is written.
* Every modify, rename and delete carries the change stamp seen at planning time: an
  entry changed since is not overwritten but reported as *stale*.
* Failures are collected per operation; the run goes on. Only a directory that stops
  answering ends the run early, and the report says how much was not attempted.
* Re-running a plan (after an interruption) is harmless: an entry already created, a
  member already added or removed, an entry already deleted or renamed count as
  *already done*.
* Initial passwords come from ``passwords`` at apply time and go into the add itself
  (``TargetSpec.initial_password``: ``pwdReset`` on OpenLDAP, ``pwdLastSet=0`` on AD), so
  an account never exists without its password and the user must change it at first
  login. A password never reaches the plan or a report. A ``set_password`` operation
  writes a fresh one on an entry whose earlier add was never confirmed; a create found
  already done gets its password the same way, since nobody knows the one it carried.
* The report says which persons' operations the directory *confirmed*
  (:attr:`ApplyReport.unsettled` lists the others: failed, not attempted, or sent on a
  connection that was lost before the answer). The caller records, deposits and mails
  only what was confirmed; the next run's read settles the rest.
* A ``repair_member`` rewrites one membership in one modify (delete then add the member,
  or add then delete it) so that OpenLDAP's memberof overlay writes the member's
  ``memberOf`` again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby

from pydantic import SecretStr

from ecampus_idm.directory.base import Directory, Modification
from ecampus_idm.directory.dn import normalize_dn, parent_dn, parse_dn, rdn
from ecampus_idm.directory.filters import Filter, eq
from ecampus_idm.errors import (
    AttributeValueError,
    DirectoryError,
    DirectoryUnavailableError,
    EntryAlreadyExistsError,
    EntryNotFoundError,
    IdmError,
    PreconditionFailedError,
)
from ecampus_idm.sync.model import EntryKind, Operation, OpKind
from ecampus_idm.sync.plan import Plan
from ecampus_idm.sync.target import TargetSpec

__all__ = [
    "ApplyFailure",
    "ApplyReport",
    "PasswordSource",
    "PlanApprovalError",
    "apply",
]

log = logging.getLogger(__name__)

PasswordSource = Callable[[str], SecretStr]
"""Returns the initial password for a person key (from the custody / generator)."""


class PlanApprovalError(IdmError):
    """A held plan was not approved, or another plan's hash was given.

    Attributes:
        plan_hash: The hash of the plan that was refused.
    """

    def __init__(self, plan_hash: str, reason: str) -> None:
        self.plan_hash = plan_hash
        super().__init__(f"plan {plan_hash[:12]} not applied: {reason}")


@dataclass(frozen=True)
class ApplyFailure:
    """One operation that did not go through.

    Attributes:
        kind: The operation kind.
        key: The managed entry's key.
        dn: The DN concerned.
        error: The error class name (``PreconditionFailedError`` means stale).
        message: The error message (never a secret).
    """

    kind: OpKind
    key: str
    dn: str
    error: str
    message: str

    @property
    def stale(self) -> bool:
        """Whether the entry changed since the plan was made."""
        return self.error == PreconditionFailedError.__name__


@dataclass
class ApplyReport:
    """What an apply did.

    Attributes:
        plan_hash: The plan applied.
        applied: Operations done, per kind.
        already: Operations found already done (re-run after an interruption).
        failures: Operations that failed, each with its reason.
        not_attempted: Operations left when the directory stopped answering (including
            those sent without an answer before the connection was lost).
        interrupted: Why the run stopped early, if it did.
        unsettled: Keys of persons with an operation that the directory did not confirm
            (failed, not attempted or of unknown outcome): nothing of theirs may be
            recorded as done.
        passwords_set: Keys of persons whose initial password the directory holds now
            (a confirmed create or ``set_password``).
    """

    plan_hash: str
    applied: Counter[str] = field(default_factory=Counter)
    already: int = 0
    failures: list[ApplyFailure] = field(default_factory=list)
    not_attempted: int = 0
    interrupted: str | None = None
    unsettled: set[str] = field(default_factory=set, repr=False)
    passwords_set: set[str] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        """Whether every operation went through."""
        return not self.failures and not self.not_attempted

    @property
    def stale(self) -> list[ApplyFailure]:
        """Failures due to entries changed since planning."""
        return [f for f in self.failures if f.stale]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready form."""
        return {
            "plan_hash": self.plan_hash,
            "ok": self.ok,
            "applied": dict(self.applied),
            "already": self.already,
            "not_attempted": self.not_attempted,
            "interrupted": self.interrupted,
            "unsettled": len(self.unsettled),
            "failures": [
                {
                    "kind": f.kind.value,
                    "key": f.key,
                    "dn": f.dn,
                    "error": f.error,
                    "message": f.message,
                    "stale": f.stale,
                }
                for f in self.failures
            ],
        }


class _Interrupted(Exception):  # noqa: N818 - internal control flow, never escapes
    pass


def apply(
    plan: Plan,
    directory: Directory,
    spec: TargetSpec,
    *,
    approve: str | None = None,
    passwords: PasswordSource | None = None,
    progress: Callable[[Operation], None] | None = None,
) -> ApplyReport:
    """Apply ``plan`` to ``directory``.

    Args:
        plan: The plan, as reviewed.
        directory: The target.
        spec: The target's description (key and marker attributes, change stamp).
        approve: The hash of the plan a human approved; required when the plan is held.
        passwords: Initial passwords for creates that set one.
        progress: Called after each operation (for a progress bar).

    Returns:
        The report; it never contains a password.

    Raises:
        PlanApprovalError: If the plan is held and not approved, or ``approve`` names
            another plan. Nothing is written then.
    """
    if approve is not None and approve != plan.hash:
        raise PlanApprovalError(plan.hash, "the approved hash is another plan's")
    if plan.held and approve is None:
        reasons = "; ".join(t.message for t in plan.tripped)
        raise PlanApprovalError(plan.hash, f"held by its budgets ({reasons})")
    return _Applier(directory, spec, passwords, progress, ApplyReport(plan.hash)).run(
        plan.operations
    )


class _Applier:
    def __init__(
        self,
        directory: Directory,
        spec: TargetSpec,
        passwords: PasswordSource | None,
        progress: Callable[[Operation], None] | None,
        report: ApplyReport,
    ) -> None:
        self.directory = directory
        self.spec = spec
        self.passwords = passwords
        self.progress = progress
        self.report = report
        self.attempted = 0
        self.settled: set[int] = set()  # indexes of the operations the directory answered
        self.index: dict[int, int] = {}

    def run(self, operations: tuple[Operation, ...]) -> ApplyReport:
        self.index = {id(op): n for n, op in enumerate(operations)}
        try:
            for batch in _batches(operations):
                self._batch(batch)
        except _Interrupted as stop:
            self.report.interrupted = str(stop)
            self.report.not_attempted = len(operations) - self.attempted
            for n, op in enumerate(operations):
                if n not in self.settled and op.entry_kind is EntryKind.PERSON:
                    self.report.unsettled.add(op.key)
        self.report.passwords_set -= self.report.unsettled
        return self.report

    def _batch(self, operations: list[Operation]) -> None:
        first = operations[0]
        if first.kind in (OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER):
            self._members(operations)
            return
        if first.kind is OpKind.CREATE:
            self._creates(operations)
            return
        for op in operations:
            self._one(op, self._dispatch)

    def _one(self, op: Operation, action: Callable[[Operation], bool]) -> None:
        try:
            if action(op):
                self.report.applied[op.kind.value] += 1
            else:
                self.report.already += 1
        except DirectoryUnavailableError as exc:
            raise _Interrupted(str(exc)) from exc
        except DirectoryError as exc:
            self._fail(op, exc)
        self._done(op)

    def _done(self, op: Operation) -> None:
        self.attempted += 1
        self.settled.add(self.index[id(op)])
        person = op.entry_kind is EntryKind.PERSON
        if person and op.set_password and op.key not in self.report.unsettled:
            self.report.passwords_set.add(op.key)
        if self.progress is not None:
            self.progress(op)

    def _fail(self, op: Operation, error: IdmError) -> None:
        log.warning("%s %s failed: %s", op.kind.value, op.dn, type(error).__name__)
        self.report.failures.append(
            ApplyFailure(op.kind, op.key, op.dn, type(error).__name__, str(error))
        )
        if op.entry_kind is EntryKind.PERSON:
            self.report.unsettled.add(op.key)
            self.report.passwords_set.discard(op.key)

    def _expect(self, op: Operation) -> Filter | None:
        if op.expect_version is None:
            return None
        return eq(self.spec.version_attribute, op.expect_version)

    def _dispatch(self, op: Operation) -> bool:
        """Apply one operation; return False when it was already done."""
        if op.kind is OpKind.RENAME:
            return self._rename(op)
        if op.kind is OpKind.DELETE:
            try:
                self.directory.delete(op.dn, expect=self._expect(op))
            except EntryNotFoundError:
                return False
            return True
        if op.kind is OpKind.SET_PASSWORD:
            self._set_password(op)
            return True
        if op.kind is OpKind.REPAIR_MEMBER:
            return self._repair(op)
        changes = [Modification.replace(c.attribute, *c.after) for c in op.changes]
        self.directory.modify(op.dn, changes, expect=self._expect(op))
        return True

    def _creates(self, operations: list[Operation]) -> None:
        """All creates through the directory's bulk add (pipelined on LDAP)."""
        ready: list[Operation] = []
        for op in operations:
            if op.set_password and self.passwords is None:
                self._fail(op, _MissingPasswordError(op.dn))
                self._done(op)
            else:
                ready.append(op)
        items = ((op.dn, self._create_attributes(op)) for op in ready)
        again: list[Operation] = []
        try:
            for op, error in zip(ready, self.directory.add_many(items), strict=True):
                if error is None:
                    self.report.applied[op.kind.value] += 1
                elif isinstance(error, EntryAlreadyExistsError) and self.spec.is_ours(
                    op.entry_kind, op.key, self.directory.get(op.dn)
                ):
                    if op.set_password:
                        # Created by an earlier try whose answer was lost: the password
                        # it carried is known to nobody, so it gets this one (once the
                        # pipelined adds are all answered).
                        again.append(op)
                        continue
                    self.report.already += 1
                else:
                    self._fail(op, error)
                self._done(op)
        except DirectoryUnavailableError as exc:
            raise _Interrupted(str(exc)) from exc
        for op in again:
            self._one(op, self._set_password_again)

    def _set_password(self, op: Operation) -> None:
        """Write a fresh initial password (and its must-change flag) on an existing entry."""
        if self.passwords is None:
            raise _MissingPasswordError(op.dn)
        attributes = self.spec.initial_password(self.passwords(op.key))
        self.directory.modify(
            op.dn, [Modification.replace(name, value) for name, value in attributes.items()]
        )

    def _set_password_again(self, op: Operation) -> bool:
        self._set_password(op)
        return False  # the entry was there: counted as already done

    def _repair(self, op: Operation) -> bool:
        """Rewrite one membership so that the directory writes its back-link again."""
        assert op.member is not None  # noqa: S101 - a repair names its member
        attribute = self.spec.member_attribute
        missing = bool(op.changes and op.changes[0].after)
        remove, add = (
            Modification.delete(attribute, op.member),
            Modification.add(attribute, op.member),
        )
        try:
            self.directory.modify(op.dn, [remove, add] if missing else [add, remove])
        except AttributeValueError:
            return False  # the membership changed since the read: the next run sees it
        return True

    def _create_attributes(self, op: Operation) -> dict[str, str | tuple[str, ...]]:
        attributes: dict[str, str | tuple[str, ...]] = dict(op.attributes)
        if op.set_password and self.passwords is not None:
            attributes.update(self.spec.initial_password(self.passwords(op.key)))
        return attributes

    def _rename(self, op: Operation) -> bool:
        assert op.new_dn is not None  # noqa: S101 - a rename always has a target
        target = parse_dn(op.new_dn)
        new_parent = parent_dn(op.new_dn)
        same_parent = normalize_dn(new_parent) == normalize_dn(parent_dn(op.dn))
        try:
            self.directory.rename(
                op.dn,
                "+".join(rdn(kind, value) for kind, value in target[0]),
                None if same_parent else new_parent,
                expect=self._expect(op),
            )
        except EntryNotFoundError:
            if self.spec.is_ours(op.entry_kind, op.key, self.directory.get(op.new_dn)):
                return False
            raise
        return True

    def _members(self, operations: list[Operation]) -> None:
        """One modify per group; on a conflict, member by member (idempotent)."""
        attribute = self.spec.member_attribute
        ordered = sorted(operations, key=lambda o: normalize_dn(o.dn))
        for dn, group in groupby(ordered, key=lambda o: normalize_dn(o.dn)):
            ops = list(group)
            adds = [o.member for o in ops if o.kind is OpKind.ADD_MEMBER and o.member]
            removes = [o.member for o in ops if o.kind is OpKind.REMOVE_MEMBER and o.member]
            changes = []
            if adds:
                changes.append(Modification.add(attribute, *adds))
            if removes:
                changes.append(Modification.delete(attribute, *removes))
            try:
                self.directory.modify(ops[0].dn, changes)
            except AttributeValueError:
                log.debug("group %s: some members already as planned, one by one", dn)
                for op in ops:
                    self._one(op, self._member)
                continue
            except DirectoryUnavailableError as exc:
                raise _Interrupted(str(exc)) from exc
            except DirectoryError as exc:
                for op in ops:
                    self._fail(op, exc)
                    self._done(op)
                continue
            for op in ops:
                self.report.applied[op.kind.value] += 1
                self._done(op)

    def _member(self, op: Operation) -> bool:
        assert op.member is not None  # noqa: S101 - member operations carry a member
        attribute = self.spec.member_attribute
        change = (
            Modification.add(attribute, op.member)
            if op.kind is OpKind.ADD_MEMBER
            else Modification.delete(attribute, op.member)
        )
        try:
            self.directory.modify(op.dn, [change])
        except AttributeValueError:
            return False
        return True


class _MissingPasswordError(DirectoryError):
    """A create needs an initial password and no password source was given."""

    def __init__(self, dn: str) -> None:
        super().__init__(f"no initial password available for {dn!r}", dn=dn)


def _batches(operations: Iterable[Operation]) -> list[list[Operation]]:
    """Group consecutive operations of the same kind (membership kinds together)."""
    batches: list[list[Operation]] = []

    def batch(op: Operation) -> str:
        if op.kind in (OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER):
            return "members"
        if op.kind is OpKind.CREATE:
            # Persons, then groups: a group added while its members' adds are still in
            # flight would leave them without memberOf.
            return f"create-{op.entry_kind.value}"
        return op.kind.value

    for _, group in groupby(operations, key=batch):
        batches.append(list(group))
    return batches
