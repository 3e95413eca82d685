"""Each situation of the support FAQ, reproduced with real nightly runs, and its conclusion."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from pydantic import SecretStr
from support_world import TWIN_PUPIL, School, niss

from ecampus_idm.clock import FixedClock
from ecampus_idm.identity.niss import contains_national_number
from ecampus_idm.store.base import RunStatus
from ecampus_idm.support.base import SimpleMailMessage
from ecampus_idm.support.diagnose import ConclusionCode, FaqStep, Lookup

HOUR = timedelta(hours=1)


def test_he_student_on_31_august_is_pending_until_1_september(school_group: School) -> None:
    """On 31 August an HE student has no account: it will be created on 1 September."""
    school_group.clock.set(FixedClock.on(date(2026, 8, 31), hour=14).now())
    assert school_group.run().status is RunStatus.SUCCEEDED
    diagnosis = school_group.diagnose(Lookup(school="HEC-TOURNAI", email="alice.martin@gmail.com"))
    assert diagnosis.conclusion.code is ConclusionCode.ACCOUNT_ON_DATE
    assert diagnosis.conclusion.data["opens_on"] == "2026-09-01"
    assert "1er septembre 2026" in diagnosis.conclusion.fr
    assert diagnosis.status is None


def test_he_student_gets_the_account_on_1_september(school_group: School) -> None:
    """The night of 1 September creates the account the diagnosis announced."""
    school_group.clock.set(FixedClock.on(date(2026, 9, 1)).now())
    school_group.run()
    diagnosis = school_group.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0001"))
    assert diagnosis.status == "active"
    assert diagnosis.username == "alice.martin"


def test_pupil_whose_secretariat_has_not_finished_encoding(school_group: School) -> None:
    """A secondary pupil not fully encoded waits for the secretariat."""
    school_group.run()
    diagnosis = school_group.diagnose(Lookup(school="AR-ATH", matricule="SEC001"))
    assert diagnosis.conclusion.code is ConclusionCode.ENCODING_UNFINISHED
    assert diagnosis.conclusion.step is FaqStep.ACCOUNT_CREATION
    assert "secrétariat" in diagnosis.conclusion.fr


def test_welcome_mail_bounced(school_group: School) -> None:
    """A bounced welcome mail: the secretariat must correct the address."""
    school_group.run()
    now = school_group.clock.now()
    school_group.record(
        "HE0002", "mail.queued", now, purpose="welcome", to="c***@gmial.com", message_id="m2"
    )
    school_group.record(
        "HE0002", "mail.bounced", now + HOUR, purpose="welcome", to="c***@gmial.com",
        message_id="m2", error="550 5.1.1 user unknown",
    )  # fmt: skip
    school_group.clock.advance(2 * HOUR)
    diagnosis = school_group.diagnose(Lookup(school="HEC-MONS", email="chloe.dubois@gmial.com"))
    assert diagnosis.conclusion.code is ConclusionCode.MAIL_BOUNCED
    assert diagnosis.conclusion.step is FaqStep.CHECK_EMAIL_ENCODING
    assert "c***@gmial.com" in diagnosis.conclusion.fr
    assert "secrétariat" in diagnosis.conclusion.fr


def test_bounce_read_from_the_outbox(school_group: School) -> None:
    """With the outbox wired, its message statuses give the same conclusion."""
    school_group.run()
    now = school_group.clock.now()
    school_group.mail.add(
        SimpleMailMessage(
            "m9", school_group.person_id("HE0002"), "welcome", "c***@gmial.com", "bounced",
            queued_at=now, attempts=1, last_error="550 5.1.1 user unknown",
        )
    )  # fmt: skip
    diagnosis = school_group.diagnose(
        Lookup(school="HEC-MONS", matricule="HE0002"), with_outbox=True
    )
    assert diagnosis.conclusion.code is ConclusionCode.MAIL_BOUNCED


def test_address_corrected_yesterday_mail_leaves_tonight(school_group: School) -> None:
    """An address corrected yesterday: the credentials leave with tonight's run."""
    school_group.run()
    sent = school_group.clock.now()
    school_group.record("HE0003", "mail.sent", sent, purpose="welcome", to="d***@outloook.be")
    # Corrected in the secretariat's software on 10 September; last night's run saw it.
    school_group.clock.advance(timedelta(days=1))
    school_group.record(
        "HE0003", "mail.address_changed", school_group.clock.now(), to="d***@outlook.be"
    )
    school_group.clock.advance(8 * HOUR)  # 11 September, 10:00: the person calls support
    diagnosis = school_group.diagnose(Lookup(school="HEC-MONS", username="david.leroy"))
    assert diagnosis.conclusion.code is ConclusionCode.MAIL_LEAVES_TONIGHT
    assert diagnosis.conclusion.data["next_run"].startswith("2026-09-12T02:00")
    assert "12 septembre 2026 à 02:00" in diagnosis.conclusion.fr


