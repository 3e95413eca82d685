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
* a person in no source loses every school access at once.

Everything is recomputed from the sources on each run, so a change of school or
department, or a new attribution, reaches the groups on the next run.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict

from ecampus_idm.model import Attribution, Enrolment, Person
from ecampus_idm.policies._text import CATEGORY_EN, CATEGORY_FR, en_date, fr_date
from ecampus_idm.policies.base import Context, Decision, Reason, strongest
from ecampus_idm.policies.calendar import CalendarPolicy
from ecampus_idm.policies.settings import AccessSettings

__all__ = ["Access", "AccessPolicy"]

_FUNCTION_FR = {"teacher": "enseignant", "administrative": "administratif"}


class Access(BaseModel):
    """What a person may access today, and why.

    Attributes:
        groups: Group names (lower case) the person belongs in.
        entitlements: ``eduPersonEntitlement`` values.
        decisions: One decision per enrolment or attribution considered, plus one when
            there is nothing to grant, each with its reason.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    groups: frozenset[str] = frozenset()
    entitlements: frozenset[str] = frozenset()
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

    def assess(self, context: Context) -> Access:
        """Return the groups, entitlements and reasons for ``context``'s person today."""
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
        if person.is_student:
            decisions += self._students(person, context.today, groups, entitlements)
        if person.is_staff:
            decisions += self._staff(person, context.today, groups, entitlements)
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
            decisions=tuple(decisions),
        )

    # -- students --------------------------------------------------------------------------

    def _students(
        self, person: Person, today: date, groups: set[str], entitlements: set[str]
    ) -> list[Decision]:
        current = self.calendar.current_enrolments(person, today)
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
