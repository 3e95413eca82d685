"""Synthetic but realistic exports, for the demo, the tests and the benchmarks.

:func:`write_sample` writes, from a seed and a number of people, the exports the ready
profiles read, as the real software writes them:

===========================  ====================  ============  =========  ==========
file                         profile               encoding      delimiter  lines
===========================  ====================  ============  =========  ==========
``personnel.csv``            ``personnel``         cp1252        ``;``      CRLF
``secretariat-he.csv``       ``secretariat``       UTF-8 + BOM   ``;``      CRLF
``secretariat-ps.csv``       ``secretariat``       cp1252        ``;``      CRLF
``secretariat-ps-staff.csv`` ``secretariat-staff`` cp1252        ``;``      CRLF
``secretariat-sec.csv``      ``secretariat``       UTF-8         ``,``      LF
===========================  ====================  ============  =========  ==========

and ``sources.toml``, the ``[[schools]]`` and ``[sources]`` configuration that reads them.

The people have French and Flemish names (accents, particles, apostrophes straight and
curly, hyphens, ``œ``), valid national numbers (births before and after 2000, some BIS
numbers) and matricules with leading zeros. Pupils of one family share a parent's
e-mail; some staff teach in Promotion Sociale and appear in its secretariat's export too;
some teachers study at the Haute École. A share of rows carries exactly one defect each
(bad checksum, lost leading zero, impossible date, missing matricule or name, unknown
school, stray delimiter, bad yes/no, attribution ending before it starts), so that the
quarantine report has something of each kind; another share carries a mistyped personal
e-mail, which quarantines nothing (the account is created, the welcome mail waits for the
correction). Everything follows from the seed.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from anyascii import anyascii

from ecampus_idm.connectors.settings import ready_profile
from ecampus_idm.errors import IdmError

__all__ = ["BadRow", "SampleError", "SampleSummary", "national_number", "write_sample"]

GIVEN_NAMES = (
    "Chloé", "Léa", "Emma", "Louise", "Zoé", "Noémie", "Anaïs", "Maëlle", "Hélène",
    "Céline", "Élodie", "Manon", "Camille", "Inès", "Marie-Hélène", "Anne-Sophie",
    "Jean-Philippe", "Pierre-Yves", "Lucas", "Louis", "Noah", "Hugo", "Théo", "Jérôme",
    "François", "Benoît", "Loïc", "Raphaël", "Gaëtan", "Cédric", "Joël", "Agnès",
    "Thérèse", "Françoise", "Océane", "Maël", "Jef", "Wout", "Bram", "Lotte", "Sien",
    "Jonas", "Stijn", "Griet", "Katrien", "Pieter-Jan", "Ine", "Nele", "Koen", "Eline",
    "Lieven", "Joke", "Arne", "Femke", "Seppe", "Fien", "Zoë", "Björn", "Mohamed",
    "Yasmine", "Fatima", "Ayoub", "Ilyas", "Aïcha", "Kevin", "Sarah", "Julie", "Thomas",
)  # fmt: skip
FAMILY_NAMES = (
    "Dupont", "Dubois", "Lambert", "Martin", "Lefèvre", "Leclercq", "Mertens", "Janssens",
    "Peeters", "Maes", "Jacobs", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
    "De Backer", "Van Damme", "Van den Broeck", "Vanden Bossche", "Van der Straeten",
    "Vandenberghe", "Verhaegen", "D'Hondt", "D’Hoore", "de la Croix", "le Maître",
    "Delhaye", "Gérard", "Renard", "Lemaire", "Lejeune", "Collignon", "Hermans", "Thiry",
    "Frère", "Noël", "Lebœuf", "Dupont-Lefèvre", "Van Acker-Dumont", "El Amrani", "Benali",
    "Yilmaz", "Nowak", "Ferreira", "Da Silva", "Di Stefano", "Müller", "Ngoy", "Kabongo",
    "Nguyen", "d'Ursel", "de Villers", "t'Kint", "Op de Beeck", "In 't Ven", "Šimek",
    "Wauters", "Michiels", "Dumont", "Simon", "Laurent", "Fontaine", "Cœurderoy",
)  # fmt: skip
DOMAINS = (
    "gmail.com", "hotmail.com", "outlook.be", "skynet.be", "telenet.be", "proximus.be",
    "live.be", "yahoo.fr", "icloud.com", "voo.be",
)  # fmt: skip

SCHOOLS: tuple[tuple[str, str, str], ...] = (
    ("HEC-TOURNAI", "Haute-Ecole Condorcet - Tournai", "HE"),
    ("HEC-MONS", "Haute-Ecole Condorcet - Mons", "HE"),
    ("HEC-CHARLEROI", "Haute-Ecole Condorcet - Charleroi", "HE"),
    ("EPS-CHARLEROI", "Enseignement de Promotion Sociale - Charleroi", "PS"),
    ("EPS-MONS", "Enseignement de Promotion Sociale - Mons", "PS"),
    ("AR-ATH", "Athénée Royal d'Ath", "SEC"),
    ("AR-BINCHE", "Athénée Royal de Binche", "SEC"),
)
_DEPARTMENTS = {
    "HE": ("INFO", "COMPTA", "SOINS", "ECO", "AGRO", "PEDA"),
    "PS": ("LANGUES", "BUREAUTIQUE", "CUISINE", "INFO"),
    "SEC": ("1A", "2A", "3G", "4G", "5TQ", "6TQ"),
}
_SOURCES = (
    # name, file, profile, encoding, delimiter, line terminator
    ("personnel", "personnel.csv", "personnel", "cp1252", ";", "\r\n"),
    ("secretariat-he", "secretariat-he.csv", "secretariat", "utf-8-sig", ";", "\r\n"),
    ("secretariat-ps", "secretariat-ps.csv", "secretariat", "cp1252", ";", "\r\n"),
    ("secretariat-ps-staff", "secretariat-ps-staff.csv", "secretariat-staff", "cp1252", ";",
     "\r\n"),
    ("secretariat-sec", "secretariat-sec.csv", "secretariat", "utf-8", ",", "\n"),
)  # fmt: skip


# Shares of the synthetic population (what real exports look like, roughly).
_NUMBERED_EMAILS = 0.5  # jean.dupont42@...
_WITHOUT_NUMBER = 0.02  # foreign students without national or BIS number
_WITHOUT_EMAIL = 0.03
_WITHOUT_BIRTH_DATE = 0.01
_INCOMPLETE_PUPILS = 0.05  # secondary records not fully encoded yet
_SIBLINGS = 0.3  # pupils sharing a family (and a parent's e-mail) with another
_PS_STAFF_WITHOUT_NUMBER = 0.05
_TEACHERS = 0.85  # staff rows that are teaching, the others administrative


class BadRow(StrEnum):
    """The one defect a bad sample row carries."""

    CHECKSUM = "checksum"
    LEADING_ZERO = "leading-zero"
    DATE = "date"
    NO_MATRICULE = "no-matricule"
    NO_NAME = "no-name"
    SCHOOL = "school"
    FIELD_COUNT = "field-count"
    FLAG = "flag"
    PERIOD = "period"


_TYPO = "email-typo"
"""A mistyped personal e-mail: drawn with the defects, but the row is kept."""
_Defect = BadRow | str


class SampleError(IdmError):
    """The sample cannot be written (folder not writable, bad arguments)."""


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`write_sample` wrote.

    Attributes:
        out_dir: The folder written.
        people: Humans generated.
        seed: The seed used.
        files: Source name to export file.
        rows: Source name to number of data rows.
        bad_rows: Defect to number of rows carrying it (one defect per bad row): the
            rows the quarantine sets aside.
        invalid_emails: Rows kept with a mistyped personal e-mail (the account is
            created, its welcome mail held until the address is corrected).
        in_two_sources: Humans who appear in at least two sources.
        config: The ``sources.toml`` written.
    """

    out_dir: Path
    people: int
    seed: int
    files: Mapping[str, Path]
    rows: Mapping[str, int]
    bad_rows: Mapping[str, int]
    in_two_sources: int
    config: Path
    invalid_emails: int = 0

    @property
    def total_bad_rows(self) -> int:
        """Rows carrying a defect, all kinds together."""
        return sum(self.bad_rows.values())

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready mapping."""
        return {
            "out_dir": str(self.out_dir),
            "people": self.people,
            "seed": self.seed,
            "files": {name: str(path) for name, path in self.files.items()},
            "rows": dict(self.rows),
            "bad_rows": dict(self.bad_rows),
            "invalid_emails": self.invalid_emails,
            "in_two_sources": self.in_two_sources,
            "config": str(self.config),
        }


@dataclass
class _Human:
    given: str
    family: str
    birth: date
    niss: str | None
    email: str | None
    sources: set[str] = field(default_factory=set)


def _check_digits(digits: str, year: int) -> int:
    number = int(digits) + (2_000_000_000 if year >= 2000 else 0)  # noqa: PLR2004 - the 2000 rule
    return 97 - number % 97


def national_number(birth: date, counter: int, *, bis: bool = False) -> str:
    """Return the valid national (or BIS) number of someone born on ``birth``.

    Args:
        birth: The birth date.
        counter: The day counter, 1-997 (odd for men, even for women).
        bis: Whether to make a BIS number (month + 40: sex known).
    """
    month = birth.month + (40 if bis else 0)
    digits = f"{birth.year % 100:02d}{month:02d}{birth.day:02d}{counter:03d}"
    return f"{digits}{_check_digits(digits, birth.year):02d}"


class _Generator:
    def __init__(self, seed: int, academic_year: int, bad_share: float) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        self.year = academic_year
        self.bad_share = bad_share
        self.used_niss: set[str] = set()
        self.bad = Counter[str]()
        self.typos = 0
        self.matricules = Counter[str]()

    def birth(self, youngest: int, oldest: int) -> date:
        start = date(self.year - oldest, 9, 1)
        return start + timedelta(days=self.rng.randrange((oldest - youngest) * 365))

    def niss(self, birth: date) -> str:
        bis = self.rng.random() < 0.01  # noqa: PLR2004 - share of BIS numbers
        while True:
            number = national_number(birth, self.rng.randrange(1, 998), bis=bis)
            if number not in self.used_niss:
                self.used_niss.add(number)
                return number

    def email(self, given: str, family: str) -> str:
        local = ".".join(
            "".join(ch for ch in anyascii(part).lower() if ch.isalnum()) for part in (given, family)
        )
        suffix = str(self.rng.randrange(1, 100)) if self.rng.random() < _NUMBERED_EMAILS else ""
        return f"{local}{suffix}@{self.rng.choice(DOMAINS)}"

    def human(self, youngest: int, oldest: int) -> _Human:
        given = self.rng.choice(GIVEN_NAMES)
        family = self.rng.choice(FAMILY_NAMES)
        birth = self.birth(youngest, oldest)
        niss = self.niss(birth) if self.rng.random() >= _WITHOUT_NUMBER else None
        email = self.email(given, family) if self.rng.random() >= _WITHOUT_EMAIL else None
        return _Human(given, family, birth, niss, email)

    def matricule(self, namespace: str, width: int, prefix: str = "") -> str:
        self.matricules[namespace] += 1
        return f"{prefix}{self.matricules[namespace] * 7 + 13:0{width}d}"

    def niss_text(self, human: _Human) -> str:
        if human.niss is None:
            return ""
        if self.rng.random() < 0.1:  # noqa: PLR2004 - some exports format the number
            n = human.niss
            return f"{n[:2]}.{n[2:4]}.{n[4:6]}-{n[6:9]}.{n[9:]}"
        return human.niss

    def birth_text(self, human: _Human) -> str:
        return "" if self.rng.random() < _WITHOUT_BIRTH_DATE else human.birth.strftime("%d/%m/%Y")

    def corrupt(
        self, row: list[str], columns: Mapping[str, int], kinds: tuple[_Defect, ...]
    ) -> list[str]:
        """Return ``row``, or (for a ``bad_share`` of rows) a copy with one defect."""
        if self.rng.random() >= self.bad_share:
            return row
        kind: _Defect = self.rng.choice(kinds)
        # A defect needs its value: no number to spoil means another defect.
        if kind in (BadRow.CHECKSUM, BadRow.LEADING_ZERO) and not row[columns["national_number"]]:
            kind = BadRow.NO_NAME
        if kind == _TYPO and not row[columns["personal_email"]]:
            kind = BadRow.NO_MATRICULE
        if kind is BadRow.DATE and not row[columns["birth_date"]]:
            kind = BadRow.SCHOOL
        row = list(row)
        if kind == _TYPO:
            column = columns["personal_email"]
            row[column] = self._typo(row[column])
            self.typos += 1
            return row
        if kind is BadRow.FIELD_COUNT:
            row.insert(columns["given_name"], "Jr")  # as if a delimiter slipped into a name
        elif kind is BadRow.PERIOD:
            row[columns["start"]] = f"01/09/{self.year}"
            row[columns["end"]] = f"30/06/{self.year}"
        else:
            column = columns[_DEFECT_COLUMNS[BadRow(kind)]]
            row[column] = self._spoil(BadRow(kind), row[column])
        self.bad[kind] += 1
        return row

    def _spoil(self, kind: BadRow, value: str) -> str:
        digits = value.replace(".", "").replace("-", "")
        if kind is BadRow.CHECKSUM:
            valid = {_check_digits(digits[:9], year) for year in (1999, 2000)}
            wrong = next(c for c in range(1, 98) if c not in valid)
            return f"{digits[:9]}{wrong:02d}"
        if kind is BadRow.LEADING_ZERO:
            return digits[1:]
        if kind is BadRow.DATE:
            return self.rng.choice(("31/02/2004", "2004-13-45", "12/13/1999", "hier"))
        return _DEFECT_VALUES[kind]

    def _typo(self, value: str) -> str:
        local = value.split("@", 1)[0]
        return self.rng.choice((f"{local}@", value.replace("@", " @"), value.replace("@", "@@")))


_DEFECT_COLUMNS = {
    BadRow.CHECKSUM: "national_number",
    BadRow.LEADING_ZERO: "national_number",
    BadRow.DATE: "birth_date",
    BadRow.NO_MATRICULE: "matricule",
    BadRow.NO_NAME: "family_name",
    BadRow.SCHOOL: "school",
    BadRow.FLAG: "encoding_complete",
}
_DEFECT_VALUES = {
    BadRow.NO_MATRICULE: "",
    BadRow.NO_NAME: "",
    BadRow.SCHOOL: "ECOLE-FERMEE",
    BadRow.FLAG: "peut-être",
}


def _header(profile_name: str) -> tuple[list[str], dict[str, int]]:
    columns = ready_profile(profile_name).columns.mapped()
    return list(columns.values()), {str(logical): i for i, logical in enumerate(columns)}


class _Writer:
    """One export being written."""

    def __init__(self, out_dir: Path, spec: tuple[str, str, str, str, str, str]) -> None:
        self.name, file_name, self.profile, self.encoding, delimiter, terminator = spec
        self.path = out_dir / file_name
        self.header, self.columns = _header(self.profile)
        self.handle = self.path.open("w", encoding=self.encoding, newline="")
        self.writer = csv.writer(self.handle, delimiter=delimiter, lineterminator=terminator)
        self.writer.writerow(self.header)
        self.rows = 0

    def write(
        self, gen: _Generator, values: Mapping[str, str], defects: tuple[_Defect, ...]
    ) -> None:
        row = [values.get(logical, "") for logical in self.columns]
        if defects:
            row = gen.corrupt(row, self.columns, defects)
        self.writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        self.handle.close()


# The typo stays among the defects drawn: the same seed writes the same files as before.
_STUDENT_DEFECTS: tuple[_Defect, ...] = (
    BadRow.CHECKSUM, BadRow.LEADING_ZERO, BadRow.DATE, _TYPO, BadRow.NO_MATRICULE,
    BadRow.NO_NAME, BadRow.SCHOOL, BadRow.FIELD_COUNT, BadRow.FLAG,
)  # fmt: skip
_STAFF_DEFECTS: tuple[_Defect, ...] = (
    BadRow.CHECKSUM, BadRow.LEADING_ZERO, BadRow.DATE, _TYPO, BadRow.NO_MATRICULE,
    BadRow.NO_NAME, BadRow.SCHOOL, BadRow.FIELD_COUNT, BadRow.PERIOD,
)  # fmt: skip
_STUDENT_SOURCES = {"HE": "secretariat-he", "PS": "secretariat-ps", "SEC": "secretariat-sec"}
_AGES = {"HE": (17, 30), "PS": (18, 65), "SEC": (11, 19)}
_PS_FUNCTIONS = {"ENS": ("Chargé de cours", "Expert"), "ADM": ("Secrétariat",)}


def _schools(category: str) -> list[str]:
    return [code for code, _, cat in SCHOOLS if cat == category]


class _Population:
    """Writes the humans of one sample into the exports."""

    def __init__(self, gen: _Generator, writers: Mapping[str, _Writer]) -> None:
        self.gen = gen
        self.writers = writers
        self.rng = gen.rng
        self.humans: list[_Human] = []
        self.pupils: list[_Human] = []

    def enrol(self, human: _Human, category: str, *, defects: tuple[_Defect, ...] = ()) -> None:
        gen = self.gen
        source = _STUDENT_SOURCES[category]
        short = self.rng.random() < 0.1  # noqa: PLR2004 - some write 2026-27
        year = f"{gen.year}-{(gen.year + 1) % 100:02d}" if short else f"{gen.year}-{gen.year + 1}"
        incomplete = category == "SEC" and self.rng.random() < _INCOMPLETE_PUPILS
        complete = "Non" if incomplete else "Oui"
        values = {
            "matricule": gen.matricule(source, 8),
            "family_name": human.family,
            "given_name": human.given,
            "birth_date": gen.birth_text(human),
            "national_number": gen.niss_text(human),
            "personal_email": human.email or "",
            "school": self.rng.choice(_schools(category)),
            "department": self.rng.choice(_DEPARTMENTS[category]),
            "academic_year": year,
            "encoding_complete": complete,
        }
        self.writers[source].write(gen, values, defects)
        human.sources.add(source)

    def student(self, index: int) -> None:
        gen, rng = self.gen, self.rng
        category = rng.choices(("HE", "PS", "SEC"), weights=(60, 20, 20))[0]
        youngest, oldest = _AGES[category]
        if index % 1000 == 999 and self.humans:  # noqa: PLR2004 - namesakes, other numbers
            other = rng.choice(self.humans)
            human = _Human(other.given, other.family, other.birth, gen.niss(other.birth), None)
        elif category == "SEC" and self.pupils and rng.random() < _SIBLINGS:
            sibling = rng.choice(self.pupils)  # same family, same parent's address
            human = gen.human(youngest, oldest)
            human.family, human.email = sibling.family, sibling.email
        else:
            human = gen.human(youngest, oldest)
            if category == "SEC" and human.email is not None:
                human.email = gen.email(rng.choice(GIVEN_NAMES), human.family)
        if category == "SEC":
            self.pupils.append(human)
        self.enrol(human, category, defects=_STUDENT_DEFECTS)
        if category == "HE" and rng.random() < 0.015:  # noqa: PLR2004 - also in PS
            self.enrol(human, "PS")
        self.humans.append(human)

    def staff(self) -> _Human:
        gen, rng = self.gen, self.rng
        human = gen.human(23, 65)
        matricule = gen.matricule("personnel", 7)
        ps_matricule = gen.matricule("secretariat-ps-staff", 5, "E")
        ps_niss = "" if rng.random() < _PS_STAFF_WITHOUT_NUMBER else gen.niss_text(human)
        identity = {
            "matricule": matricule,
            "family_name": human.family,
            "given_name": human.given,
            "birth_date": gen.birth_text(human),
            "national_number": gen.niss_text(human),
            "personal_email": human.email or "",
        }
        # The first staff member teaches in PS, known to its secretariat: every export of
        # a sample has a data row, however small (an empty export is refused).
        first = not self.writers["secretariat-ps-staff"].rows
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            category = rng.choice(("HE", "HE", "PS", "SEC"))
            if first:
                category = "PS"
            school = rng.choice(_schools(category))
            function = "ENS" if rng.random() < _TEACHERS else "ADM"
            start = date(gen.year - rng.randrange(0, 15), 9, 1)
            ends = ["", "", f"31/08/{gen.year + 1}"] + (
                [f"30/06/{gen.year}"] if start.year < gen.year else []
            )
            end = rng.choice(ends)
            values = identity | {
                "school": school,
                "category": category,
                "function": function,
                "start": start.strftime("%d/%m/%Y"),
                "end": end,
            }
            self.writers["personnel"].write(gen, values, _STAFF_DEFECTS)
            human.sources.add("personnel")
            # (random() only drawn for PS, as ever: the same seed gives the same files)
            known = category == "PS" and rng.random() < 0.8  # noqa: PLR2004 - most of them
            if known or (category == "PS" and first):
                first = False
                values = values | {
                    "matricule": ps_matricule,
                    "national_number": ps_niss,
                    "function": rng.choice(_PS_FUNCTIONS[function]),
                }
                self.writers["secretariat-ps-staff"].write(gen, values, ())
                human.sources.add("secretariat-ps-staff")
        self.humans.append(human)
        return human


def _config(writers: Mapping[str, _Writer], seed: int) -> str:
    lines = [
        f"# Written by `ecampus-idm sample` (seed {seed}): the schools and sources of the",
        "# synthetic exports in this folder. Set ECAMPUS_IDM_SOURCES__PSEUDONYM_KEY.",
        "",
    ]
    for code, name, category in SCHOOLS:
        lines += [
            "[[schools]]",
            f'code = "{code}"',
            f'name = "{name}"',
            f'category = "{category}"',
            "",
        ]
    lines += ["[sources]", 'ledger_path = "export-ledger.json"', ""]
    for writer in writers.values():
        lines += [
            "[[sources.connectors]]",
            f'name = "{writer.name}"',
            'type = "csv"',
            f'path = "{writer.path.name}"',
            f'profile = "{writer.profile}"',
            "",
        ]
    return "\n".join(lines)


def write_sample(
    out_dir: Path,
    people: int,
    seed: int = 2026,
    *,
    academic_year: int = 2026,
    bad_share: float = 0.04,
) -> SampleSummary:
    """Write synthetic exports of ``people`` humans into ``out_dir``.

    Args:
        out_dir: The folder to write (created if needed; files are overwritten).
        people: How many humans: a tenth are staff, the others students and pupils.
        seed: The seed; the same seed gives the same files, byte for byte.
        academic_year: The academic year of the enrolments (start year).
        bad_share: The share of rows carrying one defect each.

    Returns:
        What was written.

    Raises:
        SampleError: If the arguments are out of range or the folder cannot be written.
    """
    if people < 1:
        raise SampleError("a sample needs at least one person")
    if not 0 <= bad_share <= 0.5:  # noqa: PLR2004 - half the rows at most
        raise SampleError("bad_share must be between 0 and 0.5")
    gen = _Generator(seed, academic_year, bad_share)
    writers: dict[str, _Writer] = {}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            for spec in _SOURCES:
                writers[spec[0]] = _Writer(out_dir, spec)
            population = _Population(gen, writers)
            staff = [population.staff() for _ in range(max(1, people // 10))]
            for index in range(people - len(staff)):
                population.student(index)
            for teacher in staff:
                if gen.rng.random() < 0.08:  # noqa: PLR2004 - teachers who study
                    population.enrol(teacher, gen.rng.choice(("HE", "PS")))
        finally:
            for writer in writers.values():
                writer.close()
        config = out_dir / "sources.toml"
        config.write_text(_config(writers, seed), encoding="utf-8")
    except OSError as exc:
        raise SampleError(f"cannot write the sample in {out_dir}: {exc.strerror}") from exc
    return SampleSummary(
        out_dir=out_dir,
        people=len(population.humans),
        seed=seed,
        files={name: writer.path for name, writer in writers.items()},
        rows={name: writer.rows for name, writer in writers.items()},
        bad_rows={str(kind): n for kind, n in sorted(gen.bad.items())},
        invalid_emails=gen.typos,
        in_two_sources=sum(1 for human in population.humans if len(human.sources) > 1),
        config=config,
    )
