"""Reviewing a plan: the diff per entry, the LDIF, saved plans read back, segment names."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecampus_idm.directory._ber import encode_filter
from ecampus_idm.directory.filters import eq
from ecampus_idm.sync import AttributeChange, EntryKind, Operation, OpKind, Plan, Segment
from ecampus_idm.sync.review import (
    MASK,
    PlanFileError,
    diff_lines,
    load_plan,
    plan_diff,
    plan_drift,
    plan_to_ldif,
)

BASE = "dc=ecampus,dc=test"
JEAN = f"uid=jean.dupont,ou=people,{BASE}"
ZOE = f"uid=zoe.lefevre,ou=people,{BASE}"
GROUP = f"cn=HEC-TOURNAI,ou=groups,{BASE}"
CANARY = "Canary-Review-Pw-4417"
SCHOOL = Segment("HE", "HEC-TOURNAI")


def _update(*changes: AttributeChange, version: str | None = "csn-1") -> Operation:
    return Operation(
        OpKind.UPDATE,
        EntryKind.PERSON,
        "p1",
        JEAN,
        segment=SCHOOL,
        changes=changes,
        expect_version=version,
    )


def _create_zoe(**extra: tuple[str, ...]) -> Operation:
    return Operation(
        OpKind.CREATE,
        EntryKind.PERSON,
        "p3",
        ZOE,
        segment=SCHOOL,
        attributes={
            "objectClass": ("inetOrgPerson",),
            "uid": ("zoe.lefevre",),
            "cn": ("Zoé Lefèvre",),
            "sn": ("Lefèvre",),
            **extra,
        },
        set_password=True,
    )


def _member(kind: OpKind, member: str) -> Operation:
    return Operation(kind, EntryKind.GROUP, "HEC-TOURNAI", GROUP, segment=SCHOOL, member=member)


def test_diff_shows_each_attribute_before_and_after() -> None:
    """An update is one entry, one line per attribute: before → after."""
    diff = plan_diff(
        Plan(
            (
                _update(
                    AttributeChange("sn", ("Dupont",), ("Martin",)),
                    AttributeChange("mail", ("old@x.be",), ()),
                ),
            )
        )
    )
    assert [(e.dn, e.operations) for e in diff] == [(JEAN, (OpKind.UPDATE,))]
    assert [(c.attribute, c.before, c.after) for c in diff[0].changes] == [
        ("sn", ("Dupont",), ("Martin",)),
        ("mail", ("old@x.be",), ()),
    ]
    lines = diff_lines(diff)
    assert lines[0] == f"~ {JEAN}  [update] (HEC-TOURNAI)"
    assert "    sn: Dupont → Martin" in lines
    assert "    mail: old@x.be → ∅" in lines


@pytest.mark.parametrize("attribute", ["userPassword", "unicodePwd", "sambaNTPassword"])
def test_diff_masks_secret_attributes(attribute: str) -> None:
    """A secret attribute's values are masked in the diff, its JSON and its lines."""
    diff = plan_diff(Plan((_update(AttributeChange(attribute, ("old",), (CANARY,))),)))
    change = diff[0].changes[0]
    assert change.masked
    assert change.after == (MASK,)
    assert CANARY not in json.dumps([e.to_dict() for e in diff])
    assert CANARY not in "\n".join(diff_lines(diff))


def test_diff_does_not_mask_password_policy_state() -> None:
    """ppolicy's lock and reset flags are shown: they are states, not secrets."""
    change = AttributeChange("pwdAccountLockedTime", (), ("000001010000Z",))
    assert plan_diff(Plan((_update(change),)))[0].changes[0].after == ("000001010000Z",)


def test_diff_lists_group_membership_changes() -> None:
    """Members added, removed and repaired are listed on the group's entry."""
    repair = Operation(
        OpKind.REPAIR_MEMBER,
        EntryKind.GROUP,
        "HEC-TOURNAI",
        GROUP,
        segment=SCHOOL,
        member=JEAN,
        changes=(AttributeChange("memberof", (), (GROUP,)),),
    )
    plan = Plan(
        (_member(OpKind.ADD_MEMBER, ZOE), _member(OpKind.REMOVE_MEMBER, JEAN + "x"), repair)
    )
    (entry,) = plan_diff(plan)
    assert entry.members_added == (ZOE,)
    assert entry.members_removed == (JEAN + "x",)
    assert entry.members_repaired == (JEAN,)
    assert entry.to_dict()["members"] == {
        "added": [ZOE],
        "removed": [JEAN + "x"],
        "repaired": [JEAN],
    }
    assert f"    member + {ZOE}" in diff_lines([entry])


