"""The policy vocabulary: reasons, decisions, three-valued rules, the registry, the inputs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from policy_builders import account, history, student
from pydantic import ValidationError

from ecampus_idm.errors import IdmError
from ecampus_idm.model import AccountStatus
from ecampus_idm.policies import (
    CalendarPolicy,
    CalendarSettings,
    Check,
    Context,
    Decision,
    Outcome,
    PersonHistory,
    Policy,
    PolicyInputError,
    Reason,
    Rule,
    RuleRegistry,
    StoreSnapshot,
    UnknownRuleError,
)
from ecampus_idm.policies.base import by_person_id, combine, strongest

TODAY = date(2026, 9, 1)


def reason(code: str) -> Reason:
    return Reason(code=code, fr=f"Français {code}.", en=f"English {code}.")


def fixed(name: str, outcome: Outcome, calls: list[str] | None = None) -> Rule:
    """Return a rule that always gives ``outcome`` and records its calls."""

    def check(context: Context) -> Decision:
        del context
        if calls is not None:
            calls.append(name)
        return Decision.of(outcome, name, reason(name))

    return Check(name, check)


CONTEXT = Context(today=TODAY, person=student())
A, P, D = Outcome.ALLOW, Outcome.PENDING, Outcome.DENY


# -- reasons and decisions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fr", "en"),
    [("", "x"), ("x", ""), ("   ", "x"), ("x", "\n")],
    ids=["fr", "en", "fr-sp", "en-nl"],
)
def test_reason_needs_both_languages(fr: str, en: str) -> None:
    """A reason without French or English text is refused."""
    with pytest.raises(ValidationError):
        Reason(code="x", fr=fr, en=en)


def test_reason_str_is_french_then_english() -> None:
    """A reason reads French first, then English."""
    assert str(reason("a")) == "Français a. / English a."


def test_reason_join_tells_each_in_order() -> None:
    """Joined reasons keep every sentence, in order, and every code."""
    joined = Reason.join([reason("a"), reason("b")])
    assert (joined.code, joined.fr, joined.en) == (
        "a+b",
        "Français a. Français b.",
        "English a. English b.",
    )


def test_decision_cannot_be_allowed_and_pending() -> None:
    """Allowed and pending exclude each other."""
    with pytest.raises(ValidationError, match="both allowed and pending"):
        Decision(allowed=True, pending=True, reason=reason("a"), policy="p")


@pytest.mark.parametrize("outcome", list(Outcome), ids=[o.value for o in Outcome])
def test_decision_of_outcome_round_trips(outcome: Outcome) -> None:
    """A decision built for an outcome reports that outcome."""
    assert Decision.of(outcome, "p", reason("a")).outcome is outcome


def test_leaves_walk_the_causes() -> None:
    """The leaves of a combined decision are the decisions it was made of."""
    parts = [Decision.allow("a", reason("a")), Decision.allow("b", reason("b"))]
    assert list(combine(parts, "ab").leaves()) == parts


def test_combine_returns_a_single_decision_unchanged() -> None:
    """Combining one decision gives that decision back."""
    only = Decision.deny("a", reason("a"))
    assert combine([only], "other") is only


def test_strongest_keeps_the_best_outcome() -> None:
    """``strongest`` keeps the decisions with the best outcome only."""
    decisions = [Decision.deny("a", reason("a")), Decision.defer("b", reason("b"))]
    assert strongest(decisions, "s").policy == "b"


@pytest.mark.parametrize("merge", [combine, strongest], ids=["combine", "strongest"])
def test_merging_nothing_is_a_programming_error(
    merge: Callable[[list[Decision], str], Decision],
) -> None:
    """Combining no decision at all raises instead of inventing a reason."""
    with pytest.raises(ValueError, match="at least one decision"):
        merge([], "s")


def test_decision_serialises_to_json() -> None:
    """A decision with dates in its data serialises (it goes into the plan)."""
    decision = Decision.defer(
        "p", Reason(code="a", fr="a.", en="a.", data={"opens_on": TODAY, "missing": ("x",)})
    )
    assert '"opens_on":"2026-09-01"' in decision.model_dump_json()


# -- three-valued combinators --------------------------------------------------------------

AND_TABLE = [
    (A, A, A),
    (A, P, P),
    (A, D, D),
    (P, A, P),
    (P, P, P),
    (P, D, D),
    (D, A, D),
    (D, P, D),
    (D, D, D),
]


@pytest.mark.parametrize(("left", "right", "expected"), AND_TABLE, ids=str)
def test_and_keeps_the_weakest_outcome(left: Outcome, right: Outcome, expected: Outcome) -> None:
    """``&`` is allowed only when both are; a denial beats pending."""
    assert (fixed("l", left) & fixed("r", right))(CONTEXT).outcome is expected


OR_TABLE = [
    (A, A, A),
    (A, P, A),
    (A, D, A),
    (P, A, A),
    (P, P, P),
    (P, D, P),
    (D, A, A),
    (D, P, P),
    (D, D, D),
]


@pytest.mark.parametrize(("left", "right", "expected"), OR_TABLE, ids=str)
def test_or_keeps_the_strongest_outcome(left: Outcome, right: Outcome, expected: Outcome) -> None:
    """``|`` is allowed when either is; pending beats a denial."""
    assert (fixed("l", left) | fixed("r", right))(CONTEXT).outcome is expected


@pytest.mark.parametrize(
    ("inner", "expected"), [(A, D), (P, P), (D, A)], ids=["allow", "pending", "deny"]
)
def test_not_swaps_allowed_and_denied(inner: Outcome, expected: Outcome) -> None:
    """``~`` swaps allowed and denied and leaves pending alone."""
    assert (~fixed("x", inner))(CONTEXT).outcome is expected


def test_not_keeps_the_reason_and_names_itself() -> None:
    """A negated decision keeps the facts of the reason and carries the rule's name."""
    decision = (~fixed("x", A))(CONTEXT)
    assert (decision.reason.code, decision.policy) == ("x", "~x")


