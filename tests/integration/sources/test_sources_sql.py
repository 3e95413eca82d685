"""The SQL connector against real SQLite database files."""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from ecampus_idm.clock import FixedClock
from ecampus_idm.connectors import open_connectors
from ecampus_idm.connectors.base import ExportFacts, SourceRecord
from ecampus_idm.connectors.errors import (
    ExportRefusedError,
    RefusalReason,
    SourceUnavailableError,
)
from ecampus_idm.connectors.ledger import MemoryExportLedger
from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.connectors.settings import LogicalField, SourcesSettings, ready_profile
from ecampus_idm.connectors.sql import SqlConnector
from ecampus_idm.identity import Pseudonymiser, load_population
from ecampus_idm.model import Category, Role, School

COLUMNS = (
    '"Matricule" TEXT, "Nom" TEXT, "Prénom" TEXT, "Date de naissance" DATE, '
    '"Numéro national" TEXT, "E-mail privé" TEXT, "Établissement" TEXT, "Catégorie" TEXT, '
    '"Fonction" TEXT, "Début attribution" DATE, "Fin attribution" DATE, "Remarque" BLOB'
)
ROW = {
    "m": "0042",
    "n": "D’Hondt",
    "p": "Lieven",
    "b": "1985-07-30",
    "niss": "85073003328",
    "e": "lieven@telenet.be",
    "s": "EPS-MONS",
    "c": "PS",
    "f": "ENS",
    "start": "2020-09-01",
    "end": None,
    "r": None,
}
INSERT = "INSERT INTO personnel VALUES (:m, :n, :p, :b, :niss, :e, :s, :c, :f, :start, :end, :r)"
KEY = SecretStr("k" * 40)


def database(path: Path, rows: Sequence[dict[str, object]] = (ROW,)) -> str:
    """Create a SQLite personnel database at ``path`` and return its URL."""
    url = f"sqlite:///{path}"
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE personnel ({COLUMNS})"))
        for row in rows:
            connection.execute(text(INSERT), row)
    engine.dispose()
    return url


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A personnel database with one teacher."""
    return database(tmp_path / "hr.sqlite3")


@pytest.fixture
def table_connector(url: str) -> Iterator[SqlConnector]:
    """A connector reading the personnel table."""
    with SqlConnector.from_url(
        "personnel", url, ready_profile("personnel"), table="personnel"
    ) as connector:
        yield connector


def _records(connector: SqlConnector) -> list[SourceRecord]:
    return [item for item in connector.read() if isinstance(item, SourceRecord)]


def test_table_rows_become_records(table_connector: SqlConnector) -> None:
    """A table's rows come out as records, text kept and dates typed."""
    (record,) = _records(table_connector)
    assert record.text(LogicalField.MATRICULE) == "0042"
    assert record.text(LogicalField.FAMILY_NAME) == "D’Hondt"
    assert record.values[LogicalField.BIRTH_DATE] in ("1985-07-30", date(1985, 7, 30))
    assert record.line == 1


def test_query_and_table_give_the_same_records(url: str, table_connector: SqlConnector) -> None:
    """A query selecting the columns reads the same as the table."""
    with SqlConnector.from_url(
        "personnel", url, ready_profile("personnel"), query="SELECT * FROM personnel WHERE 1 = 1"
    ) as by_query:
        assert [r.values for r in _records(by_query)] == [
            r.values for r in _records(table_connector)
        ]


def test_column_names_match_case_insensitively(tmp_path: Path) -> None:
    """A query may spell the column names in another case."""
    url = database(tmp_path / "hr.sqlite3")
    query = 'SELECT "Matricule" AS matricule, "Nom" AS NOM, "Prénom" AS "prénom" FROM personnel'
    profile = ready_profile("personnel").model_validate(
        {
            "kind": "staff",
            "columns": {"matricule": "MATRICULE", "family_name": "nom", "given_name": "Prénom"},
        }
    )
    with SqlConnector.from_url("p", url, profile, query=query) as connector:
        assert len(_records(connector)) == 1


def test_missing_column_is_refused(url: str) -> None:
    """A query without a mapped column is refused before any row, naming the column."""
    with (
        SqlConnector.from_url(
            "personnel",
            url,
            ready_profile("personnel"),
            query='SELECT "Matricule", "Nom" FROM personnel',
        ) as connector,
        pytest.raises(ExportRefusedError) as caught,
    ):
        connector.read()
    assert caught.value.reason is RefusalReason.MISSING_COLUMNS
    assert "'Prénom'" in caught.value.detail


def test_empty_table_is_refused(tmp_path: Path) -> None:
    """An empty table is refused as empty."""
    url = database(tmp_path / "hr.sqlite3", rows=())
    with (
        SqlConnector.from_url("p", url, ready_profile("personnel"), table="personnel") as connector,
        pytest.raises(ExportRefusedError) as caught,
    ):
        connector.read()
    assert caught.value.reason is RefusalReason.EMPTY


def test_shrunk_table_is_refused_before_any_row(table_connector: SqlConnector) -> None:
    """Against a ledger that remembers 50 rows, one row is refused at read()."""
    ledger = MemoryExportLedger()
    ledger.record_accepted(
        ExportFacts(source="personnel", path="x", rows=50, encoding="unicode", fingerprint="f")
    )
    with pytest.raises(ExportRefusedError) as caught:
        table_connector.read(ledger)
    assert caught.value.reason is RefusalReason.SHRANK