def test_diff_of_a_new_group_lists_its_members() -> None:
    """A created group's members are members added, not an attribute line."""
    create = Operation(
        OpKind.CREATE,
        EntryKind.GROUP,
        "HEC-TOURNAI",
        GROUP,
        attributes={"objectClass": ("groupOfNames",), "cn": ("HEC-TOURNAI",), "member": (ZOE,)},
    )
    (entry,) = plan_diff(Plan((create,)))
    assert entry.members_added == (ZOE,)
    assert "member" not in {c.attribute for c in entry.changes}


def test_diff_of_a_create_says_the_password_is_made_at_apply_time() -> None:
    """A create shows every attribute from ∅ and that its password is not in the plan."""
    (entry,) = plan_diff(Plan((_create_zoe(),)))
    assert entry.initial_password
    assert entry.changes[0].attribute == "objectclass"
    assert all(c.before == () for c in entry.changes)
    assert any("jamais dans le plan" in line for line in diff_lines([entry]))


def _records(ldif: str) -> list[list[str]]:
    """The LDIF's records, comments dropped."""
    blocks = [b.strip("\n").split("\n") for b in ldif.split("\n\n")[1:]]
    return [[line for line in block if not line.startswith("#")] for block in blocks]


def test_ldif_of_a_create_is_an_add_with_base64_for_accents() -> None:
    """A name with an accent is base64 (RFC 2849), shown in clear in a comment above."""
    ldif = plan_to_ldif(Plan((_create_zoe(),)))
    assert ldif.startswith("version: 1\n")
    (record,) = _records(ldif)
    assert record[:2] == [f"dn: {ZOE}", "changetype: add"]
    encoded = base64.b64encode("Lefèvre".encode()).decode()
    assert f"sn:: {encoded}" in record
    assert f"# sn: Lefèvre\nsn:: {encoded}" in ldif


def test_ldif_never_holds_a_password() -> None:
    """Secret attributes are left out with a comment; set_password is a comment only."""
    reset = Operation(OpKind.SET_PASSWORD, EntryKind.PERSON, "p1", JEAN, set_password=True)
    plan = Plan(
        (
            _create_zoe(userPassword=(CANARY,)),
            reset,
            _update(AttributeChange("unicodePwd", (), (CANARY,))),
        )
    )
    ldif = plan_to_ldif(plan)
    assert CANARY not in ldif
    assert "# userpassword: omis / omitted (secret)" in ldif
    records = _records(ldif)
    assert len(records) == 3
    assert records[1:] == [[], []]  # no change record: nothing LDIF may say
    assert "mot de passe initial non inclus" in ldif


def test_ldif_rename_is_a_modrdn_with_its_precondition() -> None:
    """A rename to another container is modrdn + newsuperior, asserting the change stamp."""
    moved = Operation(
        OpKind.RENAME,
        EntryKind.PERSON,
        "p1",
        JEAN,
        new_dn=f"uid=jean.dupont-martin,ou=staff,{BASE}",
        expect_version="csn-1",
    )
    (record,) = _records(plan_to_ldif(Plan((moved,))))
    control = base64.b64encode(encode_filter(eq("entryCSN", "csn-1"))).decode()
    assert record == [
        f"dn: {JEAN}",
        f"control: 1.3.6.1.1.12 true:: {control}",
        "changetype: modrdn",
        "newrdn: uid=jean.dupont-martin",
        "deleteoldrdn: 1",
        f"newsuperior: ou=staff,{BASE}",
    ]


def test_ldif_without_assertions_keeps_the_precondition_as_a_comment() -> None:
    """On AD (no assertion control) the stamp is a comment, the modify still applies."""
    ldif = plan_to_ldif(
        Plan((_update(AttributeChange("sn", ("a",), ("b",))),)),
        version_attribute="uSNChanged",
        assertions=False,
    )
    assert "control:" not in ldif
    assert "(uSNChanged=csn-1)" in ldif
    assert _records(ldif) == [[f"dn: {JEAN}", "changetype: modify", "replace: sn", "sn: b", "-"]]