def test_and_stops_at_the_first_denial() -> None:
    """After a denial, ``&`` evaluates nothing more and returns that denial."""
    calls: list[str] = []
    decision = (fixed("a", D, calls) & fixed("b", A, calls))(CONTEXT)
    assert (calls, decision.policy) == (["a"], "a")


def test_or_stops_at_the_first_allowance() -> None:
    """After an allowance, ``|`` evaluates nothing more."""
    calls: list[str] = []
    (fixed("a", A, calls) | fixed("b", D, calls))(CONTEXT)
    assert calls == ["a"]


def test_and_allowed_tells_every_reason() -> None:
    """When ``&`` allows, the decision tells all the reasons and keeps them as causes."""
    decision = (fixed("a", A) & fixed("b", A))(CONTEXT)
    assert (decision.policy, decision.reason.code, len(decision.causes)) == ("(a & b)", "a+b", 2)


def test_or_denied_tells_every_reason() -> None:
    """When ``|`` denies, the decision tells why each alternative failed."""
    assert (fixed("a", D) | fixed("b", D))(CONTEXT).reason.code == "a+b"


def test_pending_wins_over_allowed_reasons_in_and() -> None:
    """A pending ``&`` tells only what is pending, not what is already fine."""
    assert (fixed("a", A) & fixed("b", P))(CONTEXT).reason.code == "b"


def test_named_renames_a_composite() -> None:
    """A renamed composite carries its new name in combined decisions."""
    rule = (fixed("a", A) & fixed("b", A)).named("both")
    assert (rule.name, rule(CONTEXT).policy) == ("both", "both")


def test_rules_combine_with_any_policy() -> None:
    """A plain policy (not a Rule) composes with rules."""
    calendar = CalendarPolicy(CalendarSettings())
    assert (fixed("a", A) & calendar).name == "(a & calendar)"


def test_calendar_policy_is_a_policy() -> None:
    """The policies satisfy the Policy port."""
    assert isinstance(CalendarPolicy(CalendarSettings()), Policy)


# -- registry ------------------------------------------------------------------------------


def test_registry_names_what_it_registers() -> None:
    """A registered rule takes the registered name."""
    registry = RuleRegistry()
    registry.register("yes", fixed("a", A) | fixed("b", D))
    assert registry["yes"].name == "yes"


