"""What must stay true after every nightly run, checked on the real store and directory.

The checks of issue 13, written once for the stateful property test
(:mod:`ecampus_idm.testing.nightly_machine`), the soak script
(``tests/benchmarks/soak_nightly.py``) and any test that drives real runs:

``passwords-bind`` (:meth:`InvariantChecker.passwords_bind`)
    Every password in the custody, and in every queued, deferred or sent welcome mail
    (``welcome`` and ``welcome-again``), of a usable account (``active`` or ``grace`` in
    the store) binds on that account's directory entry. A mail queued before the
    account was last deleted is exempt (the person came back to a new account), and so
    is a mail sent to a person whose password changed since (``password.changed``,
    ``reset.completed``): the custody and the unsent mails must follow, what was
    delivered is history. The
    password of a queued mail comes from the outbox; a sent one's from the copy the
    SMTP server received (its sealed copy is wiped once sent). A password that already
    bound on the entry in its present state (same ``entryCSN``) is not bound again.
``refused-source-kept`` (:meth:`InvariantChecker.refused_sources_kept`)
    On a night when a source was refused, nobody of that source (an active account whose
    entry names the source in its source keys) lost anything:
    same account status (store and directory), no role, school, entitlement or group
    membership removed, the entry still there; the run names the refused source and ends
    ``partial`` (or ``held``: nothing applied), never ``succeeded``.
``memberof`` (:meth:`InvariantChecker.member_of`)
    The ``memberOf`` of every managed person equals the set of managed groups whose
    ``member`` lists them.
``nothing-left`` (:meth:`InvariantChecker.nothing_left`)
    A second run right after a run that applied its plan plans nothing.
``usernames-kept`` (:meth:`InvariantChecker.usernames_kept`)
    A username is never issued to another person: across every check of the checker's
    life, each username (registry and directory ``uid``) belongs to one person id.
``one-welcome`` (:meth:`InvariantChecker.one_welcome`)
    No two welcome mails carry the same account and password to the same address: in
    the outbox (queued, deferred, sent) and in what the SMTP server received. (A
    corrected address gets the credentials again: to another address.)

Each check returns its :class:`Breach` es (empty: it holds) and counts itself in the
checker's :class:`Tally`; :meth:`InvariantChecker.conclude` raises
:class:`InvariantViolation` listing every breach of the night (``strict``), or only counts
them (the soak's ``--keep-going``).

The attribute names are the OpenLDAP profile's (:mod:`ecampus_idm.mapping.openldap`).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import SecretStr

from ecampus_idm.crypto import Keyring
from ecampus_idm.custody import open_custody
from ecampus_idm.directory.base import Directory, Entry
from ecampus_idm.directory.dn import normalize_dn
from ecampus_idm.directory.filters import eq
from ecampus_idm.directory.ppolicy import ppolicy_permanent_lock
from ecampus_idm.errors import IdmError
from ecampus_idm.mail.outbox import (
    MessageStatus,
    Outbox,
    OutboxMessage,
    Purpose,
    open_outbox,
)
from ecampus_idm.mapping.openldap import MARKER
from ecampus_idm.model import AccountStatus
from ecampus_idm.runner import RunReport
from ecampus_idm.store.base import RunStatus, Store
from ecampus_idm.sync.plan import Plan

__all__ = [
    "INVARIANTS",
    "MEMBER_OF",
    "NOTHING_LEFT",
    "ONE_WELCOME",
    "PASSWORDS_BIND",
    "REFUSED_SOURCE_KEPT",
    "USABLE",
    "USERNAMES_KEPT",
    "Breach",
    "Credentials",
    "InvariantChecker",
    "InvariantViolation",
    "PeopleSnapshot",
    "PersonFacts",
    "Tally",
    "credentials_in",
]

PASSWORDS_BIND = "passwords-bind"
REFUSED_SOURCE_KEPT = "refused-source-kept"
MEMBER_OF = "memberof"
NOTHING_LEFT = "nothing-left"
USERNAMES_KEPT = "usernames-kept"
ONE_WELCOME = "one-welcome"
INVARIANTS = (
    PASSWORDS_BIND,
    REFUSED_SOURCE_KEPT,
    MEMBER_OF,
    NOTHING_LEFT,
    USERNAMES_KEPT,
    ONE_WELCOME,
)
"""Every invariant's name, in the order of the module docstring."""

