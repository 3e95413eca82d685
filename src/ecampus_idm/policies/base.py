"""The policy port, its inputs and its output; composable rules and their registry.

This module owns the vocabulary every policy shares:

* :class:`Context` is what a policy may look at: one :class:`~ecampus_idm.model.Person`
  (or ``None`` when the person is in no source any more), the institution's local date,
  and the :class:`PersonHistory` the state store remembers. Nothing else: no clock, no
  I/O, no global state, so a policy's answer depends only on its input.
* :class:`Decision` is what a policy returns: allowed, pending (not yet) or denied, with a
  :class:`Reason` in French and English plus structured data for tools. A refusal is a
  decision, never an exception; support shows the reasons to people.
* :class:`Rule` values combine with ``&``, ``|`` and ``~`` into bigger rules, using
  three-valued logic (allowed > pending > denied: ``&`` keeps the weakest outcome, ``|``
  the strongest, ``~`` swaps allowed and denied and leaves pending alone).
* :class:`RuleRegistry` holds named rules on an instance (never a module global), so an
  installation can look a rule up, wrap it and register the result under the same name.

Example:
    >>> always = Reason(code="demo.always", fr="Toujours.", en="Always.")
    >>> yes = Check("yes", lambda context: Decision.allow("yes", always))
    >>> registry = RuleRegistry()
    >>> registry.register("never", ~yes).name
    'never'
"""

from __future__ import annotations

import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any, Protocol, Self, runtime_checkable

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from ecampus_idm.model import Account, Person, Role
from ecampus_idm.policies.errors import PolicyInputError, UnknownRuleError

__all__ = [
    "AllOf",
    "AnyOf",
    "Check",
    "Context",
    "DataValue",
    "Decision",
    "Not",
    "Outcome",
    "PersonHistory",
    "Policy",
    "Reason",
    "Rule",
    "RuleRegistry",
    "StoreSnapshot",
    "by_person_id",
    "combine",
    "strongest",
]

DataValue = str | int | bool | date | tuple[str, ...] | None
"""A value of a reason's structured data: JSON-friendly, never a secret."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_CODE_PATTERN = r"^[a-z0-9][a-z0-9_.+-]*$"
_CODE = re.compile(r"[a-z0-9][a-z0-9_.+-]*")
_TEXT = re.compile(r"\S")
_SCALARS = frozenset({str, int, bool, date, type(None)})


def _is_text(value: object) -> bool:
    return type(value) is str and _TEXT.search(value) is not None


def _is_plain_data(data: object) -> bool:
    """Whether ``data`` is a dict of plain values pydantic would keep exactly as they are."""
    return type(data) is dict and all(
        type(k) is str
        and (type(v) in _SCALARS or (type(v) is tuple and all(type(item) is str for item in v)))
        for k, v in data.items()
    )


class _Serialisable:
    """JSON serialisation of the dataclass values, as pydantic models had it."""

    __slots__ = ()

    def model_dump_json(self, **options: Any) -> str:
        """Return the value as JSON (the options of :meth:`pydantic.TypeAdapter.dump_json`)."""
        return _adapter(type(self)).dump_json(self, **options).decode()


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    """Return the pydantic adapter of ``cls`` (made once, on first use)."""
    return _ADAPTERS.get(cls) or _ADAPTERS.setdefault(cls, TypeAdapter(cls))


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__dataclass_fields__}


def _adopt(target: object, checked: object, names: Iterable[str]) -> None:
    """Set ``target``'s fields to the ``checked`` values (``target`` itself when plain)."""
    for name in names:
        object.__setattr__(target, name, getattr(checked, name))