def test_teacher_without_attribution_in_the_asked_school(school_group: School) -> None:
    """A teacher attributed at Mons asking about Tournai: the personnel office must act."""
    school_group.run()
    diagnosis = school_group.diagnose(
        Lookup(school="HEC-TOURNAI", name="Emma Petit", birth_date=date(1980, 2, 14))
    )
    assert diagnosis.conclusion.code is ConclusionCode.NO_ATTRIBUTION
    assert diagnosis.conclusion.step is FaqStep.ATTRIBUTION
    assert "bureau du personnel" in diagnosis.conclusion.fr


def test_staff_member_without_any_attribution_has_an_account_without_school(
    school_group: School,
) -> None:
    """Encoded with no attribution: an active account on slapd, no school, "no attribution"."""
    school_group.run()
    diagnosis = school_group.diagnose(
        Lookup(school="HEC-MONS", name="Gilles Noël", birth_date=date(1979, 5, 3))
    )
    assert diagnosis.status == "active"
    assert diagnosis.username == "gilles.noel"
    directory = school_group.settings.directory
    assert directory is not None
    entry = school_group.directory.get(f"uid=gilles.noel,{directory.people_dn}")
    assert entry is not None
    assert "ecampusSchool" not in entry
    assert sorted(entry.get("eduPersonAffiliation")) == ["employee", "member"]
    assert entry.get("mail") == ("gilles.noel@ecampus.test",)
    assert diagnosis.conclusion.code is ConclusionCode.NO_ATTRIBUTION
    assert diagnosis.conclusion.step is FaqStep.ATTRIBUTION
    assert "aucune attribution" in diagnosis.conclusion.fr
    assert "bureau du personnel" in diagnosis.conclusion.fr
    assert "no attribution" in diagnosis.conclusion.en
    assert diagnosis.conclusion.data["attributions"] == "none"


def test_teacher_with_attribution_in_the_asked_school_is_not_told_to_get_one(
    school_group: School,
) -> None:
    """The same teacher asking about Mons, where she is attributed, gets another answer."""
    school_group.run()
    diagnosis = school_group.diagnose(
        Lookup(school="HEC-MONS", name="petit emma", birth_date=date(1980, 2, 14))
    )
    assert diagnosis.conclusion.code is not ConclusionCode.NO_ATTRIBUTION
    assert "hec-mons-staff" in json.dumps(diagnosis.to_dict())


def test_account_fine_and_mail_delivered_check_spam(school_group: School) -> None:
    """Account active, welcome mail delivered: spam folder, then "Mot de passe oublié"."""
    school_group.run()
    school_group.record(
        "HE0004", "mail.sent", school_group.clock.now(), purpose="welcome", to="f***@skynet.be"
    )
    diagnosis = school_group.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0004"))
    assert diagnosis.conclusion.code is ConclusionCode.CHECK_SPAM
    assert diagnosis.conclusion.step is FaqStep.CHECK_SPAM
    assert "SPAM" in diagnosis.conclusion.fr
    assert "Mot de passe oublié" in diagnosis.conclusion.fr
    assert "forgot password" in diagnosis.conclusion.en


def test_timeline_shows_source_decisions_directory_and_events(school_group: School) -> None:
    """The timeline has the source, today's decisions, the directory entry and the events."""
    school_group.run()
    diagnosis = school_group.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0004"))
    kinds = [t.kind for t in diagnosis.timeline]
    assert "source.record" in kinds
    assert "policy.calendar.enrolment.open" in kinds
    assert "directory.entry" in kinds
    assert "account.created" in kinds


def test_english_on_request(school_group: School) -> None:
    """``lang="en"`` gives the conclusion and timeline in English."""
    school_group.run()
    diagnosis = school_group.diagnose(Lookup(school="AR-ATH", matricule="SEC001"))
    document = diagnosis.to_dict("en")
    assert document["conclusion"]["text"] == diagnosis.conclusion.en
    assert "Conclusion: " in diagnosis.render("en")


