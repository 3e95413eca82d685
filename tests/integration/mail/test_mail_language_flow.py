"""Each person's welcome mail in their language, naming their school (issue 15, item 6).

A real nightly run (slapd, SQLite store, a real aiosmtpd server) reads a secretariat
export with a ``Langue`` column mapped on the connector; one school speaks Dutch
(``[[schools]] language = "nl"``), the other has no language (``mail.language``: fr).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors import open_connectors
from ecampus_idm.crypto import generate_key
from ecampus_idm.directory.base import Directory
from ecampus_idm.mail.smtp import SmtpTransport
from ecampus_idm.mail.wiring import build_mailer
from ecampus_idm.runner import NightlyRun
from ecampus_idm.store import open_store
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.smtp import ReceivedMessage, SmtpServer

pytestmark = pytest.mark.ldap

HEADER = (
    "Matricule;Nom;Prénom;Date de naissance;NISS;Courriel personnel;Implantation;Section;"
    "Année académique;Encodage complet;Langue"
)
ROWS = {
    # address: (matricule, family, given, school, language cell)
    "jean.dupont@gmail.com": ("000001", "Dupont", "Jean", "HEC-TOURNAI", ""),
    "an.peeters@telenet.be": ("000002", "Peeters", "An", "HOG-GENT", ""),
    "emma.smith@gmail.com": ("000003", "Smith", "Emma", "HEC-TOURNAI", "English"),
    "lena.muller@gmx.de": ("000004", "Müller", "Lena", "HOG-GENT", "Deutsch"),
}
TOURNAI = "Haute-Ecole Condorcet - Tournai"
GENT = "Hogeschool Gent"


@dataclass
class Night:
    """What one nightly run delivered, and the store it recorded it in."""

    store: SqlStore
    smtp: SmtpServer

    def mail_to(self, address: str) -> ReceivedMessage:
        (message,) = self.smtp.to(address)
        return message


@pytest.fixture
def night(
    ldap_server: SlapdServer, ldap_directory: Directory, smtp_server: SmtpServer, tmp_path: Path
) -> Iterator[Night]:
    """One nightly run over the four students, its mails flushed to aiosmtpd."""
    lines = [HEADER]
    for address, (matricule, family, given, school, language) in ROWS.items():
        lines.append(
            f"{matricule};{family};{given};01/02/2001;;{address};{school};INFO;2026-2027;oui;"
            f"{language}"
        )
    (tmp_path / "secretariat.csv").write_text("\r\n".join(lines) + "\r\n", "utf-8")
    settings = Settings(
        institution={
            "name": "Haute-Ecole Condorcet",
            "mail_domain": "ecampus.test",
            "portal_url": "https://ecampus.test/",
        },
        schools=[
            {"code": "HEC-TOURNAI", "name": TOURNAI, "category": "HE"},
            {"code": "HOG-GENT", "name": GENT, "category": "HE", "language": "nl"},
        ],
        sources={
            "pseudonym_key": secrets.token_urlsafe(48),
            "connectors": [
                {
                    "type": "csv",
                    "name": "secretariat",
                    "profile": "secretariat",
                    "path": "secretariat.csv",
                    "columns": {"language": "Langue"},
                }
            ],
        },
        directory=ldap_server.settings().model_dump(),
        store={"url": f"sqlite:///{tmp_path}/state.sqlite3"},
        passwords={"quality": {"min_length_by_population": {"student": 12}}},
        mail={
            "transport": "smtp",
            "flush_after_run": True,
            "keys": [generate_key()],
            "throttle": {"per_domain_per_minute": 0, "overall_per_minute": 0},
        },
    ).resolve_paths(tmp_path, ca_file=False)
    clock = FixedClock.on(date(2026, 10, 2))
    assert settings.sources is not None
    with open_store(settings.store, clock=clock) as store:
        mailer = build_mailer(
            settings, store, clock, transport=SmtpTransport(smtp_server.settings())
        )
        with open_connectors(settings.sources) as connectors:
            report = NightlyRun(
                settings,
                clock=clock,
                store=store,
                directory=ldap_directory,
                connectors=connectors,
                mailer=mailer,
            ).run()
        assert report.mail is not None
        assert report.mail["sent"] == len(ROWS), report.mail
        yield Night(store, smtp_server)


def test_mail_takes_the_schools_language_or_mail_language(night: Night) -> None:
    """Without a language in the row: Dutch for the Gent school, French for Tournai."""
    gent = night.mail_to("an.peeters@telenet.be")
    tournai = night.mail_to("jean.dupont@gmail.com")
    assert (gent.parsed()["Content-Language"], tournai.parsed()["Content-Language"]) == (
        "nl",
        "fr",
    )
    assert f"omdat u ingeschreven bent bij {GENT}." in gent.text()
    assert f"en raison de votre inscription à {TOURNAI}." in tournai.text()


def test_mail_takes_the_language_of_the_row(night: Night) -> None:
    """A row that says English gets an English mail, though its school is French."""
    emma = night.mail_to("emma.smith@gmail.com")
    assert emma.parsed()["Content-Language"] == "en"
    assert f"because of your enrolment at {TOURNAI}." in emma.text()


def test_unknown_language_falls_back_to_the_school_and_is_on_the_timeline(
    night: Night,
) -> None:
    """« Deutsch » keeps the account, the mail goes in the school's Dutch, the event says why."""
    lena = night.mail_to("lena.muller@gmx.de")
    assert lena.parsed()["Content-Language"] == "nl"
    queued = [
        e
        for person in night.store.accounts()
        for e in night.store.events_for_person(person)
        if e.kind == "mail.queued" and e.data.get("language_issue")
    ]
    assert len(queued) == 1
    assert queued[0].data["language_from"] == "school"
    assert "ni fr, ni nl, ni en" in queued[0].reason_fr


def test_mail_states_the_students_length_floor(night: Night) -> None:
    """The student floor (12) is the rule the mail states, not the general 15."""
    assert "d'au moins 12 caractères" in night.mail_to("jean.dupont@gmail.com").text()
    assert "minstens 12 tekens" in night.mail_to("an.peeters@telenet.be").text()
