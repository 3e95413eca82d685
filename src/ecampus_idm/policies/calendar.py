"""Calendar: whether, and from when, a person is entitled to an account.

This module owns the account-opening rules of the support FAQ:

* students get an account when an enrolment of theirs opens: a configured day per
  category (Haute École 1 September, Promotion Sociale 1 August, secondary 1 August) in
  the year the academic year starts, and for secondary schools only once the secretariat
  has finished encoding the pupil; before that the decision is *pending* and says on
  which day the account will be created;
* staff (teachers, administrative staff) get an account as soon as their identity data
  is complete; otherwise the decision is pending and names the missing fields. Runs are
  at least daily, so "within 24 hours" holds.

The rules are small :class:`~ecampus_idm.policies.base.Rule` values registered on a
:class:`~ecampus_idm.policies.base.RuleRegistry`:

=================== ============================================================
``student-role``    the person holds the student role and has enrolments
``enrolment-open``  one of the enrolments is open today
``student-identity`` the identity fields required of students are filled in
``staff-role``      the person is a teacher or administrative staff member
``staff-identity``  the identity fields required of staff are filled in
``student-account`` ``student-role & enrolment-open & student-identity``
``staff-account``   ``staff-role & staff-identity``
``account``         ``student-account | staff-account``
=================== ============================================================

Composite rules refer to their parts by name, so replacing ``staff-identity`` in the
registry changes ``account`` too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from ecampus_idm.model import Category, EmailIssue, Enrolment, Person
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
from ecampus_idm.policies.base import (
    Check,
    Context,
    Decision,
    Reason,
    RuleRegistry,
    combine,
)
from ecampus_idm.policies.settings import CalendarSettings, IdentityField

__all__ = ["CalendarPolicy"]

_ABSENT = Reason(
    code="calendar.absent",
    fr="La personne ne figure dans aucune source.",
    en="The person is in no source.",
)


def _place(enrolment: Enrolment) -> tuple[str, str]:
    """Return how an enrolment is named in French and in English."""
    where = enrolment.school
    if enrolment.department:
        where += f"/{enrolment.department}"
    year = str(enrolment.academic_year)
    return (
        f"Inscription {year} à {where} ({CATEGORY_FR[enrolment.category]})",
        f"Enrolment {year} at {where} ({CATEGORY_EN[enrolment.category]})",
    )


def _facts(enrolment: Enrolment, opens_on: date) -> dict[str, str | date | None]:
    return {
        "school": enrolment.school,
        "department": enrolment.department,
        "category": enrolment.category.value,
        "academic_year": str(enrolment.academic_year),
        "opens_on": opens_on,
    }


class CalendarPolicy:
    """Decides whether a person is entitled to an account today.

    Args:
        settings: Opening days, encoding and identity requirements.
        registry: Where to register the rules (a new registry when omitted).

    Attributes:
        name: ``calendar``.
        rules: The registry holding the rules listed in the module documentation.
    """

    name = "calendar"

    def __init__(self, settings: CalendarSettings, registry: RuleRegistry | None = None) -> None:
        self.settings = settings
        self.rules = registry if registry is not None else RuleRegistry()
        leaves: dict[str, Callable[[Person, Context], Decision]] = {
            "student-role": self._student_role,
            "enrolment-open": self._enrolment_open,
            "student-identity": self._student_identity,
            "staff-role": self._staff_role,
            "staff-identity": self._staff_identity,
        }
        for name, check in leaves.items():
            self.rules.register(name, Check(name, _needs_person(name, check)))
        ref = self.rules.ref
        self.rules.register(
            "student-account",
            ref("student-role") & ref("enrolment-open") & ref("student-identity"),
        )
        self.rules.register("staff-account", ref("staff-role") & ref("staff-identity"))
        self.rules.register("account", ref("student-account") | ref("staff-account"))

    def __call__(self, context: Context, /) -> Decision:
        """Return whether ``context``'s person is entitled to an account today."""
        return self.rules["account"](context)

    def opens_on(self, enrolment: Enrolment) -> date:
        """Return the day accounts open for ``enrolment``'s school and academic year."""
        day = self.settings.opening_day(enrolment.category, enrolment.school)
        return day.in_year(enrolment.academic_year.start_year)

    def is_open(self, enrolment: Enrolment, today: date) -> bool:
        """Return whether ``enrolment`` gives an account on ``today``."""
        return self.opens_on(enrolment) <= today and self._encoded(enrolment)

    def current_enrolments(self, person: Person, today: date) -> tuple[Enrolment, ...]:
        """Return the enrolments that count today: open ones, of the latest open year per category.

        A student re-enrolled for the next year keeps last year's enrolment until the
        new one opens, then moves to it: that is how a change of school or department
        reaches the groups.
        """
        open_ones = [e for e in person.enrolments if self.is_open(e, today)]
        latest: dict[Category, int] = {}
        for enrolment in open_ones:
            year = enrolment.academic_year.start_year
            latest[enrolment.category] = max(year, latest.get(enrolment.category, year))
        current = [e for e in open_ones if e.academic_year.start_year == latest[e.category]]
        return tuple(sorted(current, key=lambda e: (e.category, e.school, e.department or "")))

    def _encoded(self, enrolment: Enrolment) -> bool:
        required = enrolment.category in self.settings.encoding_required
        return enrolment.encoding_complete or not required

    # -- leaf rules ------------------------------------------------------------------------

    def _student_role(self, person: Person, context: Context) -> Decision:
        del context
        if person.is_student and person.enrolments:
            return Decision.allow(
                "student-role",
                Reason(
                    code="calendar.student",
                    fr="Inscrit(e) comme étudiant(e) par un secrétariat.",
                    en="Enrolled as a student by a secretariat.",
                ),
            )
        return Decision.deny(
            "student-role",
            Reason(
                code="calendar.not_student",
                fr="Aucune inscription d'étudiant dans les logiciels des secrétariats.",
                en="No student enrolment in the secretariats' software.",
            ),
        )

    def _enrolment_open(self, person: Person, context: Context) -> Decision:
        decisions = [self._one_enrolment(e, context.today) for e in person.enrolments]
        if not decisions:
            return Decision.deny(
                "enrolment-open",
                Reason(
                    code="calendar.enrolment.none",
                    fr="Aucune inscription en cours ou à venir.",
                    en="No current or coming enrolment.",
                ),
            )
        # An enrolment is either open or pending (a day or the encoding to wait for).
        allowed = [d for d in decisions if d.allowed]
        return combine(allowed or decisions, "enrolment-open")

    def _one_enrolment(self, enrolment: Enrolment, today: date) -> Decision:
        opens_on = self.opens_on(enrolment)
        place_fr, place_en = _place(enrolment)
        facts = _facts(enrolment, opens_on)
        if self.is_open(enrolment, today):
            return Decision.allow(
                "enrolment-open",
                Reason(
                    code="calendar.enrolment.open",
                    fr=f"{place_fr} : comptes ouverts depuis le {fr_date(opens_on)}.",
                    en=f"{place_en}: accounts open since {en_date(opens_on)}.",
                    data=facts,
                ),
            )
        if today < opens_on:
            wait_fr = wait_en = ""
            if not self._encoded(enrolment):
                wait_fr = ", si le secrétariat a terminé l'encodage"
                wait_en = ", if the secretariat has finished encoding the record by then"
            return Decision.defer(
                "enrolment-open",
                Reason(
                    code="calendar.enrolment.before_opening",
                    fr=(
                        f"{place_fr} : le compte sera créé le {fr_date(opens_on)}{wait_fr}, "
                        "date d'ouverture des comptes de cette catégorie."
                    ),
                    en=(
                        f"{place_en}: the account will be created on {en_date(opens_on)}"
                        f"{wait_en}, when accounts of this category open."
                    ),
                    data=facts,
                ),
            )
        return Decision.defer(
            "enrolment-open",
            Reason(
                code="calendar.enrolment.encoding",
                fr=(
                    f"{place_fr} : le secrétariat n'a pas terminé l'encodage ; le compte sera "
                    "créé la nuit qui suit la fin de l'encodage."
                ),
                en=(
                    f"{place_en}: the secretariat has not finished encoding the record; the "
                    "account will be created the night after it has."
                ),
                data=facts,
            ),
        )

    def _student_identity(self, person: Person, context: Context) -> Decision:
        del context
        return _identity(
            "student-identity",
            person,
            self.settings.student_required_fields,
            office_fr="du secrétariat",
            office_en="the secretariat's",
        )

    def _staff_role(self, person: Person, context: Context) -> Decision:
        del context
        if person.is_staff:
            return Decision.allow(
                "staff-role",
                Reason(
                    code="calendar.staff",
                    fr="Membre du personnel (enseignant ou administratif).",
                    en="Staff member (teacher or administrative).",
                ),
            )
        return Decision.deny(
            "staff-role",
            Reason(
                code="calendar.not_staff",
                fr="Ni enseignant ni membre du personnel administratif.",
                en="Neither a teacher nor administrative staff.",
            ),
        )

    def _staff_identity(self, person: Person, context: Context) -> Decision:
        del context
        return _identity(
            "staff-identity",
            person,
            self.settings.staff_required_fields,
            office_fr="du bureau du personnel",
            office_en="the personnel office's",
        )


