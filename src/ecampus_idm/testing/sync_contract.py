"""Contract tests of the sync engine: plan → apply → re-plan, on any Directory.

Subclass :class:`SyncContract` and provide ``directory`` and ``base`` (the suffix, with
``ou=people`` and ``ou=groups`` below it), as for
:class:`~ecampus_idm.testing.contracts.DirectoryContract`. ecampus-idm runs it against the
in-memory directory, a real slapd and a Samba AD domain controller.

A target with another vocabulary overrides the ``spec`` fixture and the hooks
:meth:`SyncContract.make_person`, :meth:`SyncContract.make_group`,
:meth:`SyncContract.unmanaged_entry` and :meth:`SyncContract.check_initial_password`
(on AD the initial password is right but must be changed: bind result 773).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pytest
from pydantic import SecretStr

from ecampus_idm.directory.base import Directory, Modification
from ecampus_idm.directory.dn import build_dn, parse_dn
from ecampus_idm.errors import InvalidCredentialsError
from ecampus_idm.sync import (
    Budget,
    DesiredEntry,
    EntryKind,
    ObservedEntry,
    OpKind,
    Plan,
    PlanApprovalError,
    PlanOptions,
    Segment,
    TargetSpec,
    apply,
    plan,
    read_snapshot,
)

__all__ = ["SyncContract"]

PERSON_CLASSES = ("top", "inetOrgPerson", "eduPerson", "ecampusPerson")
OWNED = frozenset(
    {
        "objectclass",
        "uid",
        "cn",
        "sn",
        "givenname",
        "mail",
        "edupersonaffiliation",
        "ecampusmanagedby",
        "ecampuspersonid",
        "ecampusaccountstatus",
        "pwdaccountlockedtime",
    }
)
LOCKED = "000001010000Z"  # ppolicy: locked until an administrator unlocks


def person(
    base: str,
    key: str,
    uid: str,
    *,
    school: str = "HEC-TOURNAI",
    sn: str = "Dupont",
    enabled: bool = True,
) -> DesiredEntry:
    """A desired person entry as a mapping profile would produce it."""
    attributes: dict[str, str | tuple[str, ...]] = {
        "objectClass": PERSON_CLASSES,
        "uid": uid,
        "cn": f"Jean {sn}",
        "sn": sn,
        "givenName": "Jean",
        "mail": f"{uid}@ecampus.test",
        "eduPersonAffiliation": ("student", "member"),
        "ecampusManagedBy": "ecampus-idm",
        "ecampusPersonId": key,
        "ecampusAccountStatus": "active" if enabled else "disabled",
    }
    if not enabled:
        attributes["pwdAccountLockedTime"] = LOCKED
    return DesiredEntry(
        kind=EntryKind.PERSON,
        key=key,
        dn=build_dn("uid", uid, f"ou=people,{base}"),
        attributes=_tuples(attributes),
        owned=OWNED,
        enabled=enabled,
        segment=Segment("HE", school),
        initial_password=True,
    )


def _as_recorded(
    desired: Iterable[DesiredEntry], observed: Iterable[ObservedEntry]
) -> list[DesiredEntry]:
    """The desired state as the runner gives it once a created account is recorded.

    A person whose entry an earlier sync created is no longer a new account (a new account
    whose entry exists would get a fresh password: ``set_password``).
    """
    existing = {o.key for o in observed if o.managed and o.kind is EntryKind.PERSON}
    return [
        replace(d, initial_password=False)
        if d.kind is EntryKind.PERSON and d.key in existing
        else d
        for d in desired
    ]


def group(base: str, code: str, members: Iterable[DesiredEntry]) -> DesiredEntry:
    """A desired group of the given members."""
    return DesiredEntry(
        kind=EntryKind.GROUP,
        key=code,
        dn=build_dn("cn", code, f"ou=groups,{base}"),
        attributes={
            "objectClass": ("top", "groupOfNames", "ecampusManaged"),
            "cn": (code,),
            "ecampusManagedBy": ("ecampus-idm",),
        },
        owned=frozenset({"objectclass", "cn", "ecampusmanagedby"}),
        members=frozenset(m.dn for m in members),
        segment=Segment("HE", code),
    )


def _tuples(attributes: dict[str, str | tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return {k: (v,) if isinstance(v, str) else v for k, v in attributes.items()}


def _password(key: str) -> SecretStr:
    return SecretStr(f"Initial-{key}-Pass-2026")


class SyncContract:
    """Behaviour of read_snapshot → plan → apply on a real or in-memory directory."""

    def make_person(
        self,
        base: str,
        key: str,
        uid: str,
        *,
        school: str = "HEC-TOURNAI",
        sn: str = "Dupont",
        enabled: bool = True,
    ) -> DesiredEntry:
        """A desired person in this target's vocabulary (override per target)."""
        return person(base, key, uid, school=school, sn=sn, enabled=enabled)

    def make_group(self, base: str, code: str, members: Iterable[DesiredEntry]) -> DesiredEntry:
        """A desired group in this target's vocabulary (override per target)."""
        return group(base, code, members)

    def options(self, **overrides: Any) -> PlanOptions:
        """Plan options for this target, with ``overrides`` (override per target)."""
        return PlanOptions(**overrides)

    def unmanaged_entry(self, uid: str) -> dict[str, str | list[str]]:
        """Attributes of a person entry someone else created (override per target)."""
        return {"objectClass": "inetOrgPerson", "uid": uid, "cn": uid, "sn": "Local"}

    def check_initial_password(self, directory: Directory, dn: str, password: SecretStr) -> None:
        """Assert ``password`` is the account's initial password (override per target)."""
        directory.authenticate(dn, password)

    @pytest.fixture
    def directory(self) -> Directory:
        """The directory under test (override)."""
        raise NotImplementedError

    @pytest.fixture
    def base(self) -> str:
        """The suffix holding ou=people and ou=groups (override)."""
        raise NotImplementedError

    @pytest.fixture
    def spec(self, base: str) -> TargetSpec:
        """The OpenLDAP target description for that suffix."""
        return TargetSpec(
            containers={EntryKind.PERSON: f"ou=people,{base}", EntryKind.GROUP: f"ou=groups,{base}"}
        )

    def sync(
        self,
        directory: Directory,
        spec: TargetSpec,
        desired: list[DesiredEntry],
        options: PlanOptions | None = None,
    ) -> Plan:
        """Plan against a fresh snapshot and apply it; return the plan."""
        observed = list(read_snapshot(directory, spec))
        wanted = _as_recorded(desired, observed)
        result = plan(wanted, observed, options or self.options())
        report = apply(result, directory, spec, passwords=_password)
        assert report.ok, report.to_dict()
        return result

    def replan(self, directory: Directory, spec: TargetSpec, desired: list[DesiredEntry]) -> Plan:
        """Plan again without applying."""
        observed = list(read_snapshot(directory, spec))
        return plan(_as_recorded(desired, observed), observed, self.options())

    def test_create_then_replan_is_empty(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """A first run creates people and groups; the next plan has nothing to do."""
        people = [self.make_person(base, f"p{n}", f"user.{n}") for n in range(5)]
        desired = [*people, self.make_group(base, "HEC-TOURNAI", people)]
        first = self.sync(directory, spec, desired)
        assert first.counts() == {"create": 6}
        assert self.replan(directory, spec, desired).is_empty

    def test_initial_password_binds(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """A created person binds with the initial password from the password source."""
        jean = self.make_person(base, "p1", "jean.dupont")
        self.sync(directory, spec, [jean])
        self.check_initial_password(directory, jean.dn, _password("p1"))

    def test_update_forces_owned_and_keeps_foreign_attributes(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """An owned attribute is corrected; an attribute we do not own is kept."""
        jean = self.make_person(base, "p1", "jean.dupont")
        self.sync(directory, spec, [jean])
        directory.modify(
            jean.dn,
            [Modification.replace("sn", "Tampered"), Modification.replace("description", "kept")],
        )
        fix = self.sync(directory, spec, [jean])
        assert fix.counts() == {"update": 1}
        entry = directory.get(jean.dn)
        assert entry is not None
        assert entry.first("sn") == "Dupont"
        assert entry.first("description") == "kept"

    def test_unmanaged_entries_are_never_touched(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """An unmanaged entry at a desired DN is a conflict; unmanaged entries stay."""
        wanted = self.make_person(base, "p1", "jean.dupont")
        squatter = wanted.dn
        directory.add(squatter, self.unmanaged_entry("jean.dupont"))
        other = build_dn(parse_dn(squatter)[0][0][0], "admin.local", f"ou=people,{base}")
        directory.add(other, self.unmanaged_entry("admin.local"))
        result = self.sync(directory, spec, [wanted])
        assert result.is_empty
        assert [c.dn for c in result.conflicts] == [squatter]
        entry = directory.get(squatter)
        assert entry is not None
        assert spec.marker_attribute not in entry
        assert directory.get(other) is not None

    def test_rename_keeps_group_membership(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """A new username renames the entry; the group follows; the next plan is empty."""
        old = self.make_person(base, "p1", "jean.dupont")
        self.sync(directory, spec, [old, self.make_group(base, "HEC-TOURNAI", [old])])
        new = self.make_person(base, "p1", "jean.dupont-martin")
        desired = [new, self.make_group(base, "HEC-TOURNAI", [new])]
        result = self.sync(directory, spec, desired)
        assert result.counts() == {"rename": 1, "update": 1}  # the new address follows
        assert directory.get(old.dn) is None
        assert self.replan(directory, spec, desired).is_empty

    def test_move_between_schools_changes_groups(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """Moving a student from one school to another swaps the group membership."""
        jean = self.make_person(base, "p1", "jean.dupont")
        groups = [
            self.make_group(base, "HEC-TOURNAI", [jean]),
            self.make_group(base, "HEC-MONS", []),
        ]
        self.sync(directory, spec, [jean, *groups])
        moved = self.make_person(base, "p1", "jean.dupont", school="HEC-MONS")
        desired = [
            moved,
            self.make_group(base, "HEC-TOURNAI", []),
            self.make_group(base, "HEC-MONS", [moved]),
        ]
        result = self.sync(directory, spec, desired)
        assert result.counts() == {"add_member": 1, "remove_member": 1}
        mons = directory.get(groups[1].dn)
        assert mons is not None
        assert any("jean.dupont" in v for v in mons.get("member"))
        assert self.replan(directory, spec, desired).is_empty

    def test_leaver_is_disabled_then_deleted(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """Disabling locks the account (no bind); a later plan without it deletes it."""
        jean = self.make_person(base, "p1", "jean.dupont")
        self.sync(directory, spec, [jean, self.make_group(base, "HEC-TOURNAI", [jean])])
        disabled = self.make_person(base, "p1", "jean.dupont", enabled=False)
        result = self.sync(directory, spec, [disabled, self.make_group(base, "HEC-TOURNAI", [])])
        assert result.counts() == {"disable": 1, "remove_member": 1}
        with pytest.raises(InvalidCredentialsError):
            directory.authenticate(jean.dn, _password("p1"))
        gone = self.sync(directory, spec, [self.make_group(base, "HEC-TOURNAI", [])])
        assert gone.counts() == {"delete": 1}
        assert directory.get(jean.dn) is None

    def test_over_budget_plan_is_held_until_approved(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """A plan over its delete budget writes nothing until approved by its hash."""
        people = [self.make_person(base, f"p{n}", f"user.{n}") for n in range(8)]
        self.sync(directory, spec, people)
        options = self.options(budgets=(Budget(OpKind.DELETE, max_count=3),))
        held = plan(people[:2], read_snapshot(directory, spec), options)
        assert held.held
        assert "delete" in held.summary()
        with pytest.raises(PlanApprovalError):
            apply(held, directory, spec)
        with pytest.raises(PlanApprovalError):
            apply(held, directory, spec, approve="0" * 64)
        assert directory.get(people[7].dn) is not None
        report = apply(held, directory, spec, approve=held.hash)
        assert report.applied["delete"] == 6
        assert directory.get(people[7].dn) is None

    def test_stale_plan_is_refused(self, directory: Directory, base: str, spec: TargetSpec) -> None:
        """An entry changed after planning is not overwritten; the failure says stale."""
        jean = self.make_person(base, "p1", "jean.dupont")
        self.sync(directory, spec, [jean])
        renamed = replace(
            self.make_person(base, "p1", "jean.dupont", sn="Martin"), initial_password=False
        )
        pending = plan([renamed], read_snapshot(directory, spec), self.options())
        directory.modify(jean.dn, [Modification.replace("sn", "ChangedMeanwhile")])
        report = apply(pending, directory, spec)
        assert [f.stale for f in report.failures] == [True]
        entry = directory.get(jean.dn)
        assert entry is not None
        assert entry.first("sn") == "ChangedMeanwhile"

    def test_reapplying_a_plan_is_harmless(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """Applying the same creation plan twice reports the second pass as already done."""
        people = [self.make_person(base, f"p{n}", f"user.{n}") for n in range(3)]
        desired = [*people, self.make_group(base, "HEC-TOURNAI", people)]
        first = plan(desired, read_snapshot(directory, spec), self.options())
        assert apply(first, directory, spec, passwords=_password).ok
        again = apply(first, directory, spec, passwords=_password)
        assert again.ok
        assert again.already == 4
        assert not again.applied

    def test_plan_json_round_trips_and_never_holds_a_password(
        self, directory: Directory, base: str, spec: TargetSpec
    ) -> None:
        """A plan read back from JSON has the same hash and applies; no password inside."""
        jean = self.make_person(base, "p1", "jean.dupont")
        original = plan([jean], read_snapshot(directory, spec), self.options())
        text = original.to_json()
        assert _password("p1").get_secret_value() not in text
        restored = Plan.from_json(text)
        assert restored.hash == original.hash
        assert apply(restored, directory, spec, passwords=_password).ok
        assert directory.get(jean.dn) is not None
