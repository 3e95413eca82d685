"""The pure plan: diff rules, determinism, serialisation and budgets."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecampus_idm.sync import (
    Budget,
    DesiredEntry,
    EntryKind,
    ObservedEntry,
    OpKind,
    Plan,
    PlanIntegrityError,
    PlanOptions,
    Segment,
    plan,
)
from ecampus_idm.sync.budgets import check_budgets
from ecampus_idm.sync.model import Operation

BASE = "dc=ecampus,dc=test"
OWNED = frozenset({"objectclass", "uid", "sn", "mail", "ecampusmanagedby", "ecampuspersonid"})


def desired(key: str, uid: str, *, school: str = "S1", **extra: tuple[str, ...]) -> DesiredEntry:
    attributes = {
        "objectClass": ("inetOrgPerson", "ecampusPerson"),
        "uid": (uid,),
        "sn": ("Dupont",),
        "mail": (f"{uid}@x.be",),
        "ecampusManagedBy": ("ecampus-idm",),
        "ecampusPersonId": (key,),
        **extra,
    }
    return DesiredEntry(
        EntryKind.PERSON,
        key,
        f"uid={uid},ou=people,{BASE}",
        attributes,
        OWNED,
        segment=Segment("HE", school),
    )


def observed(
    entry: DesiredEntry, *, managed: bool = True, **changes: tuple[str, ...]
) -> ObservedEntry:
    attributes = dict(entry.attributes)
    attributes.update({k.lower(): v for k, v in changes.items()})
    if not managed:
        attributes.pop("ecampusmanagedby", None)
    return ObservedEntry(
        EntryKind.PERSON, entry.dn, entry.key if managed else None, managed, attributes, "v1"
    )


def group(code: str, members: list[DesiredEntry], school: str = "S1") -> DesiredEntry:
    return DesiredEntry(
        EntryKind.GROUP,
        code,
        f"cn={code},ou=groups,{BASE}",
        {"objectClass": ("groupOfNames",), "cn": (code,), "ecampusManagedBy": ("ecampus-idm",)},
        frozenset({"objectclass", "cn", "ecampusmanagedby"}),
        members=frozenset(m.dn for m in members),
        segment=Segment("HE", school),
    )


def observed_group(entry: DesiredEntry, members: list[str]) -> ObservedEntry:
    attributes = dict(entry.attributes)
    attributes["member"] = ("cn=nobody", *members)
    return ObservedEntry(EntryKind.GROUP, entry.dn, entry.key, True, attributes, "g1")


def test_identical_state_plans_nothing() -> None:
    """Desired equal to observed gives an empty plan."""
    jean = desired("p1", "jean")
    assert plan([jean], [observed(jean)]).is_empty


def test_value_order_and_dn_spelling_do_not_matter() -> None:
    """Multi-valued attributes compare as sets; member DNs compare normalised."""
    jean = desired("p1", "jean", description=("a", "b"))
    staff = group("STAFF", [jean])
    seen = observed(jean, description=("b", "a"))
    member = jean.dn.upper().replace(",", " , ")
    assert plan([jean, staff], [seen, observed_group(staff, [member])]).is_empty


def test_object_classes_are_only_added() -> None:
    """A class added by someone else stays; a missing class of ours is added."""
    jean = desired("p1", "jean")
    extra = observed(jean, objectClass=("inetOrgPerson", "posixAccount"))
    (op,) = plan([jean], [extra]).operations
    assert op.kind is OpKind.UPDATE
    (change,) = op.changes
    assert change.attribute == "objectclass"
    assert change.after == ("inetOrgPerson", "posixAccount", "ecampusPerson")


def test_unowned_attributes_are_ignored() -> None:
    """An attribute not in ``owned`` never produces a change."""
    jean = desired("p1", "jean")
    assert plan([jean], [observed(jean, telephoneNumber=("+32 65 00 00 00",))]).is_empty


def test_owned_attribute_absent_from_desired_is_removed() -> None:
    """An owned attribute the desired entry lacks is emptied."""
    jean = desired("p1", "jean")
    bare = DesiredEntry(
        jean.kind,
        jean.key,
        jean.dn,
        {k: v for k, v in jean.attributes.items() if k != "mail"},
        OWNED,
    )
    (op,) = plan([bare], [observed(jean)]).operations
    assert [(c.attribute, c.after) for c in op.changes] == [("mail", ())]


def test_modifies_carry_the_change_stamp() -> None:
    """Updates and deletes are conditioned on the version read in the snapshot."""
    jean, anne = desired("p1", "jean"), desired("p2", "anne")
    result = plan([jean], [observed(jean, sn=("Other",)), observed(anne)])
    assert {op.kind: op.expect_version for op in result.operations} == {
        OpKind.UPDATE: "v1",
        OpKind.DELETE: "v1",
    }


def test_duplicate_managed_keys_are_a_conflict() -> None:
    """Two managed entries claiming one key are neither updated nor deleted."""
    jean = desired("p1", "jean")
    twin = ObservedEntry(EntryKind.PERSON, f"uid=jean2,ou=people,{BASE}", "p1", True, {}, "v")
    result = plan([jean], [observed(jean), twin])
    assert result.is_empty
    assert [c.reason for c in result.conflicts] == ["several managed entries have this key"]


def test_rename_onto_a_taken_dn_is_a_conflict() -> None:
    """A rename whose target DN is held by another entry is refused."""
    jean = desired("p1", "jean")
    moved = desired("p1", "anne")
    holder = observed(desired("p9", "anne"), managed=False)
    result = plan([moved], [observed(jean), holder])
    assert result.is_empty
    assert result.conflicts[0].reason == "cannot rename: the new DN is taken"


def test_deleted_members_are_left_to_the_directory() -> None:
    """Removing a person does not also plan member removals (refint does it)."""
    jean, anne = desired("p1", "jean"), desired("p2", "anne")
    staff = group("STAFF", [jean])
    result = plan(
        [jean, staff], [observed(jean), observed(anne), observed_group(staff, [jean.dn, anne.dn])]
    )
    assert result.counts() == {"delete": 1}


def test_status_change_is_a_disable() -> None:
    """A change of a status attribute classifies the modify as disable."""
    jean = desired("p1", "jean", pwdAccountLockedTime=("000001010000Z",))
    owned = DesiredEntry(
        jean.kind,
        jean.key,
        jean.dn,
        jean.attributes,
        OWNED | {"pwdaccountlockedtime"},
        enabled=False,
    )
    (op,) = plan([owned], [observed(desired("p1", "jean"))]).operations
    assert op.kind is OpKind.DISABLE


@settings(max_examples=40, deadline=None)
@given(st.permutations(list(range(6))))
def test_plan_is_independent_of_input_order(order: list[int]) -> None:
    """Shuffling desired and observed inputs gives the same operations and hash."""
    people = [desired(f"p{n}", f"user{n}", school=f"S{n % 2}") for n in range(6)]
    seen = [observed(p, sn=("Changed",)) for p in people[:3]]
    reference = plan(people, seen)
    shuffled = plan([people[i] for i in order], [seen[i] for i in order if i < 3])
    assert shuffled.hash == reference.hash
    assert shuffled.operations == reference.operations


def test_json_round_trip_keeps_hash_and_operations() -> None:
    """A plan read back from JSON is the same plan."""
    people = [desired(f"p{n}", f"user{n}") for n in range(3)]
    original = plan(people, [observed(people[0], sn=("X",))])
    restored = Plan.from_json(original.to_json())
    assert restored.hash == original.hash
    assert restored.operations == original.operations


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["operations"][0].update(dn="uid=victim,ou=people,dc=ecampus,dc=test"),
        lambda d: d.update(format="something/else"),
        lambda d: d.update(hash="0" * 64),
    ],
    ids=["changed-operation", "wrong-format", "wrong-hash"],
)
def test_tampered_plan_is_refused(tamper: object) -> None:
    """Changing a serialised plan's content makes it unreadable as a plan."""
    data = json.loads(plan([desired("p1", "jean")], []).to_json())
    tamper(data)  # type: ignore[operator]
    with pytest.raises(PlanIntegrityError):
        Plan.from_json(json.dumps(data))


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"format": "ecampus-idm/plan/1"}'], ids=["text", "list", "empty"]
)
def test_garbage_is_not_a_plan(text: str) -> None:
    """Anything that is not a plan raises PlanIntegrityError, not a JSON error."""
    with pytest.raises(PlanIntegrityError):
        Plan.from_json(text)


