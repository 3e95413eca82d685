"""The support diagnosis: "why didn't I get my access?", answered per person.

This module owns :func:`diagnose` and :class:`Diagnostician`. Given a school and one way
of finding a person (personal e-mail, matricule, username, or name and birth date), it
gathers everything known about that person into a :class:`Diagnosis`:

* a **timeline**: in which source and export the person is, the rows set aside by
  validation (file, line, field, why), today's policy decisions with their reasons and
  dates, the account and groups in the directory now, the store's events (account
  created, mails queued, sent, bounced, address changes, reset requests, password
  changed), the outbox's messages (to a *masked* address) and the custody's state;
* a **conclusion**, chosen by small ordered rules (:mod:`~ecampus_idm.support.rules`,
  the first that applies wins), each mapping to a step of the support FAQ: check spam then use
  "Mot de passe oublié", the secretariat must correct the e-mail address (and when the
  next mail will leave), the personnel office must encode an attribution, the account
  will be created on a given date, the secretariat has not finished encoding, the mail
  bounced, or escalate.

Texts are French first, English on request. A diagnosis never holds a password, a token
or a national number: personal addresses are masked, and every text is checked (a text
that would hold a national number is replaced).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from ecampus_idm.clock import Clock
from ecampus_idm.config import Settings
from ecampus_idm.connectors.base import Connector
from ecampus_idm.connectors.quarantine import Refusal, RowIssue
from ecampus_idm.directory.base import Directory, Entry, Scope
from ecampus_idm.directory.filters import eq
from ecampus_idm.errors import ConfigError, EntryNotFoundError
from ecampus_idm.identity.population import load_population
from ecampus_idm.identity.pseudonym import Pseudonymiser
from ecampus_idm.model import Account, EmailIssue, Person, Role, School, SourceKey
from ecampus_idm.passwords.vocabulary import AccountVocabulary
from ecampus_idm.policies.base import Decision, PersonHistory, StoreSnapshot
from ecampus_idm.policies.engine import PersonVerdict, PolicyEngine
from ecampus_idm.runner import ReadOnlyLedger
from ecampus_idm.store.base import AccountRecord, Event, Store
from ecampus_idm.support._text import (
    address_or_unknown,
    contract_french,
    fill_missing_address,
    mask_addresses,
    mask_email,
    normalise_name,
    scrub,
)
from ecampus_idm.support.base import CustodyReader, MailHistory
from ecampus_idm.support.errors import AmbiguousPersonError, LookupInputError, UnknownSchoolError
from ecampus_idm.support.rules import (
    DEFAULT_RULES,
    MAIL_PURPOSE_TEXT,
    MAIL_STATUS_TEXT,
    Conclusion,
    ConclusionCode,
    Facts,
    FaqStep,
    MailState,
    Rule,
    escalate,
    safe_address,
)
from ecampus_idm.support.settings import Language, SupportSettings

__all__ = [
    "DEFAULT_RULES",
    "Conclusion",
    "ConclusionCode",
    "Diagnosis",
    "Diagnostician",
    "FaqStep",
    "Lookup",
    "SourceReading",
    "TimelineEntry",
    "diagnose",
    "mask_addresses",
    "mask_email",
    "read_sources",
]


# -- the question -------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """Who support is asking about: a school and exactly one way of finding the person.

    Attributes:
        school: The school the person named (the code of a configured school).
        email: The personal e-mail address encoded at enrolment.
        matricule: The person's number in a source system: the person whose record with
            that number is in ``school`` (never another school's person with the same
            number).
        username: The eCampus login.
        name: The person's names (any order), with ``birth_date``.
        birth_date: Required with ``name``.

    Raises:
        LookupInputError: If no criterion or several are given, or ``name`` lacks a birth
            date.
    """

    school: str
    email: str | None = None
    matricule: str | None = None
    username: str | None = None
    name: str | None = None
    birth_date: date | None = None

    def __post_init__(self) -> None:
        if not self.school.strip():
            raise LookupInputError("school", "the code of the school the person named")
        given = [
            n for n in ("email", "matricule", "username", "name") if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise LookupInputError(
                "criteria", "exactly one of email, matricule, username, or name + birth date"
            )
        for name in given:
            if not str(getattr(self, name)).strip():
                raise LookupInputError(name, "a non-empty value")
        if self.name is not None and self.birth_date is None:
            raise LookupInputError("birth_date", "required with name (YYYY-MM-DD)")
        if self.email is not None and "@" not in self.email:
            raise LookupInputError("email", "an e-mail address (name@domain)")

    def describe(self) -> dict[str, str]:
        """Return the criteria for reports (the e-mail masked)."""
        out = {"school": self.school}
        if self.email is not None:
            out["email"] = mask_email(self.email)
        if self.matricule is not None:
            out["matricule"] = self.matricule
        if self.username is not None:
            out["username"] = self.username
        if self.name is not None:
            out["name"] = self.name
        if self.birth_date is not None:
            out["birth_date"] = self.birth_date.isoformat()
        return out


# -- the timeline --------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a person's timeline.

    Attributes:
        at: When (``None`` for facts of today's reading with no date of their own).
        kind: What (``source.record``, ``policy.calendar.enrolment.open``, ``mail.sent``...).
        fr: The line in French.
        en: The line in English.
        data: Facts for tools (never a secret).
    """

    at: datetime | None
    kind: str
    fr: str
    en: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self, lang: Language, zone: tzinfo | None = None) -> dict[str, Any]:
        """Return a JSON-ready form in ``lang`` (``at``: ISO 8601, offset of ``zone``)."""
        return {
            "at": _iso(self.at, zone) if self.at else None,
            "kind": self.kind,
            "text": self.fr if lang == "fr" else self.en,
            "data": dict(self.data),
        }


