"""Policies: who gets an account, when, with which access, username and first password.

Policies are pure: they receive persons, the date and a read-only snapshot of the state
store, and return decisions with a reason in French and English (support shows them to
people). A refusal or a "not yet" is a :class:`Decision`, never an exception.

* :mod:`~ecampus_idm.policies.base`: the :class:`Policy` port, :class:`Decision`,
  :class:`Reason`, :class:`Context`, the store snapshot, composable :class:`Rule` values
  (``&``, ``|``, ``~``) and the :class:`RuleRegistry`.
* :mod:`~ecampus_idm.policies.calendar`: entitlement to an account and its opening day.
* :mod:`~ecampus_idm.policies.access`: groups and entitlements from enrolments and
  attributions.
* :mod:`~ecampus_idm.policies.lifecycle`: grace, disable, delete, return.
* :mod:`~ecampus_idm.policies.naming`: usernames.
* :mod:`~ecampus_idm.policies.initial_password` and :mod:`~ecampus_idm.policies.quality`:
  initial passwords and the quality rules they pass.
* :mod:`~ecampus_idm.policies.engine`: :class:`PolicyEngine`, all of it wired from
  :class:`PolicySettings` and applied to a run.
"""

from ecampus_idm.policies.access import Access, AccessPolicy
from ecampus_idm.policies.base import (
    AllOf,
    AnyOf,
    Check,
    Context,
    Decision,
    Not,
    Outcome,
    PersonHistory,
    Policy,
    Reason,
    Rule,
    RuleRegistry,
    StoreSnapshot,
)
from ecampus_idm.policies.calendar import CalendarPolicy
from ecampus_idm.policies.engine import PersonVerdict, PolicyEngine
from ecampus_idm.policies.errors import (
    InitialPasswordError,
    PolicyError,
    PolicyInputError,
    UnknownRuleError,
)
from ecampus_idm.policies.initial_password import InitialPasswordGenerator
from ecampus_idm.policies.lifecycle import LifecyclePolicy, LifecycleState
from ecampus_idm.policies.naming import UsernameChoice, UsernameGenerator
from ecampus_idm.policies.quality import check_password
from ecampus_idm.policies.settings import (
    AccessProfile,
    AccessSettings,
    CalendarSettings,
    InitialPasswordSettings,
    LifecycleSettings,
    MonthDay,
    NamingSettings,
    PasswordQualitySettings,
    PolicySettings,
    RetentionPeriods,
    StaffGrants,
    StudentGrants,
)

__all__ = [
    "Access",
    "AccessPolicy",
    "AccessProfile",
    "AccessSettings",
    "AllOf",
    "AnyOf",
    "CalendarPolicy",
    "CalendarSettings",
    "Check",
    "Context",
    "Decision",
    "InitialPasswordError",
    "InitialPasswordGenerator",
    "InitialPasswordSettings",
    "LifecyclePolicy",
    "LifecycleSettings",
    "LifecycleState",
    "MonthDay",
    "NamingSettings",
    "Not",
    "Outcome",
    "PasswordQualitySettings",
    "PersonHistory",
    "PersonVerdict",
    "Policy",
    "PolicyEngine",
    "PolicyError",
    "PolicyInputError",
    "PolicySettings",
    "Reason",
    "RetentionPeriods",
    "Rule",
    "RuleRegistry",
    "StaffGrants",
    "StoreSnapshot",
    "StudentGrants",
    "UnknownRuleError",
    "UsernameChoice",
    "UsernameGenerator",
    "check_password",
]
