"""The diagnosis on in-memory parts: finding the person, and each conclusion rule."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import BRUSSELS, FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.identity.niss import contains_national_number
from ecampus_idm.model import (
    AcademicYear,
    AccountStatus,
    Attribution,
    Category,
    EmailIssue,
    Enrolment,
    Person,
    Role,
    SourceKey,
)
from ecampus_idm.store.base import AccountRecord
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.support.base import MemoryCustody, MemoryMailHistory, SimpleMailMessage
from ecampus_idm.support.diagnose import (
    ConclusionCode,
    Diagnosis,
    Diagnostician,
    FaqStep,
    Lookup,
)
from ecampus_idm.support.errors import AmbiguousPersonError, UnknownSchoolError
from ecampus_idm.testing.plugin import memory_base_tree

BASE = "dc=ecampus,dc=test"
SETTINGS = Settings(
    directory={"url": "ldap://x", "bind_dn": f"cn=a,{BASE}", "bind_password": "p", "base_dn": BASE},
    schools=[
        {"code": "HEC-MONS", "name": "Haute-Ecole Condorcet - Mons", "category": "HE"},
        {"code": "HEC-TOURNAI", "name": "Haute-Ecole Condorcet - Tournai", "category": "HE"},
    ],
)
YEAR = AcademicYear(start_year=2026)


def student(
    pid: str, given: str, *, school: str = "HEC-MONS", email: str | None = "x@gmail.com"
) -> Person:
    """A student of ``school`` for 2026-2027."""
    key = SourceKey(source="secretariat-he", matricule=f"M-{pid}")
    return Person(
        person_id=pid,
        given_name=given,
        family_name="Dupont",
        birth_date=date(2005, 5, 5),
        personal_email=email,
        roles=frozenset({Role.STUDENT}),
        source_keys=frozenset({key}),
        enrolments=(
            Enrolment(school=school, category=Category.HE, academic_year=YEAR, source=key),
        ),
    )


class World:
    """A memory store and directory on 10 September 2026, 10:00."""

    def __init__(self, *people: Person) -> None:
        self.clock = FixedClock.on(date(2026, 9, 10), hour=10)
        self.store = MemoryStore(self.clock)
        self.directory: MemoryDirectory = memory_base_tree()
        self.people = list(people)
        self.issues: list[RowIssue] = []
        self.mail = MemoryMailHistory()
        self.custody = MemoryCustody()

    def account(self, person: Person, username: str, status: str = "active") -> None:
        """Give ``person`` an account in the store and the directory."""
        now = self.clock.now()
        self.store.reserve_username(username, person.person_id)
        self.store.put_accounts(
            [
                AccountRecord(
                    person_id=person.person_id,
                    status=AccountStatus(status),
                    created_at=now - timedelta(days=9),
                    status_since=now - timedelta(days=9),
                    last_seen_in_sources=now,
                    roles=person.roles,
                )
            ]
        )
        self.directory.add(
            f"uid={username},ou=people,{BASE}",
            {
                "objectClass": ["inetOrgPerson", "ecampusPerson"],
                "uid": username,
                "cn": person.display_name,
                "sn": person.family_name,
                "ecampusPersonId": person.person_id,
                "ecampusAccountStatus": status,
                "mail": f"{username}@ecampus.test",
            },
        )

    def event(self, person: Person, kind: str, at: datetime, **data: str) -> None:
        """Record an event about ``person``."""
        self.store.record_event(
            person.person_id, kind, reason_fr="Fait.", reason_en="Done.", data=data, at=at
        )

    def diagnose(self, lookup: Lookup, **options: object) -> Diagnosis:
        """Diagnose with every part wired."""
        return Diagnostician(
            SETTINGS,
            clock=self.clock,
            store=self.store,
            directory=self.directory,
            people=self.people,
            issues=self.issues,
            custody=self.custody,
            **options,  # type: ignore[arg-type]
        ).diagnose(lookup)


def test_unknown_school_is_refused() -> None:
    """A school that is not configured is a typed error naming it."""
    with pytest.raises(UnknownSchoolError, match="NOPE"):
        World().diagnose(Lookup(school="NOPE", matricule="1"))


def test_namesakes_are_told_apart_by_the_school() -> None:
    """Two namesakes born the same day: the one of the asked school is chosen."""
    mons, tournai = student("p1", "Marie"), student("p2", "Marie", school="HEC-TOURNAI")
    world = World(mons, tournai)
    lookup = Lookup(school="HEC-TOURNAI", name="DUPONT Marie", birth_date=date(2005, 5, 5))
    assert world.diagnose(lookup).person_id == "p2"


def test_namesakes_in_the_same_school_are_ambiguous() -> None:
    """Two namesakes of the same school: support must narrow the search."""
    world = World(student("p1", "Marie"), student("p2", "Marie"))
    with pytest.raises(AmbiguousPersonError) as caught:
        world.diagnose(Lookup(school="HEC-MONS", name="Marie Dupont", birth_date=date(2005, 5, 5)))
    assert caught.value.count == 2


def test_names_match_without_accents_or_case() -> None:
    """A name in capitals and without accents finds Élodie Dupont."""
    world = World(student("p1", "Élodie"))
    lookup = Lookup(school="HEC-MONS", name="ELODIE dupont", birth_date=date(2005, 5, 5))
    assert world.diagnose(lookup).person_id == "p1"


def test_rejected_row_sends_back_to_the_secretariat() -> None:
    """A row set aside by validation: the conclusion names the source, line and field."""
    world = World()
    world.issues.append(
        RowIssue.of(
            IssueCode.INVALID_DATE,
            source="secretariat-he",
            path="he.csv",
            line=12,
            field="birth_date",
            column="Date de naissance",
            matricule="M-9",
        )
    )
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", matricule="M-9"))
    assert diagnosis.conclusion.code is ConclusionCode.ROW_REJECTED
    assert "ligne 12" in diagnosis.conclusion.fr
    assert "Date de naissance" in diagnosis.conclusion.fr


def test_staff_with_incomplete_identity_waits_for_the_personnel_office() -> None:
    """A teacher without a personal address: the personnel office must complete it."""
    key = SourceKey(source="personnel", matricule="P1")
    teacher = Person(
        person_id="t1",
        given_name="Emma",
        family_name="Petit",
        birth_date=date(1980, 2, 14),
        roles=frozenset({Role.TEACHER}),
        source_keys=frozenset({key}),
        attributions=(
            Attribution(
                school="HEC-MONS", category=Category.HE, start=date(2020, 9, 1), source=key
            ),
        ),
    )
    diagnosis = World(teacher).diagnose(Lookup(school="HEC-MONS", matricule="P1"))
    assert diagnosis.conclusion.code is ConclusionCode.IDENTITY_INCOMPLETE
    assert "bureau du personnel" in diagnosis.conclusion.fr


def test_entitled_without_entry_is_created_by_the_next_run() -> None:
    """Entitled today but not in the directory yet: the next nightly run creates it."""
    diagnosis = World(student("p1", "Marie")).diagnose(Lookup(school="HEC-MONS", matricule="M-p1"))
    assert diagnosis.conclusion.code is ConclusionCode.ACCOUNT_NEXT_RUN
    assert diagnosis.conclusion.data["next_run"].startswith("2026-09-11T02:00")


def test_missing_personal_address() -> None:
    """An account without a personal address: the secretariat must encode it."""
    marie = student("p1", "Marie", email=None)
    world = World(marie)
    world.account(marie, "marie.dupont")
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    assert diagnosis.conclusion.code is ConclusionCode.EMAIL_MISSING


def test_invalid_personal_address_is_to_be_corrected_by_the_secretariat() -> None:
    """A mistyped address: the account exists, the mail waits for the correction."""
    marie = student("p1", "Marie", email=None).model_copy(
        update={"email_issue": EmailIssue.INVALID}
    )
    world = World(marie)
    world.account(marie, "marie.dupont")
    world.event(
        marie, "mail.failed", world.clock.now(), reason="invalid_address", purpose="welcome"
    )
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    conclusion = diagnosis.conclusion
    assert conclusion.code is ConclusionCode.EMAIL_INVALID
    assert conclusion.step is FaqStep.CHECK_EMAIL_ENCODING
    assert "n'est pas valide" in conclusion.fr
    assert "secrétariat de votre département / école" in conclusion.fr
    assert "corriger" in conclusion.fr
    assert "la nuit suivant la correction" in conclusion.fr
    assert "not valid" in conclusion.en
    assert conclusion.data["next_run"].startswith("2026-09-11T02:00")
    assert "invalide" in diagnosis.render("fr")


def test_invalid_address_of_staff_is_for_the_personnel_office() -> None:
    """A staff member's mistyped address (required for staff by default): the identity
    data is incomplete, the address "encoded but invalid"; the personnel office corrects."""
    key = SourceKey(source="personnel", matricule="P1")
    emma = Person(
        person_id="p9",
        given_name="Emma",
        family_name="Petit",
        birth_date=date(1980, 2, 14),
        niss_pseudonym="pseudo-emma",
        email_issue=EmailIssue.INVALID,
        roles=frozenset({Role.TEACHER}),
        source_keys=frozenset({key}),
        attributions=(
            Attribution(
                school="HEC-MONS", category=Category.HE, start=date(2020, 9, 1), source=key
            ),
        ),
    )
    diagnosis = World(emma).diagnose(Lookup(school="HEC-MONS", matricule="P1"))
    assert diagnosis.conclusion.code is ConclusionCode.IDENTITY_INCOMPLETE
    assert "adresse e-mail personnelle (encodée mais invalide)" in diagnosis.conclusion.fr
    assert "bureau du personnel" in diagnosis.conclusion.fr
    assert "(encoded but invalid)" in diagnosis.conclusion.en


def test_password_already_changed() -> None:
    """The user already chose a password: "Mot de passe oublié" if forgotten."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.account(marie, "marie.dupont")
    world.event(marie, "mail.sent", world.clock.now() - timedelta(days=8), to="x***@gmail.com")
    world.event(marie, "password.changed", world.clock.now() - timedelta(days=2))
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    assert diagnosis.conclusion.code is ConclusionCode.PASSWORD_CHANGED
    assert "Mot de passe oublié" in diagnosis.conclusion.fr


