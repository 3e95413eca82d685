"""What a diagnosis shows: the person of the asked school, addresses, times, French.

Issue 15: a matricule finds the person of the school asked about (and never the person of
another school with the same number); no timeline line shows an empty address; every time
is the institution's local time with its zone (text) or ISO 8601 with its offset (JSON);
French texts contract "de le" / "à le".
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from pydantic import SecretStr
from test_diagnose_rules import BASE, YEAR, World, student

from ecampus_idm.crypto import Keyring, generate_key
from ecampus_idm.directory.base import Modification
from ecampus_idm.mail.delivery import OutboxMailer
from ecampus_idm.mail.outbox import NewMessage, Purpose, open_outbox
from ecampus_idm.mail.render import Branding, Renderer
from ecampus_idm.mail.settings import MailSettings
from ecampus_idm.mail.transports import MemoryTransport
from ecampus_idm.model import Attribution, Category, Enrolment, Person, Role, SourceKey
from ecampus_idm.support.base import SimpleMailMessage
from ecampus_idm.support.diagnose import ConclusionCode, Diagnosis, Lookup

WINTER = datetime(2026, 12, 5, 14, 2, tzinfo=UTC)
"""15:02 in Brussels (CET, +01:00)."""
CET = timezone(timedelta(hours=1))

# -- finding the person of the asked school --------------------------------------------------


def _pupil(pid: str, given: str, school: str, source: str, matricule: str = "00042") -> Person:
    """A student of ``school`` whose number in ``source`` is ``matricule``."""
    key = SourceKey(source=source, matricule=matricule)
    return Person(
        person_id=pid,
        given_name=given,
        family_name="Lefèvre",
        birth_date=date(2006, 1, 1),
        personal_email=f"{given.lower()}@gmail.com",
        roles=frozenset({Role.STUDENT}),
        source_keys=frozenset({key}),
        enrolments=(
            Enrolment(school=school, category=Category.HE, academic_year=YEAR, source=key),
        ),
    )


def _shows(diagnosis: Diagnosis, name: str) -> bool:
    texts = [diagnosis.render("fr"), diagnosis.render("en"), diagnosis.to_json("fr")]
    return any(name in text for text in texts) or name in repr(diagnosis)


def test_matricule_finds_the_person_whose_record_in_that_source_is_in_the_school() -> None:
    """Same number in two schools' sources; the Mons student also teaches at Tournai: the
    Tournai student is the one with that number at Tournai (was: "2 people match")."""
    tournai = _pupil("p1", "Zoé", "HEC-TOURNAI", "secretariat-tournai")
    mons = _pupil("p2", "Hugo", "HEC-MONS", "secretariat-mons")
    staff_key = SourceKey(source="personnel", matricule="P77")
    mons = mons.model_copy(
        update={
            "roles": frozenset({Role.STUDENT, Role.TEACHER}),
            "source_keys": mons.source_keys | {staff_key},
            "attributions": (
                Attribution(
                    school="HEC-TOURNAI",
                    category=Category.HE,
                    start=date(2026, 9, 1),
                    source=staff_key,
                ),
            ),
        }
    )
    world = World(tournai, mons)
    at_tournai = world.diagnose(Lookup(school="HEC-TOURNAI", matricule="00042"))
    assert at_tournai.person_id == "p1"
    assert not _shows(at_tournai, "Hugo")
    assert world.diagnose(Lookup(school="HEC-MONS", matricule="00042")).person_id == "p2"


def test_matricule_of_another_school_only_never_shows_that_person() -> None:
    """The only person with that number is of another school: not found here, not shown."""
    world = World(_pupil("p1", "Zoé", "HEC-TOURNAI", "secretariat-tournai"))
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", matricule="00042"))
    assert diagnosis.person_id is None
    assert diagnosis.conclusion.code is ConclusionCode.NOT_FOUND
    assert diagnosis.conclusion.data["other_school"] == "yes"
    assert "autre école" in diagnosis.conclusion.fr
    assert "another school" in diagnosis.conclusion.en
    assert not _shows(diagnosis, "Zoé")
    assert "HEC-TOURNAI" not in diagnosis.to_json("fr")


def test_matricule_of_two_other_schools_is_not_found_rather_than_ambiguous() -> None:
    """Two people of other schools have the number: the asked school has nobody with it."""
    world = World(
        _pupil("p1", "Zoé", "HEC-TOURNAI", "secretariat-tournai"),
        _pupil("p2", "Hugo", "AR-ATH", "secretariat-ath"),
    )
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", matricule="00042"))
    assert diagnosis.conclusion.code is ConclusionCode.NOT_FOUND
    assert not _shows(diagnosis, "Zoé")
    assert not _shows(diagnosis, "Hugo")


def test_matricule_of_staff_without_any_attribution_is_found() -> None:
    """A staff member with no attribution anywhere is of no other school: found."""
    key = SourceKey(source="personnel", matricule="00042")
    gilles = Person(
        person_id="g1",
        given_name="Gilles",
        family_name="Noël",
        birth_date=date(1979, 5, 3),
        personal_email="gilles@gmail.com",
        roles=frozenset({Role.TEACHER}),
        source_keys=frozenset({key}),
    )
    world = World(gilles, _pupil("p1", "Zoé", "HEC-TOURNAI", "secretariat-tournai"))
    assert world.diagnose(Lookup(school="HEC-MONS", matricule="00042")).person_id == "g1"


# -- no empty address ---------------------------------------------------------------------

_EMPTY_FR = re.compile(r"\bà\s*(?:[:.,;)]|$)|adresse\s+-")
_EMPTY_EN = re.compile(r"\bto\s+(?:[:.,;)]|$)|\bto[.,;)]|address\s+-")


def _lines(diagnosis: Diagnosis) -> list[tuple[str, str]]:
    return [(t.fr, t.en) for t in diagnosis.timeline]


def test_no_timeline_line_shows_an_empty_address() -> None:
    """A person without address, a held welcome mail and an outbox message without
    recipient: "adresse inconnue" / "no address", never "à : failed" (was "à  : failed")."""
    marie = student("p1", "Marie", email=None)
    world = World(marie)
    world.account(marie, "marie.dupont")
    world.directory.modify(f"uid=marie.dupont,ou=people,{BASE}", [Modification.replace("mail")])
    world.event(marie, "mail.failed", world.clock.now(), reason="no_address", purpose="welcome")
    world.mail.add(
        SimpleMailMessage(
            "m1", "p1", "welcome-again", "", "failed",
            queued_at=world.clock.now(), attempts=1, last_error="no_address",
        )
    )  # fmt: skip
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"), mail=world.mail)
    for fr, en in _lines(diagnosis):
        assert not _EMPTY_FR.search(fr), fr
        assert not _EMPTY_EN.search(en), en
    assert "adresse inconnue" in diagnosis.render("fr")
    assert "no address" in diagnosis.render("en")


def test_mails_read_from_the_events_are_not_repeated_as_outbox_lines() -> None:
    """With an outbox that knows no message, the mail events are listed once."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.account(marie, "marie.dupont")
    world.event(marie, "mail.sent", world.clock.now(), purpose="welcome", to="x***@gmail.com")
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"), mail=world.mail)
    kinds = [t.kind for t in diagnosis.timeline]
    assert kinds.count("mail.sent") == 1
    assert not any(k.startswith("outbox.") for k in kinds)