USABLE = frozenset({AccountStatus.ACTIVE, AccountStatus.GRACE})
"""Statuses whose account works: its passwords must bind."""

_WELCOME = frozenset({Purpose.WELCOME, Purpose.WELCOME_AGAIN})
_PASSWORD_CHANGED = ("password.changed", "reset.completed")
_PENDING = frozenset({MessageStatus.QUEUED, MessageStatus.DEFERRED})
_LIVE_MAIL = _PENDING | {MessageStatus.SENT}
_USERNAME = re.compile(r"(?:Nom d'utilisateur|Username|Gebruikersnaam)\s*:\s*(\S+)")
_PASSWORD = re.compile(
    r"(?:Mot de passe initial|Initial password|Initieel wachtwoord|Wachtwoord)\s*:\s*(\S+)"
)
_PERSON_ATTRIBUTES = (
    "uid",
    "ecampusPersonId",
    "ecampusAccountStatus",
    "pwdAccountLockedTime",
    "eduPersonAffiliation",
    "eduPersonEntitlement",
    "ecampusSchool",
    "ecampusSourceKey",
    "memberOf",
    "entryCSN",
)


@dataclass(frozen=True)
class Breach:
    """One invariant found broken.

    Attributes:
        invariant: Its name (one of :data:`INVARIANTS`).
        detail: What was found (usernames and counts, never a password).
    """

    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


class InvariantViolation(AssertionError):  # noqa: N818 - an AssertionError, named as a finding
    """The invariants broken after one step.

    Attributes:
        breaches: Every breach found.
        step: The step after which they were found.
    """

    def __init__(self, breaches: Sequence[Breach], step: str = "") -> None:
        self.breaches = tuple(breaches)
        self.step = step
        lines = "\n".join(f"  - {b}" for b in self.breaches)
        where = f" after {step}" if step else ""
        super().__init__(f"{len(self.breaches)} invariant breach(es){where}:\n{lines}")


@dataclass
class Tally:
    """Figures of a checker's life: checks made and held, faults injected, steps.

    Attributes:
        checked: Checks made, per invariant.
        held: Checks that held, per invariant.
        broken: Checks that found a breach, per invariant.
        faults: Faults injected, per kind (``refused:empty``, ``slapd-killed``...).
        steps: Steps (nights) run, per kind.
        notes: Other counts (held plans approved, kills not reached...).
    """

    checked: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    steps: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Tally) -> None:
        """Add ``other``'s figures to these."""
        for mine, theirs in (
            (self.checked, other.checked),
            (self.held, other.held),
            (self.broken, other.broken),
            (self.faults, other.faults),
            (self.steps, other.steps),
            (self.notes, other.notes),
        ):
            mine.update(theirs)

    def to_dict(self) -> dict[str, dict[str, int]]:
        """A JSON-ready form."""
        return {
            "steps": dict(sorted(self.steps.items())),
            "faults": dict(sorted(self.faults.items())),
            "checked": dict(sorted(self.checked.items())),
            "held": dict(sorted(self.held.items())),
            "broken": dict(sorted(self.broken.items())),
            "notes": dict(sorted(self.notes.items())),
        }


@dataclass(frozen=True)
class Credentials:
    """The username and password a welcome mail carries.

    Attributes:
        message_id: The outbox's id (left part of the ``Message-ID`` header).
        username: The account.
        password: The initial password.
        recipients: Where it went.
    """

    message_id: str
    username: str
    password: SecretStr = field(repr=False)
    recipients: tuple[str, ...] = ()


def credentials_in(raw: bytes, recipients: Iterable[str] = ()) -> Credentials | None:
    """The credentials in a received mail, or ``None`` when it carries no password.

    Args:
        raw: The message as the server received it.
        recipients: The envelope recipients (the ``To`` header when empty).
    """
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(("plain",)) if isinstance(message, email.message.EmailMessage) else None
    text = "" if body is None else str(body.get_content())
    username, password = _USERNAME.search(text), _PASSWORD.search(text)
    if username is None or password is None:
        return None
    header = str(message.get("Message-ID", "")).strip().strip("<>")
    to = tuple(recipients) or tuple(
        a.strip().strip("<>").rsplit("<", 1)[-1].lower()
        for a in str(message.get("To", "")).split(",")
        if a.strip()
    )
    return Credentials(
        header.split("@", 1)[0],
        username.group(1),
        SecretStr(password.group(1)),
        tuple(r.lower() for r in to),
    )