def test_deferred_mail_says_when_it_is_retried() -> None:
    """A deferred welcome mail: the conclusion gives the outbox's next attempt."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.account(marie, "marie.dupont")
    retry = world.clock.now() + timedelta(minutes=30)
    world.mail.add(
        SimpleMailMessage(
            "m1", "p1", "welcome", "x***@gmail.com", "deferred",
            queued_at=world.clock.now(), next_attempt_at=retry, attempts=2,
        )
    )  # fmt: skip
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"), mail=world.mail)
    assert diagnosis.conclusion.code is ConclusionCode.MAIL_PENDING
    # The same instant, written with Brussels' offset (issue 15, item 3).
    assert diagnosis.conclusion.data["next_attempt_at"] == retry.astimezone(BRUSSELS).isoformat()


def test_suppressed_reset_points_to_the_encoded_address() -> None:
    """A reset asked with another address: check the encoded one."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.account(marie, "marie.dupont")
    world.event(marie, "mail.sent", world.clock.now() - timedelta(days=8), to="x***@gmail.com")
    world.event(marie, "reset.suppressed", world.clock.now(), reason="unknown-address")
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    assert diagnosis.conclusion.code is ConclusionCode.RESET_ADDRESS_UNKNOWN


def test_account_without_any_welcome_mail() -> None:
    """An account whose welcome mail is nowhere: forgot password or the listing."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.account(marie, "marie.dupont")
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", email="X@gmail.com"))
    assert diagnosis.conclusion.code is ConclusionCode.NO_WELCOME_MAIL


def test_disabled_account_of_a_leaver() -> None:
    """A leaver's disabled account is explained, not sent to the spam folder."""
    marie = student("p1", "Marie")
    world = World()
    world.account(marie, "marie.dupont", status="disabled")
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    assert diagnosis.conclusion.code is ConclusionCode.ACCOUNT_INACTIVE


