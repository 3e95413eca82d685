"""What the nightly run (and support) enqueue: welcome mails, resends after a correction.

:class:`WelcomeDesk` is called by :class:`~ecampus_idm.runner.NightlyRun` *inside* the
store transaction that records the accounts, so that an account is never recorded
without its custody deposit and its queued mail (and a rolled-back run leaves neither):

* :meth:`WelcomeDesk.issue` — a created account: the initial password is deposited
  (encrypted) in the custody, the welcome mail (or the activation link) is enqueued under
  an idempotency key naming that issuance, and the address it goes to is remembered;
* :meth:`WelcomeDesk.review_addresses` — for every other person with a working account,
  compares the personal address of the sources with the one last mailed: on a
  correction, the credentials go to the new address (the same initial password while
  the custody holds it, i.e. the user has not chosen one; otherwise a mail explaining
  « Mot de passe oublié »). The old address gets nothing. Accounts that predate the
  pipeline are only remembered, never mailed.
* :meth:`WelcomeDesk.resend` — support's resend to the last known address.

Each returns the events to record (``mail.queued``, ``mail.address_changed``,
``mail.resent``, ``mail.failed`` for an account created without a usable address). A
held welcome mail says why: ``no_address`` (none encoded) or ``invalid_address`` (a
mistyped address, :attr:`Addressee.email_issue`). Either way the password stays in
custody, and the first run that reads a valid address sends it there (the
correction path of :meth:`WelcomeDesk.review_addresses`): the night after the
secretariat or the personnel office corrects it.

Each mail is written in the person's language: the one their row says (a source's
``language`` column), otherwise their school's (``[[schools]] language``), otherwise
their population's (``[mail.populations.<role>] language``), otherwise
``mail.language``. A row whose language is none of ``fr``, ``nl``, ``en`` falls back the
same way, and the ``mail.queued`` event says so (``data.language_issue``). The message
also carries a :class:`~ecampus_idm.mail.outbox.MailContext`: why the person receives it
(their enrolment, or their attribution, at the named school) and their affiliation,
whose password rule the mail states. A mail queued without knowing the person (support's
``resend``) takes the language, population and context of their latest mail.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import SecretStr

from ecampus_idm.custody import PasswordCustody, open_custody
from ecampus_idm.mail.address import mask_email, normalise_email
from ecampus_idm.mail.outbox import (
    MailContext,
    MailReason,
    MessageStatus,
    NewMessage,
    Outbox,
    OutboxMessage,
    Purpose,
    open_outbox,
)
from ecampus_idm.mail.settings import MailSettings
from ecampus_idm.model import EmailIssue, Language, Role, School
from ecampus_idm.store.base import JsonValue, NewEvent, Store

if TYPE_CHECKING:
    from ecampus_idm.crypto import Keyring

__all__ = ["Addressee", "WelcomeDesk"]

log = logging.getLogger(__name__)

_ROLE_ORDER = (Role.STUDENT, Role.TEACHER, Role.ADMINISTRATIVE, Role.STAFF)
_CARRY_PASSWORD = frozenset({Purpose.WELCOME, Purpose.WELCOME_AGAIN})
_UNSENT = frozenset({MessageStatus.QUEUED, MessageStatus.DEFERRED})
# The account's eduPersonPrimaryAffiliation, in the order the OpenLDAP mapping picks it
# (ecampus_idm.mapping.openldap: a test pins the two together): the password service's
# length floor follows it.
_AFFILIATION_ORDER = (
    (Role.TEACHER, "faculty"),
    (Role.ADMINISTRATIVE, "staff"),
    (Role.STUDENT, "student"),
    (Role.STAFF, "employee"),
)
_REASON_OF: dict[Role, MailReason] = {
    Role.STUDENT: "enrolment",
    Role.TEACHER: "attribution",
    Role.ADMINISTRATIVE: "attribution",
    Role.STAFF: "personnel",
}
_LANGUAGE_FROM_FR = {
    "person": "la langue encodée pour la personne",
    "school": "la langue de son école",
    "population": "la langue de sa population",
    "default": "la langue par défaut (mail.language)",
    "previous": "la langue de son dernier courriel",
}


@dataclass(frozen=True)
class Addressee:
    """A person with an account, as the run knows them.

    Attributes:
        person_id: The person.
        username: Their account.
        display_name: How to greet them.
        email: The personal address in the sources (``None``: none encoded, or invalid).
        roles: Their roles (the first of student, teacher, administrative, staff picks
            the population's templates and language).
        email_issue: Why ``email`` is ``None`` although the sources encoded one (a typo):
            the mail is held with that reason.
        language: The language a source column gives the person, if any.
        language_issue: Whether that column held a value that is no mail language.
        enrolled_at: The codes of the schools the person is enrolled at (open today).
        attributed_at: The codes of the schools of their attributions (open today).
    """

    person_id: str
    username: str
    display_name: str
    email: str | None = field(repr=False)
    roles: frozenset[Role] = frozenset()
    email_issue: EmailIssue | None = None
    language: Language | None = None
    language_issue: bool = False
    enrolled_at: tuple[str, ...] = ()
    attributed_at: tuple[str, ...] = ()

    @property
    def population(self) -> str | None:
        """The population whose mail settings apply."""
        return next((r.value for r in _ROLE_ORDER if r in self.roles), None)

    @property
    def affiliation(self) -> str | None:
        """The account's primary affiliation (it picks the password length floor)."""
        return next((a for r, a in _AFFILIATION_ORDER if r in self.roles), None)

    @property
    def reason(self) -> MailReason | None:
        """Why the person has an account: the population's enrolment or attribution."""
        role = next((r for r in _ROLE_ORDER if r in self.roles), None)
        return _REASON_OF[role] if role is not None else None

    @property
    def schools(self) -> tuple[str, ...]:
        """The codes of the schools of :attr:`reason` (none for the personnel list)."""
        reason = self.reason
        if reason == "enrolment":
            return self.enrolled_at
        if reason == "attribution":
            return self.attributed_at
        return ()


def _digest(address: str) -> str:
    return hashlib.sha256(address.encode("utf-8")).hexdigest()[:16]


def _valid(address: str | None) -> str | None:
    if not address:
        return None
    try:
        return normalise_email(address)
    except ValueError:
        return None


class WelcomeDesk:
    """Enqueues the welcome mails of a store (see the module docstring).

    Args:
        store: The state store (outbox and custody live in it).
        keyring: The keys that seal passwords.
        settings: The ``[mail]`` settings.
        schools: The configured schools: their names and default languages.
    """

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        settings: MailSettings,
        *,
        schools: Sequence[School] = (),
    ) -> None:
        self.store = store
        self.settings = settings
        self._schools = {school.code.casefold(): school for school in schools}
        self.custody: PasswordCustody = open_custody(store, keyring)
        self.outbox: Outbox = open_outbox(store, keyring)

    def expire(self, now: datetime) -> int:
        """Discard the initial passwords kept longer than ``mail.custody_days``."""
        before = now - timedelta(days=self.settings.custody_days)
        return self.custody.purge(before=before, at=now)

    def password_changed(self, person_id: str, *, now: datetime, run_id: int | None) -> NewEvent:
        """The directory shows a password other than the initial one: forget the latter.

        The custody entry is discarded (the secretariat listing then reads "already
        changed", a corrected address gets the reset hint) and every welcome mail not
        yet sent loses its sealed password (marked failed, ``password_changed``): no
        mail or listing ever carries a password that no longer binds.

        Returns:
            The ``password.changed`` event for the person's timeline.
        """
        self.custody.discard(person_id, reason="password.changed", at=now)
        withdrawn = 0
        for message in self.outbox.messages_for(person_id):
            if message.purpose in _CARRY_PASSWORD and message.status in _UNSENT:
                self.outbox.mark_failed(message.message_id, error="password_changed")
                withdrawn += 1
        return NewEvent(
            person_id=person_id,
            kind="password.changed",
            reason_fr="Le mot de passe initial a été changé dans l'annuaire (par "
            "l'utilisateur ou un administrateur) : il n'est plus conservé ni envoyé ; en cas "
            "d'oubli, « Mot de passe oublié ».",
            reason_en="The initial password was changed in the directory (by the user or an "
            "administrator): it is no longer kept nor sent; if forgotten, use "
            '"Mot de passe oublié".',
            run_id=run_id,
            data={"password_changed": True, "seen_in": "directory", "mails_withdrawn": withdrawn},
        )

    def _language(self, who: Addressee) -> tuple[str, str]:
        """The language of ``who``'s mails, and where it comes from (see the module)."""
        if who.language is not None:
            return who.language, "person"
        for code in (*who.schools, *who.enrolled_at, *who.attributed_at):
            school = self._schools.get(code.casefold())
            if school is not None and school.language is not None:
                return school.language, "school"
        override = self.settings.populations.get(who.population or "")
        if override is not None and override.language is not None:
            return override.language, "population"
        return self.settings.language, "default"

    def _context(self, who: Addressee) -> MailContext:
        """Why ``who`` receives the mail, their schools named as configured."""
        names = tuple(
            school.name if (school := self._schools.get(code.casefold())) else code
            for code in who.schools
        )
        return MailContext(reason=who.reason, schools=names, affiliation=who.affiliation)

    def _details(self, who: Addressee) -> tuple[str, str, str | None, MailContext | None]:
        """Language, its origin, population and context of a mail for ``who``.

        A person known only by id (support's resend: no roles) gets those of their
        latest mail that recorded a context, so that a resend reads like the welcome.
        """
        if not who.roles and who.language is None:
            latest = next(
                (m for m in reversed(self.outbox.messages_for(who.person_id)) if m.context),
                None,
            )
            if latest is not None:
                return latest.language, "previous", latest.population, latest.context
        language, origin = self._language(who)
        return language, origin, who.population, self._context(who) if who.roles else None

    def _enqueue(
        self,
        who: Addressee,
        *,
        address: str,
        purpose: Purpose,
        key: str,
        secret: SecretStr | None,
        now: datetime,
        run_id: int | None,
    ) -> tuple[OutboxMessage, list[NewEvent]]:
        language, origin, population, context = self._details(who)
        message, new = self.outbox.enqueue(
            NewMessage(
                idempotency_key=key,
                person_id=who.person_id,
                username=who.username,
                purpose=purpose,
                to_address=address,
                display_name=who.display_name,
                language=language,
                population=population,
                secret=secret if self.settings.mode == "password" else None,
                run_id=run_id,
                context=context,
            ),
            now=now,
        )
        if not new:
            return message, []
        to = message.to_masked
        fr = f"Courriel ({purpose.value}) mis en file pour {to}, en {message.language}."
        en = f"Mail ({purpose.value}) queued for {to}, in {message.language}."
        data: dict[str, JsonValue] = {
            "message_id": message.message_id,
            "purpose": purpose.value,
            "to": to,
            "language": message.language,
            "language_from": origin,
        }
        if who.language_issue and who.language is None:
            # The row kept its account; the language column is what to correct.
            fr += (
                " La langue encodée dans les sources n'est ni fr, ni nl, ni en : "
                f"{_LANGUAGE_FROM_FR[origin]} s'applique."
            )
            en += (
                " The language encoded in the sources is none of fr, nl, en: the "
                f"{origin} language applies."
            )
            data["language_issue"] = True
        return message, [
            NewEvent(
                person_id=who.person_id,
                kind="mail.queued",
                reason_fr=fr,
                reason_en=en,
                run_id=run_id,
                data=data,
            )
        ]

    def _first_purpose(self) -> Purpose:
        return Purpose.ACTIVATION if self.settings.mode == "activation" else Purpose.WELCOME

    def issue(
        self, who: Addressee, password: SecretStr, *, now: datetime, run_id: int | None
    ) -> list[NewEvent]:
        """Deposit a created account's initial password and enqueue its welcome mail."""
        self.custody.deposit(who.person_id, who.username, password, issued_at=now)
        address = _valid(who.email)
        self.outbox.remember_address(who.person_id, address, at=now)
        if address is None:
            return [self._held(who, run_id)]
        key = f"welcome:{who.person_id}:{who.username}:{now.isoformat()}"
        return self._enqueue(
            who,
            address=address,
            purpose=self._first_purpose(),
            key=key,
            secret=password,
            now=now,
            run_id=run_id,
        )[1]

    def _held(self, who: Addressee, run_id: int | None) -> NewEvent:
        """The event of a welcome mail held for want of a valid address, with the reason."""
        purpose = self._first_purpose().value
        if who.email_issue is EmailIssue.INVALID or (who.email and _valid(who.email) is None):
            return NewEvent(
                person_id=who.person_id,
                kind="mail.failed",
                reason_fr="L'adresse e-mail personnelle encodée n'est pas valide (erreur dans "
                "l'adresse ou le domaine) : le compte est créé, le courriel de bienvenue est "
                "retenu. Il partira la nuit suivant la correction de l'adresse par le "
                "secrétariat ou le bureau du personnel.",
                reason_en="The personal e-mail address encoded is not valid (a mistake in the "
                "address or its domain): the account is created, the welcome mail is held. It "
                "leaves the night after the secretariat or the personnel office corrects it.",
                run_id=run_id,
                data={"reason": "invalid_address", "purpose": purpose},
            )
        return NewEvent(
            person_id=who.person_id,
            kind="mail.failed",
            reason_fr="Aucune adresse e-mail personnelle dans les sources : le courriel de "
            "bienvenue partira dès qu'elle sera encodée.",
            reason_en="No personal e-mail address in the sources: the welcome mail will leave "
            "as soon as one is encoded.",
            run_id=run_id,
            data={"reason": "no_address", "purpose": purpose},
        )

    def review_addresses(
        self, people: Iterable[Addressee], *, now: datetime, run_id: int | None
    ) -> list[NewEvent]:
        """Send the credentials again to corrected addresses (see the module docstring)."""
        known = self.outbox.recipients()
        events: list[NewEvent] = []
        for who in people:
            address = _valid(who.email)
            record = known.get(who.person_id)
            if record is None:
                # An account from before the pipeline: remember, never mail out of the blue.
                self.outbox.remember_address(who.person_id, address, at=now)
                continue
            if address is None or address == record.address:
                continue
            events.extend(
                self._again(
                    who,
                    address=address,
                    previous=record.address,
                    since=record.updated_at,
                    now=now,
                    run_id=run_id,
                )
            )
        return events

    def _again(
        self,
        who: Addressee,
        *,
        address: str,
        previous: str | None,
        since: datetime,
        now: datetime,
        run_id: int | None,
        kind: str = "mail.address_changed",
    ) -> list[NewEvent]:
        status = self.custody.status(who.person_id)
        secret = self.custody.reveal(who.person_id) if status and status.held else None
        if secret is None:
            purpose = Purpose.RESET_HINT
        elif self.settings.mode == "activation":
            purpose = Purpose.ACTIVATION
        else:
            purpose = Purpose.WELCOME_AGAIN
        issuance = status.issued_at.isoformat() if status else "none"
        key = f"{purpose.value}:{who.person_id}:{_digest(address)}:{issuance}:{since.isoformat()}"
        if kind == "mail.resent":
            key = f"resend:{who.person_id}:{now.isoformat()}"
        self.outbox.remember_address(who.person_id, address, at=now)
        message, queued = self._enqueue(
            who, address=address, purpose=purpose, key=key, secret=secret, now=now, run_id=run_id
        )
        if kind == "mail.resent":
            fr = f"Support : accès renvoyés à {message.to_masked} ({purpose.value})."
            en = f"Support: credentials sent again to {message.to_masked} ({purpose.value})."
            data = {"to": message.to_masked, "purpose": purpose.value}
        else:
            fr = (
                f"Adresse e-mail personnelle corrigée ({mask_email(previous)} → "
                f"{message.to_masked}) : accès renvoyés à la nouvelle adresse uniquement."
            )
            en = (
                f"Personal e-mail corrected ({mask_email(previous)} → {message.to_masked}): "
                "credentials sent again to the new address only."
            )
            data = {"from": mask_email(previous), "to": message.to_masked, "purpose": purpose.value}
        return [
            NewEvent(
                person_id=who.person_id,
                kind=kind,
                reason_fr=fr,
                reason_en=en,
                run_id=run_id,
                data=data,
            ),
            *queued,
        ]

    def resend(
        self, who: Addressee, *, now: datetime, run_id: int | None
    ) -> tuple[OutboxMessage | None, list[NewEvent]]:
        """Support: send the credentials again to ``who.email`` or the last known address.

        Returns:
            The queued message (``None`` if no address is known) and the events.
        """
        record = self.outbox.recipient(who.person_id)
        address = _valid(who.email) or (record.address if record else None)
        if address is None:
            return None, []
        events = self._again(
            who,
            address=address,
            previous=address,
            since=now,
            now=now,
            run_id=run_id,
            kind="mail.resent",
        )
        messages = self.outbox.messages_for(who.person_id)
        return (messages[-1] if messages else None), events
