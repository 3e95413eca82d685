"""Access: the groups and entitlements a person's current situation gives.

This module owns who sees the information of which category, school and department:

* a student gets the grants of each *current* enrolment (see
  :meth:`~ecampus_idm.policies.calendar.CalendarPolicy.current_enrolments`): category,
  school and, when there is one, department;
* a staff member gets the grants of a category/school only while an attribution there is
  current, both ends inclusive; a future attribution is granted a configurable number of
  days ahead (pre-provisioning), an ended one gives nothing;
* a staff member without any current attribution keeps the account (mail, eduroam) but
  gets no school access, and the decision says so;
* a person in no source loses every school access at once;
* only the roles that are open today show: the student role once the ``student-account``
  rule allows it (an enrolment open, see the calendar), the staff roles once
  ``staff-account`` does (identity data complete). A person whose account opened through
  one role (a Promotion Sociale teacher) shows nothing of a role or school that is not
  open yet (their Haute École enrolment before 1 September): no group, no entitlement, no
  school in :attr:`Access.schools`; a pending decision says when that school opens.

The directory profiles and the secretariat listing follow :attr:`Access.roles` and
:attr:`Access.schools` (through the verdict), never the raw enrolments and attributions.

Everything is recomputed from the sources on each run, so a change of school or
department, or a new attribution, reaches the groups on the next run.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict

from ecampus_idm.model import STAFF_ROLES, Attribution, Enrolment, Person, Role
from ecampus_idm.policies._text import (
    CATEGORY_EN,
    CATEGORY_FR,
    FIELD_EN,
    FIELD_FR,
    en_date,
    en_list,
    fr_date,
    fr_list,
)
from ecampus_idm.policies.base import Context, Decision, Reason, strongest
from ecampus_idm.policies.calendar import CalendarPolicy
from ecampus_idm.policies.settings import AccessSettings

__all__ = ["Access", "AccessPolicy"]

_FUNCTION_FR = {"teacher": "enseignant", "administrative": "administratif"}
_STAFF_ROLES = STAFF_ROLES


class Access(BaseModel):
    """What a person may access today, and why.

    Attributes:
        groups: Group names (lower case) the person belongs in.
        entitlements: ``eduPersonEntitlement`` values.
        roles: The person's roles that are open today (the others show nowhere).
        schools: Codes of the schools the person has access to today (only those show:
            school attributes, secretariat listings).
        decisions: One decision per enrolment or attribution considered, plus one when
            there is nothing to grant, each with its reason.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    groups: frozenset[str] = frozenset()
    entitlements: frozenset[str] = frozenset()
    roles: frozenset[Role] = frozenset()
    schools: frozenset[str] = frozenset()
    decisions: tuple[Decision, ...]


def _render(patterns: Iterable[str], values: Mapping[str, str | None]) -> set[str]:
    """Return the patterns filled in with ``values``, skipping those needing a missing value."""
    rendered: set[str] = set()
    for pattern in patterns:
        fields = {field for _, field, _, _ in string.Formatter().parse(pattern) if field}
        if all(values.get(field) for field in fields):
            rendered.add(pattern.format_map(values).lower())
    return rendered