@dataclass(frozen=True)
class PersonFacts:
    """What a person has, as the store and the directory say (for the refusal check).

    Attributes:
        person_id: The person.
        username: The entry's ``uid`` (``None``: no entry).
        status: The store's account status (``None``: no account).
        entry_status: The entry's ``ecampusAccountStatus``.
        locked: Whether the entry carries a ppolicy lock.
        roles: The store's roles.
        affiliations: ``eduPersonAffiliation``.
        schools: ``ecampusSchool``.
        entitlements: ``eduPersonEntitlement``.
        groups: The managed groups listing the entry (normalised DNs).
        sources: The sources of ``ecampusSourceKey``.
    """

    person_id: str
    username: str | None
    status: AccountStatus | None
    entry_status: str | None
    locked: bool
    roles: frozenset[str]
    affiliations: frozenset[str]
    schools: frozenset[str]
    entitlements: frozenset[str]
    groups: frozenset[str]
    sources: frozenset[str]

    def losses(self, after: PersonFacts | None) -> list[str]:
        """What this person lost between this snapshot and ``after``."""
        if after is None or (self.username is not None and after.username is None):
            return ["the entry is gone"]
        lost = []
        if after.status is not self.status:
            lost.append(f"status {_value(self.status)} → {_value(after.status)}")
        if after.entry_status != self.entry_status:
            lost.append(f"entry status {self.entry_status} → {after.entry_status}")
        if after.locked and not self.locked:
            lost.append("entry locked")
        for what, old, new in (
            ("role", self.roles, after.roles),
            ("affiliation", self.affiliations, after.affiliations),
            ("school", self.schools, after.schools),
            ("entitlement", self.entitlements, after.entitlements),
            ("group", self.groups, after.groups),
        ):
            gone = old - new
            if gone:
                lost.append(f"{what}(s) removed: {', '.join(sorted(gone))}")
        return lost


def _value(status: AccountStatus | None) -> str:
    return "none" if status is None else status.value


@dataclass(frozen=True)
class PeopleSnapshot:
    """Every managed person's :class:`PersonFacts`, at one moment.

    Attributes:
        people: Person id to facts.
    """

    people: Mapping[str, PersonFacts]

    def of_source(self, source: str) -> list[PersonFacts]:
        """The people who depend on ``source``: active, and named by their entry's keys.

        People already in grace (or later) left every source; their entries keep the
        keys they last had, but no source lists them any more.
        """
        return [
            p
            for p in self.people.values()
            if source in p.sources and p.status is AccountStatus.ACTIVE
        ]