def _invalid(title: str, value: object, message: str) -> ValidationError:
    """Return the error pydantic raised when a model validator refused ``value``."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type="value_error",
                loc=(),
                input=_fields(value),
                ctx={"error": ValueError(message)},
            )
        ],
    )


@dataclass(frozen=True, slots=True)
class Reason(_Serialisable):
    """Why a decision was taken, for people (French first, then English) and for tools.

    A frozen, slotted value (there are millions of them in a run): the values are checked
    when it is made, and invalid ones raise :class:`pydantic.ValidationError` (a
    :class:`ValueError`).

    Attributes:
        code: Stable machine key (``calendar.student.pending``), for tests and filters.
        fr: The explanation in French, one or more full sentences.
        en: The same in English.
        data: Structured facts behind the text (dates, school codes, missing fields).
    """

    code: str
    fr: str
    en: str
    data: Mapping[str, DataValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        plain = (
            type(self.code) is str
            and _CODE.fullmatch(self.code) is not None
            and _is_text(self.fr)
            and _is_text(self.en)
            and _is_plain_data(self.data)
        )
        # Unusual values go through pydantic, which raises the same errors and coerces the
        # same values as when this was a model. The texts repeat from person to person: one
        # copy of each is kept. The data is copied, as pydantic did.
        checked = (
            self if plain else _ReasonFields(code=self.code, fr=self.fr, en=self.en, data=self.data)
        )
        object.__setattr__(self, "code", sys.intern(checked.code))
        object.__setattr__(self, "fr", sys.intern(checked.fr))
        object.__setattr__(self, "en", sys.intern(checked.en))
        object.__setattr__(self, "data", dict(checked.data))

    @classmethod
    def join(cls, reasons: Iterable[Reason]) -> Reason:
        """Return one reason telling all of ``reasons`` in order (their data stays with them)."""
        parts = list(reasons)
        return cls(
            code="+".join(r.code for r in parts),
            fr=" ".join(r.fr for r in parts),
            en=" ".join(r.en for r in parts),
        )

    def __str__(self) -> str:
        return f"{self.fr} / {self.en}"


class _ReasonFields(_Frozen):
    """The checks of :class:`Reason` as pydantic does them (for unusual values only)."""

    model_config = ConfigDict(title="Reason")

    code: str = Field(pattern=_CODE_PATTERN)
    fr: str = Field(min_length=1, pattern=r"\S")
    en: str = Field(min_length=1, pattern=r"\S")
    data: Mapping[str, DataValue] = Field(default_factory=dict)


class Outcome(StrEnum):
    """The three answers a policy can give, from strongest to weakest."""

    ALLOW = "allow"
    PENDING = "pending"
    """Not yet: the reason says what is missing or from when."""
    DENY = "deny"


_RANK = {Outcome.DENY: 0, Outcome.PENDING: 1, Outcome.ALLOW: 2}


@dataclass(frozen=True, slots=True)
class Decision(_Serialisable):
    """A policy's answer: a value with a reason, never an exception.

    A frozen, slotted value like :class:`Reason`; invalid values raise
    :class:`pydantic.ValidationError` (a :class:`ValueError`).

    Attributes:
        allowed: Whether the policy grants what it decides about.
        reason: Why, in French and English, with structured data.
        policy: The name of the policy (or rule) that decided.
        pending: ``True`` when not allowed *yet* (a date or missing data is in the reason).
        causes: For a combined rule, the decisions it was made of.
    """

    allowed: bool
    reason: Reason
    policy: str
    pending: bool = False
    causes: tuple[Decision, ...] = ()

    def __post_init__(self) -> None:
        plain = (
            type(self.allowed) is bool
            and type(self.pending) is bool
            and type(self.reason) is Reason
            and type(self.policy) is str
            and self.policy != ""
            and type(self.causes) is tuple
            and all(type(cause) is Decision for cause in self.causes)
        )
        # Unusual values: pydantic checks and coerces them as when this was a model.
        checked = self if plain else _DecisionFields.model_validate(_fields(self))
        _adopt(self, checked, _DECISION_FIELDS)
        if self.allowed and self.pending:
            raise _invalid("Decision", self, "a decision cannot be both allowed and pending")

    @classmethod
    def of(
        cls, outcome: Outcome, policy: str, reason: Reason, causes: tuple[Decision, ...] = ()
    ) -> Decision:
        """Return a decision with ``outcome``."""
        return cls(
            allowed=outcome is Outcome.ALLOW,
            pending=outcome is Outcome.PENDING,
            reason=reason,
            policy=policy,
            causes=causes,
        )

    @classmethod
    def allow(cls, policy: str, reason: Reason) -> Decision:
        """Return an allowing decision."""
        return cls.of(Outcome.ALLOW, policy, reason)

    @classmethod
    def defer(cls, policy: str, reason: Reason) -> Decision:
        """Return a pending decision ("not yet")."""
        return cls.of(Outcome.PENDING, policy, reason)

    @classmethod
    def deny(cls, policy: str, reason: Reason) -> Decision:
        """Return a denying decision."""
        return cls.of(Outcome.DENY, policy, reason)

    @property
    def outcome(self) -> Outcome:
        """Allowed, pending or denied."""
        if self.allowed:
            return Outcome.ALLOW
        return Outcome.PENDING if self.pending else Outcome.DENY

    def leaves(self) -> Iterator[Decision]:
        """Yield the decisions that are not combinations, depth first (``self`` if a leaf)."""
        if not self.causes:
            yield self
        for cause in self.causes:
            yield from cause.leaves()


class _DecisionFields(_Frozen):
    """The checks of :class:`Decision` as pydantic does them (for unusual values only)."""

    model_config = ConfigDict(title="Decision")

    allowed: bool
    reason: Reason
    policy: str = Field(min_length=1)
    pending: bool = False
    causes: tuple[Decision, ...] = ()


_DECISION_FIELDS = tuple(_DecisionFields.model_fields)


def combine(decisions: Iterable[Decision], policy: str) -> Decision:
    """Return one decision standing for ``decisions``, which all have the same outcome.

    A single decision is returned as it is; several are merged into one whose reason
    tells each in order and whose ``causes`` keep them.

    Raises:
        ValueError: If ``decisions`` is empty.
    """
    parts = tuple(decisions)
    if not parts:
        raise ValueError("combining needs at least one decision")
    if len(parts) == 1:
        return parts[0]
    return Decision.of(parts[0].outcome, policy, Reason.join(d.reason for d in parts), parts)


def strongest(decisions: Iterable[Decision], policy: str) -> Decision:
    """Return the decisions with the strongest outcome among ``decisions``, combined.

    Raises:
        ValueError: If ``decisions`` is empty.
    """
    parts = tuple(decisions)
    top = max((_RANK[d.outcome] for d in parts), default=0)
    return combine((d for d in parts if _RANK[d.outcome] == top), policy)


def by_person_id(persons: Iterable[Person]) -> dict[str, Person]:
    """Return ``persons`` keyed by ``person_id``, in ``person_id`` order.

    Raises:
        PolicyInputError: If a person is given twice.
    """
    people: dict[str, Person] = {}
    twice: set[str] = set()
    for person in persons:
        if person.person_id in people:
            twice.add(person.person_id)
        people[person.person_id] = person
    if twice:
        raise PolicyInputError("persons given twice", twice)
    return dict(sorted(people.items()))


class PersonHistory(_Frozen):
    """What the state store remembers about one person, read-only.

    Attributes:
        person_id: The person.
        last_seen: The last day the person was present (and eligible) in a source.
        roles: The roles the person held when last seen; they choose the grace and
            retention periods once the person has left.
        account: The person's account, whatever its status (a deleted account keeps its
            username: it is the person's tombstone).
    """

    person_id: str = Field(min_length=1, max_length=64)
    last_seen: date
    roles: frozenset[Role] = frozenset()
    account: Account | None = None

    @model_validator(mode="after")
    def _account_is_theirs(self) -> Self:
        if self.account is not None and self.account.person_id != self.person_id:
            raise ValueError("a person's history holds only that person's account")
        return self


class StoreSnapshot(_Frozen):
    """A read-only view of the state store, taken before the policies run.

    Attributes:
        people: One history per person the store remembers.
        tombstones: Usernames retired forever whose owner the store no longer keeps (for
            example from a previous system); never issued to anyone.
        reserved: Person id → the live username reserved for them although no account
            was recorded (a run stopped between the reservation and the recording): the
            person gets that username, nobody else ever does.
    """

    people: tuple[PersonHistory, ...] = ()
    tombstones: frozenset[str] = frozenset()
    reserved: Mapping[str, str] = Field(default_factory=dict)
    _index: dict[str, PersonHistory] = PrivateAttr(default_factory=dict)
    _taken: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [h.person_id for h in self.people]
        if len(set(ids)) != len(ids):
            raise ValueError("one history per person")
        names = [h.account.username for h in self.people if h.account is not None]
        if len(set(names)) != len(names):
            raise ValueError("a username belongs to one account")
        return self

    def model_post_init(self, context: object, /) -> None:
        """Index the histories by person and gather every username ever issued."""
        del context
        self._index = {h.person_id: h for h in self.people}
        self._taken = (
            self.tombstones
            | {h.account.username for h in self.people if h.account is not None}
            | set(self.reserved.values())
        )

    def history(self, person_id: str) -> PersonHistory | None:
        """Return what the store remembers about ``person_id``, if anything."""
        return self._index.get(person_id)

    @property
    def taken_usernames(self) -> frozenset[str]:
        """Every username ever issued (accounts of any status) and every tombstone."""
        return self._taken


class Context(_Frozen):
    """Everything a policy may look at to decide about one person.

    Attributes:
        today: The institution's local date (from the injected clock).
        person: The person as the sources describe them today, or ``None`` when no
            source lists them any more.
        history: What the store remembers about them, or ``None`` for a newcomer.
    """

    today: date
    person: Person | None = None
    history: PersonHistory | None = None

    @model_validator(mode="after")
    def _someone(self) -> Self:
        if self.person is None and self.history is None:
            raise ValueError("a context needs a person, a history or both")
        if (
            self.person is not None
            and self.history is not None
            and self.person.person_id != self.history.person_id
        ):
            raise ValueError("the person and the history must be about the same person")
        return self

    @property
    def person_id(self) -> str:
        """The identifier of the person decided about."""
        if self.person is not None:
            return self.person.person_id
        assert self.history is not None  # noqa: S101 - guaranteed by the validator
        return self.history.person_id

    @property
    def account(self) -> Account | None:
        """The person's account as the store remembers it, if any."""
        return self.history.account if self.history is not None else None