def test_summary_names_counts_budgets_and_approval() -> None:
    """A held plan's summary lists counts per school, the tripped budget and the hash."""
    people = [desired(f"p{n}", f"user{n}", school="S1") for n in range(20)]
    options = PlanOptions(
        budgets=(Budget(OpKind.DELETE, max_count=5, per="school"),),
        segment_of=lambda _: Segment("HE", "S1"),
    )
    held = plan([], [observed(p) for p in people], options)
    text = held.summary()
    assert "HELD" in text
    assert "[S1] delete 20" in text
    assert "exceeds the budget delete ≤ 5 per school" in text
    assert held.hash in text


def test_empty_plan_summary() -> None:
    """An empty plan says there is nothing to do."""
    assert "nothing to do" in plan([], []).summary()


def _deletes(school: str, count: int) -> list[Operation]:
    return [
        Operation(
            OpKind.DELETE,
            EntryKind.PERSON,
            f"{school}{n}",
            f"uid={school}{n}",
            Segment("HE", school),
        )
        for n in range(count)
    ]


@pytest.mark.parametrize(
    ("budget", "deletes", "base", "trips"),
    [
        (Budget(OpKind.DELETE, max_count=3), 3, 100, False),
        (Budget(OpKind.DELETE, max_count=3), 4, 100, True),
        (Budget(OpKind.DELETE, max_percent=2.0, floor=5), 5, 100, False),
        (Budget(OpKind.DELETE, max_percent=2.0, floor=5), 6, 100, True),
        (Budget(OpKind.DELETE, max_percent=10.0, floor=0), 10, 100, False),
        (Budget(OpKind.DELETE, max_percent=10.0, floor=0), 11, 100, True),
        (Budget(OpKind.DISABLE, max_count=0), 50, 100, False),
    ],
    ids=[
        "count-at-limit",
        "count-over",
        "under-floor",
        "percent-over",
        "percent-at",
        "percent-over-no-floor",
        "other-kind",
    ],
)
def test_budget_thresholds(budget: Budget, deletes: int, base: int, trips: bool) -> None:
    """Counts and percentages trip exactly past their limits."""
    tripped = check_budgets(_deletes("S1", deletes), [budget], {Segment("HE", "S1"): base}, {})
    assert bool(tripped) is trips