# -- the value ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnosis:
    """Everything known about one person, and what to do.

    Attributes:
        lookup: The question (its e-mail masked in every output).
        school: The school asked about.
        at: When the diagnosis was made, in the institution's zone (the zone of every
            time the report shows).
        person_id: The person's internal id, if found.
        display_name: The person's names, if found.
        username: The eCampus login, if any.
        status: The account status today (``None``: no account).
        timeline: What happened, oldest first (today's readings last).
        conclusion: What to tell the person.
    """

    lookup: Lookup
    school: School
    at: datetime
    person_id: str | None
    display_name: str | None
    username: str | None
    status: str | None
    timeline: tuple[TimelineEntry, ...]
    conclusion: Conclusion

    def to_dict(self, lang: Language = "fr") -> dict[str, Any]:
        """Return the JSON-ready form in ``lang`` (for the support tooling)."""
        document = {
            "lookup": self.lookup.describe(),
            "school": {"code": self.school.code, "name": self.school.name},
            "at": self.at.isoformat(),
            "found": self.person_id is not None,
            "person_id": self.person_id,
            "display_name": self.display_name,
            "username": self.username,
            "status": self.status,
            "conclusion": {
                "code": self.conclusion.code.value,
                "faq_step": self.conclusion.step.value,
                "text": self.conclusion.text(lang),
                "data": dict(self.conclusion.data),
            },
            "timeline": [t.as_dict(lang, self.at.tzinfo) for t in self.timeline],
        }
        scrubbed: dict[str, Any] = _scrub_document(document)
        return scrubbed

    def to_json(self, lang: Language = "fr") -> str:
        """Return :meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(lang), ensure_ascii=False, indent=2, default=str)

    def render(self, lang: Language = "fr") -> str:
        """Return a plain-text report in ``lang`` (support tickets, the CLI).

        Every time is the institution's local time with its zone (``2026-09-10 02:00
        CEST``), the zone of :attr:`at`.
        """
        fr = lang == "fr"
        made = _local_text(self.at, self.at.tzinfo)
        lines = [
            f"{'Diagnostic' if fr else 'Diagnosis'} — {self.school.name} ({self.school.code})",
            f"Établi le {made}" if fr else f"Made on {made}",
            f"Personne : {self.display_name or '-'} · identifiant : {self.username or '-'}"
            f" · statut : {self.status or '-'}"
            if fr
            else f"Person: {self.display_name or '-'} · username: {self.username or '-'}"
            f" · status: {self.status or '-'}",
            "",
            "Chronologie :" if fr else "Timeline:",
        ]
        for item in self.timeline:
            when = (
                _local_text(item.at, self.at.tzinfo)
                if item.at
                else ("aujourd'hui" if fr else "today")
            )
            lines.append(f"  {when}  {item.fr if fr else item.en}")
        lines += ["", ("Conclusion : " if fr else "Conclusion: ") + self.conclusion.text(lang)]
        return "\n".join(scrub(line) for line in lines)


def _iso(instant: datetime, zone: tzinfo | None) -> str:
    """ISO 8601 with the offset of ``zone`` (the institution's) at that instant."""
    return instant.astimezone(zone).isoformat()


def _local_text(instant: datetime, zone: tzinfo | None) -> str:
    """``2026-09-10 02:00 CEST``: as :func:`ecampus_idm.clock.local_text` writes it."""
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _scrub_document(node: Any) -> Any:
    if isinstance(node, str):
        return scrub(node)
    if isinstance(node, dict):
        return {k: _scrub_document(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_scrub_document(v) for v in node]
    return node


# -- the work -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """Who a lookup found: the person (if in today's sources) and their id.

    ``other_school``: the matricule is only other schools' people's (not shown);
    ``hidden_keys``: their source keys, whose rejected rows are not shown either.
    """

    person: Person | None
    person_id: str | None
    other_school: bool = False
    hidden_keys: frozenset[SourceKey] = frozenset()


def _schools_of(person: Person, keys: frozenset[SourceKey] | None = None) -> set[str]:
    """The schools (case-folded codes) of the person's enrolments and attributions.

    Only those read through ``keys`` when given.
    """
    places = [(e.school, e.source) for e in person.enrolments]
    places += [(a.school, a.source) for a in person.attributions]
    return {school.casefold() for school, source in places if keys is None or source in keys}


class Diagnostician:
    """Gathers the facts about a person and concludes; reads only, never writes.

    Args:
        settings: The configuration (schools, directory layout, policies).
        clock: Gives "now" and today's local date.
        store: The state store (events, accounts, usernames).
        directory: The target directory (the account and its groups now).
        people: The persons the sources describe today (see :func:`read_sources`).
        issues: The rows set aside by validation today.
        refused: The sources refused today.
        engine: The policy engine (built from the settings when omitted).
        mail: The outbox, when the mail part is wired (else the store's ``mail.*`` events).
        custody: The initial-password custody (its state only: never a password).
        support: The ``[support]`` settings (nightly run time...).
        rules: The conclusion rules, in order (:data:`DEFAULT_RULES`).
        vocabulary: The directory's attribute names (from ``settings.directory`` when
            omitted: OpenLDAP or Active Directory profile).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        store: Store,
        directory: Directory,
        people: Iterable[Person],
        issues: Iterable[RowIssue] = (),
        refused: Iterable[Refusal] = (),
        engine: PolicyEngine | None = None,
        mail: MailHistory | None = None,
        custody: CustodyReader | None = None,
        support: SupportSettings | None = None,
        rules: Sequence[Rule] = DEFAULT_RULES,
        vocabulary: AccountVocabulary | None = None,
    ) -> None:
        self.settings = settings
        self.vocabulary = vocabulary or AccountVocabulary.for_directory(settings.directory)
        self.clock = clock
        self.store = store
        self.directory = directory
        self.people = list(people)
        self.issues = list(issues)
        self.refused = tuple(refused)
        self.engine = engine or PolicyEngine(settings.policies)
        self.mail = mail
        self.custody = custody
        self.support = support or SupportSettings()
        self.rules = tuple(rules)

    def diagnose(self, lookup: Lookup) -> Diagnosis:
        """Return the diagnosis of the person ``lookup`` describes.

        Raises:
            UnknownSchoolError: If the school is not configured.
            AmbiguousPersonError: If several people match.
        """
        school = self.settings.school(lookup.school)
        if school is None:
            raise UnknownSchoolError(lookup.school)
        facts = self._facts(lookup, school)
        conclusion = next(
            (c for c in (rule(facts) for rule in self.rules) if c is not None), None
        ) or escalate(facts)
        person = facts.person
        status = facts.verdict.status if facts.verdict is not None else None
        if status is None and facts.account is not None:
            status = facts.account.status
        return Diagnosis(
            lookup=lookup,
            school=school,
            at=facts.now.astimezone(self.settings.institution.zone),
            person_id=facts.person_id,
            display_name=person.display_name if person is not None else _entry_name(facts),
            username=facts.username,
            status=status.value if status is not None else None,
            timeline=tuple(self._timeline(facts)),
            conclusion=conclusion,
        )

    # -- finding the person ---------------------------------------------------------------

    def _find(self, lookup: Lookup, school: School) -> _Found:
        if lookup.matricule is not None:
            return self._find_by_matricule(lookup.matricule.strip(), school)
        matches: list[Person] = []
        person_id: str | None = None
        if lookup.email is not None:
            wanted = lookup.email.strip().casefold()
            matches = [p for p in self.people if (p.personal_email or "").casefold() == wanted]
        elif lookup.username is not None:
            record = self.store.username_record(lookup.username.strip().lower())
            if record is not None:
                person_id = record.person_id
                matches = [p for p in self.people if p.person_id == person_id]
        else:
            wanted = normalise_name(lookup.name or "")
            matches = [
                p
                for p in self.people
                if p.birth_date == lookup.birth_date
                and normalise_name(f"{p.given_name} {p.family_name}") == wanted
            ]
        if len(matches) > 1:
            here = [p for p in matches if school.code.casefold() in _schools_of(p)]
            if len(here) != 1:
                raise AmbiguousPersonError(len(here) or len(matches))
            matches = here
        if matches:
            return _Found(matches[0], matches[0].person_id)
        return _Found(None, person_id)

    def _find_by_matricule(self, matricule: str, school: School) -> _Found:
        """The person of ``school`` with that number in one of their sources.

        A matricule is a number in one source system, and two schools' systems may give
        the same one to two people. So the person is the one whose record with that
        number places them in the asked school; else one who is in that school through
        another record; else one whose record places them in no school at all (staff
        without attribution). A person whose record with that number is another school's
        is never shown: the diagnosis says the number is another school's.
        """
        code = school.code.casefold()
        candidates = [
            (p, frozenset(k for k in p.source_keys if k.matricule == matricule))
            for p in self.people
        ]
        candidates = [(p, keys) for p, keys in candidates if keys]
        tiers: tuple[list[Person], list[Person], list[Person]] = ([], [], [])
        others: list[Person] = []
        for person, keys in candidates:
            through_number = _schools_of(person, keys)
            if code in through_number:
                tiers[0].append(person)
            elif code in _schools_of(person):
                tiers[1].append(person)
            elif not through_number:
                tiers[2].append(person)
            else:
                others.append(person)
        for tier in tiers:
            if len(tier) > 1:
                raise AmbiguousPersonError(len(tier))
            if tier:
                return _Found(tier[0], tier[0].person_id)
        others_keys = frozenset(k for p in others for k in p.source_keys)
        return _Found(None, None, other_school=bool(others), hidden_keys=others_keys)

    def _row_issues(
        self, lookup: Lookup, person: Person | None, hidden: frozenset[SourceKey]
    ) -> list[RowIssue]:
        """The rows set aside that are the person's (never another school's person's)."""
        if person is not None:
            keys = {(k.source, k.matricule) for k in person.source_keys}
            return [i for i in self.issues if (i.source, i.matricule) in keys]
        if lookup.matricule is None:
            return []
        wanted = lookup.matricule.strip()
        skip = {(k.source, k.matricule) for k in hidden}
        return [
            i for i in self.issues if i.matricule == wanted and (i.source, i.matricule) not in skip
        ]

    # -- gathering ------------------------------------------------------------------------

    def _facts(self, lookup: Lookup, school: School) -> Facts:
        now = self.clock.now()
        zone = self.settings.institution.zone
        next_run = self.support.next_run(now, zone)
        found = self._find(lookup, school)
        person, person_id = found.person, found.person_id
        issues = tuple(self._row_issues(lookup, person, found.hidden_keys))
        if person_id is None:
            return Facts(
                school,
                now,
                next_run,
                None,
                None,
                issues,
                self.refused,
                other_school=found.other_school,
            )
        account = self.store.get_account(person_id)
        live = self.store.username_of(person_id)
        verdict = self._verdict(person, person_id, account)
        username = live.username if live is not None else (verdict.username if verdict else None)
        entry, groups = self._directory(person_id)
        if entry is not None:
            username = self.vocabulary.username_of(entry) or username
        events = tuple(self.store.events_for_person(person_id))
        mails, from_outbox = self._mails(person_id, events)
        return Facts(
            school=school,
            now=now,
            next_run=next_run,
            person=person,
            person_id=person_id,
            issues=issues,
            refused=self.refused,
            verdict=verdict,
            account=account,
            username=username,
            entry=entry,
            groups=groups,
            events=events,
            mails=tuple(mails),
            mails_from_outbox=from_outbox,
        )

    def _verdict(
        self, person: Person | None, person_id: str, account: AccountRecord | None
    ) -> PersonVerdict | None:
        """Today's verdict for this one person, as the nightly run would decide it."""
        zone = self.settings.institution.zone
        records = self.store.username_records()
        mine = sorted(
            (r for r in records if r.person_id == person_id),
            key=lambda r: (r.released_at is None, r.reserved_at),
        )
        username = mine[-1].username if mine else None
        histories: tuple[PersonHistory, ...] = ()
        if account is not None:
            seen = account.last_seen_in_sources or account.created_at
            histories = (
                PersonHistory(
                    person_id=person_id,
                    last_seen=seen.astimezone(zone).date(),
                    roles=account.roles,
                    account=None
                    if username is None
                    else Account(
                        username=username,
                        person_id=person_id,
                        status=account.status,
                        created_at=account.created_at,
                        status_since=account.status_since,
                    ),
                ),
            )
        if person is None and not histories:
            return None
        others = frozenset(r.username for r in records if r.username != username)
        snapshot = StoreSnapshot(people=histories, tombstones=others)
        verdicts = self.engine.decide([person] if person else [], snapshot, self.clock)
        return next((v for v in verdicts if v.person_id == person_id), None)

    def _directory(self, person_id: str) -> tuple[Entry | None, tuple[str, ...]]:
        people_dn = self.settings.directory.people_dn
        groups_dn = self.settings.directory.groups_dn
        try:
            found = list(self.directory.search(people_dn, eq(self.vocabulary.person_id, person_id)))
            if not found:
                return None, ()
            entry = found[0]
            groups = tuple(
                sorted(
                    g.first("cn") or ""
                    for g in self.directory.search(
                        groups_dn, eq("member", entry.dn), scope=Scope.ONELEVEL, attributes=["cn"]
                    )
                )
            )
        except EntryNotFoundError:
            return None, ()
        return entry, groups

    def _mails(self, person_id: str, events: Sequence[Event]) -> tuple[list[MailState], bool]:
        """The person's mails, and whether they are the outbox's (else the events')."""
        if self.mail is not None:
            messages = self.mail.messages_for(person_id)
            if messages:
                return [
                    MailState(
                        purpose=m.purpose,
                        status=m.status,
                        at=m.sent_at or m.queued_at,
                        to_masked=m.to_masked,
                        next_attempt_at=m.next_attempt_at,
                        last_error=mask_addresses(m.last_error) if m.last_error else None,
                    )
                    for m in messages
                ], True
        # Until the outbox is wired: the store's mail.* events tell the same story.
        states: list[MailState] = []
        by_id: dict[str, int] = {}
        for event in events:
            status = event.kind.removeprefix("mail.")
            if not event.kind.startswith("mail.") or status not in (
                "queued",
                "sent",
                "deferred",
                "failed",
                "bounced",
                "resent",
            ):
                continue
            data = event.data
            state = MailState(
                purpose=str(data.get("purpose", "welcome")),
                status="queued" if status == "resent" else status,
                at=event.at,
                to_masked=safe_address(data.get("to", data.get("to_masked", ""))),
                next_attempt_at=_instant(data.get("retry_at", data.get("next_attempt_at"))),
                last_error=_error_text(_first(data, "error", "last_error", "status", "reason")),
            )
            message_id = str(data.get("message_id", ""))
            if message_id and message_id in by_id:
                states[by_id[message_id]] = state
            else:
                if message_id:
                    by_id[message_id] = len(states)
                states.append(state)
        return states, False

    # -- telling --------------------------------------------------------------------------

    def _timeline(self, facts: Facts) -> list[TimelineEntry]:
        dated: list[TimelineEntry] = []
        today: list[TimelineEntry] = []
        person = facts.person
        for refusal in facts.refused:
            today.append(
                TimelineEntry(
                    None,
                    "source.refused",
                    f"Source {refusal.source} non utilisée aujourd'hui ({refusal.reason}).",
                    f"Source {refusal.source} not used today ({refusal.reason}).",
                    {"source": refusal.source, "reason": refusal.reason},
                )
            )
        zone = self.settings.institution.zone
        if person is not None:
            for key in sorted(person.source_keys, key=str):
                facts_of = self.store.last_accepted(key.source)
                accepted = facts_of.accepted_at if facts_of is not None else None
                when = _local_text(accepted, zone) if accepted else ""
                dated_fr = f" (export accepté le {when})" if accepted else ""
                dated_en = f" (export accepted {when})" if accepted else ""
                today.append(
                    TimelineEntry(
                        None,
                        "source.record",
                        f"Présent dans la source {key.source}, matricule {key.matricule}"
                        f"{dated_fr}.",
                        f"Present in source {key.source}, matricule {key.matricule}{dated_en}.",
                        {
                            "source": key.source,
                            "matricule": key.matricule,
                            "accepted_at": _iso(accepted, zone) if accepted else None,
                        },
                    )
                )
            today.append(_person_line(person))
        for issue in facts.issues:
            today.append(
                TimelineEntry(
                    None,
                    "source.quarantine",
                    f"Ligne écartée : {issue.source} ligne {issue.line}, champ "
                    f"{issue.column or issue.field or '-'} : {issue.message_fr}",
                    f"Row set aside: {issue.source} line {issue.line}, field "
                    f"{issue.column or issue.field or '-'}: {issue.message_en}",
                    {"source": issue.source, "line": issue.line, "code": str(issue.code)},
                )
            )
        if facts.verdict is not None:
            for decision in facts.leaves():
                today.append(
                    TimelineEntry(
                        None,
                        f"policy.{decision.reason.code}",
                        f"[{_outcome_fr(decision)}] {decision.reason.fr}",
                        f"[{decision.outcome.value}] {decision.reason.en}",
                        {k: _plain(v) for k, v in decision.reason.data.items()},
                    )
                )
        for event in facts.events:
            # Texts recorded by the other parts (and by older versions): masked, their
            # articles contracted, an empty recipient read as an unknown address.
            reason_fr = contract_french(fill_missing_address(event.reason_fr, "fr"))
            reason_en = fill_missing_address(event.reason_en, "en")
            dated.append(
                TimelineEntry(
                    event.at,
                    event.kind,
                    f"{event.kind} : {mask_addresses(reason_fr)}",
                    f"{event.kind}: {mask_addresses(reason_en)}",
                    _masked_data(event.data),
                )
            )
        if facts.mails_from_outbox:
            # Mails read from the events are on the timeline already (their events).
            dated.extend(_outbox_line(mail, zone) for mail in facts.mails)
        if facts.person_id is not None:
            today.append(_directory_line(facts, self.vocabulary))
            custody = self.custody.status(facts.person_id) if self.custody else None
            if custody is not None:
                kept = custody.discarded_at is None
                dated.append(
                    TimelineEntry(
                        custody.issued_at,
                        "custody",
                        "Mot de passe initial "
                        + ("conservé (listing du secrétariat)." if kept else "effacé ")
                        + ("" if kept else f"({custody.discard_reason or '-'})."),
                        "Initial password "
                        + ("kept (secretariat listing)." if kept else "discarded ")
                        + ("" if kept else f"({custody.discard_reason or '-'})."),
                        {"kept": kept, "discard_reason": custody.discard_reason},
                    )
                )
        dated.sort(key=lambda t: t.at or facts.now)
        return dated + today


def _outcome_fr(decision: Decision) -> str:
    return {"allow": "accordé", "pending": "en attente", "deny": "refusé"}[decision.outcome.value]


def _plain(value: object) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _instant(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def _first(data: Mapping[str, Any], *keys: str) -> object:
    return next((data[k] for k in keys if data.get(k) is not None), None)


def _error_text(value: object) -> str | None:
    return None if value is None else mask_addresses(str(value))


def _masked_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Copy event data, masking anything that looks like a full e-mail address."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str) and "@" in value and "***" not in value:
            out[key] = mask_email(value)
        else:
            out[key] = value
    return out


def _outbox_line(mail: MailState, zone: tzinfo) -> TimelineEntry:
    """One message of the outbox: what, to whom (or "adresse inconnue"), where it stands."""
    what_fr, what_en = MAIL_PURPOSE_TEXT.get(
        mail.purpose, (f"Courriel ({mail.purpose})", f"Mail ({mail.purpose})")
    )
    status_fr, status_en = MAIL_STATUS_TEXT.get(mail.status, (mail.status, mail.status))
    retry_fr = retry_en = ""
    if mail.next_attempt_at is not None and mail.status in ("queued", "deferred"):
        retry = _local_text(mail.next_attempt_at, zone)
        retry_fr, retry_en = f", nouvel essai le {retry}", f", next attempt {retry}"
    error = f" ({mail.last_error})" if mail.last_error else ""
    to_fr = address_or_unknown(mail.to_masked, "fr")
    to_en = address_or_unknown(mail.to_masked, "en")
    return TimelineEntry(
        mail.at,
        f"outbox.{mail.status}",
        f"{what_fr} à {to_fr} : {status_fr}{retry_fr}{error}.",
        f"{what_en} to {to_en}: {status_en}{retry_en}{error}.",
        {
            "purpose": mail.purpose,
            "status": mail.status,
            "to": mail.to_masked or None,
            "next_attempt_at": _iso(mail.next_attempt_at, zone) if mail.next_attempt_at else None,
        },
    )


def _person_line(person: Person) -> TimelineEntry:
    email = mask_email(person.personal_email) if person.personal_email else None
    roles = ", ".join(sorted(r.value for r in person.roles)) or "-"
    places = sorted(
        {f"{e.school}/{e.department or '-'} {e.academic_year}" for e in person.enrolments}
        | {f"{a.school} ({a.function.value})" for a in person.attributions}
    )
    invalid = person.email_issue is EmailIssue.INVALID
    fr_email = email or ("invalide (à corriger)" if invalid else "non encodée")
    en_email = email or ("invalid (to be corrected)" if invalid else "not encoded")
    return TimelineEntry(
        None,
        "source.person",
        f"Personne : {person.display_name}, rôles {roles} ; adresse personnelle "
        f"{fr_email} ; {', '.join(places) or 'aucune inscription/attribution'}.",
        f"Person: {person.display_name}, roles {roles}; personal address "
        f"{en_email}; {', '.join(places) or 'no enrolment/attribution'}.",
        {
            "roles": sorted(r.value for r in person.roles),
            "personal_email": email,
            "email_issue": person.email_issue.value if person.email_issue else None,
            "student": Role.STUDENT in person.roles,
        },
    )


def _directory_line(facts: Facts, vocabulary: AccountVocabulary) -> TimelineEntry:
    entry = facts.entry
    if entry is None:
        return TimelineEntry(
            None,
            "directory.absent",
            "Aucun compte dans l'annuaire aujourd'hui.",
            "No account in the directory today.",
        )
    status = vocabulary.status_of(entry) or "-"
    username = vocabulary.username_of(entry) or "-"
    groups = ", ".join(facts.groups) or "-"
    mail = entry.first("mail")
    return TimelineEntry(
        None,
        "directory.entry",
        f"Compte {username} dans l'annuaire ({status}), {_address_fr(mail)} ; groupes : {groups}.",
        f"Account {username} in the directory ({status}), "
        f"{f'address {mail}' if mail else 'no address'}; groups: {groups}.",
        {"dn": entry.dn, "status": status, "groups": list(facts.groups)},
    )


def _address_fr(mail: str | None) -> str:
    return f"adresse {mail}" if mail else "adresse inconnue"


def _entry_name(facts: Facts) -> str | None:
    return facts.entry.first("displayName") if facts.entry is not None else None


@dataclass(frozen=True)
class SourceReading:
    """Today's reading of the sources, for the diagnosis (nothing is recorded).

    Attributes:
        people: The correlated persons.
        issues: The rows set aside by validation.
        refused: The sources refused or unavailable.
    """

    people: tuple[Person, ...]
    issues: tuple[RowIssue, ...]
    refused: tuple[Refusal, ...]


def read_sources(
    settings: Settings, connectors: Sequence[Connector], *, store: Store, clock: Clock
) -> SourceReading:
    """Read every source as the nightly run does, without moving the export ledger.

    Raises:
        ConfigError: If there is no ``[sources]`` section.
    """
    if settings.sources is None:
        raise ConfigError("configuration", "sources", "a [sources] section with connectors")
    population = load_population(
        connectors,
        Pseudonymiser(settings.sources.pseudonym_key),
        clock=clock,
        schools=settings.schools,
        ledger=ReadOnlyLedger(store),
    )
    return SourceReading(
        people=tuple(population.people),
        issues=tuple(population.report.issues),
        refused=tuple(population.report.refusals),
    )


def diagnose(lookup: Lookup, **components: Any) -> Diagnosis:
    """Diagnose one person: ``Diagnostician(**components).diagnose(lookup)``.

    Args:
        lookup: The school and the way of finding the person.
        **components: The arguments of :class:`Diagnostician`.
    """
    settings = components.pop("settings")
    return Diagnostician(settings, **components).diagnose(lookup)