@runtime_checkable
class Policy(Protocol):
    """The port: a named callable that decides about one person."""

    @property
    def name(self) -> str:
        """The policy's name, as found in :attr:`Decision.policy`."""

    def __call__(self, context: Context, /) -> Decision:
        """Return the decision about ``context``'s person."""


@dataclass(frozen=True)
class Rule(ABC):
    """A named policy that combines with ``&``, ``|`` and ``~``.

    Attributes:
        name: The rule's name; combined decisions carry it as :attr:`Decision.policy`.
    """

    name: str

    @abstractmethod
    def __call__(self, context: Context, /) -> Decision:
        """Return the decision about ``context``'s person."""

    def __and__(self, other: Policy) -> Rule:
        return AllOf(f"({self.name} & {other.name})", (self, as_rule(other)))

    def __or__(self, other: Policy) -> Rule:
        return AnyOf(f"({self.name} | {other.name})", (self, as_rule(other)))

    def __invert__(self) -> Rule:
        return Not(f"~{self.name}", self)

    def named(self, name: str) -> Rule:
        """Return the same rule under another name."""
        return replace(self, name=name)


@dataclass(frozen=True)
class Check(Rule):
    """A leaf rule: any callable from a context to a decision."""

    check: Callable[[Context], Decision]

    def __call__(self, context: Context, /) -> Decision:
        """Return what the callable decides."""
        return self.check(context)


