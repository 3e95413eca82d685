"""Plans people can review: the diff entry by entry, the LDIF, a saved plan read back.

A :class:`~ecampus_idm.sync.plan.Plan` is what apply will do; this module shows it to the
people who approve it and lets them take it elsewhere:

* :func:`plan_diff` — one :class:`EntryDiff` per entry the plan touches, with each
  attribute before → after and the group memberships added, removed or repaired. The
  values of secret attributes (``userPassword``, ``unicodePwd``, any ``*password*``) are
  masked; :func:`diff_lines` prints it for a terminal.
* :func:`plan_to_ldif` — the plan as RFC 2849 change records (``add``, ``modify``,
  ``modrdn``, ``delete``) that ``ldapmodify`` applies. Non-ASCII values are base64, with
  the value in clear in a comment above; every modify, modrdn and delete carries the
  entry's change stamp as an RFC 4528 assertion control, so a stale LDIF is refused as
  apply would refuse it. No password is ever written: initial passwords are made at
  apply time (a comment says where one would be), secret attributes are left out.
* :func:`load_plan` — reads a plan written by ``plan --out``, with an error naming the
  file and what is wrong with it; :func:`plan_drift` says how a saved plan and today's
  differ when their hashes do.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from ecampus_idm.directory._ber import encode_filter
from ecampus_idm.directory.dn import normalize_dn, parent_dn, parse_dn, rdn
from ecampus_idm.directory.filters import eq
from ecampus_idm.errors import IdmError
from ecampus_idm.sync.model import EntryKind, Operation, OpKind, Segment
from ecampus_idm.sync.plan import FORMAT, Plan, PlanIntegrityError

__all__ = [
    "MASK",
    "EntryDiff",
    "PlanDrift",
    "PlanFileError",
    "ValueChange",
    "diff_lines",
    "is_secret",
    "load_plan",
    "plan_diff",
    "plan_drift",
    "plan_to_ldif",
]

MASK = "********"
"""What a secret attribute's value is shown as."""

_SECRET_ATTRIBUTES = frozenset(
    {"unicodepwd", "dbcspwd", "ntpwdhistory", "lmpwdhistory", "supplementalcredentials"}
)
_ASSERTION_OID = "1.3.6.1.1.12"  # RFC 4528
_EMPTY = "∅"


def is_secret(attribute: str) -> bool:
    """Whether the values of ``attribute`` are secrets (never shown, never in an LDIF).

    ``userPassword``, ``authPassword``, ``sambaNTPassword``... (any name containing
    ``password``) and AD's ``unicodePwd`` and password hashes. ppolicy's state attributes
    (``pwdReset``, ``pwdAccountLockedTime``) are not secrets.
    """
    folded = attribute.casefold()
    return "password" in folded or folded in _SECRET_ATTRIBUTES


@dataclass(frozen=True)
class ValueChange:
    """One attribute of one entry, before and after the plan.

    Attributes:
        attribute: The attribute name.
        before: Its values now (empty for a create or an attribute that is added).
        after: Its values after the plan (empty when it is removed).
        masked: Whether the values are a secret's, shown as :data:`MASK`.
    """

    attribute: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    masked: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "attribute": self.attribute,
            "before": list(self.before),
            "after": list(self.after),
            "masked": self.masked,
        }


@dataclass(frozen=True)
class EntryDiff:
    """Everything a plan does to one entry.

    Attributes:
        dn: The entry's DN before the plan.
        entry_kind: Person or group.
        key: The managed entry's key.
        segment: Its school or category.
        operations: The plan's operations on it, in apply order.
        new_dn: Where a rename moves it.
        changes: Attribute by attribute, before → after (secrets masked).
        members_added: Member DNs a group gains (a new group: all its members).
        members_removed: Member DNs a group loses.
        members_repaired: Members whose ``memberOf`` back-link is rewritten.
        initial_password: Whether an initial password is set (made at apply time; never
            in the plan).
    """

    dn: str
    entry_kind: EntryKind
    key: str
    segment: Segment
    operations: tuple[OpKind, ...]
    new_dn: str | None = None
    changes: tuple[ValueChange, ...] = ()
    members_added: tuple[str, ...] = ()
    members_removed: tuple[str, ...] = ()
    members_repaired: tuple[str, ...] = ()
    initial_password: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "dn": self.dn,
            "entry_kind": self.entry_kind.value,
            "key": self.key,
            "segment": str(self.segment),
            "operations": [kind.value for kind in self.operations],
            "new_dn": self.new_dn,
            "changes": [change.to_dict() for change in self.changes],
            "members": {
                "added": list(self.members_added),
                "removed": list(self.members_removed),
                "repaired": list(self.members_repaired),
            },
            "initial_password": self.initial_password,
        }