def test_budget_per_school_names_the_school() -> None:
    """A per-school budget trips for the school that exceeds it only."""
    operations = _deletes("S1", 2) + _deletes("S2", 8)
    bases = {Segment("HE", "S1"): 10, Segment("HE", "S2"): 10}
    (tripped,) = check_budgets(
        operations, [Budget(OpKind.DELETE, max_percent=50, per="school", floor=1)], bases, {}
    )
    assert tripped.scope == "S2"
    assert tripped.count == 8
    assert "80.0 % of 10" in tripped.message


# -- issue 13: operations named by what they do; frozen persons; back-links -------------


def _with_status(entry: DesiredEntry, status: str, *, enabled: bool = True) -> DesiredEntry:
    attributes = {**entry.attributes, "ecampusAccountStatus": (status,)}
    return replace(
        entry,
        attributes=attributes,
        owned=entry.owned | {"ecampusaccountstatus"},
        enabled=enabled,
        status=status,
    )


@pytest.mark.parametrize(
    ("was", "now", "kind"),
    [
        ("active", "grace", OpKind.GRACE),
        ("grace", "disabled", OpKind.DISABLE),
        ("grace", "active", OpKind.REACTIVATE),
        ("disabled", "active", OpKind.REACTIVATE),
    ],
)
def test_status_change_is_named_by_its_effect(was: str, now: str, kind: OpKind) -> None:
    """active → grace is a grace (it was planned as "enable"), and so on."""
    jean = desired("p1", "jean")
    target = _with_status(jean, now, enabled=now != "disabled")
    (op,) = plan([target], [observed(_with_status(jean, was))]).operations
    assert op.kind is kind


def test_grace_has_a_budget() -> None:
    """Thousands of people moved to grace at once are held like deletes are."""
    people = [desired(f"p{n}", f"u{n}") for n in range(200)]
    seen = [observed(_with_status(p, "active")) for p in people]
    result = plan([_with_status(p, "grace") for p in people], seen)
    assert result.counts() == {"grace": 200}
    assert result.held
    assert any(t.budget.kind is OpKind.GRACE for t in result.tripped)


def test_frozen_person_gets_no_operation_of_any_kind() -> None:
    """Status, attributes, memberships and deletes of a frozen person are all deferred."""
    jean, anne = desired("p1", "jean"), desired("p2", "anne")
    staff, old = group("STAFF", [anne]), group("OLD", [])
    seen = [
        observed(_with_status(jean, "active")),
        observed(anne, sn=("Before",)),
        observed_group(staff, [jean.dn]),
        observed_group(old, [jean.dn]),
    ]
    wanted = [_with_status(jean, "grace"), anne, staff]
    free = plan(wanted, seen)
    assert free.counts() == {
        "grace": 1,
        "update": 1,
        "add_member": 1,
        "remove_member": 1,
        "delete": 1,
    }
    frozen = plan(wanted, seen, frozen={"p1"})
    assert [(op.kind, op.key) for op in frozen.operations] == [
        (OpKind.UPDATE, "p2"),
        (OpKind.ADD_MEMBER, "STAFF"),
    ]
    assert frozen.deferred == 3
    assert Plan.from_json(frozen.to_json()).deferred == 3