@dataclass(frozen=True)
class AllOf(Rule):
    """Allowed when every rule allows; the first denial stops the evaluation."""

    rules: tuple[Rule, ...]

    def __call__(self, context: Context, /) -> Decision:
        """Return the first denial, else the pending decisions, else every allowance."""
        pending: list[Decision] = []
        allowed: list[Decision] = []
        for rule in self.rules:
            decision = rule(context)
            if decision.outcome is Outcome.DENY:
                return decision
            (pending if decision.pending else allowed).append(decision)
        return combine(pending or allowed, self.name)


@dataclass(frozen=True)
class AnyOf(Rule):
    """Allowed when one rule allows; the first allowance stops the evaluation."""

    rules: tuple[Rule, ...]

    def __call__(self, context: Context, /) -> Decision:
        """Return the first allowance, else the pending decisions, else every denial."""
        pending: list[Decision] = []
        denied: list[Decision] = []
        for rule in self.rules:
            decision = rule(context)
            if decision.allowed:
                return decision
            (pending if decision.pending else denied).append(decision)
        return combine(pending or denied, self.name)


@dataclass(frozen=True)
class Not(Rule):
    """Swaps allowed and denied (the facts in the reason stay true); pending stays pending."""

    rule: Rule

    def __call__(self, context: Context, /) -> Decision:
        """Return the inner decision with allowed and denied swapped."""
        inner = self.rule(context)
        if inner.pending:
            return inner
        return replace(inner, allowed=not inner.allowed, policy=self.name)


def as_rule(policy: Policy) -> Rule:
    """Return ``policy`` as a composable :class:`Rule` (a rule is returned as it is)."""
    if isinstance(policy, Rule):
        return policy
    return Check(policy.name, policy)


@dataclass(frozen=True)
class _Reference(Rule):
    """A rule looked up in a registry each time it is called (late binding)."""

    target: str
    registry: RuleRegistry

    def __call__(self, context: Context, /) -> Decision:
        return self.registry[self.target](context)


class RuleRegistry:
    """Named rules, held by an instance: an installation tailors rules without globals.

    Registering under an existing name replaces the rule; :meth:`ref` gives a rule that
    always calls whatever is registered under a name at call time, so that policies built
    on ``ref("account")`` follow a replacement.
    """

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def register(self, name: str, policy: Policy) -> Rule:
        """Register ``policy`` as a rule called ``name`` and return that rule."""
        rule = as_rule(policy).named(name)
        self._rules[name] = rule
        return rule

    def ref(self, name: str) -> Rule:
        """Return a rule that calls the rule registered under ``name`` when it is called."""
        return _Reference(name, name, self)

    def __getitem__(self, name: str) -> Rule:
        try:
            return self._rules[name]
        except KeyError:
            raise UnknownRuleError(name, self._rules) from None

    def __contains__(self, name: object) -> bool:
        return name in self._rules

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._rules))

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"RuleRegistry({', '.join(self)})"
