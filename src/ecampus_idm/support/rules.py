"""The conclusions of the support diagnosis: small ordered rules over the gathered facts.

This module owns :class:`Facts` (everything known about one person, gathered once by
:class:`~ecampus_idm.support.diagnose.Diagnostician`), :class:`Conclusion` and the rules.
A rule is a callable ``Facts -> Conclusion | None``; :data:`DEFAULT_RULES` lists them in
order and the first that applies wins (else :func:`escalate`). Each conclusion maps to a
step of the support FAQ (:class:`FaqStep`) and says who acts and when, in French first
and in English. An installation may insert, drop or replace rules by passing its own
sequence to the diagnostician.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from ecampus_idm.connectors.quarantine import Refusal, RowIssue
from ecampus_idm.directory.base import Entry
from ecampus_idm.model import AccountStatus, EmailIssue, Person, School
from ecampus_idm.policies._text import en_date, fr_date
from ecampus_idm.policies.base import Decision
from ecampus_idm.policies.engine import PersonVerdict
from ecampus_idm.store.base import AccountRecord, Event
from ecampus_idm.support._text import cap, mask_email
from ecampus_idm.support.settings import Language

__all__ = [
    "DEFAULT_RULES",
    "MAIL_PURPOSE_TEXT",
    "MAIL_STATUS_TEXT",
    "Conclusion",
    "ConclusionCode",
    "Facts",
    "FaqStep",
    "MailState",
    "Rule",
    "escalate",
    "safe_address",
]

_WELCOME = frozenset({"welcome", "welcome-again", "activation", "reset-hint"})
"""Purposes of the mails that carry the access (not the user's own reset requests)."""
_NO_ADDRESS = "no_address"
_INVALID = "invalid_address"
_ENCODED_FR = "l'adresse encodée"

MAIL_PURPOSE_TEXT = {
    "welcome": ("Courriel de bienvenue", "Welcome mail"),
    "welcome-again": ("Renvoi des accès", "Credentials sent again"),
    "reset-hint": ("Explication « Mot de passe oublié »", "'Forgot password' explanation"),
    "reset": ("Lien de réinitialisation", "Reset link"),
    "activation": ("Lien d'activation", "Activation link"),
}
"""How the timeline names a mail of each purpose (French, English)."""

MAIL_STATUS_TEXT = {
    "queued": ("en file d'attente", "queued"),
    "sent": ("remis au serveur du destinataire", "delivered to the receiving server"),
    "deferred": ("reporté après un échec temporaire", "deferred after a temporary failure"),
    "failed": ("échec définitif", "failed permanently"),
    "bounced": ("revenu en erreur", "bounced"),
}
"""How the timeline and the conclusions say where a mail stands (French, English)."""


def _status(status: str) -> tuple[str, str]:
    return MAIL_STATUS_TEXT.get(status, (status, status))


def safe_address(value: object) -> str:
    """Return an address from event data, masked unless it already is."""
    text = "" if value is None else str(value)
    return mask_email(text) if "@" in text and "***" not in text else text


# -- the answer ---------------------------------------------------------------------------


class ConclusionCode(StrEnum):
    """The conclusions a diagnosis can reach (stable codes for the support tooling)."""

    NOT_FOUND = "not-found"
    ROW_REJECTED = "row-rejected"
    ACCOUNT_ON_DATE = "account-on-date"
    ENCODING_UNFINISHED = "encoding-unfinished"
    IDENTITY_INCOMPLETE = "identity-incomplete"
    NOT_ENTITLED = "not-entitled"
    ACCOUNT_INACTIVE = "account-inactive"
    GRACE_PERIOD = "grace-period"
    NO_ATTRIBUTION = "no-attribution"
    ACCOUNT_NEXT_RUN = "account-next-run"
    EMAIL_MISSING = "email-missing"
    EMAIL_INVALID = "email-invalid"
    PASSWORD_CHANGED = "password-changed"  # noqa: S105 - a conclusion code, not a password
    MAIL_LEAVES_TONIGHT = "mail-leaves-tonight"
    MAIL_BOUNCED = "mail-bounced"
    MAIL_PENDING = "mail-pending"
    RESET_ADDRESS_UNKNOWN = "reset-address-unknown"
    CHECK_SPAM = "check-spam"
    NO_WELCOME_MAIL = "no-welcome-mail"
    ESCALATE = "escalate"


class FaqStep(StrEnum):
    """The steps of the support FAQ ("Je n'ai pas reçu mon identifiant...")."""

    ACCOUNT_CREATION = "account-creation"
    """The FAQ's "Création des comptes": dates, encoding by the offices."""
    ATTRIBUTION = "attribution"
    """A teacher needs an attribution in a category/school to access it."""
    CHECK_SPAM = "check-spam"
    """The FAQ's "Vérifiez votre dossier SPAM", then "Mot de passe oublié"."""
    FORGOT_PASSWORD = "forgot-password"  # noqa: S105 - an FAQ step name, not a password
    """The "Mot de passe oublié" link on the eCampus home page."""
    CHECK_EMAIL_ENCODING = "check-email-encoding"
    """The FAQ's "Vérifiez l'encodage de votre adresse e-mail"; mail the next night."""
    SECRETARIAT_LISTING = "secretariat-listing"
    """The secretariat's listing holds the username and default password."""
    CONTACT_SUPPORT = "contact-support"
    """Support investigates (escalation)."""


@dataclass(frozen=True)
class Conclusion:
    """What to tell the person (or do), mapped to an FAQ step.

    Attributes:
        code: The conclusion.
        step: The FAQ step it maps to.
        fr: The explanation and the next action, in French.
        en: The same in English.
        data: Facts behind it (dates as ISO text, school codes...).
    """

    code: ConclusionCode
    step: FaqStep
    fr: str
    en: str
    data: Mapping[str, str] = field(default_factory=dict)

    def text(self, lang: Language) -> str:
        """Return the explanation in ``lang``."""
        return self.fr if lang == "fr" else self.en


@dataclass(frozen=True)
class MailState:
    """One mail of the person, from the outbox or the store's ``mail.*`` events.

    Attributes:
        purpose: ``welcome``, ``welcome-again``, ``reset``...
        status: ``queued``, ``sent``, ``deferred``, ``failed``, ``bounced``.
        at: When it last changed.
        to_masked: The masked recipient.
        next_attempt_at: When it will be tried again (deferred).
        last_error: The last delivery error.
    """

    purpose: str
    status: str
    at: datetime
    to_masked: str = ""
    next_attempt_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Facts:
    """Everything the conclusion rules may look at (gathered once, read-only).

    Attributes:
        school: The school asked about.
        now: The diagnosis instant.
        next_run: When the next nightly run starts.
        person: The person as the sources describe them today, if found there.
        person_id: The person's id, if found anywhere.
        issues: Rows of the person set aside by validation.
        refused: Sources not usable today (their people are not taken for leavers).
        verdict: Today's policy verdict, if the person is known.
        account: What the store remembers of the account.
        username: The live username.
        entry: The account's entry in the directory now.
        groups: The groups the entry belongs to now.
        events: The store's timeline of the person, oldest first.
        mails: The person's mails, oldest first.
        mails_from_outbox: Whether ``mails`` are the outbox's messages (else they were
            read from the store's ``mail.*`` events, already on the timeline).
        other_school: Whether the matricule asked for belongs only to people of other
            schools (they are not shown: :func:`not_found` says so).
    """

    school: School
    now: datetime
    next_run: datetime
    person: Person | None
    person_id: str | None
    issues: tuple[RowIssue, ...] = ()
    refused: tuple[Refusal, ...] = ()
    verdict: PersonVerdict | None = None
    account: AccountRecord | None = None
    username: str | None = None
    entry: Entry | None = None
    groups: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    mails: tuple[MailState, ...] = ()
    mails_from_outbox: bool = False
    other_school: bool = False

    @property
    def is_student_here(self) -> bool:
        """Whether the person has an enrolment (any year) in the asked school."""
        code = self.school.code.casefold()
        return self.person is not None and any(
            e.school.casefold() == code for e in self.person.enrolments
        )

    @property
    def office(self) -> tuple[str, str]:
        """Who encodes the person's data: the secretariat or the personnel office."""
        person = self.person
        if person is not None and person.is_staff and not self.is_student_here:
            return "le bureau du personnel", "the personnel office"
        return (
            "le secrétariat de votre département / école",
            "the secretariat of your department / school",
        )

    def leaves(self) -> list[Decision]:
        """Every leaf decision of today's verdict, in order."""
        if self.verdict is None:
            return []
        return [leaf for d in self.verdict.decisions for leaf in d.leaves()]

    def last_event(self, *kinds: str) -> Event | None:
        """Return the latest event of one of ``kinds``."""
        return next((e for e in reversed(self.events) if e.kind in kinds), None)

    def welcome_mails(self) -> list[MailState]:
        """The mails that carry the access (welcome, again, activation...), oldest first."""
        return [m for m in self.mails if m.purpose in _WELCOME]


Rule = Callable[[Facts], Conclusion | None]
"""A conclusion rule: a conclusion when it applies, else ``None``."""


# -- rules --------------------------------------------------------------------------------


def _when(instant: datetime, facts: Facts) -> tuple[str, str]:
    """The day and hour in the institution's zone, named: "le 11 septembre 2026 à 02:00 CEST"."""
    local = instant.astimezone(facts.next_run.tzinfo)
    hour = local.strftime("%H:%M %Z")
    day = local.date()
    return f"le {fr_date(day)} à {hour}", f"on {en_date(day)} at {hour}"


def _iso(instant: datetime, facts: Facts) -> str:
    """ISO 8601 with the institution's offset (``next_run`` is in its zone)."""
    return instant.astimezone(facts.next_run.tzinfo).isoformat()


def not_found(facts: Facts) -> Conclusion | None:
    """Nobody matches in the sources nor the store: the office must encode the person."""
    if facts.person_id is not None or facts.issues:
        return None
    office_fr, office_en = facts.office
    if facts.other_school:
        name = f"{facts.school.name} ({facts.school.code})"
        return Conclusion(
            ConclusionCode.NOT_FOUND,
            FaqStep.ACCOUNT_CREATION,
            f"Aucune personne de {name} n'a ce matricule : il est celui d'une personne d'une "
            "autre école (qui n'est pas affichée). Vérifier l'école choisie par la personne, ou "
            "chercher par nom d'utilisateur, adresse e-mail personnelle ou nom et date de "
            f"naissance ; si elle est bien inscrite à {facts.school.name}, {office_fr} doit "
            "vérifier l'encodage.",
            f"Nobody has this matricule at {name}: it is the number of a person of another "
            "school (not shown). Check the school the person chose, or search by username, "
            "personal e-mail address or name and birth date; if they are enrolled at "
            f"{facts.school.name}, {office_en} must check the record.",
            {"school": facts.school.code, "other_school": "yes"},
        )
    return Conclusion(
        ConclusionCode.NOT_FOUND,
        FaqStep.ACCOUNT_CREATION,
        "Aucune personne ne correspond dans les logiciels des secrétariats ni du bureau du "
        f"personnel. Les comptes sont créés à partir de leurs encodages : {office_fr} doit "
        "vérifier l'encodage (inscription, nom, adresse e-mail personnelle).",
        "Nobody matches in the secretariats' or the personnel office's software. Accounts "
        f"are created from what they encode: {office_en} must check the record (enrolment, "
        "names, personal e-mail address).",
        {"school": facts.school.code},
    )


def row_rejected(facts: Facts) -> Conclusion | None:
    """The person's row was set aside by validation: the office must correct a field."""
    if facts.person is not None or not facts.issues:
        return None
    issue = facts.issues[0]
    office_fr, office_en = facts.office
    where = f"{issue.source}, ligne {issue.line}"
    column = issue.column or issue.field or "-"
    return Conclusion(
        ConclusionCode.ROW_REJECTED,
        FaqStep.ACCOUNT_CREATION,
        f"L'encodage de la personne a été écarté ({where}, champ {column}) : "
        f"{issue.message_fr} {cap(office_fr)} doit corriger l'encodage ; le compte sera créé "
        "la nuit qui suit la correction.",
        f"The person's record was set aside ({issue.source}, line {issue.line}, field "
        f"{column}): {issue.message_en} {cap(office_en)} must correct it; the account is "
        "created the night after the correction.",
        {"source": issue.source, "line": str(issue.line), "field": issue.field or ""},
    )


def _pending(facts: Facts, code: str) -> Decision | None:
    if facts.verdict is None or facts.verdict.status is not None:
        return None
    wanted = facts.school.code.casefold()
    found = [d for d in facts.leaves() if d.pending and d.reason.code == code]
    here = [d for d in found if str(d.reason.data.get("school", "")).casefold() == wanted]
    chosen = here or found
    return chosen[0] if chosen else None


def account_on_date(facts: Facts) -> Conclusion | None:
    """Pending until the category's opening day: the account is created on that day."""
    decision = _pending(facts, "calendar.enrolment.before_opening")
    if decision is None:
        return None
    opens = decision.reason.data.get("opens_on")
    if not isinstance(opens, date):
        return None
    return Conclusion(
        ConclusionCode.ACCOUNT_ON_DATE,
        FaqStep.ACCOUNT_CREATION,
        f"Le compte sera créé automatiquement le {fr_date(opens)} (ouverture des comptes de "
        "cette catégorie) et les accès envoyés à l'adresse e-mail personnelle. Rien à faire "
        f"d'ici là. ({decision.reason.fr})",
        f"The account will be created automatically on {en_date(opens)} (when accounts of "
        "this category open) and the credentials sent to the personal e-mail address. "
        f"Nothing to do until then. ({decision.reason.en})",
        {"opens_on": opens.isoformat(), "school": str(decision.reason.data.get("school", ""))},
    )


def encoding_unfinished(facts: Facts) -> Conclusion | None:
    """Secondary school: the secretariat has not finished encoding the pupil."""
    decision = _pending(facts, "calendar.enrolment.encoding")
    if decision is None:
        return None
    return Conclusion(
        ConclusionCode.ENCODING_UNFINISHED,
        FaqStep.ACCOUNT_CREATION,
        "Le secrétariat n'a pas terminé l'encodage de l'élève : le compte sera créé la nuit "
        "qui suit la fin de l'encodage. Contactez le secrétariat de l'école.",
        "The secretariat has not finished encoding the pupil's record: the account is "
        "created the night after it has. Contact the school's secretariat.",
        {"school": str(decision.reason.data.get("school", ""))},
    )


def identity_incomplete(facts: Facts) -> Conclusion | None:
    """Identity data incomplete: the office must complete it (account within 24 hours)."""
    decision = _pending(facts, "calendar.identity.missing")
    if decision is None:
        return None
    office_fr, office_en = facts.office
    missing = decision.reason.data.get("missing", ())
    return Conclusion(
        ConclusionCode.IDENTITY_INCOMPLETE,
        FaqStep.ACCOUNT_CREATION,
        f"{decision.reason.fr} À compléter par {office_fr}.",
        f"{decision.reason.en} To be completed by {office_en}.",
        {"missing": ",".join(missing) if isinstance(missing, tuple) else str(missing)},
    )


def not_entitled(facts: Facts) -> Conclusion | None:
    """Known, but no enrolment or role gives an account today."""
    verdict = facts.verdict
    if verdict is None or verdict.status is not None or facts.person is None:
        return None
    reasons = [d for d in facts.leaves() if not d.allowed]
    fr = " ".join(d.reason.fr for d in reasons[:2]) or "Aucun droit à un compte aujourd'hui."
    en = " ".join(d.reason.en for d in reasons[:2]) or "No entitlement to an account today."
    office_fr, office_en = facts.office
    return Conclusion(
        ConclusionCode.NOT_ENTITLED,
        FaqStep.ACCOUNT_CREATION,
        f"Pas de compte pour l'instant : {fr} {cap(office_fr)} doit vérifier l'encodage.",
        f"No account for now: {en} {cap(office_en)} must check the record.",
    )


def account_inactive(facts: Facts) -> Conclusion | None:
    """The account is disabled or deleted (the person left): support explains or escalates."""
    status = facts.verdict.status if facts.verdict else None
    if status is None and facts.account is not None:
        status = facts.account.status
    if status not in (AccountStatus.DISABLED, AccountStatus.DELETED):
        return None
    lifecycle = next(
        (d for d in facts.leaves() if d.reason.code.startswith("lifecycle")),
        None,
    )
    why_fr = lifecycle.reason.fr if lifecycle else ""
    why_en = lifecycle.reason.en if lifecycle else ""
    return Conclusion(
        ConclusionCode.ACCOUNT_INACTIVE,
        FaqStep.CONTACT_SUPPORT,
        f"Le compte est {'désactivé' if status is AccountStatus.DISABLED else 'supprimé'}. "
        f"{why_fr} Si la personne est à nouveau inscrite ou attribuée, le compte revient la "
        "nuit qui suit l'encodage ; sinon, à traiter par le support.",
        f"The account is {status.value}. {why_en} If the person is enrolled or attributed "
        "again, the account comes back the night after it is encoded; otherwise, support "
        "handles it.",
        {"status": status.value},
    )


def grace_period(facts: Facts) -> Conclusion | None:
    """The person left every source: the account still works, without school access."""
    if facts.verdict is None or facts.verdict.status is not AccountStatus.GRACE:
        return None
    grace = next((d for d in facts.leaves() if d.reason.code == "lifecycle.grace"), None)
    office_fr, office_en = facts.office
    disable_on = grace.reason.data.get("disable_on") if grace else None
    return Conclusion(
        ConclusionCode.GRACE_PERIOD,
        FaqStep.ACCOUNT_CREATION,
        f"{grace.reason.fr if grace else 'La personne ne figure plus dans les sources.'} Si "
        f"elle est toujours inscrite ou attribuée, {office_fr} doit vérifier l'encodage : "
        "l'accès revient la nuit qui suit la correction.",
        f"{grace.reason.en if grace else 'The person is in no source any more.'} If they are "
        f"still enrolled or attributed, {office_en} must check the record: access comes back "
        "the night after the correction.",
        {"disable_on": disable_on.isoformat() if isinstance(disable_on, date) else ""},
    )


def school_not_open(facts: Facts) -> Conclusion | None:
    """The account is open through another role, but the asked school is not open yet."""
    if facts.verdict is None or facts.verdict.status is not AccountStatus.ACTIVE:
        return None
    wanted = facts.school.code.casefold()
    closed = next(
        (
            d
            for d in facts.leaves()
            if d.reason.code == "access.school.not_open"
            and str(d.reason.data.get("school", "")).casefold() == wanted
        ),
        None,
    )
    if closed is None:
        return None
    opens = closed.reason.data.get("opens_on")
    return Conclusion(
        ConclusionCode.ACCOUNT_ON_DATE,
        FaqStep.ACCOUNT_CREATION,
        f"Le compte existe déjà (par un autre rôle), mais l'école {facts.school.name} "
        f"n'est pas encore ouverte pour cette personne. {closed.reason.fr} Rien à faire "
        "d'ici là.",
        f"The account already exists (through another role), but the school "
        f"{facts.school.name} is not open for this person yet. {closed.reason.en} Nothing "
        "to do until then.",
        {
            "opens_on": opens.isoformat() if isinstance(opens, date) else "",
            "school": facts.school.code,
        },
    )


def no_attribution(facts: Facts) -> Conclusion | None:
    """A staff member without a current attribution in the asked school."""
    person = facts.person
    if person is None or not person.is_staff or facts.is_student_here:
        return None
    if facts.verdict is None or facts.verdict.status is not AccountStatus.ACTIVE:
        return None
    wanted = facts.school.code.casefold()
    allowed = [
        d
        for d in facts.leaves()
        if d.allowed
        and d.reason.code.startswith("access.attribution")
        and str(d.reason.data.get("school", "")).casefold() == wanted
    ]
    if allowed:
        return None
    future = [
        d
        for d in facts.leaves()
        if d.reason.code == "access.attribution.future"
        and str(d.reason.data.get("school", "")).casefold() == wanted
    ]
    if future:
        opens = future[0].reason.data.get("access_from")
        day = opens if isinstance(opens, date) else None
        return Conclusion(
            ConclusionCode.ACCOUNT_ON_DATE,
            FaqStep.ATTRIBUTION,
            f"{future[0].reason.fr} Le compte existe déjà ; l'accès à {facts.school.name} "
            "s'ouvrira à cette date.",
            f"{future[0].reason.en} The account already exists; access to "
            f"{facts.school.name} opens on that day.",
            {"opens_on": day.isoformat() if day else "", "school": facts.school.code},
        )
    if not person.attributions:
        return Conclusion(
            ConclusionCode.NO_ATTRIBUTION,
            FaqStep.ATTRIBUTION,
            "Le compte existe (messagerie, eduroam), mais le bureau du personnel n'a encodé "
            "aucune attribution : il ne donne accès aux informations d'aucune catégorie ni "
            f"école, dont {facts.school.name} ({facts.school.code}). Le bureau du personnel "
            "doit encoder l'attribution ; l'accès suit la nuit d'après.",
            "The account exists (mail, eduroam), but the personnel office has encoded no "
            "attribution: it gives no access to the information of any category or school, "
            f"{facts.school.name} ({facts.school.code}) included. The personnel office must "
            "encode the attribution; access follows the next night.",
            {"school": facts.school.code, "attributions": "none"},
        )
    return Conclusion(
        ConclusionCode.NO_ATTRIBUTION,
        FaqStep.ATTRIBUTION,
        f"Le compte existe, mais sans attribution en cours à {facts.school.name} "
        f"({facts.school.code}) il ne donne pas accès aux informations de cette école. Le "
        "bureau du personnel doit encoder l'attribution ; l'accès suit la nuit d'après.",
        f"The account exists, but without a current attribution at {facts.school.name} "
        f"({facts.school.code}) it gives no access to this school's information. The "
        "personnel office must encode the attribution; access follows the next night.",
        {"school": facts.school.code},
    )


def account_next_run(facts: Facts) -> Conclusion | None:
    """Entitled, but the account is not in the directory yet: the next run creates it."""
    verdict = facts.verdict
    if verdict is None or verdict.status is not AccountStatus.ACTIVE or facts.entry is not None:
        return None
    fr_when, en_when = _when(facts.next_run, facts)
    return Conclusion(
        ConclusionCode.ACCOUNT_NEXT_RUN,
        FaqStep.ACCOUNT_CREATION,
        f"La personne a droit à un compte, qui n'existe pas encore : il sera créé lors de la "
        f"prochaine exécution nocturne, {fr_when}, et les accès envoyés ensuite.",
        f"The person is entitled to an account that does not exist yet: it will be created "
        f"by the next nightly run, {en_when}, and the credentials sent afterwards.",
        {"next_run": _iso(facts.next_run, facts)},
    )


def email_invalid(facts: Facts) -> Conclusion | None:
    """The encoded personal address is mistyped: the account exists, the mail is held."""
    person = facts.person
    if person is None:
        return None
    mails = facts.welcome_mails()
    held = bool(mails) and mails[-1].status == "failed" and mails[-1].last_error == _INVALID
    if person.email_issue is not EmailIssue.INVALID and not held:
        return None
    if facts.verdict is None or facts.verdict.status is not AccountStatus.ACTIVE:
        return None
    office_fr, office_en = facts.office
    fr_when, en_when = _when(facts.next_run, facts)
    data = {"next_run": _iso(facts.next_run, facts)}
    if person.personal_email:
        # Corrected in today's export, not yet seen by a run: tonight's run sends it.
        return Conclusion(
            ConclusionCode.MAIL_LEAVES_TONIGHT,
            FaqStep.CHECK_EMAIL_ENCODING,
            "L'adresse e-mail personnelle, invalide lors de la création du compte, est "
            f"corrigée dans l'encodage d'aujourd'hui : les accès y seront envoyés {fr_when}. "
            "Vérifier ensuite le dossier SPAM.",
            "The personal e-mail address, invalid when the account was created, is "
            f"corrected in today's export: the credentials will be sent to it {en_when}. "
            "Then check the spam folder.",
            data,
        )
    if facts.entry is not None or held:
        fr_account = "le compte existe, mais l'e-mail de bienvenue est retenu"
        en_account = "the account exists, but the welcome mail is held"
    else:
        fr_account = f"le compte sera créé {fr_when}, mais l'e-mail de bienvenue retenu"
        en_account = f"the account will be created {en_when}, but the welcome mail held"
    return Conclusion(
        ConclusionCode.EMAIL_INVALID,
        FaqStep.CHECK_EMAIL_ENCODING,
        "L'adresse e-mail personnelle encodée n'est pas valide (erreur dans l'adresse ou le "
        f"domaine) : {fr_account}. {cap(office_fr)} doit corriger l'adresse ; les accès "
        f"partent la nuit suivant la correction (prochaine exécution {fr_when}). En "
        "attendant, le secrétariat peut donner les accès de son listing.",
        "The personal e-mail address encoded is not valid (a mistake in the address or its "
        f"domain): {en_account}. {cap(office_en)} must correct the address; the credentials "
        f"leave the night after the correction (next run {en_when}). Meanwhile the "
        "secretariat can hand them out from its listing.",
        data,
    )


def email_missing(facts: Facts) -> Conclusion | None:
    """No usable personal e-mail encoded: the welcome mail cannot leave."""
    if facts.person is None:
        return None
    mails = facts.welcome_mails()
    refused = bool(mails) and mails[-1].status == "failed" and mails[-1].last_error == _NO_ADDRESS
    if facts.person.personal_email and not refused:
        return None
    office_fr, office_en = facts.office
    return Conclusion(
        ConclusionCode.EMAIL_MISSING,
        FaqStep.CHECK_EMAIL_ENCODING,
        "Aucune adresse e-mail personnelle valide n'est encodée : l'e-mail de bienvenue ne "
        f"peut pas partir. {cap(office_fr)} doit l'encoder ; les accès partent la nuit "
        "suivante. En attendant, le secrétariat peut donner les accès de son listing.",
        f"No valid personal e-mail address is encoded: the welcome mail cannot leave. "
        f"{cap(office_en)} "
        "must encode it; the credentials leave the following night. Meanwhile the "
        "secretariat can hand them out from its listing.",
    )


def password_changed(facts: Facts) -> Conclusion | None:
    """The user already chose a password: the account works, use "Mot de passe oublié"."""
    changed = facts.last_event("password.changed", "reset.completed")
    if changed is None:
        return None
    fr_day = fr_date(changed.at.astimezone(facts.next_run.tzinfo).date())
    en_day = en_date(changed.at.astimezone(facts.next_run.tzinfo).date())
    return Conclusion(
        ConclusionCode.PASSWORD_CHANGED,
        FaqStep.FORGOT_PASSWORD,
        f"Le compte fonctionne : le mot de passe a été choisi par l'utilisateur le {fr_day}. "
        "En cas d'oubli, utiliser « Mot de passe oublié » sur la page d'accueil de l'eCampus.",
        f"The account works: the user chose the password on {en_day}. If it is forgotten, "
        'use "Mot de passe oublié" (forgot password) on the eCampus home page.',
        {"changed_at": _iso(changed.at, facts)},
    )


def mail_leaves_tonight(facts: Facts) -> Conclusion | None:
    """The address was corrected after the last welcome mail: a new one leaves tonight."""
    changed = facts.last_event("mail.address_changed")
    if changed is None:
        return None
    later = [m for m in facts.welcome_mails() if m.at >= changed.at]
    if any(m.status in ("sent", "bounced", "failed") for m in later):
        return None  # delivered since (spam?) or refused again (bounced): other rules
    retry = next((m.next_attempt_at for m in reversed(later) if m.next_attempt_at), None)
    leaves = retry if retry is not None and retry < facts.next_run else facts.next_run
    fr_when, en_when = _when(leaves, facts)
    to = safe_address(changed.data.get("to", changed.data.get("new", "")))
    return Conclusion(
        ConclusionCode.MAIL_LEAVES_TONIGHT,
        FaqStep.CHECK_EMAIL_ENCODING,
        "L'adresse e-mail personnelle a été corrigée le "
        f"{fr_date(changed.at.astimezone(facts.next_run.tzinfo).date())}"
        f"{f' ({to})' if to else ''} : les accès seront envoyés à la nouvelle adresse "
        f"{fr_when} (la nuit suivant la correction). Vérifier ensuite le dossier SPAM.",
        "The personal e-mail address was corrected on "
        f"{en_date(changed.at.astimezone(facts.next_run.tzinfo).date())}"
        f"{f' ({to})' if to else ''}: the credentials will be sent to the new address "
        f"{en_when} (the night after the correction). Then check the spam folder.",
        {
            "next_run": _iso(facts.next_run, facts),
            "leaves_at": _iso(leaves, facts),
            "to": to,
        },
    )


def mail_bounced(facts: Facts) -> Conclusion | None:
    """The welcome mail bounced or was refused: the address must be corrected."""
    mails = facts.welcome_mails()
    if not mails or mails[-1].status not in ("bounced", "failed"):
        return None
    last = mails[-1]
    office_fr, office_en = facts.office
    fr_when, en_when = _when(facts.next_run, facts)
    status_fr, status_en = _status(last.status)
    return Conclusion(
        ConclusionCode.MAIL_BOUNCED,
        FaqStep.CHECK_EMAIL_ENCODING,
        f"L'e-mail de bienvenue envoyé à {last.to_masked or _ENCODED_FR} a été "
        f"refusé par le serveur du destinataire ({last.last_error or status_fr}). "
        f"{cap(office_fr)} doit corriger l'adresse e-mail personnelle ; les accès partent la nuit "
        f"suivant la correction (prochaine exécution {fr_when}). En attendant, le "
        "secrétariat peut donner les accès de son listing.",
        f"The welcome mail sent to {last.to_masked or 'the encoded address'} was refused by "
        f"the receiving server ({last.last_error or status_en}). {cap(office_en)} must correct "
        "the personal e-mail address; the credentials leave the night after the correction "
        f"(next run {en_when}). Meanwhile the secretariat can hand them out from its listing.",
        {"to": last.to_masked, "status": last.status},
    )


def mail_pending(facts: Facts) -> Conclusion | None:
    """The welcome mail is queued or deferred: it will be (re)tried."""
    mails = facts.welcome_mails()
    if not mails or mails[-1].status not in ("queued", "deferred"):
        return None
    last = mails[-1]
    retry = last.next_attempt_at or facts.next_run
    fr_when, en_when = _when(retry, facts)
    status_fr, status_en = _status(last.status)
    return Conclusion(
        ConclusionCode.MAIL_PENDING,
        FaqStep.CHECK_SPAM,
        f"L'e-mail de bienvenue à {last.to_masked or _ENCODED_FR} est en attente "
        f"d'envoi ({status_fr}) : nouvel essai {fr_when}. Vérifier ensuite le dossier SPAM.",
        f"The welcome mail to {last.to_masked or 'the encoded address'} is waiting to be "
        f"sent ({status_en}): next attempt {en_when}. Then check the spam folder.",
        {"to": last.to_masked, "next_attempt_at": _iso(retry, facts)},
    )


def reset_address_unknown(facts: Facts) -> Conclusion | None:
    """A "Mot de passe oublié" request named an address that is not the encoded one."""
    last = facts.last_event("reset.requested", "reset.suppressed", "reset.mailed")
    if last is None or last.kind != "reset.suppressed":
        return None
    office_fr, office_en = facts.office
    reason = str(last.data.get("reason", ""))
    return Conclusion(
        ConclusionCode.RESET_ADDRESS_UNKNOWN,
        FaqStep.CHECK_EMAIL_ENCODING,
        "La dernière demande « Mot de passe oublié » n'a pas donné lieu à un e-mail "
        f"({reason or 'refusée'}). Utiliser l'adresse personnelle encodée à l'inscription ; "
        f"sinon {office_fr} doit vérifier l'encodage de l'adresse.",
        f'The last "Mot de passe oublié" request sent no mail ({reason or "refused"}). Use '
        f"the personal address encoded at enrolment; otherwise {office_en} must check it.",
        {"reason": reason},
    )


def check_spam(facts: Facts) -> Conclusion | None:
    """The welcome mail was delivered: spam folder first, then "Mot de passe oublié"."""
    mails = facts.welcome_mails()
    if not mails or mails[-1].status != "sent":
        return None
    last = mails[-1]
    day = last.at.astimezone(facts.next_run.tzinfo).date()
    return Conclusion(
        ConclusionCode.CHECK_SPAM,
        FaqStep.CHECK_SPAM,
        f"Le compte est actif et l'e-mail de bienvenue a été remis le {fr_date(day)} à "
        f"{last.to_masked or _ENCODED_FR}. Vérifier le dossier SPAM / Courriers "
        "indésirables (et le déclarer « Non-Spam ») ; sinon, cliquer sur « Mot de passe "
        "oublié » sur la page d'accueil de l'eCampus avec cette adresse personnelle.",
        f"The account is active and the welcome mail was delivered on {en_date(day)} to "
        f"{last.to_masked or 'the encoded address'}. Check the spam / junk folder (and mark "
        'it "not spam"); otherwise click "Mot de passe oublié" (forgot password) on the '
        "eCampus home page with that personal address.",
        {"to": last.to_masked, "sent_on": day.isoformat()},
    )


def no_welcome_mail(facts: Facts) -> Conclusion | None:
    """The account exists but no welcome mail is recorded."""
    if facts.entry is None or facts.welcome_mails():
        return None
    return Conclusion(
        ConclusionCode.NO_WELCOME_MAIL,
        FaqStep.FORGOT_PASSWORD,
        "Le compte est actif mais aucun e-mail de bienvenue n'est enregistré. Utiliser "
        "« Mot de passe oublié » avec l'adresse personnelle encodée, ou demander au "
        "secrétariat les accès de son listing.",
        'The account is active but no welcome mail is recorded. Use "Mot de passe oublié" '
        "(forgot password) with the encoded personal address, or ask the secretariat for "
        "the credentials from its listing.",
    )


def escalate(facts: Facts) -> Conclusion:
    """Nothing above explains it: support investigates."""
    del facts
    return Conclusion(
        ConclusionCode.ESCALATE,
        FaqStep.CONTACT_SUPPORT,
        "Aucune explication automatique : à traiter par le support (option « Connexion aux "
        "Services / Accès »), avec cette chronologie.",
        'No automatic explanation: support must investigate ("Connexion aux Services / '
        'Accès"), with this timeline.',
    )


DEFAULT_RULES: tuple[Rule, ...] = (
    not_found,
    row_rejected,
    account_on_date,
    encoding_unfinished,
    identity_incomplete,
    not_entitled,
    account_inactive,
    grace_period,
    school_not_open,
    no_attribution,
    email_invalid,
    account_next_run,
    email_missing,
    password_changed,
    mail_leaves_tonight,
    mail_bounced,
    mail_pending,
    reset_address_unknown,
    check_spam,
    no_welcome_mail,
)
"""The conclusion rules, in order: the first that applies wins, else :func:`escalate`."""
