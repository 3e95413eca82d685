"""Each person's mail in their language, and why they receive it (issue 15, item 6).

The language: the person's source column, else their school's (``[[schools]]
language``), else their population's, else ``mail.language``. The context (enrolment or
attribution at the named school, the affiliation of the password rule) travels with the
message in the outbox, and the reset mail follows the person's recorded language.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from itertools import combinations

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.crypto import Keyring
from ecampus_idm.mail.delivery import OutboxMailer
from ecampus_idm.mail.outbox import MailContext, NewMessage, Purpose, open_outbox
from ecampus_idm.mail.reset import OutboxResetMailer
from ecampus_idm.mail.settings import MailSettings, PopulationMail
from ecampus_idm.mail.transports import MemoryTransport
from ecampus_idm.mail.welcome import Addressee, WelcomeDesk
from ecampus_idm.mapping.openldap import _primary
from ecampus_idm.model import Category, Role, School
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.store.sql import SqlStore

PASSWORD = SecretStr("bazoki-muteva-ridopa-sukemi-47")
TOURNAI = School(code="HEC-TOURNAI", name="Haute-Ecole Condorcet - Tournai", category=Category.HE)
GENT = School(code="HOG-GENT", name="Hogeschool Gent", category=Category.HE, language="nl")
STUDENT = frozenset({Role.STUDENT})


def _student(**changes: object) -> Addressee:
    values: dict[str, object] = {
        "person_id": "p1",
        "username": "elodie.vandamme",
        "display_name": "Élodie Vandamme",
        "email": "elodie@gmail.com",
        "roles": STUDENT,
        "enrolled_at": ("HOG-GENT",),
    }
    values.update(changes)
    return Addressee(**values)  # type: ignore[arg-type]


def _desk(store: MemoryStore, keyring: Keyring, **mail: object) -> WelcomeDesk:
    return WelcomeDesk(store, keyring, MailSettings(**mail), schools=(TOURNAI, GENT))  # type: ignore[arg-type]


def _issue(desk: WelcomeDesk, who: Addressee, clock: FixedClock) -> dict[str, object]:
    (event,) = desk.issue(who, PASSWORD, now=clock.now(), run_id=1)
    assert event.kind == "mail.queued"
    return dict(event.data)


def test_school_language_is_the_default_of_its_people(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """A student of a school whose language is nl gets a Dutch mail."""
    desk = _desk(mail_store, keyring)
    data = _issue(desk, _student(), mail_clock)
    (message,) = desk.outbox.messages_for("p1")
    assert (message.language, data["language"], data["language_from"]) == ("nl", "nl", "school")


def test_the_persons_column_wins_over_the_school(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """A row that says en gives an English mail, though the school speaks nl."""
    desk = _desk(mail_store, keyring)
    data = _issue(desk, _student(language="en"), mail_clock)
    assert (data["language"], data["language_from"]) == ("en", "person")


def test_school_wins_over_the_population(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """The school's language comes before ``[mail.populations.student] language``."""
    desk = _desk(mail_store, keyring, populations={"student": PopulationMail(language="en")})
    assert _issue(desk, _student(), mail_clock)["language"] == "nl"