def _identity(
    policy: str,
    person: Person,
    required: tuple[IdentityField, ...],
    *,
    office_fr: str,
    office_en: str,
) -> Decision:
    """Return whether ``person`` has every ``required`` identity field filled in."""
    missing = tuple(name for name in required if getattr(person, name) is None)
    # A mistyped address is encoded, but unusable: say so, the office corrects it.
    mistyped = person.email_issue is EmailIssue.INVALID
    invalid: tuple[str, ...] = (
        ("personal_email",) if mistyped and "personal_email" in missing else ()
    )
    if not missing:
        return Decision.allow(
            policy,
            Reason(
                code="calendar.identity.complete",
                fr="Signalétique complète : le compte est créé dans les 24 heures.",
                en="Identity data complete: the account is created within 24 hours.",
            ),
        )
    return Decision.defer(
        policy,
        Reason(
            code="calendar.identity.missing",
            fr=(
                f"Signalétique incomplète dans le logiciel {office_fr} ; il manque : "
                f"{fr_list(_fr_field(m, invalid) for m in missing)}. Le compte sera créé "
                "dans les 24 heures suivant l'encodage correct."
            ),
            en=(
                f"Identity data incomplete in {office_en} software; missing: "
                f"{en_list(_en_field(m, invalid) for m in missing)}. The account will be "
                "created within 24 hours of the correction."
            ),
            data={"missing": missing, "invalid": invalid},
        ),
    )


def _fr_field(name: str, invalid: tuple[str, ...]) -> str:
    return f"{FIELD_FR[name]} (encodée mais invalide)" if name in invalid else FIELD_FR[name]


def _en_field(name: str, invalid: tuple[str, ...]) -> str:
    return f"{FIELD_EN[name]} (encoded but invalid)" if name in invalid else FIELD_EN[name]


def _needs_person(
    name: str, check: Callable[[Person, Context], Decision]
) -> Callable[[Context], Decision]:
    """Wrap ``check`` so that a person in no source is denied with that reason."""

    def rule(context: Context) -> Decision:
        if context.person is None:
            return Decision.deny(name, _ABSENT)
        return check(context.person, context)

    return rule
