"""The policy engine: every policy, wired from the settings, applied to a whole run.

:class:`PolicyEngine` owns the wiring. It builds the rule registry (the ``account`` rule
and its parts, see :mod:`~ecampus_idm.policies.calendar`), the access, lifecycle and
naming policies and the initial-password generator, all on the instance. Its
:meth:`~PolicyEngine.decide` takes the persons of a run, the store snapshot and the clock,
and returns one :class:`PersonVerdict` per person known to either: the account status, the
username, the groups and entitlements, and every decision with its reason, for the plan
and for support.

It is pure: nothing is written, no password is generated (that happens when the plan is
applied, with :attr:`PolicyEngine.initial_passwords`), and the same input always gives
the same verdicts, whatever the order of the persons.

Example:
    >>> from datetime import date
    >>> from ecampus_idm.clock import FixedClock
    >>> engine = PolicyEngine()
    >>> engine.decide([], StoreSnapshot(), FixedClock.on(date(2026, 9, 1)))
    ()
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from ecampus_idm.clock import Clock
from ecampus_idm.model import AccountStatus, Person, Role
from ecampus_idm.policies.access import AccessPolicy
from ecampus_idm.policies.base import (
    Context,
    Decision,
    RuleRegistry,
    StoreSnapshot,
    _adapter,
    _adopt,
    _fields,
    _Serialisable,
    by_person_id,
)
from ecampus_idm.policies.calendar import CalendarPolicy
from ecampus_idm.policies.initial_password import InitialPasswordGenerator, RandomBelow
from ecampus_idm.policies.lifecycle import LifecyclePolicy, LifecycleState
from ecampus_idm.policies.naming import UsernameChoice, UsernameGenerator
from ecampus_idm.policies.settings import PolicySettings

__all__ = ["PersonVerdict", "PolicyEngine"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonVerdict(_Serialisable):
    """What the policies decided about one person today.

    A frozen, slotted value (one per person of a run); invalid values raise
    :class:`pydantic.ValidationError` (a :class:`ValueError`).

    Attributes:
        person_id: The person.
        present: Whether the person counts as seen today (the store then records today
            as their ``last_seen``).
        status: The account's status, or ``None`` for no account.
        username: The account's username, when there is (or will be) an account.
        new_account: Whether the account entry is to be created (with an initial
            password and a welcome mail).
        groups: Group names the account belongs in (empty unless the account is active).
        entitlements: ``eduPersonEntitlement`` values (idem).
        roles: The person's roles that are open today (idem): the directory's affiliations
            follow them, never the raw roles of the sources.
        schools: The schools the person has access to today (idem): school attributes,
            OUs and secretariat listings follow them. A school not yet open for the
            person's role there (a Haute École enrolment in July) is never among them.
        decisions: Every decision taken, in order: entitlement, lifecycle, naming, access.
    """

    person_id: str
    present: bool
    status: AccountStatus | None
    username: str | None
    new_account: bool
    groups: frozenset[str] = frozenset()
    entitlements: frozenset[str] = frozenset()
    roles: frozenset[Role] = frozenset()
    schools: frozenset[str] = frozenset()
    decisions: tuple[Decision, ...]

    def __post_init__(self) -> None:
        plain = (
            type(self.person_id) is str
            and type(self.present) is bool
            and (self.status is None or type(self.status) is AccountStatus)
            and (self.username is None or type(self.username) is str)
            and type(self.new_account) is bool
            and _are_names(self.groups)
            and _are_names(self.entitlements)
            and type(self.roles) is frozenset
            and all(type(role) is Role for role in self.roles)
            and _are_names(self.schools)
            and type(self.decisions) is tuple
            and all(type(decision) is Decision for decision in self.decisions)
        )
        # Unusual values: pydantic checks and coerces them as when this was a model.
        checked = self if plain else _VerdictFields.model_validate(_fields(self))
        _adopt(self, checked, _VERDICT_FIELDS)

    @classmethod
    def model_validate(cls, obj: object) -> PersonVerdict:
        """Return the verdict ``obj`` describes (a mapping, as from JSON)."""
        verdict: PersonVerdict = _adapter(cls).validate_python(obj)
        return verdict


def _are_names(values: object) -> bool:
    return type(values) is frozenset and all(type(value) is str for value in values)


class _VerdictFields(BaseModel):
    """The checks of :class:`PersonVerdict` as pydantic does them (unusual values only)."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="PersonVerdict")

    person_id: str
    present: bool
    status: AccountStatus | None
    username: str | None
    new_account: bool
    groups: frozenset[str] = frozenset()
    entitlements: frozenset[str] = frozenset()
    roles: frozenset[Role] = frozenset()
    schools: frozenset[str] = frozenset()
    decisions: tuple[Decision, ...]


