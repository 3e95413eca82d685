"""Safety budgets: how much a single plan may destroy before a human must look.

A budget caps one kind of operation (delete, disable, rename, group removal...), over the
whole plan or per segment (category, school), as an absolute count and/or a percentage of
what the directory holds in that segment. A plan that exceeds any budget is *held*:
nothing is applied until someone approves that exact plan by its hash.

Together with the sources' whole-file checks, this is what makes an empty or truncated
export unable to delete accounts: the lifecycle policy would first have to push every
account through grace, and then the delete budget trips.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ecampus_idm.sync.model import Operation, OpKind, Segment

__all__ = ["DEFAULT_BUDGETS", "Budget", "TrippedBudget", "check_budgets"]

Scope = Literal["total", "category", "school"]


@dataclass(frozen=True)
class Budget:
    """A cap on one kind of operation.

    Attributes:
        kind: The operation kind capped.
        max_count: Trips when more operations than this are planned.
        max_percent: Trips when the operations exceed this share of the managed entries
            (memberships, for group removals) in the scope, and there are more than
            ``floor`` of them (small numbers in small schools are not an alarm).
        per: ``total`` for the whole plan, or one budget per ``category`` / ``school``.
        floor: Count below which the percentage rule does not apply.
    """

    kind: OpKind
    max_count: int | None = None
    max_percent: float | None = None
    per: Scope = "total"
    floor: int = 5

    def describe(self) -> str:
        """Return a short human description (``delete ≤ 50 or ≤ 2 % per school``)."""
        limits = []
        if self.max_count is not None:
            limits.append(f"≤ {self.max_count}")
        if self.max_percent is not None:
            limits.append(f"≤ {self.max_percent:g} %")
        scope = "" if self.per == "total" else f" per {self.per}"
        return f"{self.kind.value} {' or '.join(limits) or 'unlimited'}{scope}"


@dataclass(frozen=True)
class TrippedBudget:
    """A budget a plan exceeds.

    Attributes:
        budget: The budget.
        scope: ``total`` or the category/school concerned.
        count: Operations of that kind planned in the scope.
        base: Managed entries (or memberships) in the scope, the percentage's base.
    """

    budget: Budget
    scope: str
    count: int
    base: int

    @property
    def message(self) -> str:
        """A human sentence saying what tripped."""
        share = f" ({self.count * 100 / self.base:.1f} % of {self.base})" if self.base else ""
        return (
            f"{self.count} × {self.budget.kind.value} in {self.scope}{share} "
            f"exceeds the budget {self.budget.describe()}"
        )


DEFAULT_BUDGETS: tuple[Budget, ...] = (
    Budget(OpKind.DELETE, max_count=200, max_percent=2.0),
    Budget(OpKind.DELETE, max_percent=10.0, per="school"),
    Budget(OpKind.GRACE, max_count=1000, max_percent=5.0),
    Budget(OpKind.GRACE, max_percent=20.0, per="school"),
    Budget(OpKind.DISABLE, max_count=1000, max_percent=5.0),
    Budget(OpKind.DISABLE, max_percent=20.0, per="school"),
    Budget(OpKind.RENAME, max_count=200, max_percent=5.0),
    Budget(OpKind.REMOVE_MEMBER, max_count=2000, max_percent=10.0),
    # A fresh password on existing entries follows an interrupted apply (a few hundred
    # at most); thousands of them mean the store lost its accounts: a human looks first.
    Budget(OpKind.SET_PASSWORD, max_count=1000, max_percent=10.0),
)
"""Conservative defaults: a normal night stays far below them, a broken export does not."""


def _scope_of(segment: Segment, per: Scope) -> str:
    if per == "total":
        return "total"
    value = segment.category if per == "category" else segment.school
    return value or "-"


def check_budgets(
    operations: Iterable[Operation],
    budgets: Iterable[Budget],
    entries_per_segment: Mapping[Segment, int],
    members_per_segment: Mapping[Segment, int],
) -> tuple[TrippedBudget, ...]:
    """Return every budget the operations exceed, in a stable order.

    Args:
        operations: The planned operations.
        budgets: The budgets to check.
        entries_per_segment: Managed person entries observed per segment (percentage base).
        members_per_segment: Group memberships observed per segment (base for removals).
    """
    operations = tuple(operations)
    tripped: list[TrippedBudget] = []
    for budget in budgets:
        counts: Counter[str] = Counter(
            _scope_of(op.segment, budget.per) for op in operations if op.kind is budget.kind
        )
        bases_source = (
            members_per_segment if budget.kind is OpKind.REMOVE_MEMBER else entries_per_segment
        )
        bases: Counter[str] = Counter()
        for segment, number in bases_source.items():
            bases[_scope_of(segment, budget.per)] += number
        for scope in sorted(counts):
            count, base = counts[scope], bases[scope]
            over_count = budget.max_count is not None and count > budget.max_count
            over_share = (
                budget.max_percent is not None
                and count > budget.floor
                and count * 100 > budget.max_percent * max(base, 1)
            )
            if over_count or over_share:
                tripped.append(TrippedBudget(budget, scope, count, base))
    return tuple(tripped)