class InvariantChecker:
    """Checks the invariants on one world (store, directory, received mail).

    Args:
        store: The state store the runs use.
        directory: An admin connection to the target (OpenLDAP profile).
        keyring: Opens the custody and the outbox.
        people_dn: The people container.
        groups_dn: The groups container.
        delivered: Returns every message the SMTP server accepted, raw (for the
            passwords of sent mails, and the duplicates).
        strict: :meth:`conclude` raises when something broke (else it only counts).
        tally: Where to count (a new :class:`Tally` when None).
    """

    def __init__(
        self,
        *,
        store: Store,
        directory: Directory,
        keyring: Keyring,
        people_dn: str,
        groups_dn: str,
        delivered: Callable[[], Sequence[bytes]],
        strict: bool = True,
        tally: Tally | None = None,
    ) -> None:
        self.store = store
        self.directory = directory
        self.keyring = keyring
        self.people_dn = people_dn
        self.groups_dn = groups_dn
        self.delivered = delivered
        self.strict = strict
        self.tally = tally if tally is not None else Tally()
        self.owners: dict[str, str] = {}
        """Every username seen so far, and its one owner."""
        self._bound: set[tuple[str, str, bytes]] = set()
        self._breaches: list[Breach] = []

    # -- reading --------------------------------------------------------------------------

    def _people(self) -> list[Entry]:
        return list(
            self.directory.search(
                self.people_dn, eq("objectClass", "ecampusPerson"), attributes=_PERSON_ATTRIBUTES
            )
        )

    def _groups(self) -> dict[str, frozenset[str]]:
        """Managed group DN (normalised) to the normalised DNs it lists."""
        found = self.directory.search(
            self.groups_dn, eq("ecampusManagedBy", MARKER), attributes=["member"]
        )
        return {
            normalize_dn(g.dn): frozenset(normalize_dn(m) for m in g.get("member")) for g in found
        }

    def _received(self) -> dict[str, list[Credentials]]:
        """Credentials of every received mail, by outbox message id."""
        by_id: dict[str, list[Credentials]] = {}
        for raw in self.delivered():
            found = credentials_in(raw)
            if found is not None:
                by_id.setdefault(found.message_id, []).append(found)
        return by_id

    def snapshot(self) -> PeopleSnapshot:
        """What every managed person has now."""
        accounts = self.store.accounts()
        members: dict[str, set[str]] = {}
        for group, listed in self._groups().items():
            for dn in listed:
                members.setdefault(dn, set()).add(group)
        people: dict[str, PersonFacts] = {}
        for entry in self._people():
            person_id = entry.first("ecampusPersonId") or ""
            record = accounts.get(person_id)
            people[person_id] = PersonFacts(
                person_id=person_id,
                username=entry.first("uid"),
                status=record.status if record else None,
                entry_status=entry.first("ecampusAccountStatus"),
                locked=ppolicy_permanent_lock(entry.get("pwdAccountLockedTime")),
                roles=frozenset(r.value for r in record.roles) if record else frozenset(),
                affiliations=frozenset(entry.get("eduPersonAffiliation")),
                schools=frozenset(entry.get("ecampusSchool")),
                entitlements=frozenset(entry.get("eduPersonEntitlement")),
                groups=frozenset(members.get(normalize_dn(entry.dn), ())),
                sources=frozenset(k.split(":", 1)[0] for k in entry.get("ecampusSourceKey")),
            )
        for person_id, record in accounts.items():
            if person_id not in people:
                people[person_id] = PersonFacts(
                    person_id,
                    None,
                    record.status,
                    None,
                    False,
                    frozenset(r.value for r in record.roles),
                    frozenset(),
                    frozenset(),
                    frozenset(),
                    frozenset(),
                    frozenset(),
                )
        return PeopleSnapshot(people)

    # -- the invariants -------------------------------------------------------------------

    def _count(self, name: str, breaches: list[Breach]) -> list[Breach]:
        self.tally.checked[name] += 1
        if breaches:
            self.tally.broken[name] += 1
        else:
            self.tally.held[name] += 1
        self._breaches += breaches
        return breaches

    def _binds(self, entry: Entry, password: SecretStr) -> bool:
        """Whether ``password`` binds on ``entry``.

        A bind costs the server a slow hash (about 40 ms): a password that bound on this
        entry in the same state (same ``entryCSN``: no write since, so the same
        ``userPassword`` and lock) is not bound again.
        """
        digest = hashlib.sha256(password.get_secret_value().encode("utf-8")).digest()
        key = (normalize_dn(entry.dn), entry.first("entryCSN") or "", digest)
        if key in self._bound:
            return True
        try:
            self.directory.authenticate(entry.dn, password)
        except IdmError:
            return False
        if key[1]:
            self._bound.add(key)
        return True

    def passwords_bind(self) -> list[Breach]:
        """Every custody and mailed password of a usable account binds (see module)."""
        custody = open_custody(self.store, self.keyring)
        outbox = open_outbox(self.store, self.keyring)
        received = self._received()
        entries = {e.first("ecampusPersonId"): e for e in self._people()}
        usernames = {
            r.person_id: r.username for r in self.store.username_records() if not r.tombstoned
        }
        tried: Counter[str] = Counter()
        failed: dict[str, list[str]] = {}
        for person_id, record in self.store.accounts().items():
            if record.status not in USABLE:
                continue
            entry = entries.get(person_id)
            username = entry.first("uid") if entry is not None else None
            username = username or usernames.get(person_id, person_id[:8])
            candidates: list[tuple[str, SecretStr]] = []
            held = custody.reveal(person_id)
            if held is not None:
                candidates.append(("custody", held))
            deleted = _last_event(self.store, person_id, ("account.deleted",))
            changed = _last_event(self.store, person_id, _PASSWORD_CHANGED)
            for message in outbox.messages_for(person_id):
                if message.purpose not in _WELCOME or message.status not in _LIVE_MAIL:
                    continue
                if deleted is not None and message.queued_at <= deleted:
                    continue  # the person came back since: a new account, a new password
                sent = message.sent_at
                if changed is not None and sent is not None and sent <= changed:
                    continue  # delivered, then the user chose another password: history
                password = _mailed_password(outbox, message, received)
                if password is not None:
                    kind = "sent mail" if message.status is MessageStatus.SENT else "queued mail"
                    candidates.append((kind, password))
            for kind, password in candidates:
                tried[kind] += 1
                if entry is None or not self._binds(entry, password):
                    why = "" if entry is not None else " (no entry)"
                    failed.setdefault(kind, []).append(username + why)
        breaches = [
            Breach(
                PASSWORDS_BIND,
                f"{len(names)} of {tried[kind]} {kind} password(s) of usable accounts do not "
                f"bind, e.g. {', '.join(names[:5])}",
            )
            for kind, names in sorted(failed.items())
        ]
        return self._count(PASSWORDS_BIND, breaches)

    def refused_sources_kept(
        self,
        before: PeopleSnapshot,
        after: PeopleSnapshot,
        report: RunReport,
        expected: Collection[str] = (),
    ) -> list[Breach]:
        """Nobody of a source refused by ``report``'s run lost anything (see module).

        Args:
            before: The snapshot taken just before the run.
            after: The snapshot taken just after it.
            report: The run's report (its ``refused`` names the refused sources).
            expected: Sources whose export was spoiled (header only, missing...): they
                must be among the refused, and their people are checked in any case.
        """
        breaches: list[Breach] = [
            Breach(REFUSED_SOURCE_KEPT, f"the spoiled export of {source} was not refused")
            for source in sorted(set(expected) - set(report.refused))
        ]
        if report.status is RunStatus.SUCCEEDED:
            breaches.append(
                Breach(
                    REFUSED_SOURCE_KEPT,
                    f"the run refused {', '.join(sorted(report.refused))} and still ended "
                    "succeeded (partial expected)",
                )
            )
        elif report.status is not RunStatus.PARTIAL and report.status is not RunStatus.HELD:
            breaches.append(
                Breach(REFUSED_SOURCE_KEPT, f"the run ended {report.status.value}, not partial")
            )
        for source in sorted(set(report.refused) | set(expected)):
            lost: list[str] = []
            for facts in before.of_source(source):
                losses = facts.losses(after.people.get(facts.person_id))
                if losses:
                    lost.append(f"{facts.username or facts.person_id[:8]} ({'; '.join(losses)})")
            if lost:
                breaches.append(
                    Breach(
                        REFUSED_SOURCE_KEPT,
                        f"{len(lost)} of {len(before.of_source(source))} people of the refused "
                        f"source {source} lost something: {' | '.join(lost[:5])}",
                    )
                )
        return self._count(REFUSED_SOURCE_KEPT, breaches)

    def source_kept(
        self, source: str, before: PeopleSnapshot, after: PeopleSnapshot
    ) -> list[Breach]:
        """Nobody of an accepted but unchanged ``source`` (rows shuffled) lost anything.

        Counted under ``refused-source-kept``.
        """
        lost = []
        for facts in before.of_source(source):
            losses = facts.losses(after.people.get(facts.person_id))
            if losses:
                lost.append(f"{facts.username or facts.person_id[:8]} ({'; '.join(losses)})")
        breaches = (
            [
                Breach(
                    REFUSED_SOURCE_KEPT,
                    f"{len(lost)} people of the unchanged source {source} lost something: "
                    f"{' | '.join(lost[:5])}",
                )
            ]
            if lost
            else []
        )
        return self._count(REFUSED_SOURCE_KEPT, breaches)

    def member_of(self) -> list[Breach]:
        """``memberOf`` of every managed person equals the managed groups listing them."""
        groups = self._groups()
        listing: dict[str, set[str]] = {}
        for group, listed in groups.items():
            for dn in listed:
                listing.setdefault(dn, set()).add(group)
        wrong: list[str] = []
        people = self._people()
        for entry in people:
            dn = normalize_dn(entry.dn)
            member_of = {normalize_dn(g) for g in entry.get("memberOf")} & set(groups)
            if member_of != listing.get(dn, set()):
                missing = len(listing.get(dn, set()) - member_of)
                extra = len(member_of - listing.get(dn, set()))
                wrong.append(f"{entry.first('uid')} (-{missing} +{extra})")
        breaches = (
            [
                Breach(
                    MEMBER_OF,
                    f"{len(wrong)} of {len(people)} people have a memberOf that differs from "
                    f"the groups listing them (missing/extra), e.g. {', '.join(wrong[:5])}",
                )
            ]
            if wrong
            else []
        )
        return self._count(MEMBER_OF, breaches)

    def nothing_left(self, plan: Plan | None) -> list[Breach]:
        """The plan of a second run right after (``NightlyRun.plan()``) is empty."""
        breaches: list[Breach] = []
        if plan is None:
            breaches.append(Breach(NOTHING_LEFT, "the second run made no plan"))
        elif not plan.is_empty:
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(plan.counts().items()) if n)
            keys = sorted({op.dn.split(",", 1)[0] for op in plan.operations})[:5]
            breaches.append(
                Breach(
                    NOTHING_LEFT,
                    f"a second run right after still plans {counts} (e.g. {', '.join(keys)})",
                )
            )
        return self._count(NOTHING_LEFT, breaches)

    def usernames_kept(self) -> list[Breach]:
        """No username ever changes owner (registry and directory, over the checker's life)."""
        seen: list[tuple[str, str, str]] = [
            (r.username, r.person_id, "registry") for r in self.store.username_records()
        ]
        seen += [
            (e.first("uid") or "", e.first("ecampusPersonId") or "", "directory")
            for e in self._people()
        ]
        reissued: list[str] = []
        for username, person_id, where in seen:
            owner = self.owners.setdefault(username, person_id)
            if owner != person_id:
                reissued.append(f"{username} ({where}: {owner[:8]} then {person_id[:8]})")
        breaches = (
            [
                Breach(
                    USERNAMES_KEPT,
                    f"{len(reissued)} username(s) issued to another person: "
                    f"{', '.join(sorted(set(reissued))[:5])}",
                )
            ]
            if reissued
            else []
        )
        return self._count(USERNAMES_KEPT, breaches)

    def one_welcome(self) -> list[Breach]:
        """No two welcome mails with the same account and password to the same address."""
        outbox = open_outbox(self.store, self.keyring)
        received = self._received()
        in_outbox: Counter[tuple[str, str, str]] = Counter()
        for person_id in self.store.accounts():
            for message in outbox.messages_for(person_id):
                if message.purpose not in _WELCOME or message.status not in _LIVE_MAIL:
                    continue
                password = _mailed_password(outbox, message, received)
                if password is not None:
                    secret = password.get_secret_value()
                    in_outbox[(message.username, secret, message.to_address.lower())] += 1
        on_server: Counter[tuple[str, str, str]] = Counter()
        for found in (c for group in received.values() for c in group):
            for recipient in found.recipients:
                on_server[(found.username, found.password.get_secret_value(), recipient)] += 1
        breaches = []
        for where, counts in (("outbox", in_outbox), ("SMTP server", on_server)):
            twice = sorted({k[0] for k, n in counts.items() if n > 1})
            if twice:
                extra = sum(n - 1 for n in counts.values() if n > 1)
                breaches.append(
                    Breach(
                        ONE_WELCOME,
                        f"{extra} duplicate welcome mail(s) in the {where} (same account, "
                        f"password and address): {', '.join(twice[:5])}",
                    )
                )
        return self._count(ONE_WELCOME, breaches)

    # -- bundles --------------------------------------------------------------------------

    def after_night(self, *, second_plan: Plan | None) -> list[Breach]:
        """The invariants of a completed night (all but the refusal check)."""
        return [
            *self.passwords_bind(),
            *self.member_of(),
            *self.nothing_left(second_plan),
            *self.usernames_kept(),
            *self.one_welcome(),
        ]

    def add(self, breach: Breach) -> None:
        """Report a breach found by the caller (counted under its invariant)."""
        self.tally.checked[breach.invariant] += 1
        self.tally.broken[breach.invariant] += 1
        self._breaches.append(breach)

    def conclude(self, step: str = "") -> list[Breach]:
        """End a step: raise every breach found since the last call (``strict``), or return it.

        Raises:
            InvariantViolation: In strict mode, when anything broke.
        """
        breaches, self._breaches = self._breaches, []
        if breaches and self.strict:
            raise InvariantViolation(breaches, step)
        return breaches


def _last_event(store: Store, person_id: str, kinds: Collection[str]) -> datetime | None:
    found = [e.at for e in store.events_for_person(person_id) if e.kind in kinds]
    return max(found) if found else None


def _mailed_password(
    outbox: Outbox, message: OutboxMessage, received: Mapping[str, list[Credentials]]
) -> SecretStr | None:
    """The password a welcome mail carries: sealed in the outbox, or as received."""
    if message.status in _PENDING:
        return outbox.reveal(message)
    copies = received.get(message.message_id)
    return copies[0].password if copies else None