# -- times --------------------------------------------------------------------------------


def _instants(node: Any) -> list[str]:
    """Every ISO date-time text of a JSON document."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in _instants(v)]
    if isinstance(node, list):
        return [s for v in node for s in _instants(v)]
    if isinstance(node, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+.*", node):
        return [node]
    return []


def _deferred_world() -> World:
    """Marie's welcome mail deferred at 14:02 UTC on 5 December, retried at 14:32 UTC."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.clock.set(WINTER)
    world.account(marie, "marie.dupont")
    world.event(marie, "mail.queued", WINTER, purpose="welcome", to="x***@gmail.com")
    world.mail.add(
        SimpleMailMessage(
            "m1", "p1", "welcome", "x***@gmail.com", "deferred", queued_at=WINTER,
            next_attempt_at=WINTER + timedelta(minutes=30), attempts=1,
        )
    )  # fmt: skip
    return world


def test_text_times_are_brussels_time_with_the_zone() -> None:
    """14:02 UTC in December reads 15:02 CET in the timeline and the conclusion."""
    world = _deferred_world()
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"), mail=world.mail)
    assert diagnosis.conclusion.code is ConclusionCode.MAIL_PENDING
    assert "le 5 décembre 2026 à 15:32 CET" in diagnosis.conclusion.fr
    assert "en attente d'envoi (reporté après un échec temporaire) :" in diagnosis.conclusion.fr
    assert "on 5 December 2026 at 15:32 CET" in diagnosis.conclusion.en
    for lang in ("fr", "en"):
        text = diagnosis.render(lang)  # type: ignore[arg-type]
        assert "2026-12-05 15:02 CET  " in text
        assert "14:02" not in text
        assert "14:32" not in text


