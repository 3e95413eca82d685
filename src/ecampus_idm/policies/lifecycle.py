"""Lifecycle: what becomes of an account as its owner comes, stays, leaves and returns.

This module owns the status of accounts (:class:`~ecampus_idm.model.AccountStatus`):

* a person entitled to an account (the ``account`` rule) gets one, or keeps theirs;
* a person who left every source (or is no longer entitled) loses school access at once
  (see :mod:`~ecampus_idm.policies.access`) and keeps a working account for a grace
  period, then the account is disabled, then deleted after a retention period; the
  periods depend on the population (students, staff) the person belonged to;
* a person who comes back gets their old account back, with its username: even a deleted
  account's username stays theirs (a tombstone), never issued to anybody else;
* a person who is back but not yet entitled again (a pending decision) keeps the status
  they have, so that an early re-enrolment does not reopen an account before its day.

The timeline is computed from the last day the person was seen, not from the previous
run's status, so a missed night changes nothing: the person left the day after they were
last seen; the account is disabled ``grace_days`` later and deleted ``retention_days``
after that. A status is never walked back while the person stays away (an account
deleted by hand stays deleted).
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict

from ecampus_idm.model import Account, AccountStatus, Person
from ecampus_idm.policies._text import en_date, fr_date
from ecampus_idm.policies.base import Context, Decision, Outcome, Policy, Reason
from ecampus_idm.policies.settings import LifecycleSettings

__all__ = ["LifecyclePolicy", "LifecycleState"]

_ORDER = (
    AccountStatus.ACTIVE,
    AccountStatus.GRACE,
    AccountStatus.DISABLED,
    AccountStatus.DELETED,
)
_STATUS_FR = {
    AccountStatus.ACTIVE: "actif",
    AccountStatus.GRACE: "en période de grâce",
    AccountStatus.DISABLED: "désactivé",
    AccountStatus.DELETED: "supprimé",
}


class LifecycleState(BaseModel):
    """Where a person's account should stand today.

    Attributes:
        status: The account's status, or ``None`` when the person has (and gets) none.
        present: Whether the person counts as seen today (in a source and entitled, or
            about to be); the store records today as their ``last_seen`` when true.
        new_account: Whether an account entry is to be created, with an initial password:
            none is remembered, or the remembered one was deleted (it comes back with the
            same username).
        eligibility: The ``account`` rule's decision, when the person is in a source.
        decision: The lifecycle decision (allowed when the account is usable).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: AccountStatus | None
    present: bool
    new_account: bool = False
    eligibility: Decision | None = None
    decision: Decision