def test_without_rules_support_escalates() -> None:
    """When no rule applies the conclusion is to escalate."""
    diagnosis = World(student("p1", "Marie")).diagnose(
        Lookup(school="HEC-MONS", matricule="M-p1"), rules=()
    )
    assert diagnosis.conclusion.code is ConclusionCode.ESCALATE


def test_full_addresses_in_event_data_are_masked() -> None:
    """An event that kept a full address shows it masked in the timeline."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.account(marie, "marie.dupont")
    world.event(marie, "mail.address_changed", world.clock.now(), new="marie.d@gmail.com")
    text = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont")).to_json()
    assert "marie.d@gmail.com" not in text
    assert "m***@gmail.com" in text


def test_custody_state_shown_never_the_password() -> None:
    """The timeline says the initial password is kept, never what it is."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.account(marie, "marie.dupont")
    world.custody.deposit(
        "p1", "marie.dupont", SecretStr("zuba-kote-38"), issued_at=world.clock.now()
    )
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    assert "custody" in [t.kind for t in diagnosis.timeline]
    for text in (diagnosis.to_json(), diagnosis.to_json("en"), diagnosis.render()):
        assert "zuba-kote-38" not in text
        assert not contains_national_number(text)


def test_corrected_address_then_bounced_again_is_a_bounce() -> None:
    """A corrected address whose new mail bounces too: the bounce is the answer."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.account(marie, "marie.dupont")
    then = world.clock.now() - timedelta(hours=6)
    world.event(marie, "mail.address_changed", then, to="m***@gmial.com")
    world.event(marie, "mail.queued", then, message_id="m1", purpose="welcome-again")
    world.event(marie, "mail.bounced", then + timedelta(hours=1), message_id="m1", status="5.1.1")
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    assert diagnosis.conclusion.code is ConclusionCode.MAIL_BOUNCED
    assert "5.1.1" in diagnosis.conclusion.fr


def test_corrected_address_leaves_at_the_retry_when_sooner() -> None:
    """A corrected address whose mail is deferred leaves at the retry, before the night."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.account(marie, "marie.dupont")
    now = world.clock.now()
    retry = now + timedelta(minutes=20)
    world.event(marie, "mail.address_changed", now, to="m***@gmail.com")
    world.event(marie, "mail.queued", now, message_id="m1", purpose="welcome-again")
    world.event(
        marie, "mail.deferred", now, message_id="m1", purpose="welcome-again",
        retry_at=retry.isoformat(),
    )  # fmt: skip
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    assert diagnosis.conclusion.code is ConclusionCode.MAIL_LEAVES_TONIGHT
    assert diagnosis.conclusion.data["leaves_at"] == retry.astimezone(BRUSSELS).isoformat()


def test_welcome_mail_failed_for_want_of_address() -> None:
    """A welcome mail that could not leave for want of a valid address: encode one."""
    marie = student("p1", "Marie", email="not-valid@")
    world = World(marie)
    world.account(marie, "marie.dupont")
    world.event(marie, "mail.failed", world.clock.now(), reason="no_address", purpose="welcome")
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    assert diagnosis.conclusion.code is ConclusionCode.EMAIL_MISSING


def test_leaver_in_grace_keeps_a_working_account() -> None:
    """A student no longer in any source: the account works until the date given."""
    marie = student("p1", "Marie")
    world = World()
    world.account(marie, "marie.dupont")
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"))
    assert diagnosis.conclusion.code is ConclusionCode.GRACE_PERIOD
    assert diagnosis.conclusion.data["disable_on"]