class AccessPolicy:
    """Computes a person's groups and entitlements from enrolments and attributions.

    Args:
        settings: Grant patterns and pre-provisioning days, per category and school.
        calendar: Tells which enrolments are current.

    Attributes:
        name: ``access``.
    """

    name = "access"

    def __init__(self, settings: AccessSettings, calendar: CalendarPolicy) -> None:
        self.settings = settings
        self.calendar = calendar

    def __call__(self, context: Context, /) -> Decision:
        """Return whether the person gets any school access, with every reason."""
        return strongest(self.assess(context).decisions, self.name)

    def assess(self, context: Context, eligibility: Decision | None = None) -> Access:
        """Return the groups, entitlements, open roles and schools, and the reasons, today.

        Args:
            context: The person, their history and today.
            eligibility: The ``account`` rule's decision when the caller has it: a role
                it already allowed is not decided again.
        """
        person = context.person
        if person is None:
            return Access(
                decisions=(
                    Decision.deny(
                        self.name,
                        Reason(
                            code="access.absent",
                            fr=(
                                "La personne ne figure plus dans aucune source : les accès aux "
                                "catégories et écoles sont retirés immédiatement."
                            ),
                            en=(
                                "The person is no longer in any source: access to categories "
                                "and schools is removed at once."
                            ),
                        ),
                    ),
                )
            )
        groups: set[str] = set()
        entitlements: set[str] = set()
        decisions: list[Decision] = []
        roles: set[Role] = set()
        if person.is_student:
            student = self._role("student-account", context, eligibility)
            if student.allowed:
                roles.add(Role.STUDENT)
            decisions += self._students(person, context.today, student, groups, entitlements)
        if person.is_staff:
            staff = self._role("staff-account", context, eligibility)
            if staff.allowed:
                roles |= person.roles & _STAFF_ROLES
                decisions += self._staff(person, context.today, groups, entitlements)
            else:
                decisions.append(self._staff_not_open(staff))
        schools = {str(d.reason.data["school"]) for d in decisions if d.allowed}
        if person.is_student:
            decisions += self._not_open(person, context.today, schools)
        if not decisions:
            decisions.append(
                Decision.deny(
                    self.name,
                    Reason(
                        code="access.no_role",
                        fr="Ni étudiant ni membre du personnel : aucun accès aux écoles.",
                        en="Neither a student nor staff: no school access.",
                    ),
                )
            )
        return Access(
            groups=frozenset(groups),
            entitlements=frozenset(entitlements),
            roles=frozenset(roles),
            schools=frozenset(schools),
            decisions=tuple(decisions),
        )

    def _role(self, rule: str, context: Context, eligibility: Decision | None) -> Decision:
        """Return the decision of a role's account rule (reused when ``eligibility`` has it)."""
        if eligibility is not None:
            for decision in _walk(eligibility):
                if decision.allowed and decision.policy == rule:
                    return decision
        return self.calendar.rules[rule](context)

    # -- students --------------------------------------------------------------------------

    def _students(
        self,
        person: Person,
        today: date,
        role: Decision,
        groups: set[str],
        entitlements: set[str],
    ) -> list[Decision]:
        if not role.allowed and person.enrolments:
            if any(self.calendar.is_open(e, today) for e in person.enrolments):
                return [self._student_not_open(role)]
            return []  # every enrolment waits for its opening day: _not_open says so
        current = self.calendar.current_enrolments(person, today) if role.allowed else ()
        if not current:
            return [
                Decision.deny(
                    self.name,
                    Reason(
                        code="access.enrolment.none",
                        fr="Aucune inscription en cours : pas d'accès étudiant aux écoles.",
                        en="No current enrolment: no student access to schools.",
                    ),
                )
            ]
        return [self._enrolment(e, groups, entitlements) for e in current]

    def _enrolment(
        self, enrolment: Enrolment, groups: set[str], entitlements: set[str]
    ) -> Decision:
        grants = self.settings.student_grants(enrolment.category, enrolment.school)
        values = {
            "category": enrolment.category.value,
            "school": enrolment.school,
            "department": enrolment.department,
        }
        given = _render(grants.groups, values)
        entitled = _render(grants.entitlements, values)
        groups |= given
        entitlements |= entitled
        where = enrolment.school + (f"/{enrolment.department}" if enrolment.department else "")
        return Decision.allow(
            self.name,
            Reason(
                code="access.enrolment",
                fr=(
                    f"Inscription en cours {enrolment.academic_year} à {where} "
                    f"({CATEGORY_FR[enrolment.category]}) : accès étudiant à cette école."
                ),
                en=(
                    f"Current enrolment {enrolment.academic_year} at {where} "
                    f"({CATEGORY_EN[enrolment.category]}): student access to this school."
                ),
                data={
                    "school": enrolment.school,
                    "department": enrolment.department,
                    "category": enrolment.category.value,
                    "academic_year": str(enrolment.academic_year),
                    "groups": tuple(sorted(given)),
                    "entitlements": tuple(sorted(entitled)),
                },
            ),
        )

    def _not_open(self, person: Person, today: date, shown: set[str]) -> list[Decision]:
        """One pending decision per school of an enrolment that is not open yet.

        A school the person already has access to (a re-enrolment there, a second
        department) needs none: it shows.
        """
        decisions: list[Decision] = []
        seen = set(shown)
        waiting = [e for e in person.enrolments if not self.calendar.is_open(e, today)]
        for enrolment in sorted(waiting, key=lambda e: (self.calendar.opens_on(e), e.school)):
            if enrolment.school in seen:
                continue
            seen.add(enrolment.school)
            decisions.append(self._school_not_open(enrolment, today))
        return decisions

    def _school_not_open(self, enrolment: Enrolment, today: date) -> Decision:
        school, category = enrolment.school, enrolment.category
        opens_on = self.calendar.opens_on(enrolment)
        facts: dict[str, str | date | None] = {
            "school": school,
            "department": enrolment.department,
            "category": category.value,
            "academic_year": str(enrolment.academic_year),
            "opens_on": opens_on,
        }
        if today < opens_on:
            fr = (
                f"L'école {school} ouvre le {fr_date(opens_on)} ({CATEGORY_FR[category]}) : "
                f"rien de cette école n'apparaît avant (groupes, annuaire, listing du "
                f"secrétariat), l'inscription {enrolment.academic_year} y donnera accès ce "
                "jour-là."
            )
            en = (
                f"School {school} opens on {en_date(opens_on)} ({CATEGORY_EN[category]}): "
                "nothing of this school shows before then (groups, directory, secretariat "
                f"listing); the {enrolment.academic_year} enrolment gives access on that day."
            )
        else:
            fr = (
                f"L'école {school} ({CATEGORY_FR[category]}) n'apparaît pas encore : le "
                "secrétariat n'a pas terminé l'encodage de l'inscription ; l'accès suit la "
                "nuit après la fin de l'encodage."
            )
            en = (
                f"School {school} ({CATEGORY_EN[category]}) does not show yet: the "
                "secretariat has not finished encoding the enrolment; access follows the "
                "night after it has."
            )
        return Decision.defer(
            self.name, Reason(code="access.school.not_open", fr=fr, en=en, data=facts)
        )

    def _student_not_open(self, role: Decision) -> Decision:
        missing = _missing(role)
        why_fr = why_en = ""
        if missing:
            why_fr = (
                " (signalétique incomplète dans le logiciel du secrétariat ; il manque : "
                f"{fr_list(FIELD_FR[m] for m in missing)})"
            )
            why_en = (
                " (identity data incomplete in the secretariat's software; missing: "
                f"{en_list(FIELD_EN[m] for m in missing)})"
            )
        return Decision.defer(
            self.name,
            Reason(
                code="access.student.not_open",
                fr=(
                    f"Le rôle étudiant n'est pas encore ouvert{why_fr} : aucune école "
                    "n'apparaît à ce titre ; l'accès suit la nuit après l'encodage correct."
                ),
                en=(
                    f"The student role is not open yet{why_en}: no school shows for it; "
                    "access follows the night after the correction."
                ),
                data={"missing": missing},
            ),
        )

    def _staff_not_open(self, role: Decision) -> Decision:
        missing = _missing(role)
        why_fr = why_en = ""
        if missing:
            why_fr = (
                " (signalétique incomplète dans le logiciel du bureau du personnel ; il "
                f"manque : {fr_list(FIELD_FR[m] for m in missing)})"
            )
            why_en = (
                " (identity data incomplete in the personnel office's software; missing: "
                f"{en_list(FIELD_EN[m] for m in missing)})"
            )
        return Decision.defer(
            self.name,
            Reason(
                code="access.staff.not_open",
                fr=(
                    f"Le rôle de membre du personnel n'est pas encore ouvert{why_fr} : les "
                    "écoles des attributions n'apparaissent pas ; l'accès suit dans les "
                    "24 heures après l'encodage correct."
                ),
                en=(
                    f"The staff role is not open yet{why_en}: the schools of the "
                    "attributions do not show; access follows within 24 hours of the "
                    "correction."
                ),
                data={"missing": missing},
            ),
        )

    # -- staff -----------------------------------------------------------------------------

    def _staff(
        self, person: Person, today: date, groups: set[str], entitlements: set[str]
    ) -> list[Decision]:
        ordered = sorted(person.attributions, key=lambda a: (a.start, a.school, a.function))
        decisions = [self._attribution(a, today, groups, entitlements) for a in ordered]
        if not any(d.allowed for d in decisions):
            decisions.append(
                Decision.deny(
                    self.name,
                    Reason(
                        code="access.staff.no_attribution",
                        fr=(
                            "Aucune attribution en cours : le compte (messagerie, eduroam) est "
                            "conservé, sans accès aux informations d'une catégorie ou d'une "
                            "école. L'accès suit une attribution encodée par le bureau du "
                            "personnel."
                        ),
                        en=(
                            "No current attribution: the account (mail, eduroam) is kept, "
                            "without access to the information of any category or school. "
                            "Access follows an attribution encoded by the personnel office."
                        ),
                    ),
                )
            )
        return decisions

    def _attribution(
        self, attribution: Attribution, today: date, groups: set[str], entitlements: set[str]
    ) -> Decision:
        category, school = attribution.category, attribution.school
        ahead = self.settings.preprovision_days_for(category, school)
        access_from = attribution.start - timedelta(days=ahead)
        where_fr = f"Attribution ({_FUNCTION_FR[attribution.function]}) à {school}"
        where_en = f"Attribution ({attribution.function}) at {school}"
        facts: dict[str, str | date | tuple[str, ...] | None] = {
            "school": school,
            "category": category.value,
            "function": attribution.function.value,
            "start": attribution.start,
            "end": attribution.end,
            "access_from": access_from,
        }
        if attribution.end is not None and attribution.end < today:
            return Decision.deny(
                self.name,
                Reason(
                    code="access.attribution.ended",
                    fr=f"{where_fr} terminée le {fr_date(attribution.end)} : plus d'accès.",
                    en=f"{where_en} ended on {en_date(attribution.end)}: no access any more.",
                    data=facts,
                ),
            )
        if today < access_from:
            return Decision.defer(
                self.name,
                Reason(
                    code="access.attribution.future",
                    fr=(
                        f"{where_fr} à partir du {fr_date(attribution.start)} : accès ouvert "
                        f"le {fr_date(access_from)}, {ahead} jours avant le début."
                    ),
                    en=(
                        f"{where_en} from {en_date(attribution.start)}: access opens on "
                        f"{en_date(access_from)}, {ahead} days before the start."
                    ),
                    data=facts,
                ),
            )
        grants = self.settings.staff_grants(category, school)
        values = {
            "category": category.value,
            "school": school,
            "function": attribution.function.value,
        }
        given = _render(grants.groups, values)
        entitled = _render(grants.entitlements, values)
        groups |= given
        entitlements |= entitled
        facts |= {"groups": tuple(sorted(given)), "entitlements": tuple(sorted(entitled))}
        if today < attribution.start:
            code = "access.attribution.early"
            fr = f"{where_fr} à partir du {fr_date(attribution.start)} : accès ouvert à l'avance."
            en = f"{where_en} from {en_date(attribution.start)}: access opened ahead of it."
        else:
            until_fr = f" jusqu'au {fr_date(attribution.end)}" if attribution.end else ""
            until_en = f" until {en_date(attribution.end)}" if attribution.end else ""
            code = "access.attribution"
            fr = f"{where_fr} en cours{until_fr} : accès à cette catégorie/école."
            en = f"{where_en} current{until_en}: access to this category/school."
        return Decision.allow(self.name, Reason(code=code, fr=fr, en=en, data=facts))


def _walk(decision: Decision) -> Iterator[Decision]:
    """Yield ``decision`` and every decision combined into it, depth first."""
    yield decision
    for cause in decision.causes:
        yield from _walk(cause)


def _missing(role: Decision) -> tuple[str, ...]:
    """Return the identity fields a role's decision says are missing (in order, once)."""
    found: list[str] = []
    for leaf in role.leaves():
        value = leaf.reason.data.get("missing", ())
        for name in value if isinstance(value, tuple) else ():
            if str(name) not in found:
                found.append(str(name))
    return tuple(found)