def test_rows_added_during_the_read_refuse_the_batch(tmp_path: Path) -> None:
    """Rows counted and rows streamed must agree, or the batch never becomes complete."""
    url = database(tmp_path / "hr.sqlite3")
    with SqlConnector.from_url(
        "p", url, ready_profile("personnel"), table="personnel"
    ) as connector:
        batch = connector.read()
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as connection:
            connection.execute(text(INSERT), {**ROW, "m": "0043"})
        engine.dispose()
        with pytest.raises(ExportRefusedError) as caught:
            list(batch)
    assert caught.value.reason is RefusalReason.CHANGED_DURING_READ
    assert not batch.complete


def test_complete_batch_has_a_fingerprint(table_connector: SqlConnector) -> None:
    """A batch read to the end has facts with a row count and a fingerprint."""
    batch = table_connector.read()
    list(batch)
    assert batch.facts.rows == 1
    assert len(batch.facts.fingerprint) == 64


def test_undecodable_blob_is_an_issue(tmp_path: Path) -> None:
    """A mapped column holding bytes that are not UTF-8 quarantines the row."""
    url = database(tmp_path / "hr.sqlite3", rows=[{**ROW, "r": b"\xff\xfe"}])
    profile = ready_profile("personnel").with_columns({LogicalField.DEPARTMENT: "Remarque"})
    with SqlConnector.from_url("p", url, profile, table="personnel") as connector:
        (item,) = list(connector.read())
    assert isinstance(item, RowIssue)
    assert item.code is IssueCode.UNDECODABLE_VALUE


def test_integer_matricule_becomes_text(tmp_path: Path) -> None:
    """An integer column gives text (its leading zeros, if any, were lost by the database)."""
    url = database(tmp_path / "hr.sqlite3")
    query = 'SELECT 42 AS "Matricule", "Nom", "Prénom" FROM personnel'
    profile = ready_profile("personnel").model_validate(
        {
            "kind": "staff",
            "columns": {"matricule": "Matricule", "family_name": "Nom", "given_name": "Prénom"},
        }
    )
    with SqlConnector.from_url("p", url, profile, query=query) as connector:
        assert _records(connector)[0].values[LogicalField.MATRICULE] == "42"


def test_missing_table_is_unavailable(url: str) -> None:
    """A table that does not exist makes the source unavailable, not a crash."""
    connector = SqlConnector.from_url("p", url, ready_profile("personnel"), table="nope")
    with connector, pytest.raises(SourceUnavailableError):
        connector.read()


def _failure(url: str, password: SecretStr) -> SourceUnavailableError:
    """Return the error of reading an unreachable database (or of a missing driver)."""
    try:
        with SqlConnector.from_url(
            "p", url, ready_profile("personnel"), password=password, table="t"
        ) as connector:
            connector.read()
    except SourceUnavailableError as exc:
        return exc
    pytest.fail("reading an unreachable database should fail")


def test_password_never_shows() -> None:
    """A database password is in neither the location, the repr nor the error of a failure."""
    secret = "Db-Secret-77"
    url = "postgresql+psycopg://reader@127.0.0.1:1/gpe"  # nothing listens on port 1
    error = _failure(url, SecretStr(secret))
    said = repr(error) + str(error) + "".join(traceback.format_exception(error))
    assert secret not in said


def test_location_hides_the_password() -> None:
    """The location a connector shows renders its URL without password."""
    url = "postgresql+psycopg://reader@127.0.0.1:1/gpe"
    connector = SqlConnector.from_url(
        "p", url, ready_profile("personnel"), password=SecretStr("Db-Secret-77"), table="t"
    )
    with connector:
        assert "Db-Secret-77" not in connector.location + repr(connector)


def test_unusable_url_is_unavailable() -> None:
    """A URL naming no installed driver is a source that cannot be read."""
    with pytest.raises(SourceUnavailableError):
        SqlConnector.from_url("p", "nosuchdb://host/x", ready_profile("personnel"), table="t")


def test_query_or_table_not_both(url: str) -> None:
    """Exactly one of query and table."""
    with pytest.raises(ValueError, match="exactly one"):
        SqlConnector.from_url(
            "p", url, ready_profile("personnel"), query="SELECT 1", table="personnel"
        )


def test_sql_and_csv_sources_correlate(tmp_path: Path) -> None:
    """A teacher from the HR database who studies at the HE is one person with both roles."""
    hr = database(tmp_path / "hr.sqlite3")
    students = tmp_path / "he.csv"
    students.write_text(
        "Matricule;Nom;Prénom;Date de naissance;NISS;Courriel personnel;Implantation;Section;"
        "Année académique;Encodage complet\r\n"
        "000123;D’Hondt;Lieven;30/07/1985;85.07.30-033.28;;HEC;;2026-2027;oui\r\n",
        encoding="cp1252",
    )
    settings = SourcesSettings.model_validate(
        {
            "pseudonym_key": KEY,
            "connectors": [
                {
                    "name": "personnel",
                    "type": "sql",
                    "url": hr,
                    "table": "personnel",
                    "profile": "personnel",
                },
                {"name": "he", "type": "csv", "path": str(students), "profile": "secretariat"},
            ],
        }
    )
    schools = [
        School(code="EPS-MONS", name="PS Mons", category=Category.PS),
        School(code="HEC", name="HE", category=Category.HE),
    ]
    with open_connectors(settings) as connectors:
        population = load_population(
            connectors, Pseudonymiser(KEY), clock=FixedClock.on(date(2026, 9, 15)), schools=schools
        )
    assert population.complete
    (person,) = population.people.persons()
    assert person.roles == {Role.TEACHER, Role.STUDENT}
    assert person.birth_date == date(1985, 7, 30)
