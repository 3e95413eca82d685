"""Builders shared by the source tests: exports on disk, profiles, records, schools."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path

from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.connectors.base import SourceRecord
from ecampus_idm.connectors.csv_export import CsvConnector
from ecampus_idm.connectors.settings import LogicalField, SourceProfile, ready_profile
from ecampus_idm.identity.pseudonym import Pseudonymiser
from ecampus_idm.identity.validate import RecordValidator
from ecampus_idm.model import Category, School

KEY = SecretStr("test-key-" + "x" * 40)
TODAY = date(2026, 9, 15)
CLOCK = FixedClock.on(TODAY)
NISS_1985 = "85073003328"  # born 30/07/1985 (python-stdnum's example)
NISS_2017 = "17073003384"  # born 30/07/2017: the rule for births from 2000
BIS_1998 = "98472899765"  # BIS number, born 28/07/1998
SCHOOLS = (
    School(code="HEC-TOURNAI", name="Haute-Ecole Condorcet - Tournai", category=Category.HE),
    School(code="EPS-MONS", name="Promotion Sociale - Mons", category=Category.PS),
    School(code="AR-ATH", name="Athénée Royal d'Ath", category=Category.SEC),
)
STUDENT_HEADER = (
    "Matricule",
    "Nom",
    "Prénom",
    "Date de naissance",
    "NISS",
    "Courriel personnel",
    "Implantation",
    "Section",
    "Année académique",
    "Encodage complet",
)
STAFF_HEADER = (
    "Matricule",
    "Nom",
    "Prénom",
    "Date de naissance",
    "Numéro national",
    "E-mail privé",
    "Établissement",
    "Catégorie",
    "Fonction",
    "Début attribution",
    "Fin attribution",
)


def pseudonymiser() -> Pseudonymiser:
    """Return the pseudonymiser of the test key."""
    return Pseudonymiser(KEY)


def student_row(
    matricule: str = "000123",
    *,
    family: str = "Van der Straeten",
    given: str = "Chloé",
    birth: str = "30/07/1985",
    niss: str = NISS_1985,
    email: str = "chloe.vds@gmail.com",
    school: str = "HEC-TOURNAI",
    department: str = "INFO",
    year: str = "2026-2027",
    complete: str = "oui",
) -> list[str]:
    """Return one row of the secretariat profile."""
    return [matricule, family, given, birth, niss, email, school, department, year, complete]


def staff_row(
    matricule: str = "0042",
    *,
    family: str = "D’Hondt",
    given: str = "Lieven",
    birth: str = "30/07/1985",
    niss: str = NISS_1985,
    email: str = "lieven.dhondt@telenet.be",
    school: str = "EPS-MONS",
    category: str = "PS",
    function: str = "ENS",
    start: str = "01/09/2020",
    end: str = "",
) -> list[str]:
    """Return one row of the personnel profile."""
    return [matricule, family, given, birth, niss, email, school, category, function, start, end]


def csv_bytes(
    rows: Iterable[Sequence[str]],
    *,
    header: Sequence[str] = STUDENT_HEADER,
    delimiter: str = ";",
    newline: str = "\r\n",
    encoding: str = "utf-8",
) -> bytes:
    """Return an export as the source software writes it (fields quoted when needed)."""

    def cell(value: str) -> str:
        if any(ch in value for ch in (delimiter, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [delimiter.join(cell(v) for v in row) for row in (header, *rows)]
    return (newline.join(lines) + newline).encode(encoding)


def write_export(path: Path, data: bytes) -> Path:
    """Write ``data`` at ``path`` and return the path."""
    path.write_bytes(data)
    return path


def connector(
    path: Path, profile: str | SourceProfile = "secretariat", source: str = "sec"
) -> CsvConnector:
    """Return a CSV connector on ``path`` with a ready (or given) profile."""
    chosen = ready_profile(profile) if isinstance(profile, str) else profile
    return CsvConnector(source, path, chosen)


def validator(
    profile: str | SourceProfile = "secretariat", *, schools: Iterable[School] = SCHOOLS
) -> RecordValidator:
    """Return a validator for a ready (or given) profile with the test schools."""
    chosen = ready_profile(profile) if isinstance(profile, str) else profile
    return RecordValidator(chosen, pseudonymiser(), schools=schools, today=TODAY)


def record(
    values: Mapping[LogicalField, str], *, source: str = "sec", line: int = 2
) -> SourceRecord:
    """Return a source record with ``values``."""
    return SourceRecord(source, "export.csv", line, dict(values))


def student_record(**changes: str) -> SourceRecord:
    """Return the record of :func:`student_row`, fields changed by name."""
    fields = {
        LogicalField.MATRICULE: "000123",
        LogicalField.FAMILY_NAME: "Van der Straeten",
        LogicalField.GIVEN_NAME: "Chloé",
        LogicalField.BIRTH_DATE: "30/07/1985",
        LogicalField.NATIONAL_NUMBER: NISS_1985,
        LogicalField.PERSONAL_EMAIL: "chloe.vds@gmail.com",
        LogicalField.SCHOOL: "HEC-TOURNAI",
        LogicalField.DEPARTMENT: "INFO",
        LogicalField.ACADEMIC_YEAR: "2026-2027",
        LogicalField.ENCODING_COMPLETE: "oui",
    }
    fields.update({LogicalField(k): v for k, v in changes.items()})
    return record(fields)
