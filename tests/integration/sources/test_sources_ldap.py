"""The directory source connector, run against the in-memory twin and a real slapd."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.connectors.base import ExportFacts, SourceRecord
from ecampus_idm.connectors.errors import (
    ExportRefusedError,
    RefusalReason,
    SourceUnavailableError,
)
from ecampus_idm.connectors.ldap_source import LdapSourceConnector, person_filter
from ecampus_idm.connectors.ledger import MemoryExportLedger
from ecampus_idm.connectors.settings import LogicalField, SourceProfile
from ecampus_idm.directory.base import Directory
from ecampus_idm.directory.dn import build_dn
from ecampus_idm.directory.filters import Filter
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.identity import Pseudonymiser, load_population
from ecampus_idm.model import Category, Role, School
from ecampus_idm.testing.slapd import SlapdServer

PROFILE = SourceProfile.model_validate(
    {
        "kind": "student",
        "columns": {
            "matricule": "employeeNumber",
            "family_name": "sn",
            "given_name": "givenName",
            "birth_date": "schacDateOfBirth",
            "personal_email": "mail",
            "school": "departmentNumber",
        },
        "constants": {"academic_year": "2026-2027"},
        "date_formats": ["%Y%m%d"],
    }
)
PEOPLE = (
    ("000123", "D’Hondt", "Zoé", "19850730", "zoe@telenet.be", "AR-ATH"),
    ("000124", "Van der Straeten", "Jef", "20030101", "jef@gmail.com", "AR-ATH"),
    ("000125", "Lebœuf", "Anaïs", "20051231", "anais@skynet.be", "AR-BINCHE"),
)


class LdapSourceContract:
    """What the directory source connector does, whatever the directory behind the port."""

    @pytest.fixture
    def directory(self) -> Directory:
        raise NotImplementedError

    @pytest.fixture
    def base(self) -> str:
        raise NotImplementedError

    def add_people(
        self, directory: Directory, base: str, people: tuple[tuple[str, ...], ...] = PEOPLE
    ) -> None:
        for matricule, family, given, birth, mail, school in people:
            directory.add(
                build_dn("uid", f"s{matricule}", base),
                {
                    "objectClass": ["inetOrgPerson", "schacPersonalCharacteristics"],
                    "cn": f"{given} {family}",
                    "sn": family,
                    "givenName": given,
                    "employeeNumber": matricule,
                    "schacDateOfBirth": birth,
                    "mail": mail,
                    "departmentNumber": school,
                },
            )

    def connector(
        self, directory: Directory, base: str, search_filter: Filter | None = None
    ) -> LdapSourceConnector:
        chosen = search_filter or person_filter("inetOrgPerson")
        return LdapSourceConnector("ad-ath", directory, base, PROFILE, search_filter=chosen)

    def test_entries_become_records(self, directory: Directory, base: str) -> None:
        """Each person entry is a record; accents and leading zeros survive."""
        self.add_people(directory, base)
        records = [r for r in self.connector(directory, base).read() if isinstance(r, SourceRecord)]
        by_matricule = {r.text(LogicalField.MATRICULE): r for r in records}
        assert set(by_matricule) == {"000123", "000124", "000125"}
        assert by_matricule["000125"].text(LogicalField.FAMILY_NAME) == "Lebœuf"
        assert by_matricule["000123"].text(LogicalField.FAMILY_NAME) == "D’Hondt"

    def test_filter_selects_the_entries(self, directory: Directory, base: str) -> None:
        """Equality conditions narrow the people read."""
        self.add_people(directory, base)
        chosen = self.connector(
            directory,
            base,
            search_filter=person_filter("inetOrgPerson", {"departmentNumber": "AR-ATH"}),
        )
        records = [r for r in chosen.read() if isinstance(r, SourceRecord)]
        assert {r.text(LogicalField.MATRICULE) for r in records} == {"000123", "000124"}

    def test_batch_is_complete_only_at_the_end(self, directory: Directory, base: str) -> None:
        """A search cannot be counted ahead: the facts come when it is exhausted."""
        self.add_people(directory, base)
        batch = self.connector(directory, base).read()
        assert not batch.complete
        list(batch)
        assert batch.facts.rows == 3
        assert batch.facts.encoding == "unicode"

    def test_empty_directory_is_refused_at_the_end(self, directory: Directory, base: str) -> None:
        """No person entry at all refuses the source."""
        batch = self.connector(directory, base).read()
        with pytest.raises(ExportRefusedError) as caught:
            list(batch)
        assert caught.value.reason is RefusalReason.EMPTY

    def test_attribute_nobody_has_is_a_missing_column(
        self, directory: Directory, base: str
    ) -> None:
        """A mapped attribute no entry carries is refused like a renamed column."""
        self.add_people(directory, base)
        profile = PROFILE.with_columns({LogicalField.NATIONAL_NUMBER: "schacPersonalUniqueCode"})
        connector = LdapSourceConnector("ad-ath", directory, base, profile)
        with pytest.raises(ExportRefusedError) as caught:
            list(connector.read())
        assert caught.value.reason is RefusalReason.MISSING_COLUMNS
        assert "schacPersonalUniqueCode" in caught.value.detail

    def test_shrink_is_refused_at_the_end(self, directory: Directory, base: str) -> None:
        """Three people against a hundred last time: the batch never becomes complete."""
        self.add_people(directory, base)
        ledger = MemoryExportLedger()
        ledger.record_accepted(
            ExportFacts(source="ad-ath", path="x", rows=100, encoding="unicode", fingerprint="f")
        )
        batch = self.connector(directory, base).read(ledger)
        with pytest.raises(ExportRefusedError) as caught:
            list(batch)
        assert caught.value.reason is RefusalReason.SHRANK
        assert not batch.complete

    def test_missing_base_is_unavailable(self, directory: Directory, base: str) -> None:
        """A search base that does not exist makes the source unavailable."""
        with pytest.raises(SourceUnavailableError):
            list(self.connector(directory, f"ou=nowhere,{base}").read())

    def test_directory_people_become_persons(self, directory: Directory, base: str) -> None:
        """Read, validated and correlated: one student per entry, with typed birth dates."""
        self.add_people(directory, base)
        schools = [
            School(code="AR-ATH", name="Athénée Royal d'Ath", category=Category.SEC),
            School(code="AR-BINCHE", name="Athénée Royal de Binche", category=Category.SEC),
        ]
        population = load_population(
            [self.connector(directory, base)],
            Pseudonymiser(SecretStr("k" * 40)),
            clock=FixedClock.on(date(2026, 9, 15)),
            schools=schools,
        )
        assert population.complete
        people = {p.given_name: p for p in population.people}
        assert people["Jef"].birth_date == date(2003, 1, 1)
        assert people["Anaïs"].roles == {Role.STUDENT}


class TestMemoryDirectorySource(LdapSourceContract):
    """The connector on the in-memory twin."""

    @pytest.fixture
    def directory(self, memory_directory: MemoryDirectory) -> MemoryDirectory:
        return memory_directory

    @pytest.fixture
    def base(self) -> str:
        return "ou=people,dc=ecampus,dc=test"


@pytest.mark.ldap
class TestSlapdSource(LdapSourceContract):
    """The connector on a real slapd, through the ldap3 adapter."""

    @pytest.fixture
    def directory(self, ldap_directory: LdapDirectory) -> LdapDirectory:
        return ldap_directory

    @pytest.fixture
    def base(self, ldap_server: SlapdServer) -> str:
        return ldap_server.people_dn
