"""The sync engine: a pure plan, safety budgets, and the only writer.

``read_snapshot`` reads the target once; ``plan`` diffs desired against observed without
I/O; ``apply`` writes exactly the reviewed plan. See the module docstrings for the rules.
"""

from ecampus_idm.sync.apply import (
    ApplyFailure,
    ApplyReport,
    PasswordSource,
    PlanApprovalError,
    apply,
)
from ecampus_idm.sync.budgets import DEFAULT_BUDGETS, Budget, TrippedBudget
from ecampus_idm.sync.model import (
    AttributeChange,
    Conflict,
    DesiredEntry,
    EntryKind,
    ObservedEntry,
    Operation,
    OpKind,
    Segment,
)
from ecampus_idm.sync.plan import Plan, PlanIntegrityError, PlanOptions, plan
from ecampus_idm.sync.target import TargetSpec, openldap_initial_password, read_snapshot

__all__ = [
    "DEFAULT_BUDGETS",
    "ApplyFailure",
    "ApplyReport",
    "AttributeChange",
    "Budget",
    "Conflict",
    "DesiredEntry",
    "EntryKind",
    "ObservedEntry",
    "OpKind",
    "Operation",
    "PasswordSource",
    "Plan",
    "PlanApprovalError",
    "PlanIntegrityError",
    "PlanOptions",
    "Segment",
    "TargetSpec",
    "TrippedBudget",
    "apply",
    "openldap_initial_password",
    "plan",
    "read_snapshot",
]
