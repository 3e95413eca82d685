"""A small school group for the support tests: hand-written exports, real slapd, SQLite."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pytest

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings, StoreSettings
from ecampus_idm.connectors import open_connectors
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.model import Person
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store import open_store
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.support.base import MemoryCustody, MemoryMailHistory
from ecampus_idm.support.diagnose import Diagnosis, Diagnostician, Lookup, read_sources
from ecampus_idm.support.settings import OperatorSettings, SupportSettings
from ecampus_idm.testing.slapd import SlapdServer

KEY = secrets.token_urlsafe(48)

SCHOOLS = [
    {"code": "HEC-TOURNAI", "name": "Haute-Ecole Condorcet - Tournai", "category": "HE"},
    {"code": "HEC-MONS", "name": "Haute-Ecole Condorcet - Mons", "category": "HE"},
    {"code": "AR-ATH", "name": "Athénée Royal d'Ath", "category": "SEC"},
]

STUDENT_HEADER = (
    "Matricule;Nom;Prénom;Date de naissance;NISS;Courriel personnel;Implantation;Section;"
    "Année académique;Encodage complet"
)
STAFF_HEADER = (
    "Matricule;Nom;Prénom;Date de naissance;Numéro national;E-mail privé;Établissement;"
    "Catégorie;Fonction;Début attribution;Fin attribution"
)


def niss(birth: date, serial: int) -> str:
    """Return a valid Belgian national number for ``birth`` and a serial (1-997)."""
    base = f"{birth:%y%m%d}{serial:03d}"
    number = int(("2" if birth.year >= 2000 else "") + base)
    return f"{base}{97 - number % 97:02d}"


def _student(
    matricule: str,
    names: tuple[str, str],
    birth: tuple[date, int],
    email: str,
    place: tuple[str, str],
    *,
    complete: bool = True,
) -> str:
    """One export row: names (family, given), birth (date, serial), place (school, section)."""
    (family, given), (day, serial), (school, section) = names, birth, place
    return ";".join(
        [
            matricule,
            family,
            given,
            f"{day:%d/%m/%Y}",
            niss(day, serial),
            email,
            school,
            section,
            "2026-2027",
            "Oui" if complete else "Non",
        ]
    )


HE_ROWS = [
    # Alice: HE student at Tournai (pending until 1 September before that day).
    _student(
        "HE0001",
        ("Martin", "Alice"),
        (date(2007, 3, 14), 101),
        "alice.martin@gmail.com",
        ("HEC-TOURNAI", "INFO"),
    ),
    # Chloé: HE student at Mons, her welcome mail bounces.
    _student(
        "HE0002",
        ("Dubois", "Chloé"),
        (date(2006, 11, 2), 102),
        "chloe.dubois@gmial.com",
        ("HEC-MONS", "ECO"),
    ),
    # David: HE student at Mons, his address was corrected yesterday.
    _student(
        "HE0003",
        ("Leroy", "David"),
        (date(2005, 1, 23), 103),
        "david.leroy@outlook.be",
        ("HEC-MONS", "AGRO"),
    ),
    # Farid: HE student at Tournai, everything fine, mail delivered.
    _student(
        "HE0004",
        ("Benali", "Farid"),
        (date(2006, 6, 30), 104),
        "farid.benali@skynet.be",
        ("HEC-TOURNAI", "ECO"),
    ),
]

SEC_ROWS = [
    # Bruno: pupil whose secretariat has not finished encoding.
    _student(
        "SEC001",
        ("Lambert", "Bruno"),
        (date(2012, 4, 5), 105),
        "famille.lambert@gmail.com",
        ("AR-ATH", "1C"),
        complete=False,
    ),
    # Inès: pupil fully encoded.
    _student(
        "SEC002",
        ("Moreau", "Inès"),
        (date(2012, 9, 9), 106),
        "moreau.parents@proximus.be",
        ("AR-ATH", "1C"),
    ),
]

TWIN_PUPIL = _student(
    "HE0004",
    ("Simon", "Zoé"),
    (date(2012, 1, 20), 109),
    "zoe.simon@gmail.com",
    ("AR-ATH", "1C"),
)
"""Zoé: a pupil at Ath whose number in her secretariat is Farid's at Tournai (HE0004)."""

STAFF_ROWS = [
    # Emma: teacher with an attribution at Mons only.
    ";".join(
        [
            "P0001",
            "Petit",
            "Emma",
            "14/02/1980",
            niss(date(1980, 2, 14), 107),
            "emma.petit@gmail.com",
            "HEC-MONS",
            "HE",
            "ENS",
            "01/09/2020",
            "",
        ]
    ),
    # Gilles: encoded by the personnel office, no attribution yet (every column empty).
    ";".join(
        [
            "P0002",
            "Noël",
            "Gilles",
            "03/05/1979",
            niss(date(1979, 5, 3), 108),
            "gilles.noel@gmail.com",
            "",
            "",
            "",
            "",
            "",
        ]
    ),
]