def test_registry_ref_follows_a_replacement() -> None:
    """A reference calls whatever is registered under the name at call time."""
    registry = RuleRegistry()
    registry.register("x", fixed("x", A))
    ref = registry.ref("x")
    registry.register("x", fixed("x", D))
    assert ref(CONTEXT).outcome is D


def test_registry_unknown_rule_names_the_known_ones() -> None:
    """Asking for an unknown rule raises an IdmError listing the known names."""
    registry = RuleRegistry()
    registry.register("b", fixed("b", A))
    registry.register("a", fixed("a", A))
    with pytest.raises(UnknownRuleError) as caught:
        registry["c"]
    assert (caught.value.known, isinstance(caught.value, IdmError)) == (("a", "b"), True)
    assert "known: a, b" in str(caught.value)


def test_empty_registry_says_none_is_known() -> None:
    """The error from an empty registry says so."""
    with pytest.raises(UnknownRuleError, match="known: none"):
        RuleRegistry()["x"]


def test_registry_lists_its_rules_sorted() -> None:
    """The registry iterates, counts and shows its names in order."""
    registry = RuleRegistry()
    for name in ("b", "a"):
        registry.register(name, fixed(name, A))
    assert (list(registry), len(registry), "a" in registry, "z" in registry) == (
        ["a", "b"],
        2,
        True,
        False,
    )
    assert repr(registry) == "RuleRegistry(a, b)"


def test_registries_are_independent() -> None:
    """Two registries share nothing (no module-level state)."""
    first, second = RuleRegistry(), RuleRegistry()
    first.register("x", fixed("x", A))
    assert "x" not in second


# -- inputs --------------------------------------------------------------------------------


def test_context_needs_someone() -> None:
    """A context without person and history is refused."""
    with pytest.raises(ValidationError, match="a person, a history or both"):
        Context(today=TODAY)


def test_context_person_and_history_must_match() -> None:
    """A context mixing two people is refused."""
    with pytest.raises(ValidationError, match="same person"):
        Context(today=TODAY, person=student(person_id="a"), history=history("b", TODAY))


def test_context_knows_the_person_from_the_history_alone() -> None:
    """A person in no source is identified, and their account found, from the history."""
    context = Context(today=TODAY, history=history("gone", TODAY, username="old.name"))
    assert context.person_id == "gone"
    assert context.account is not None
    assert context.account.username == "old.name"


def test_context_without_history_has_no_account() -> None:
    """A newcomer has no account."""
    assert CONTEXT.account is None


def test_history_holds_only_its_persons_account() -> None:
    """A history with someone else's account is refused."""
    with pytest.raises(ValidationError, match="only that person's account"):
        PersonHistory(person_id="a", last_seen=TODAY, account=account("b"))


def test_snapshot_refuses_two_histories_of_one_person() -> None:
    """One history per person."""
    with pytest.raises(ValidationError, match="one history per person"):
        StoreSnapshot(people=(history("a", TODAY, username=None),) * 2)


def test_snapshot_refuses_a_username_on_two_accounts() -> None:
    """A username belongs to one account."""
    with pytest.raises(ValidationError, match="one account"):
        StoreSnapshot(people=(history("a", TODAY), history("b", TODAY)))


def test_snapshot_takes_every_issued_username_and_tombstone() -> None:
    """Deleted accounts and tombstones count as taken usernames."""
    snapshot = StoreSnapshot(
        people=(
            history("a", TODAY, username="a.live"),
            history("b", TODAY, username="b.gone", status=AccountStatus.DELETED),
            history("c", TODAY, username=None),
        ),
        tombstones=frozenset({"legacy"}),
    )
    assert snapshot.taken_usernames == {"a.live", "b.gone", "legacy"}
    assert snapshot.history("c") is not None
    assert snapshot.history("zz") is None


def test_by_person_id_orders_and_refuses_duplicates() -> None:
    """Persons are keyed in id order; one given twice is an input error naming it."""
    assert list(by_person_id([student(person_id="b"), student(person_id="a")])) == ["a", "b"]
    with pytest.raises(PolicyInputError) as caught:
        by_person_id([student(person_id="x"), student(person_id="x")])
    assert caught.value.person_ids == ("x",)