def test_ldif_groups_member_changes_per_group() -> None:
    """Member adds and removes of one group are one modify: add, then delete."""
    plan = Plan((_member(OpKind.ADD_MEMBER, ZOE), _member(OpKind.REMOVE_MEMBER, JEAN)))
    assert _records(plan_to_ldif(plan)) == [
        [
            f"dn: {GROUP}",
            "changetype: modify",
            "add: member",
            f"member: {ZOE}",
            "-",
            "delete: member",
            f"member: {JEAN}",
            "-",
        ]
    ]


@given(st.text(max_size=40))
def test_ldif_values_read_back_exactly(value: str) -> None:
    """Any value is written so that an RFC 2849 reader gets it back unchanged."""
    ldif = plan_to_ldif(Plan((_update(AttributeChange("description", (), (value,))),)))
    (record,) = _records(ldif)
    line = record[record.index("replace: description") + 1]
    if line.startswith("description:: "):
        assert base64.b64decode(line.removeprefix("description:: ")).decode() == value
    else:  # a SAFE-STRING: printable ASCII, no leading space, colon or "<", no end space
        assert line == (f"description: {value}" if value else "description:")
        assert value.isascii()
        assert value.isprintable()
        assert not value.startswith((" ", ":", "<"))
        assert not value.endswith(" ")


def _saved(tmp_path: Path, plan: Plan) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json(), "utf-8")
    return path


def test_load_plan_reads_back_a_saved_plan(tmp_path: Path) -> None:
    """A plan written by plan --out reads back with the same hash."""
    plan = Plan((_update(AttributeChange("sn", ("a",), ("b",))),))
    assert load_plan(_saved(tmp_path, plan)).hash == plan.hash


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such file"),
        ("version: 1\ndn: x\n", "LDIF"),
        ("{not json", "not JSON"),
        ('{"format": "ecampus-idm/plan/1"}', "expected 'ecampus-idm/plan/2'"),
        ("altered", "does not match its hash"),
    ],
    ids=["missing", "ldif", "not-json", "old-format", "altered"],
)
def test_load_plan_names_the_file_and_what_is_wrong(
    tmp_path: Path, content: str | None, says: str
) -> None:
    """An unusable plan file is a PlanFileError naming the file and the reason."""
    path = tmp_path / "plan.json"
    if content == "altered":
        document = json.loads(Plan((_update(AttributeChange("sn", ("a",), ("b",))),)).to_json())
        document["operations"][0]["changes"][0]["after"] = ["c"]
        path.write_text(json.dumps(document), "utf-8")
    elif content is not None:
        path.write_text(content, "utf-8")
    with pytest.raises(PlanFileError) as caught:
        load_plan(path)
    assert str(path) in str(caught.value)
    assert says in str(caught.value)
    assert caught.value.path == path


def test_drift_tells_changed_entries_from_new_and_gone_operations() -> None:
    """Same operation with another change stamp: changed since; the others: gone or new."""
    sn = AttributeChange("sn", ("a",), ("b",))
    saved = Plan((_update(sn, version="csn-1"), _member(OpKind.ADD_MEMBER, ZOE)))
    today = Plan((_update(sn, version="csn-2"), _member(OpKind.ADD_MEMBER, JEAN)))
    drift = plan_drift(saved, today)
    assert (drift.changed_since, drift.gone, drift.new, drift.conflicts) == (1, 1, 1, 0)
    message = drift.message("plans/p.json")
    assert message.startswith("plans/p.json : le plan relu")
    assert "rien n'a été écrit" in message
    assert "nothing was written" in message


def test_summary_explains_its_segments() -> None:
    """[-], a category and a school are each said in words, French first."""
    plan = Plan(
        (
            Operation(OpKind.DELETE, EntryKind.PERSON, "p1", JEAN),
            Operation(OpKind.DELETE, EntryKind.GROUP, "he", GROUP, segment=Segment("HE", "")),
            Operation(OpKind.DELETE, EntryKind.PERSON, "p3", ZOE, segment=SCHOOL),
        )
    )
    text = plan.summary({"HEC-TOURNAI": "Haute-Ecole Condorcet - Tournai"})
    assert "[-] hors école / no school: delete 1" in text
    assert "[HE] Haute École, toute la catégorie / whole category: delete 1" in text
    assert "[HEC-TOURNAI] Haute-Ecole Condorcet - Tournai: delete 1" in text
    assert plan.segment_labels()["-"] == "hors école / no school"
    assert "HEC-TOURNAI" not in plan.segment_labels()  # no name without the configuration