def test_unknown_person_is_sent_back_to_the_secretariat(school_group: School) -> None:
    """Nobody matches: the conclusion asks the office to check the encoding."""
    school_group.run()
    diagnosis = school_group.diagnose(Lookup(school="HEC-TOURNAI", email="nobody@example.org"))
    assert diagnosis.conclusion.code is ConclusionCode.NOT_FOUND
    assert diagnosis.person_id is None


def test_canary_no_password_token_or_national_number(school_group: School) -> None:
    """No diagnosis (text or JSON, fr or en) holds a password, a token or a national number."""
    school_group.run()
    secret = "canary-Pa55word-zq"
    token = "tok_canary_8d1f3b"
    pid = school_group.person_id("HE0004")
    school_group.custody.deposit(
        pid, "farid.benali", SecretStr(secret), issued_at=school_group.clock.now()
    )
    school_group.record("HE0004", "reset.mailed", school_group.clock.now(), purpose="reset")
    numbers = [niss(date(2006, 6, 30), 104), niss(date(1980, 2, 14), 107)]
    lookups = [
        Lookup(school="HEC-TOURNAI", matricule="HE0004"),
        Lookup(school="HEC-TOURNAI", name="Emma Petit", birth_date=date(1980, 2, 14)),
        Lookup(school="AR-ATH", matricule="SEC001"),
    ]
    for lookup in lookups:
        diagnosis = school_group.diagnose(lookup)
        for lang in ("fr", "en"):
            for text in (diagnosis.to_json(lang), diagnosis.render(lang), repr(diagnosis)):
                assert secret not in text
                assert token not in text
                assert not contains_national_number(text)
                assert not any(n in text for n in numbers)
    text = school_group.diagnose(lookups[0]).to_json()
    assert "farid.benali@skynet.be" not in text
    assert "f***@skynet.be" in text


def test_matricule_finds_the_person_of_the_asked_school_only(school_group: School) -> None:
    """HE0004 is Farid at Tournai and Zoé at Ath: each school gets its own person, and a
    school where nobody has that number gets "not found", with nobody shown (was: "2 people
    match"; a single person of another school was shown)."""
    school_group.add_rows("secretariat-sec.csv", TWIN_PUPIL)
    school_group.run()
    at_ath = school_group.diagnose(Lookup(school="AR-ATH", matricule="HE0004"))
    assert at_ath.display_name == "Zoé Simon"
    assert "Farid" not in at_ath.render() + at_ath.to_json()
    at_tournai = school_group.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0004"))
    assert at_tournai.display_name == "Farid Benali"
    assert "Zoé" not in at_tournai.render() + at_tournai.to_json()
    for lookup in (
        Lookup(school="HEC-MONS", matricule="HE0004"),
        Lookup(school="HEC-MONS", matricule="SEC002"),  # Inès, of Ath only
    ):
        nobody = school_group.diagnose(lookup)
        assert nobody.conclusion.code is ConclusionCode.NOT_FOUND
        assert nobody.person_id is None
        shown = nobody.render() + nobody.render("en") + nobody.to_json() + repr(nobody)
        assert not any(name in shown for name in ("Farid", "Zoé", "Inès", "AR-ATH", "TOURNAI"))


def test_times_are_brussels_time_with_the_zone(school_group: School) -> None:
    """The run of 10 September 02:00 CEST (00:00 UTC): the export's acceptance, the events
    and the next run read 02:00 CEST; the JSON's instants carry +02:00 (was: 00:00, UTC)."""
    school_group.run()
    diagnosis = school_group.diagnose(Lookup(school="HEC-TOURNAI", matricule="HE0004"))
    text = diagnosis.render()
    assert "export accepté le 2026-09-10 02:00 CEST" in text
    assert "2026-09-10 02:00 CEST  account.created" in text
    assert " 00:00" not in text
    assert "le 11 septembre 2026 à 02:00 CEST" in diagnosis.conclusion.fr
    document = diagnosis.to_dict("en")
    assert "export accepted 2026-09-10 02:00 CEST" in diagnosis.render("en")
    instants = [document["at"]] + [t["at"] for t in document["timeline"] if t["at"]]
    accepted = [
        t["data"]["accepted_at"] for t in document["timeline"] if t["kind"] == "source.record"
    ]
    assert accepted == ["2026-09-10T02:00:00+02:00"]
    for instant in instants + accepted:
        assert datetime.fromisoformat(instant).utcoffset() == timedelta(hours=2), instant
