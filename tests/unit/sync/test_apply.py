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