def _masked(attribute: str, values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(MASK for _ in values) if is_secret(attribute) else values


def _value_change(attribute: str, before: tuple[str, ...], after: tuple[str, ...]) -> ValueChange:
    return ValueChange(
        attribute, _masked(attribute, before), _masked(attribute, after), is_secret(attribute)
    )


@dataclass
class _Collecting:
    first: Operation
    operations: list[OpKind]
    new_dn: str | None = None
    changes: list[ValueChange] | None = None
    added: list[str] | None = None
    removed: list[str] | None = None
    repaired: list[str] | None = None
    password: bool = False

    def freeze(self) -> EntryDiff:
        return EntryDiff(
            dn=self.first.dn,
            entry_kind=self.first.entry_kind,
            key=self.first.key,
            segment=self.first.segment,
            operations=tuple(dict.fromkeys(self.operations)),
            new_dn=self.new_dn,
            changes=tuple(self.changes or ()),
            members_added=tuple(self.added or ()),
            members_removed=tuple(self.removed or ()),
            members_repaired=tuple(self.repaired or ()),
            initial_password=self.password,
        )


def plan_diff(plan: Plan, *, member_attribute: str = "member") -> tuple[EntryDiff, ...]:
    """Every entry the plan touches, attribute by attribute, in apply order.

    Args:
        plan: The plan to show.
        member_attribute: The group membership attribute (a new group's members are
            listed as members added, not as an attribute).

    Returns:
        One :class:`EntryDiff` per entry, in the order of its first operation.
    """
    member = member_attribute.lower()
    entries: dict[tuple[EntryKind, str], _Collecting] = {}
    for op in plan.operations:
        entry = entries.setdefault((op.entry_kind, op.key), _Collecting(op, []))
        entry.operations.append(op.kind)
        changes = entry.changes = entry.changes or []
        if op.kind is OpKind.CREATE:
            for attribute, values in _add_order(op.attributes):
                if op.entry_kind is EntryKind.GROUP and attribute == member:
                    entry.added = [*(entry.added or ()), *values]
                else:
                    changes.append(_value_change(attribute, (), values))
        elif op.kind is OpKind.RENAME:
            entry.new_dn = op.new_dn
        elif op.kind is OpKind.ADD_MEMBER and op.member is not None:
            entry.added = [*(entry.added or ()), op.member]
        elif op.kind is OpKind.REMOVE_MEMBER and op.member is not None:
            entry.removed = [*(entry.removed or ()), op.member]
        elif op.kind is OpKind.REPAIR_MEMBER and op.member is not None:
            entry.repaired = [*(entry.repaired or ()), op.member]
        else:
            changes.extend(_value_change(c.attribute, c.before, c.after) for c in op.changes)
        entry.password = entry.password or op.set_password
    return tuple(entry.freeze() for entry in entries.values())


def _values(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else _EMPTY


_SIGNS = {
    OpKind.CREATE: "+",
    OpKind.DELETE: "-",
    OpKind.RENAME: ">",
}


def diff_lines(diff: Iterable[EntryDiff]) -> list[str]:
    """The diff for a terminal: one header per entry, one line per attribute or member.

    Example::

        ~ uid=jdupont,ou=people,dc=ecampus,dc=be  [update] (HEC-TOURNAI)
            sn: Dupont → Dupont-Martin
        + cn=he-students,ou=groups,dc=ecampus,dc=be  [create] (HE)
            member + uid=jdupont,ou=people,dc=ecampus,dc=be
    """
    lines: list[str] = []
    for entry in diff:
        sign = _SIGNS.get(entry.operations[0], "~") if entry.operations else "~"
        kinds = ", ".join(kind.value for kind in entry.operations)
        lines.append(f"{sign} {entry.dn}  [{kinds}] ({entry.segment})")
        if entry.new_dn is not None:
            lines.append(f"    dn → {entry.new_dn}")
        lines.extend(
            f"    {c.attribute}: {_values(c.before)} → {_values(c.after)}" for c in entry.changes
        )
        if entry.initial_password:
            lines.append(
                "    mot de passe initial : généré à l'application, jamais dans le plan"
                " / initial password: generated at apply time, never in the plan"
            )
        lines.extend(f"    member + {dn}" for dn in entry.members_added)
        lines.extend(f"    member − {dn}" for dn in entry.members_removed)
        lines.extend(
            f"    member ↻ {dn} (memberOf réécrit / rewritten)" for dn in entry.members_repaired
        )
    return lines


# -- LDIF ------------------------------------------------------------------------------


def _add_order(attributes: Mapping[str, tuple[str, ...]]) -> list[tuple[str, tuple[str, ...]]]:
    """Object classes first (what the entry is), then the attributes by name."""
    return sorted(attributes.items(), key=lambda item: (item[0] != "objectclass", item[0]))


def _safe(value: str) -> bool:
    """Whether ``value`` may be written as is: a SAFE-STRING (RFC 2849) of printable ASCII.

    RFC 2849 would allow control characters too; they go to base64 here so that every
    line reads as it is and no tool takes one for a line break.
    """
    if not value:
        return True
    if value[0] in " :<" or value.endswith(" "):
        return False
    return value.isascii() and value.isprintable()


def _line(name: str, value: str) -> list[str]:
    """``name: value``, or ``name:: base64`` with the value in clear in a comment above."""
    if _safe(value):
        return [f"{name}: {value}" if value else f"{name}:"]
    encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
    readable = [f"# {name}: {value}"] if value.isprintable() else []
    return [*readable, f"{name}:: {encoded}"]


def _header(op: Operation, what: str, detail: str = "") -> list[str]:
    """``# update person p123 (HEC-TOURNAI)``: what the record does, to whom."""
    return [f"# {what} {op.entry_kind.value} {op.key} ({op.segment}){detail}"]


def _precondition(op: Operation, version_attribute: str | None, assertions: bool) -> list[str]:
    if op.expect_version is None or version_attribute is None:
        return []
    text = f"({version_attribute}={op.expect_version})"
    if not assertions:
        return [f"# précondition non vérifiée par ldapmodify / precondition not checked: {text}"]
    control = base64.b64encode(encode_filter(eq(version_attribute, op.expect_version)))
    return [
        f"# précondition / precondition: {text}",
        f"control: {_ASSERTION_OID} true:: {control.decode('ascii')}",
    ]


_LEFT_OUT = (
    "# mot de passe initial non inclus : le prochain « ecampus-idm run » en donne un"
    " / initial password not included: the next ecampus-idm run sets one"
)


def _record(op: Operation, version_attribute: str | None, assertions: bool) -> list[str]:
    """The change record of one operation (comments only when LDIF cannot say it)."""
    dn = _line("dn", op.dn)
    stamp = _precondition(op, version_attribute, assertions)
    if op.kind is OpKind.CREATE:
        body = [*dn, "changetype: add"]
        for attribute, values in _add_order(op.attributes):
            if is_secret(attribute):
                body.append(f"# {attribute}: omis / omitted (secret)")
                continue
            body.extend(line for value in values for line in _line(attribute, value))
        if op.set_password:
            body.append(_LEFT_OUT)
        return [*_header(op, "create"), *body]
    if op.kind is OpKind.DELETE:
        return [*_header(op, "delete"), *dn, *stamp, "changetype: delete"]
    if op.kind is OpKind.RENAME:
        assert op.new_dn is not None  # noqa: S101 - a rename always has a target
        new_rdn = "+".join(rdn(kind, value) for kind, value in parse_dn(op.new_dn)[0])
        body = [*dn, *stamp, "changetype: modrdn", *_line("newrdn", new_rdn), "deleteoldrdn: 1"]
        new_parent = parent_dn(op.new_dn)
        if normalize_dn(new_parent) != normalize_dn(parent_dn(op.dn)):
            body.extend(_line("newsuperior", new_parent))
        return [*_header(op, "rename", f" → {op.new_dn}"), *body]
    if op.kind is OpKind.SET_PASSWORD:
        return [*_header(op, "set_password"), f"# {op.dn}", _LEFT_OUT]
    modifications: list[str] = []
    for change in op.changes:
        if is_secret(change.attribute):
            modifications.append(f"# {change.attribute}: omis / omitted (secret)")
            continue
        modifications.append(f"replace: {change.attribute}")
        modifications.extend(line for v in change.after for line in _line(change.attribute, v))
        modifications.append("-")
    if not any(line == "-" for line in modifications):
        return [*_header(op, op.kind.value), f"# {op.dn}", *modifications]
    return [*_header(op, op.kind.value), *dn, *stamp, "changetype: modify", *modifications]


def _member_records(operations: list[Operation], attribute: str) -> list[list[str]]:
    """One modify per group: its members added, then removed (as apply does)."""
    records: list[list[str]] = []
    by_group: dict[str, list[Operation]] = {}
    for op in operations:
        by_group.setdefault(normalize_dn(op.dn), []).append(op)
    for ops in by_group.values():
        adds = [o.member for o in ops if o.kind is OpKind.ADD_MEMBER and o.member]
        removes = [o.member for o in ops if o.kind is OpKind.REMOVE_MEMBER and o.member]
        lines = [
            *_header(ops[0], "/".join(dict.fromkeys(o.kind.value for o in ops))),
            *_line("dn", ops[0].dn),
            "changetype: modify",
        ]
        for verb, members in (("add", adds), ("delete", removes)):
            if members:
                lines.append(f"{verb}: {attribute}")
                lines.extend(line for m in members for line in _line(attribute, m))
                lines.append("-")
        records.append(lines)
    return records


def _repair_record(op: Operation, attribute: str) -> list[str]:
    """Delete then add the member (or the reverse): the memberof overlay writes it again."""
    assert op.member is not None  # noqa: S101 - a repair names its member
    missing = bool(op.changes and op.changes[0].after)
    verbs = ("delete", "add") if missing else ("add", "delete")
    lines = [
        *_header(op, "repair_member", f": {op.member}"),
        *_line("dn", op.dn),
        "changetype: modify",
    ]
    for verb in verbs:
        lines.extend([f"{verb}: {attribute}", *_line(attribute, op.member), "-"])
    return lines


def plan_to_ldif(
    plan: Plan,
    *,
    member_attribute: str = "member",
    version_attribute: str | None = "entryCSN",
    assertions: bool = True,
) -> str:
    """The plan as an LDIF of change records, in apply order, for ``ldapmodify``.

    Args:
        plan: The plan.
        member_attribute: The group membership attribute.
        version_attribute: The change stamp the preconditions compare (``entryCSN``;
            ``uSNChanged`` on AD); ``None`` writes no precondition.
        assertions: Whether the preconditions are assertion controls (RFC 4528) that
            ``ldapmodify`` sends; AD has none, so there they are comments.

    Returns:
        The LDIF text (UTF-8; only comments hold non-ASCII characters). It holds names
        and addresses: write it with :func:`ecampus_idm.files.write_private`.
    """
    lines = [
        "version: 1",
        f"# ecampus-idm plan {plan.hash} ({FORMAT}): {len(plan.operations)} opération(s)",
        "# Appliquer / apply: ldapmodify -H ldaps://... -D <bind DN> -W -f <ce fichier / file>",
        "# Aucun mot de passe dans ce fichier : les comptes créés ainsi n'en ont pas ;"
        " le prochain « ecampus-idm run » leur en donne un (set_password) et l'envoie.",
        "# No password in this file: accounts created from it have none; the next"
        " ecampus-idm run gives each one (set_password) and mails it.",
    ]
    if version_attribute is not None and assertions:
        lines.append(
            f"# Préconditions : une entrée modifiée depuis le plan ({version_attribute} changé)"
            " est refusée (Assertion Failed, 122) / an entry changed since is refused."
        )
    if plan.held:
        lines.append(
            "# RETENU / HELD: " + "; ".join(t.message for t in plan.tripped) + " — relire / review"
        )
    lines.extend(f"# conflit / conflict: {c.dn}: {c.reason}" for c in plan.conflicts)
    records: list[list[str]] = []

    def batch(op: Operation) -> str:
        return "members" if op.kind in (OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER) else "one"

    for kind, group in groupby(plan.operations, key=batch):
        operations = list(group)
        if kind == "members":
            records.extend(_member_records(operations, member_attribute))
            continue
        for op in operations:
            if op.kind is OpKind.REPAIR_MEMBER:
                records.append(_repair_record(op, member_attribute))
            else:
                records.append(_record(op, version_attribute, assertions))
    text = "\n".join(lines) + "\n"
    for record in records:
        text += "\n" + "\n".join(record) + "\n"
    return text


# -- saved plans -----------------------------------------------------------------------


class PlanFileError(IdmError):
    """A file given as a saved plan cannot be used; nothing was read from the directory.

    Attributes:
        path: The file.
        reason: What is wrong with it, French then English.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: pas un plan utilisable / not a usable plan: {reason}")


def load_plan(path: Path) -> Plan:
    """Read a plan written by ``ecampus-idm plan --out`` (its hash checked).

    Raises:
        PlanFileError: If the file is missing or unreadable, is an LDIF, is not JSON,
            is not a plan of format ``ecampus-idm/plan/2``, or was altered since it was
            written (its content no longer matches its hash).
    """
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as exc:
        raise PlanFileError(path, "fichier introuvable / no such file") from exc
    except UnicodeDecodeError as exc:
        raise PlanFileError(path, "pas du texte UTF-8 / not UTF-8 text") from exc
    except OSError as exc:
        raise PlanFileError(path, f"illisible / unreadable ({exc.strerror})") from exc
    start = text.lstrip()
    if start.startswith(("version:", "dn:", "#")):
        raise PlanFileError(
            path,
            "c'est un LDIF (plan --format ldif) : appliquez-le avec ldapmodify, ou enregistrez"
            " le plan avec plan --out / this is an LDIF: apply it with ldapmodify, or save the"
            " plan with plan --out (JSON)",
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"ligne / line {exc.lineno}, colonne / column {exc.colno}"
        raise PlanFileError(path, f"pas du JSON / not JSON ({where})") from exc
    found = data.get("format") if isinstance(data, dict) else None
    if found != FORMAT:
        raise PlanFileError(
            path, f"format {found!r}, attendu / expected {FORMAT!r} (fichier de plan --out)"
        )
    try:
        return Plan.from_json(text)
    except PlanIntegrityError as exc:
        if "does not match its hash" in str(exc):
            raise PlanFileError(
                path,
                "son contenu ne correspond plus à son hash (modifié depuis ?) / its content"
                " does not match its hash (edited since it was saved?)",
            ) from exc
        raise PlanFileError(path, str(exc)) from exc


@dataclass(frozen=True)
class PlanDrift:
    """How a saved plan and today's differ (their hashes do).

    Attributes:
        saved_hash: The saved plan's hash.
        current_hash: Today's plan's hash.
        changed_since: Operations on entries changed in the directory since the saved plan
            was made: same operation, another change stamp (its precondition no longer
            holds).
        gone: Operations of the saved plan that today's no longer has.
        new: Operations today's plan has that the saved one had not.
        conflicts: Conflicts found in only one of the two.
    """

    saved_hash: str
    current_hash: str
    changed_since: int
    gone: int
    new: int
    conflicts: int

    def message(self, origin: str) -> str:
        """The sentence for the run report (French, then English)."""
        return (
            f"{origin} : le plan relu ({self.saved_hash[:12]}) n'est plus celui d'aujourd'hui"
            f" ({self.current_hash[:12]}) : {self.changed_since} opération(s) sur des entrées"
            f" modifiées depuis (préconditions), {self.gone} disparue(s), {self.new}"
            f" nouvelle(s), {self.conflicts} conflit(s) différent(s) ; rien n'a été écrit,"
            " refaites plan --out et relisez / the reviewed plan is stale: "
            f"{self.changed_since} on entries changed since, {self.gone} gone, {self.new} new,"
            f" {self.conflicts} conflict(s) differ; nothing was written, plan again and review"
        )


def _canonical(op: Operation, *, stamp: bool = True) -> str:
    data = op.to_dict()
    if not stamp:
        data.pop("expect_version", None)
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def plan_drift(saved: Plan, current: Plan) -> PlanDrift:
    """Compare a saved plan with today's, operation by operation."""
    before = Counter(_canonical(op) for op in saved.operations)
    after = Counter(_canonical(op) for op in current.operations)
    gone = before - after
    new = after - before
    unstamped_gone = Counter(
        _canonical(op, stamp=False) for op in saved.operations if gone[_canonical(op)]
    )
    unstamped_new = Counter(
        _canonical(op, stamp=False) for op in current.operations if new[_canonical(op)]
    )
    changed = sum((unstamped_gone & unstamped_new).values())
    conflicts = {(c.key, c.dn, c.reason) for c in saved.conflicts} ^ {
        (c.key, c.dn, c.reason) for c in current.conflicts
    }
    return PlanDrift(
        saved.hash,
        current.hash,
        changed,
        sum(gone.values()) - changed,
        sum(new.values()) - changed,
        len(conflicts),
    )