def test_json_times_carry_the_brussels_offset() -> None:
    """Every instant of the JSON is ISO 8601 with Brussels' offset (+01:00 in December)."""
    world = _deferred_world()
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"), mail=world.mail)
    document = json.loads(diagnosis.to_json("en"))
    instants = _instants(document)
    assert document["at"] in instants
    assert document["conclusion"]["data"]["next_attempt_at"] == "2026-12-05T15:32:00+01:00"
    assert len(instants) >= 4
    for text in instants:
        assert datetime.fromisoformat(text).utcoffset() == CET.utcoffset(None), text


# -- French -------------------------------------------------------------------------------


def test_mail_events_read_in_correct_french() -> None:
    """A welcome mail sent by the real mailer reads "Envoi du courriel de bienvenue", and a
    text stored by an older version ("Envoi de le courriel") is shown contracted too."""
    marie = student("p1", "Marie")
    world = World(marie)
    world.clock.set(WINTER)
    clock = world.clock
    outbox = open_outbox(world.store, Keyring.from_config([generate_key()]))
    branding = Branding(
        institution="Haute-Ecole Condorcet",
        portal_url="https://ecampus.condorcet.be/",
        mail_domain="condorcet.be",
        from_address="no-reply@condorcet.be",
        from_name="Haute-Ecole Condorcet",
    )
    outbox.enqueue(
        NewMessage(
            idempotency_key="welcome:p1",
            person_id="p1",
            username="marie.dupont",
            purpose=Purpose.WELCOME,
            to_address="marie@gmail.com",
            display_name="Marie Dupont",
            secret=SecretStr("Initial-Pw-8812"),
        ),
        now=clock.now(),
    )
    mailer = OutboxMailer(
        outbox=outbox,
        transport=MemoryTransport(),
        renderer=Renderer(branding, MailSettings()),
        store=world.store,
        clock=clock,
    )
    assert mailer.flush().sent == 1
    (sent,) = world.store.events_for_person("p1")
    assert sent.reason_fr == "Envoi du courriel de bienvenue à m***@gmail.com."
    world.account(marie, "marie.dupont")
    world.store.record_event(
        "p1", "mail.sent", at=clock.now() - timedelta(days=90),
        reason_fr="Envoi de le renvoi des accès à m***@gmail.com.", reason_en="Sent.",
        data={"purpose": "welcome-again", "to": "m***@gmail.com"},
    )  # fmt: skip
    diagnosis = world.diagnose(Lookup(school="HEC-MONS", username="marie.dupont"), mail=outbox)
    text = diagnosis.render("fr")
    assert "Envoi du courriel de bienvenue à m***@gmail.com" in text
    assert "Envoi du renvoi des accès" in text
    assert not re.search(r"\b(?:de|à) les?\b", text, re.IGNORECASE)
    assert "Courriel de bienvenue à m***@gmail.com : remis" in text