def test_frozen_person_is_left_out_of_a_new_group() -> None:
    """A group created tonight does not list a frozen person (their roles are unknown)."""
    jean, anne = desired("p1", "jean"), desired("p2", "anne")
    team = group("TEAM", [jean, anne])
    result = plan([jean, anne, team], [observed(jean), observed(anne)], frozen={"p1"})
    (create,) = result.operations
    assert create.attributes["member"] == ("cn=nobody", anne.dn)  # the placeholder stays


def test_persons_are_created_before_groups() -> None:
    """A group must never be added before its members exist (they would lack memberOf)."""
    people = [desired(f"p{n}", f"u{n}") for n in range(3)]
    result = plan([group("ALL", people), *people], [])
    kinds = [op.entry_kind for op in result.operations]
    assert kinds == [EntryKind.PERSON] * 3 + [EntryKind.GROUP]


def test_existing_entry_of_a_new_account_gets_a_password() -> None:
    """An add that reached the directory unconfirmed: the entry gets a password we hold."""
    jean = replace(desired("p1", "jean"), initial_password=True)
    (op,) = plan([jean], [observed(jean)]).operations
    assert (op.kind, op.set_password, op.expect_version) == (OpKind.SET_PASSWORD, True, None)


def _back_linked(entry: DesiredEntry, *groups: str) -> ObservedEntry:
    seen = observed(entry)
    attributes = {**seen.attributes, "memberof": tuple(groups)}
    return replace(seen, attributes=attributes)


def test_member_of_drift_is_planned_as_repairs() -> None:
    """Missing and stale back-links become repairs; agreeing ones plan nothing."""
    jean, anne = desired("p1", "jean"), desired("p2", "anne")
    staff, team = group("STAFF", [jean, anne]), group("TEAM", [])
    options = PlanOptions(member_of_attribute="memberof")
    seen = [
        _back_linked(jean, team.dn),  # lacks STAFF, has TEAM that does not list it
        _back_linked(anne, staff.dn.upper()),  # agrees (spelling aside)
        observed_group(staff, [jean.dn, anne.dn]),
        observed_group(team, []),
    ]
    result = plan([jean, anne, staff, team], seen, options)
    repairs = {(op.key, op.member, op.changes[0].after) for op in result.operations}
    assert repairs == {("STAFF", jean.dn, (staff.dn,)), ("TEAM", jean.dn, ())}
    assert {op.kind for op in result.operations} == {OpKind.REPAIR_MEMBER}
    assert plan([jean, anne, staff, team], seen).is_empty  # a target without back-links


def test_a_membership_this_plan_changes_is_not_also_repaired() -> None:
    """The add itself writes the back-link: no repair on top of it."""
    jean = desired("p1", "jean")
    staff = group("STAFF", [jean])
    options = PlanOptions(member_of_attribute="memberof")
    result = plan([jean, staff], [_back_linked(jean), observed_group(staff, [])], options)
    assert result.counts() == {"add_member": 1}


# -- issue 14: the engine owns its permanent lock, never ppolicy's lockout --------------

LOCKOUT = "20261205061500Z"  # what ppolicy stamps after too many failed binds


def _lock_owned(entry: DesiredEntry, *, locked: bool) -> DesiredEntry:
    attributes = dict(entry.attributes)
    if locked:
        attributes["pwdAccountLockedTime"] = ("000001010000Z",)
    return replace(
        entry,
        attributes=attributes,
        owned=entry.owned | {"pwdaccountlockedtime"},
        enabled=not locked,
    )


def test_a_lockout_after_failed_binds_is_not_the_engines_to_remove() -> None:
    """An active account locked out by ppolicy plans nothing (it planned a REACTIVATE)."""
    jean = _lock_owned(desired("p1", "jean"), locked=False)
    result = plan([jean], [observed(jean, pwdAccountLockedTime=(LOCKOUT,))])
    assert result.operations == ()


def test_the_permanent_lock_is_still_removed_on_reactivation() -> None:
    """The engine's own lock goes when the account is active again."""
    jean = _lock_owned(desired("p1", "jean"), locked=False)
    (op,) = plan([jean], [observed(jean, pwdAccountLockedTime=("000001010000Z",))]).operations
    assert op.kind is OpKind.REACTIVATE
    (change,) = op.changes
    assert change.after == ()


def test_disabling_a_locked_out_account_writes_the_permanent_lock() -> None:
    """Disable replaces ppolicy's timestamp with the permanent lock."""
    jean = _lock_owned(desired("p1", "jean"), locked=True)
    (op,) = plan([jean], [observed(jean, pwdAccountLockedTime=(LOCKOUT,))]).operations
    assert op.kind is OpKind.DISABLE
    (change,) = op.changes
    assert change.after == ("000001010000Z",)