def test_population_then_mail_language_without_a_school_language(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """A school without a language: the population's, then ``mail.language``."""
    desk = _desk(
        mail_store,
        keyring,
        language="en",
        populations={"teacher": PopulationMail(language="nl")},
    )
    student = _issue(desk, _student(enrolled_at=("HEC-TOURNAI",)), mail_clock)
    teacher = _issue(
        desk,
        _student(
            person_id="p2",
            roles=frozenset({Role.TEACHER}),
            enrolled_at=(),
            attributed_at=("HEC-TOURNAI",),
        ),
        mail_clock,
    )
    assert (student["language"], student["language_from"]) == ("en", "default")
    assert (teacher["language"], teacher["language_from"]) == ("nl", "population")


def test_unknown_language_falls_back_to_the_school_and_is_noted(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """A row whose language is none of fr, nl, en: the school's language, and the event says so."""
    desk = _desk(mail_store, keyring)
    (event,) = desk.issue(_student(language_issue=True), PASSWORD, now=mail_clock.now(), run_id=1)
    assert (event.data["language"], event.data["language_issue"]) == ("nl", True)
    assert "ni fr, ni nl, ni en" in event.reason_fr
    assert "none of fr, nl, en" in event.reason_en


def test_a_known_language_is_not_noted(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """Without an issue, the event carries no language note."""
    desk = _desk(mail_store, keyring)
    assert "language_issue" not in _issue(desk, _student(), mail_clock)


@pytest.mark.parametrize(
    ("roles", "enrolled", "attributed", "expected"),
    [
        (STUDENT, ("HEC-TOURNAI",), (), MailContext("enrolment", (TOURNAI.name,), "student")),
        (
            frozenset({Role.TEACHER}),
            (),
            ("HEC-TOURNAI", "HOG-GENT"),
            MailContext("attribution", (TOURNAI.name, GENT.name), "faculty"),
        ),
        (
            frozenset({Role.ADMINISTRATIVE}),
            (),
            ("HOG-GENT",),
            MailContext("attribution", (GENT.name,), "staff"),
        ),
        (frozenset({Role.STAFF}), (), (), MailContext("personnel", (), "employee")),
    ],
    ids=["student", "teacher", "administrative", "staff"],
)
def test_message_carries_why_the_person_receives_it(  # noqa: PLR0917 - pytest passes fixtures as arguments
    mail_store: MemoryStore,
    keyring: Keyring,
    mail_clock: FixedClock,
    roles: frozenset[Role],
    enrolled: tuple[str, ...],
    attributed: tuple[str, ...],
    expected: MailContext,
) -> None:
    """The queued message names the reason, the schools by name and the affiliation."""
    desk = _desk(mail_store, keyring)
    who = _student(roles=roles, enrolled_at=enrolled, attributed_at=attributed)
    _issue(desk, who, mail_clock)
    (message,) = desk.outbox.messages_for("p1")
    assert message.context == expected


def test_affiliation_is_the_directorys_primary_affiliation() -> None:
    """The affiliation the mail's rule follows is the one the OpenLDAP mapping writes."""
    roles = list(Role)
    for size in range(1, len(roles) + 1):
        for chosen in combinations(roles, size):
            who = _student(roles=frozenset(chosen))
            assert who.affiliation == _primary(frozenset(chosen)), chosen


def _received(transport: MemoryTransport) -> EmailMessage:
    raw = transport.sent[-1].raw
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def test_delivered_mail_names_the_school_in_the_schools_language(
    mail_store: MemoryStore,
    keyring: Keyring,
    mailer: OutboxMailer,
    transport: MemoryTransport,
    mail_clock: FixedClock,
) -> None:
    """Flushed, the welcome mail is Dutch and says it comes for the enrolment at Gent."""
    desk = _desk(mail_store, keyring)
    mailer.outbox = desk.outbox
    _issue(desk, _student(), mail_clock)
    assert mailer.flush().sent == 1
    message = _received(transport)
    assert message["Content-Language"] == "nl"
    assert "omdat u ingeschreven bent bij Hogeschool Gent." in _text(message)


def test_resend_without_roles_keeps_the_language_and_reason(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """Support's resend knows only the id: it reuses the latest mail's language and context."""
    desk = _desk(mail_store, keyring)
    _issue(desk, _student(), mail_clock)
    bare = Addressee("p1", "elodie.vandamme", "Élodie Vandamme", None)
    message, _ = desk.resend(bare, now=mail_clock.now(), run_id=2)
    assert message is not None
    assert message.purpose is Purpose.WELCOME_AGAIN
    assert (message.language, message.population) == ("nl", "student")
    assert message.context == MailContext("enrolment", (GENT.name,), "student")


@dataclass(frozen=True)
class _Reset:
    """A reset mail as the password service makes one."""

    person_id: str
    username: str
    display_name: str
    to: str
    link: SecretStr = field(repr=False)
    issued_at: datetime


def test_reset_mail_speaks_the_persons_recorded_language(
    mail_store: MemoryStore, keyring: Keyring, mail_clock: FixedClock
) -> None:
    """A person whose row says en gets the reset in en, though mail.language is fr."""
    desk = _desk(mail_store, keyring)
    _issue(desk, _student(language="en"), mail_clock)
    resets = OutboxResetMailer(mail_store, desk.outbox, MailSettings())
    link = SecretStr("https://ecampus.test/r?token=t0k")
    resets.send_reset(
        _Reset("p1", "elodie.vandamme", "Élodie", "elodie@gmail.com", link, mail_clock.now())
    )
    reset = desk.outbox.messages_for("p1")[-1]
    assert (reset.purpose, reset.language) == (Purpose.RESET, "en")
    assert reset.context == MailContext("enrolment", (GENT.name,), "student")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_outbox_keeps_the_context(
    kind: str,
    mail_store: MemoryStore,
    sqlite_store: SqlStore,
    keyring: Keyring,
    mail_clock: FixedClock,
) -> None:
    """The context comes back from the outbox as queued (SQLite: schema version 8)."""
    store = mail_store if kind == "memory" else sqlite_store
    outbox = open_outbox(store, keyring)
    context = MailContext("attribution", ("Athénée Royal d'Ath", "Gent"), "faculty")
    with store.transaction():
        queued, _ = outbox.enqueue(
            NewMessage("k1", "p1", "a.b", Purpose.WELCOME, "a@b.be", context=context),
            now=mail_clock.now(),
        )
    got = outbox.get(queued.message_id)
    assert got is not None
    assert (got.context, outbox.messages_for("p1")[0].context) == (context, context)


def test_unreadable_context_is_none() -> None:
    """A stored context this version cannot read is treated as none, never an error."""
    assert MailContext.from_json("not json") is None
    assert MailContext.from_json("[1]") is None
    assert MailContext.from_json('{"reason": "other"}') == MailContext()