class LifecyclePolicy:
    """Decides each account's status from presence, entitlement and history.

    Args:
        settings: Grace and retention periods per population.
        eligibility: The policy saying whether a person is entitled to an account
            (usually the registry's ``ref("account")``).

    Attributes:
        name: ``lifecycle``.
    """

    name = "lifecycle"

    def __init__(self, settings: LifecycleSettings, eligibility: Policy) -> None:
        self.settings = settings
        self.eligibility = eligibility

    def __call__(self, context: Context, /) -> Decision:
        """Return whether the person's account is usable today, and why."""
        return self.assess(context).decision

    def assess(self, context: Context) -> LifecycleState:
        """Return the status ``context``'s person's account should have today."""
        account = context.account
        if context.person is not None:
            eligibility = self.eligibility(context)
            if eligibility.outcome is not Outcome.DENY:
                return self._present(eligibility, account)
            return self._away(context, context.person, account, eligibility)
        return self._away(context, None, account, None)

    def _present(self, eligibility: Decision, account: Account | None) -> LifecycleState:
        if account is None:
            if eligibility.allowed:
                return LifecycleState(
                    status=AccountStatus.ACTIVE,
                    present=True,
                    new_account=True,
                    eligibility=eligibility,
                    decision=self._decide(
                        Outcome.ALLOW,
                        "lifecycle.create",
                        "Le compte est à créer.",
                        "The account is to be created.",
                    ),
                )
            return LifecycleState(
                status=None,
                present=True,
                eligibility=eligibility,
                decision=self._decide(
                    Outcome.PENDING,
                    "lifecycle.waiting",
                    "Pas encore de compte : les conditions ne sont pas encore remplies.",
                    "No account yet: the conditions are not met yet.",
                ),
            )
        name = account.username
        if account.status is AccountStatus.ACTIVE:
            return LifecycleState(
                status=AccountStatus.ACTIVE,
                present=True,
                eligibility=eligibility,
                decision=self._decide(
                    Outcome.ALLOW,
                    "lifecycle.active",
                    f"Le compte {name} est actif.",
                    f"Account {name} is active.",
                    username=name,
                ),
            )
        previous_fr = _STATUS_FR[account.status]
        if eligibility.allowed:
            return LifecycleState(
                status=AccountStatus.ACTIVE,
                present=True,
                # A deleted account's entry is gone: it is created again, same username.
                new_account=account.status is AccountStatus.DELETED,
                eligibility=eligibility,
                decision=self._decide(
                    Outcome.ALLOW,
                    "lifecycle.returned",
                    f"De retour dans une source : la personne retrouve son compte {name} "
                    f"(il était {previous_fr}).",
                    f"Back in a source: the person gets their account {name} back "
                    f"(it was {account.status.value}).",
                    username=name,
                    previous_status=account.status.value,
                ),
            )
        return LifecycleState(
            status=account.status,
            present=True,
            eligibility=eligibility,
            decision=self._decide(
                Outcome.PENDING,
                "lifecycle.held",
                f"De retour dans une source, mais les conditions ne sont pas encore remplies : "
                f"le compte {name} reste {previous_fr} en attendant.",
                f"Back in a source, but the conditions are not met yet: account {name} stays "
                f"{account.status.value} meanwhile.",
                username=name,
            ),
        )

    def _away(
        self,
        context: Context,
        person: Person | None,
        account: Account | None,
        eligibility: Decision | None,
    ) -> LifecycleState:
        if person is None:
            why_fr, why_en = (
                "La personne ne figure dans aucune source",
                "The person is in no source",
            )
        else:
            why_fr = "La personne ne remplit pas les conditions d'un compte"
            why_en = "The person does not meet the conditions for an account"
        history = context.history
        if account is None or history is None:
            return LifecycleState(
                status=None,
                present=False,
                eligibility=eligibility,
                decision=self._decide(
                    Outcome.DENY,
                    "lifecycle.none",
                    f"{why_fr} et n'a pas de compte : rien à faire.",
                    f"{why_en} and has no account: nothing to do.",
                ),
            )
        roles = history.roles | (person.roles if person is not None else frozenset())
        periods = self.settings.periods_for(roles)
        left_on = history.last_seen + timedelta(days=1)
        disable_on = left_on + timedelta(days=periods.grace_days)
        delete_on = disable_on + timedelta(days=periods.retention_days)
        today = context.today
        due = (
            AccountStatus.GRACE
            if today < disable_on
            else AccountStatus.DISABLED
            if today < delete_on
            else AccountStatus.DELETED
        )
        status = max(due, account.status, key=_ORDER.index)
        facts: dict[str, str | date] = {
            "username": account.username,
            "left_on": left_on,
            "disable_on": disable_on,
            "delete_on": delete_on,
        }
        since_fr = f"{why_fr} depuis le {fr_date(left_on)}"
        since_en = f"{why_en} since {en_date(left_on)}"
        name = account.username
        if status is not due:
            outcome, code = Outcome.DENY, "lifecycle.kept_status"
            fr = f"{since_fr} ; le compte {name} reste {_STATUS_FR[status]} (statut enregistré)."
            en = f"{since_en}; account {name} stays {status.value} (recorded status)."
        elif status is AccountStatus.GRACE:
            outcome, code = Outcome.ALLOW, "lifecycle.grace"
            fr = (
                f"{since_fr} : accès aux catégories et écoles retirés ; le compte {name} reste "
                f"utilisable, sera désactivé le {fr_date(disable_on)} et supprimé le "
                f"{fr_date(delete_on)}."
            )
            en = (
                f"{since_en}: access to categories and schools removed; account {name} "
                f"still works, will be disabled on {en_date(disable_on)} and deleted on "
                f"{en_date(delete_on)}."
            )
        elif status is AccountStatus.DISABLED:
            outcome, code = Outcome.DENY, "lifecycle.disabled"
            fr = (
                f"{since_fr} : le compte {name} est désactivé depuis le {fr_date(disable_on)} "
                f"et sera supprimé le {fr_date(delete_on)}."
            )
            en = (
                f"{since_en}: account {name} is disabled since {en_date(disable_on)} and "
                f"will be deleted on {en_date(delete_on)}."
            )
        else:
            outcome, code = Outcome.DENY, "lifecycle.deleted"
            fr = (
                f"{since_fr} : le compte {name} est supprimé depuis le {fr_date(delete_on)} ; "
                "le nom d'utilisateur reste réservé à cette personne."
            )
            en = (
                f"{since_en}: account {name} is deleted since {en_date(delete_on)}; the "
                "username stays reserved for this person."
            )
        return LifecycleState(
            status=status,
            present=False,
            eligibility=eligibility,
            decision=Decision.of(outcome, self.name, Reason(code=code, fr=fr, en=en, data=facts)),
        )

    def _decide(self, outcome: Outcome, code: str, fr: str, en: str, **data: str) -> Decision:
        return Decision.of(outcome, self.name, Reason(code=code, fr=fr, en=en, data=data))
