"""apply() on the memory twin: failures, interruptions and half-done membership changes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from pydantic import SecretStr

from ecampus_idm.directory.base import AttributeInput, Modification
from ecampus_idm.directory.filters import Filter
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.errors import DirectoryError, DirectoryUnavailableError
from ecampus_idm.sync import (
    Budget,
    EntryKind,
    OpKind,
    PlanApprovalError,
    PlanOptions,
    TargetSpec,
    apply,
    plan,
    read_snapshot,
)
from ecampus_idm.testing.plugin import memory_base_tree
from ecampus_idm.testing.sync_contract import group, person

BASE = "dc=ecampus,dc=test"
SPEC = TargetSpec(
    containers={EntryKind.PERSON: f"ou=people,{BASE}", EntryKind.GROUP: f"ou=groups,{BASE}"}
)


def _password(key: str) -> SecretStr:
    return SecretStr(f"Initial-{key}-Pass-2026")


class FlakyDirectory:
    """A memory directory that stops answering after ``budget`` writes."""

    def __init__(self, inner: MemoryDirectory, budget: int) -> None:
        self.inner = inner
        self.budget = budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _spend(self) -> None:
        if self.budget <= 0:
            raise DirectoryUnavailableError("memory://flaky", "connection reset")
        self.budget -= 1

    def add_many(
        self, entries: Iterable[tuple[str, AttributeInput]]
    ) -> Iterator[DirectoryError | None]:
        for dn, attributes in entries:
            self._spend()
            yield from self.inner.add_many([(dn, attributes)])

    def modify(
        self, dn: str, changes: Sequence[Modification], *, expect: Filter | None = None
    ) -> None:
        self._spend()
        self.inner.modify(dn, changes, expect=expect)


def test_interruption_reports_what_was_not_attempted() -> None:
    """A directory that goes away ends the run as interrupted, with a count of the rest."""
    people = [person(BASE, f"p{n}", f"user.{n}") for n in range(6)]
    directory = memory_base_tree()
    pending = plan(people, read_snapshot(directory, SPEC))
    report = apply(pending, FlakyDirectory(directory, budget=4), SPEC, passwords=_password)  # type: ignore[arg-type]
    assert report.interrupted is not None
    assert "connection reset" in report.interrupted
    assert report.applied["create"] == 4
    assert report.not_attempted == 2
    assert not report.ok
    again = apply(pending, directory, SPEC, passwords=_password)
    assert again.ok
    assert again.already == 4
    assert again.applied["create"] == 2


def test_create_without_password_source_fails_that_entry_only() -> None:
    """A create that needs a password and has no source fails alone; groups still go in."""
    jean = person(BASE, "p1", "jean.dupont")
    directory = memory_base_tree()
    pending = plan([jean, group(BASE, "G1", [jean])], read_snapshot(directory, SPEC))
    report = apply(pending, directory, SPEC)
    assert [(f.kind, f.key) for f in report.failures] == [(OpKind.CREATE, "p1")]
    assert report.applied["create"] == 1
    assert directory.get(jean.dn) is None


def test_membership_already_changed_by_someone_is_done_member_by_member() -> None:
    """When some planned members are already there, the others are still added."""
    people = [person(BASE, f"p{n}", f"user.{n}") for n in range(3)]
    directory = memory_base_tree()
    assert apply(
        plan([*people, group(BASE, "G1", [])], read_snapshot(directory, SPEC)),
        directory,
        SPEC,
        passwords=_password,
    ).ok
    recorded = [replace(p, initial_password=False) for p in people]
    pending = plan([*recorded, group(BASE, "G1", people)], read_snapshot(directory, SPEC))
    assert pending.counts() == {"add_member": 3}
    directory.modify(f"cn=G1,ou=groups,{BASE}", [Modification.add("member", people[0].dn)])
    report = apply(pending, directory, SPEC)
    assert report.ok
    assert report.already == 1
    assert report.applied["add_member"] == 2
    entry = directory.get(f"cn=G1,ou=groups,{BASE}")
    assert entry is not None
    assert set(entry.get("member")) >= {p.dn for p in people}


@pytest.mark.parametrize("approve", [None, "f" * 64], ids=["unapproved", "other-hash"])
def test_nothing_is_written_for_a_refused_approval(approve: str | None) -> None:
    """A held plan without its own hash writes nothing at all."""
    people = [person(BASE, f"p{n}", f"user.{n}") for n in range(3)]
    directory = memory_base_tree()
    held = plan(
        people,
        read_snapshot(directory, SPEC),
        PlanOptions(budgets=(Budget(OpKind.CREATE, max_count=1),)),
    )
    assert held.held
    with pytest.raises(PlanApprovalError):
        apply(held, directory, SPEC, approve=approve, passwords=_password)
    assert list(read_snapshot(directory, SPEC)) == []


# -- issue 13: only what the directory confirmed ---------------------------------------


class LostAnswers(FlakyDirectory):
    """Adds reach the directory, then the connection drops before the answer is read."""

    def add_many(
        self, entries: Iterable[tuple[str, AttributeInput]]
    ) -> Iterator[DirectoryError | None]:
        for dn, attributes in entries:
            if self.budget <= 0:
                self.inner.add(dn, attributes)  # done, but nobody hears about it
                raise DirectoryUnavailableError("memory://flaky", "connection lost")
            self.budget -= 1
            yield from self.inner.add_many([(dn, attributes)])


def test_unconfirmed_persons_are_reported_unsettled() -> None:
    """Not attempted, or added without an answer: unsettled, and no password is theirs."""
    people = [person(BASE, f"p{n}", f"user.{n}") for n in range(6)]
    directory = memory_base_tree()
    pending = plan(people, read_snapshot(directory, SPEC))
    report = apply(pending, LostAnswers(directory, budget=3), SPEC, passwords=_password)  # type: ignore[arg-type]
    assert report.interrupted is not None
    assert report.passwords_set == {"p0", "p1", "p2"}
    assert report.unsettled == {"p3", "p4", "p5"}
    assert directory.get(people[3].dn) is not None  # it is there, with a password unknown


def test_entry_whose_add_was_never_confirmed_gets_a_password_next_run() -> None:
    """The next plan sets a fresh password on it; that one binds, the lost one does not."""
    people = [person(BASE, f"p{n}", f"user.{n}") for n in range(3)]
    directory = memory_base_tree()
    first = plan(people, read_snapshot(directory, SPEC))
    apply(first, LostAnswers(directory, budget=1), SPEC, passwords=_password)  # type: ignore[arg-type]
    # p0 was confirmed (and so recorded): no longer a new account.
    tonight = [replace(people[0], initial_password=False), *people[1:]]
    following = plan(tonight, read_snapshot(directory, SPEC))
    assert following.counts() == {"create": 1, "set_password": 1}

    def fresh(key: str) -> SecretStr:
        return SecretStr(f"Fresh-{key}-Pass-2026")

    report = apply(following, directory, SPEC, passwords=fresh)
    assert report.ok
    assert report.passwords_set == {"p1", "p2"}
    for entry in people[1:]:
        directory.authenticate(entry.dn, fresh(entry.key))
    with pytest.raises(DirectoryError):
        directory.authenticate(people[1].dn, _password("p1"))


def test_create_found_done_gets_the_password_of_this_apply() -> None:
    """Re-applying a plan: an entry already there takes the password now handed out."""
    jean = person(BASE, "p1", "jean.dupont")
    directory = memory_base_tree()
    pending = plan([jean], read_snapshot(directory, SPEC))
    apply(pending, directory, SPEC, passwords=_password)
    again = apply(pending, directory, SPEC, passwords=lambda key: SecretStr(f"Again-{key}-2026x"))
    assert (again.already, again.passwords_set) == (1, {"p1"})
    directory.authenticate(jean.dn, SecretStr("Again-p1-2026x"))


def test_member_of_drift_is_repaired_on_the_memory_twin() -> None:
    """A group written before its member: the member lacks memberOf until the repair."""
    spec = replace(SPEC, extra_attributes=("pwdAccountLockedTime", "memberOf"))
    options = PlanOptions(member_of_attribute="memberof")
    jean = replace(person(BASE, "p1", "jean.dupont"), initial_password=False)
    staff = group(BASE, "STAFF", [jean])
    directory = memory_base_tree()
    directory.add(staff.dn, {**staff.attributes, "member": [jean.dn]})  # before jean exists
    directory.add(jean.dn, dict(jean.attributes))
    assert directory.get(jean.dn, ["memberOf"]).attributes == {}  # type: ignore[union-attr]
    pending = plan([jean, staff], read_snapshot(directory, spec), options)
    assert pending.counts() == {"repair_member": 1}
    assert apply(pending, directory, spec).ok
    back = directory.get(jean.dn, ["memberOf"])
    assert back is not None
    assert back.get("memberOf") == (staff.dn,)
    assert plan([jean, staff], read_snapshot(directory, spec), options).is_empty
