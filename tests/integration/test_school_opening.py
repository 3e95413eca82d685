"""No school shows before it opens, on a real nightly run (throwaway slapd, SQLite store).

Chloé is enrolled at the Haute École in Mons for 2026-2027 (HE opens on 1 September) and
teaches at the Promotion Sociale school of Charleroi since February. In July she has an
account through her teaching; until 1 September her entry carries no HE school, she is in
no HE group and the HE school's secretariat listing does not hold her (nor her password).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings, StoreSettings
from ecampus_idm.connectors import open_connectors
from ecampus_idm.custody import open_custody
from ecampus_idm.directory.base import Directory, Entry, Scope
from ecampus_idm.directory.filters import eq
from ecampus_idm.mail.outbox import open_outbox
from ecampus_idm.mail.wiring import keyring_from_settings
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store import open_store
from ecampus_idm.store.base import RunStatus, Store
from ecampus_idm.support.diagnose import Diagnosis, Diagnostician, Lookup, read_sources
from ecampus_idm.support.listing import Listing, PasswordState, SecretariatListing
from ecampus_idm.support.rules import ConclusionCode
from ecampus_idm.support.settings import OperatorSettings, SupportSettings
from ecampus_idm.testing.slapd import SlapdServer

pytestmark = pytest.mark.ldap

KEY = secrets.token_urlsafe(48)
SCHOOLS = [
    {"code": "HEC-MONS", "name": "Haute-Ecole Condorcet - Mons", "category": "HE"},
    {"code": "EPS-CHARLEROI", "name": "EPS de Charleroi", "category": "PS"},
]
STUDENTS = (
    "Matricule;Nom;Prénom;Date de naissance;NISS;Courriel personnel;Implantation;Section;"
    "Année académique;Encodage complet\n"
    "HE0002;Dubois;Chloé;02/11/1996;{niss};chloe.dubois@gmail.com;HEC-MONS;INFO;2026-2027;Oui\n"
)
STAFF = (
    "Matricule;Nom;Prénom;Date de naissance;Numéro national;E-mail privé;Établissement;"
    "Catégorie;Fonction;Début attribution;Fin attribution\n"
    "P0002;Dubois;Chloé;02/11/1996;{niss};chloe.dubois@gmail.com;EPS-CHARLEROI;PS;ENS;"
    "01/02/2026;\n"
)


def _niss(birth: date, serial: int) -> str:
    base = f"{birth:%y%m%d}{serial:03d}"
    return f"{base}{97 - int(base) % 97:02d}"


@dataclass
class World:
    settings: Settings
    clock: FixedClock
    store: Store
    directory: Directory

    def run(self) -> RunReport:
        assert self.settings.sources is not None
        with open_connectors(self.settings.sources) as connectors:
            return NightlyRun(
                self.settings,
                clock=self.clock,
                store=self.store,
                directory=self.directory,
                connectors=connectors,
            ).run()

    def entry(self) -> Entry:
        (entry,) = self.directory.search(
            self.settings.directory.people_dn,
            eq("ecampusSourceKey", "secretariat-he:HE0002"),
            attributes=["*", "memberOf"],
        )
        return entry

    def groups_of(self, dn: str) -> set[str]:
        found = self.directory.search(
            self.settings.directory.groups_dn,
            eq("member", dn),
            scope=Scope.ONELEVEL,
            attributes=["cn"],
        )
        return {g.first("cn") or "" for g in found}

    def listing(self, school: str) -> Listing:
        custody = open_custody(self.store, keyring_from_settings(self.settings))
        return SecretariatListing(
            self.settings,
            clock=self.clock,
            store=self.store,
            directory=self.directory,
            custody=custody,
            support=self.settings.support,
        ).build(school, operator="helpdesk")

    def diagnose(self, school: str) -> Diagnosis:
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
            support=self.settings.support,
        ).diagnose(Lookup(school=school, matricule="HE0002"))

    def populations(self) -> list[str | None]:
        """The population (template set) of each of Chloé's queued mails."""
        person_id = self.entry().first("ecampusPersonId") or ""
        outbox = open_outbox(self.store, keyring_from_settings(self.settings))
        return [m.population for m in outbox.messages_for(person_id)]


@pytest.fixture
def world(
    tmp_path: Path,
    ldap_server: SlapdServer,
    ldap_directory: Directory,
    sqlite_settings: StoreSettings,
) -> Iterator[World]:
    """Chloé's two exports, the throwaway slapd and a SQLite store, on 15 July 2026."""
    niss = _niss(date(1996, 11, 2), 102)
    (tmp_path / "secretariat-he.csv").write_text(STUDENTS.format(niss=niss), "utf-8-sig")
    (tmp_path / "personnel.csv").write_text(STAFF.format(niss=niss), "utf-8-sig")
    connectors = [
        {"name": "personnel", "type": "csv", "path": "personnel.csv", "profile": "personnel"},
        {
            "name": "secretariat-he",
            "type": "csv",
            "path": "secretariat-he.csv",
            "profile": "secretariat",
        },
    ]
    settings = Settings(
        institution={"mail_domain": "ecampus.test"},
        schools=SCHOOLS,
        sources={"pseudonym_key": KEY, "connectors": connectors},
        directory=ldap_server.settings(),
        support=SupportSettings(operators=(OperatorSettings(name="helpdesk", schools=("*",)),)),
    ).resolve_paths(tmp_path, ca_file=False)
    clock = FixedClock.on(date(2026, 7, 15))
    store = open_store(sqlite_settings, clock=clock)  # the sqlite_store file, on this clock
    try:
        yield World(settings, clock, store, ldap_directory)
    finally:
        store.close()


def test_he_school_shows_nowhere_before_1_september(world: World) -> None:
    """July: account via PS teaching, no HE school anywhere; 2 September: HE shows."""
    report = world.run()
    assert report.status is RunStatus.SUCCEEDED
    entry = world.entry()
    assert entry.get("ecampusSchool") == ("EPS-CHARLEROI",)
    assert "student" not in entry.get("eduPersonAffiliation")
    groups = world.groups_of(entry.dn)
    assert "eps-charleroi-staff" in groups
    assert not {g for g in groups if g.startswith(("hec-", "he-"))}
    assert not {g for g in entry.get("memberOf") if "cn=he" in g.lower()}
    assert world.listing("HEC-MONS").rows == ()
    (row,) = world.listing("EPS-CHARLEROI").rows
    assert row.state is PasswordState.INITIAL
    assert world.populations() == ["teacher"]  # the welcome mail of the open role
    conclusion = world.diagnose("HEC-MONS").conclusion
    assert conclusion.code is ConclusionCode.ACCOUNT_ON_DATE
    assert conclusion.data == {"opens_on": "2026-09-01", "school": "HEC-MONS"}
    assert "1er septembre 2026" in conclusion.fr

    world.clock.set(FixedClock.on(date(2026, 9, 2)).now())
    assert world.run().status is RunStatus.SUCCEEDED
    entry = world.entry()
    assert entry.get("ecampusSchool") == ("EPS-CHARLEROI", "HEC-MONS")
    assert "student" in entry.get("eduPersonAffiliation")
    assert {"hec-mons-students", "hec-mons-info-students", "he-students"} <= world.groups_of(
        entry.dn
    )
    (row,) = world.listing("HEC-MONS").rows
    assert (row.group, row.state) == ("INFO", PasswordState.INITIAL)