_VERDICT_FIELDS = tuple(_VerdictFields.model_fields)


class PolicyEngine:
    """Every policy, configured from :class:`PolicySettings` and held by this instance.

    Args:
        settings: The ``[policies]`` configuration (defaults when omitted).
        randbelow: The random source of initial passwords (:func:`secrets.randbelow`).

    Attributes:
        settings: The configuration.
        rules: The rule registry; replace a rule here to tailor the decisions.
        calendar: Entitlement to an account (the ``account`` rule).
        access: Groups and entitlements.
        lifecycle: Account statuses.
        naming: Usernames.
        initial_passwords: The initial-password generator.
    """

    def __init__(
        self, settings: PolicySettings | None = None, *, randbelow: RandomBelow = secrets.randbelow
    ) -> None:
        self.settings = settings if settings is not None else PolicySettings()
        self.rules = RuleRegistry()
        self.calendar = CalendarPolicy(self.settings.calendar, self.rules)
        self.access = AccessPolicy(self.settings.access, self.calendar)
        self.lifecycle = LifecyclePolicy(self.settings.lifecycle, self.rules.ref("account"))
        self.naming = UsernameGenerator(self.settings.naming)
        self.initial_passwords = InitialPasswordGenerator(
            self.settings.initial_password, self.settings.password_quality, randbelow=randbelow
        )

    def decide(
        self, persons: Iterable[Person], snapshot: StoreSnapshot, clock: Clock
    ) -> tuple[PersonVerdict, ...]:
        """Return a verdict for every person in ``persons`` or ``snapshot``, by ``person_id``.

        Args:
            persons: The persons the sources describe today (each once).
            snapshot: What the store remembers.
            clock: Gives today's local date.

        Raises:
            PolicyInputError: If a person is given twice.
        """
        return tuple(self.decide_each(persons, snapshot, clock))

    def decide_each(
        self, persons: Iterable[Person], snapshot: StoreSnapshot, clock: Clock
    ) -> Iterator[PersonVerdict]:
        """Like :meth:`decide`, yielding the verdicts one at a time, by ``person_id``.

        Eligibility, lifecycle and usernames are settled for everyone first (usernames need
        the whole run); each verdict's access decisions are only built when it is asked
        for, so a caller that consumes them as they come never holds them all.

        Raises:
            PolicyInputError: If a person is given twice (before anything is yielded).
        """
        today = clock.today()
        people = by_person_id(persons)
        ids = sorted(people.keys() | {h.person_id for h in snapshot.people})
        contexts = [
            Context(today=today, person=people.get(i), history=snapshot.history(i)) for i in ids
        ]
        states = [self.lifecycle.assess(context) for context in contexts]
        newcomers = [
            c.person
            for c, s in zip(contexts, states, strict=True)
            if s.status is not None and c.account is None and c.person is not None
        ]
        names = self.naming.allocate(newcomers, snapshot)
        return (
            self._verdict(context, state, names.get(context.person_id))
            for context, state in zip(contexts, states, strict=True)
        )

    def _verdict(
        self, context: Context, state: LifecycleState, choice: UsernameChoice | None
    ) -> PersonVerdict:
        decisions = [d for d in (state.eligibility, state.decision) if d is not None]
        status = state.status
        username = context.account.username if context.account is not None else None
        if choice is not None:
            decisions.append(choice.decision)
            username = choice.username
            if username is None:
                status = None  # no free username: no account this time, the reason says why
        groups: frozenset[str] = frozenset()
        entitlements: frozenset[str] = frozenset()
        roles: frozenset[Role] = frozenset()
        schools: frozenset[str] = frozenset()
        if status is AccountStatus.ACTIVE:
            # Only what is open today shows: the roles and schools come with the groups.
            access = self.access.assess(context, state.eligibility)
            decisions.extend(access.decisions)
            groups, entitlements = access.groups, access.entitlements
            roles, schools = access.roles, access.schools
        return PersonVerdict(
            person_id=context.person_id,
            present=state.present,
            status=status,
            username=username,
            new_account=state.new_account and username is not None,
            groups=groups,
            entitlements=entitlements,
            roles=roles,
            schools=schools,
            decisions=tuple(decisions),
        )
