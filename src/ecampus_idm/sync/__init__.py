"""The sync engine: a pure plan, safety budgets, and the only writer.

``read_snapshot`` reads the target once; ``plan`` diffs desired against observed without
I/O; ``apply`` writes exactly the reviewed plan; ``plan_diff``, ``plan_to_ldif`` and
``load_plan`` (:mod:`ecampus_idm.sync.review`) show a plan for review, write it as LDIF
and read a saved one back. See the module docstrings for the rules.
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
from ecampus_idm.sync.review import (
    EntryDiff,
    PlanFileError,
    ValueChange,
    load_plan,
    plan_diff,
    plan_to_ldif,
)
from ecampus_idm.sync.target import TargetSpec, openldap_initial_password, read_snapshot

__all__ = [
    "DEFAULT_BUDGETS",
    "ApplyFailure",
    "ApplyReport",
    "AttributeChange",
    "Budget",
    "Conflict",
    "DesiredEntry",
    "EntryDiff",
    "EntryKind",
    "ObservedEntry",
    "OpKind",
    "Operation",
    "PasswordSource",
    "Plan",
    "PlanApprovalError",
    "PlanFileError",
    "PlanIntegrityError",
    "PlanOptions",
    "Segment",
    "TargetSpec",
    "TrippedBudget",
    "ValueChange",
    "apply",
    "load_plan",
    "openldap_initial_password",
    "plan",
    "plan_diff",
    "plan_to_ldif",
    "read_snapshot",
]