@dataclass
class School:
    """Everything a nightly run and the support tools need, kept for one test."""

    folder: Path
    settings: Settings
    clock: FixedClock
    store: SqlStore
    directory: LdapDirectory
    mail: MemoryMailHistory = field(default_factory=MemoryMailHistory)
    custody: MemoryCustody = field(default_factory=MemoryCustody)

    def run(self) -> RunReport:
        """One nightly run on the current clock."""
        assert self.settings.sources is not None
        with open_connectors(self.settings.sources) as connectors:
            return NightlyRun(
                self.settings,
                clock=self.clock,
                store=self.store,
                directory=self.directory,
                connectors=connectors,
            ).run()

    def people(self) -> list[Person]:
        """The persons the sources describe today."""
        assert self.settings.sources is not None
        with open_connectors(self.settings.sources) as connectors:
            return list(
                read_sources(self.settings, connectors, store=self.store, clock=self.clock).people
            )

    def add_rows(self, export: str, *rows: str) -> None:
        """Append ``rows`` to one export file (``secretariat-sec.csv``...)."""
        path = self.folder / export
        path.write_text(path.read_text("utf-8-sig") + "".join(f"{r}\n" for r in rows), "utf-8-sig")

    def person_id(self, matricule: str) -> str:
        """The person id of the person with this matricule."""
        return next(
            p.person_id
            for p in self.people()
            if any(k.matricule == matricule for k in p.source_keys)
        )

    def diagnose(self, lookup: Lookup, *, with_outbox: bool = False) -> Diagnosis:
        """Diagnose on the current clock (outbox only when asked: else the events)."""
        assert self.settings.sources is not None
        with open_connectors(self.settings.sources) as connectors:
            reading = read_sources(self.settings, connectors, store=self.store, clock=self.clock)
        return Diagnostician(
            self.settings,
            clock=self.clock,
            store=self.store,
            directory=self.directory,
            people=reading.people,
            issues=reading.issues,
            refused=reading.refused,
            mail=self.mail if with_outbox else None,
            custody=self.custody,
            support=self.settings.support,
        ).diagnose(lookup)

    def record(self, matricule: str, kind: str, at: datetime, **data: str) -> None:
        """Record a mail event as the mail part will (masked address only)."""
        self.store.record_event(
            self.person_id(matricule),
            kind,
            reason_fr=f"Événement {kind}.",
            reason_en=f"Event {kind}.",
            data=data,
            at=at,
        )


def _write(path: Path, header: str, rows: list[str]) -> None:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8-sig")


@pytest.fixture
def school_group(
    tmp_path: Path,
    ldap_server: SlapdServer,
    ldap_directory: LdapDirectory,
    sqlite_settings: StoreSettings,
) -> Iterator[School]:
    """The exports of eight people, the throwaway slapd and a SQLite store, on 10 Sept 2026."""
    _write(tmp_path / "secretariat-he.csv", STUDENT_HEADER, HE_ROWS)
    _write(tmp_path / "secretariat-sec.csv", STUDENT_HEADER, SEC_ROWS)
    _write(tmp_path / "personnel.csv", STAFF_HEADER, STAFF_ROWS)
    connectors = [
        {"name": "personnel", "type": "csv", "path": "personnel.csv", "profile": "personnel"},
        {
            "name": "secretariat-he",
            "type": "csv",
            "path": "secretariat-he.csv",
            "profile": "secretariat",
        },
        {
            "name": "secretariat-sec",
            "type": "csv",
            "path": "secretariat-sec.csv",
            "profile": "secretariat",
        },
    ]
    support = SupportSettings(
        operators=(
            OperatorSettings(name="sec-tournai", schools=("HEC-TOURNAI",)),
            OperatorSettings(name="helpdesk", schools=("*",)),
        )
    )
    settings = Settings(
        institution={"mail_domain": "ecampus.test"},
        schools=SCHOOLS,
        sources={"pseudonym_key": KEY, "connectors": connectors},
        directory=ldap_server.settings(),
        support=support,
    ).resolve_paths(tmp_path, ca_file=False)
    clock = FixedClock.on(date(2026, 9, 10))
    store = open_store(sqlite_settings, clock=clock)  # sqlite_store's file, on the fixed clock
    try:
        yield School(tmp_path, settings, clock, store, ldap_directory)
    finally:
        store.close()


def write_config(school: School, ldap_server: SlapdServer) -> Path:
    """The school group's configuration file (the secrets go in the environment)."""
    folder = school.folder
    lines = [
        "[directory]",
        f'url = "{ldap_server.url}"',
        f'bind_dn = "{ldap_server.admin_dn}"',
        f'base_dn = "{ldap_server.base_dn}"',
        f'ca_file = "{ldap_server.ca_file}"',
        "[store]",
        f'url = "sqlite:///{folder / "state.sqlite3"}"',
        "[institution]",
        'mail_domain = "ecampus.test"',
    ]
    for each in SCHOOLS:
        lines += ["[[schools]]", *(f'{k} = "{v}"' for k, v in each.items())]
    lines += ["[sources]"]
    for name, profile in (
        ("personnel", "personnel"),
        ("secretariat-he", "secretariat"),
        ("secretariat-sec", "secretariat"),
    ):
        lines += [
            "[[sources.connectors]]",
            f'name = "{name}"',
            'type = "csv"',
            f'path = "{name}.csv"',
            f'profile = "{profile}"',
        ]
    path = folder / "ecampus-idm.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path
