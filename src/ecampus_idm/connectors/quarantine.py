"""The quarantine: rows set aside with the reason why, in French and English.

A bad row never aborts a run. It becomes a :class:`RowIssue` (source, file, line, field,
a stable :class:`IssueCode` and a message in French and in English) and the
:class:`QuarantineReport` gathers them all, to be read by the secretariat or the
personnel office (a rich table) or by a script (JSON).

An issue quotes the value it is about only when that value is a code or a word (a school
code, a category, a function, a yes/no word, a department, an academic year) and never
personal data: the caller decides which fields may be quoted and withholds anything that
looks personal (see :class:`~ecampus_idm.identity.validate.RecordValidator`), and
:meth:`RowIssue.of` bounds what it is given (about 40 characters, control characters
escaped). A bad date gives the formats the profile expects, never the date (a birth date
is personal). Names, e-mail addresses and national numbers are never quoted: the line and
the column are enough to find them in the export.
"""

from __future__ import annotations

import io
import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ecampus_idm.connectors.errors import ExportRefusedError, SourceError

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["IssueCode", "QuarantineReport", "RowIssue"]


class IssueCode(StrEnum):
    """Why a row was quarantined; stable, for scripts and statistics."""

    MISSING_VALUE = "missing-value"
    TOO_LONG = "too-long"
    INVALID_TEXT = "invalid-text"
    INVALID_DATE = "invalid-date"
    IMPLAUSIBLE_DATE = "implausible-date"
    INVALID_EMAIL = "invalid-email"
    INVALID_NATIONAL_NUMBER = "invalid-national-number"
    NATIONAL_NUMBER_LEADING_ZERO = "national-number-leading-zero"
    NATIONAL_NUMBER_CHECKSUM = "national-number-checksum"
    BIRTH_DATE_MISMATCH = "birth-date-mismatch"
    MATRICULE_IS_NATIONAL_NUMBER = "matricule-is-national-number"
    CONTAINS_NATIONAL_NUMBER = "contains-national-number"
    INVALID_ACADEMIC_YEAR = "invalid-academic-year"
    UNKNOWN_SCHOOL = "unknown-school"
    UNKNOWN_CATEGORY = "unknown-category"
    CATEGORY_MISMATCH = "category-mismatch"
    INVALID_CODE = "invalid-code"
    UNKNOWN_FUNCTION = "unknown-function"
    INVALID_BOOLEAN = "invalid-boolean"
    INVALID_PERIOD = "invalid-period"
    FIELD_COUNT = "field-count"
    UNDECODABLE_VALUE = "undecodable-value"
    CONTROL_CHARACTER = "control-character"
    CONFLICTING_RECORD = "conflicting-record"


# (French, English); {column} is the column as the export names it.
_MESSAGES: dict[IssueCode, tuple[str, str]] = {
    IssueCode.MISSING_VALUE: (
        "La colonne « {column} » est obligatoire et elle est vide.",
        "Required column '{column}' is empty.",
    ),
    IssueCode.TOO_LONG: (
        "La valeur de « {column} » est trop longue.",
        "The value of '{column}' is too long.",
    ),
    IssueCode.INVALID_TEXT: (
        "La valeur de « {column} » contient des caractères de contrôle.",
        "The value of '{column}' contains control characters.",
    ),
    IssueCode.INVALID_DATE: (
        "« {column} » n’est pas une date, ou pas dans un format que le profil lit.",
        "'{column}' is not a date, or not in a format the profile reads.",
    ),
    IssueCode.IMPLAUSIBLE_DATE: (
        "La date de « {column} » est invraisemblable (avant 1900 ou dans le futur).",
        "The date in '{column}' is implausible (before 1900 or in the future).",
    ),
    IssueCode.INVALID_EMAIL: (
        "« {column} » n’est pas une adresse e-mail valide.",
        "'{column}' is not a valid e-mail address.",
    ),
    IssueCode.INVALID_NATIONAL_NUMBER: (
        "« {column} » n’est pas un numéro de registre national ni un numéro BIS "
        "(11 chiffres attendus).",
        "'{column}' is not a national register number nor a BIS number (11 digits expected).",
    ),
    IssueCode.NATIONAL_NUMBER_LEADING_ZERO: (
        "« {column} » a 10 chiffres : le zéro initial a probablement été perdu "
        "(colonne mise en nombre par un tableur).",
        "'{column}' has 10 digits: the leading zero was probably lost "
        "(a spreadsheet turned the column into numbers).",
    ),
    IssueCode.NATIONAL_NUMBER_CHECKSUM: (
        "Le chiffre de contrôle de « {column} » est faux (faute de frappe ?).",
        "The check digits of '{column}' are wrong (a typo?).",
    ),
    IssueCode.BIRTH_DATE_MISMATCH: (
        "La date de naissance ne correspond pas au numéro de registre national.",
        "The birth date does not match the national register number.",
    ),
    IssueCode.MATRICULE_IS_NATIONAL_NUMBER: (
        "Le matricule est le numéro de registre national : il ne peut pas servir "
        "d’identifiant (choisir une autre colonne).",
        "The matricule is the national register number: it cannot be used as an "
        "identifier (map another column).",
    ),
    IssueCode.CONTAINS_NATIONAL_NUMBER: (
        "« {column} » contient un numéro de registre national, qui ne peut être gardé "
        "qu’en pseudonyme : corriger la valeur.",
        "'{column}' holds a national register number, which may be kept only as a "
        "pseudonym: correct the value.",
    ),
    IssueCode.INVALID_ACADEMIC_YEAR: (
        "« {column} » n’est pas une année académique (ex. 2026-2027).",
        "'{column}' is not an academic year (e.g. 2026-2027).",
    ),
    IssueCode.UNKNOWN_SCHOOL: (
        "L’école ou l’implantation de « {column} » n’est pas configurée.",
        "The school or site in '{column}' is not configured.",
    ),
    IssueCode.UNKNOWN_CATEGORY: (
        "« {column} » n’est pas une catégorie connue (HE, PS ou SEC).",
        "'{column}' is not a known category (HE, PS or SEC).",
    ),
    IssueCode.CATEGORY_MISMATCH: (
        "La catégorie de « {column} » ne correspond pas à celle de l’école configurée.",
        "The category in '{column}' does not match the configured school's category.",
    ),
    IssueCode.INVALID_CODE: (
        "« {column} » n’est pas un code valide (lettres, chiffres, « . », « _ », « - »).",
        "'{column}' is not a valid code (letters, digits, '.', '_', '-').",
    ),
    IssueCode.UNKNOWN_FUNCTION: (
        "« {column} » n’est pas une fonction connue (enseignant ou administratif).",
        "'{column}' is not a known function (teacher or administrative).",
    ),
    IssueCode.INVALID_BOOLEAN: (
        "« {column} » doit valoir oui ou non.",
        "'{column}' must be yes or no.",
    ),
    IssueCode.INVALID_PERIOD: (
        "La fin de l’attribution (« {column} ») précède son début.",
        "The attribution ends ('{column}') before it starts.",
    ),
    IssueCode.FIELD_COUNT: (
        "La ligne n’a pas le même nombre de colonnes que l’en-tête (séparateur dans une valeur ?).",
        "The row does not have as many columns as the header (a delimiter inside a value?).",
    ),
    IssueCode.UNDECODABLE_VALUE: (
        "La valeur de « {column} » n’est pas du texte lisible.",
        "The value of '{column}' is not readable text.",
    ),
    IssueCode.CONTROL_CHARACTER: (
        "La valeur de « {column} » contient un caractère de contrôle (un octet NUL ou "
        "autre) : la ligne est probablement abîmée dans l’export.",
        "The value of '{column}' contains a control character (a NUL or other control "
        "byte): the row is probably damaged in the export.",
    ),
    IssueCode.CONFLICTING_RECORD: (
        "Ce matricule apparaît déjà avec un autre numéro de registre national ; "
        "la ligne est écartée jusqu’à correction.",
        "This matricule already appears with another national register number; "
        "the row is set aside until corrected.",
    ),
}


# The same, naming what was found ({detail}: the value, quoted) or expected ({detail}: the
# date formats); used when the issue has one.
_DETAILED: dict[IssueCode, tuple[str, str]] = {
    IssueCode.INVALID_DATE: (
        "« {column} » n’est pas une date au format attendu ({detail}).",
        "'{column}' is not a date in the expected format ({detail}).",
    ),
    IssueCode.INVALID_ACADEMIC_YEAR: (
        "« {detail} » (colonne « {column} ») n’est pas une année académique (ex. 2026-2027).",
        "'{detail}' (column '{column}') is not an academic year (e.g. 2026-2027).",
    ),
    IssueCode.UNKNOWN_SCHOOL: (
        "L’école ou l’implantation « {detail} » (colonne « {column} ») n’est pas configurée.",
        "The school or site '{detail}' (column '{column}') is not configured.",
    ),
    IssueCode.UNKNOWN_CATEGORY: (
        "« {detail} » (colonne « {column} ») n’est pas une catégorie connue (HE, PS ou SEC).",
        "'{detail}' (column '{column}') is not a known category (HE, PS or SEC).",
    ),
    IssueCode.CATEGORY_MISMATCH: (
        "La catégorie « {detail} » (colonne « {column} ») ne correspond pas à celle de "
        "l’école configurée.",
        "The category '{detail}' (column '{column}') does not match the configured "
        "school's category.",
    ),
    IssueCode.INVALID_CODE: (
        "« {detail} » (colonne « {column} ») n’est pas un code valide (lettres, chiffres, "
        "« . », « _ », « - »).",
        "'{detail}' (column '{column}') is not a valid code (letters, digits, '.', '_', '-').",
    ),
    IssueCode.UNKNOWN_FUNCTION: (
        "« {detail} » (colonne « {column} ») n’est pas une fonction connue (enseignant ou "
        "administratif).",
        "'{detail}' (column '{column}') is not a known function (teacher or administrative).",
    ),
    IssueCode.INVALID_BOOLEAN: (
        "« {column} » doit valoir oui ou non, pas « {detail} ».",
        "'{column}' must be yes or no, not '{detail}'.",
    ),
}
_MAX_SHOWN = 40
_ONE_BYTE = 0xFF
# strptime directives in words, French and English; other characters are kept as they are.
_DIRECTIVES: dict[str, tuple[str, str]] = {
    "d": ("jj", "dd"),
    "m": ("mm", "mm"),
    "Y": ("aaaa", "yyyy"),
    "y": ("aa", "yy"),
    "b": ("mmm", "mmm"),
    "B": ("mois", "month"),
    "j": ("jjj", "ddd"),
    "H": ("hh", "hh"),
    "I": ("hh", "hh"),
    "M": ("mi", "mi"),
    "S": ("ss", "ss"),
    "p": ("AM/PM", "AM/PM"),
    "%": ("%", "%"),
}


def _shown_value(text: str) -> str | None:
    r"""Return ``text`` as it may be shown in a report: bounded, control characters escaped.

    At most about 40 characters (cut with ``…``), so that a column shifted by one, which
    holds a name or an address, cannot be quoted whole; control, format and line-separator
    characters become ``\xNN`` or ``\uNNNN``, so that nothing raw reaches a terminal or a
    mail. Empty text gives ``None``.

    Args:
        text: The value, already judged not personal by the caller.
    """
    out: list[str] = []
    size = 0
    for char in text.strip():
        piece = char
        if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}:
            point = ord(char)
            piece = f"\\x{point:02x}" if point <= _ONE_BYTE else f"\\u{point:04x}"
        if size + len(piece) > _MAX_SHOWN:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) or None


def _describe_date_formats(formats: Sequence[str]) -> tuple[str, str]:
    """Return ``strptime`` formats in words, French and English (``jj/mm/aaaa``, ``dd/mm/yyyy``).

    Args:
        formats: The formats, in the order they are tried.
    """
    french: list[str] = []
    english: list[str] = []
    for fmt in formats:
        fr: list[str] = []
        en: list[str] = []
        chars = iter(fmt)
        for char in chars:
            if char != "%":
                fr.append(char)
                en.append(char)
                continue
            directive = next(chars, "")
            words = _DIRECTIVES.get(directive, ("%" + directive, "%" + directive))
            fr.append(words[0])
            en.append(words[1])
        french.append("".join(fr))
        english.append("".join(en))
    return " ou ".join(french), " or ".join(english)


@dataclass(frozen=True, slots=True)
class RowIssue:
    """One row set aside, and why. A value, not an exception.

    Build it with :meth:`of`, which writes the messages.

    Attributes:
        source: The configured name of the source.
        path: The file, table or directory entry the row came from.
        line: The line in the file where the row starts (1 is the header), or the row
            number for a database or directory.
        field: The logical field concerned (``birth_date``), or ``None`` for the row.
        column: The column as the export names it (``Date de naissance``).
        code: Why, as a stable code.
        message_fr: Why, in French.
        message_en: Why, in English.
        matricule: The row's matricule when it could be read, to find the person.
        value: The offending value as shown (bounded, escaped), when it is a code or a
            word; ``None`` for personal data or when it was withheld.
        expected_formats: The ``strptime`` formats a date was expected in (bad dates).
    """

    source: str
    path: str
    line: int
    field: str | None
    column: str | None
    code: IssueCode
    message_fr: str
    message_en: str
    matricule: str | None = None
    value: str | None = None
    expected_formats: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        code: IssueCode,
        *,
        source: str,
        path: str,
        line: int,
        field: str | None = None,
        column: str | None = None,
        matricule: str | None = None,
        value: str | None = None,
        expected_formats: Sequence[str] = (),
    ) -> RowIssue:
        """Return the issue ``code`` for a row, with its French and English messages.

        Args:
            code: Why the row is set aside.
            source: The configured name of the source.
            path: The file, table or directory entry.
            line: The row's line (or number).
            field: The logical field concerned, if one is.
            column: The column as the export names it.
            matricule: The row's matricule, if it could be read.
            value: The offending value, only when it is a code or a word (never personal
                data); it is bounded and escaped here.
            expected_formats: For a bad date, the ``strptime`` formats expected.
        """
        shown = _shown_value(value) if value is not None else None
        formats = tuple(expected_formats)
        french, english = _MESSAGES[code]
        detail_fr = detail_en = shown
        if shown is None and formats:
            detail_fr, detail_en = _describe_date_formats(formats)
        if detail_fr is not None and code in _DETAILED:
            french, english = _DETAILED[code]
        where = column or field or "?"
        return cls(
            source=source,
            path=path,
            line=line,
            field=field,
            column=column,
            code=code,
            message_fr=french.format(column=where, detail=detail_fr),
            message_en=english.format(column=where, detail=detail_en),
            matricule=matricule or None,
            value=shown,
            expected_formats=formats,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the issue as a JSON-ready mapping."""
        return {
            "source": self.source,
            "path": self.path,
            "line": self.line,
            "field": self.field,
            "column": self.column,
            "code": str(self.code),
            "message_fr": self.message_fr,
            "message_en": self.message_en,
            "matricule": self.matricule,
            "value": self.value,
            "expected_formats": list(self.expected_formats),
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    """A source that was not used for the run, and why (for the report)."""

    source: str
    path: str
    reason: str
    message: str

    @classmethod
    def of(cls, error: SourceError) -> Refusal:
        """Summarise a source error."""
        reason = str(error.reason) if isinstance(error, ExportRefusedError) else "unavailable"
        return cls(error.source, error.path, reason, str(error))


class QuarantineReport:
    """Every row set aside during a run, and every source refused.

    Args:
        issues: The row issues, in the order they were found.
        refusals: The sources that were refused or unavailable.
    """

    def __init__(
        self, issues: Iterable[RowIssue] = (), refusals: Iterable[SourceError] = ()
    ) -> None:
        self._issues = list(issues)
        self._refusals = [Refusal.of(error) for error in refusals]

    @property
    def issues(self) -> Sequence[RowIssue]:
        """The row issues, in the order they were found."""
        return tuple(self._issues)

    @property
    def refusals(self) -> Sequence[Refusal]:
        """The sources refused as a whole."""
        return tuple(self._refusals)

    def add(self, issue: RowIssue) -> None:
        """Add one row issue."""
        self._issues.append(issue)

    def extend(self, issues: Iterable[RowIssue]) -> None:
        """Add row issues."""
        self._issues.extend(issues)

    def refuse(self, error: SourceError) -> None:
        """Record a source refused as a whole."""
        self._refusals.append(Refusal.of(error))

    def __len__(self) -> int:
        return len(self._issues)

    def __iter__(self) -> Iterator[RowIssue]:
        return iter(tuple(self._issues))

    def counts(self) -> dict[str, dict[str, int]]:
        """Return the number of issues per source and code."""
        per_source: dict[str, Counter[str]] = {}
        for issue in self._issues:
            per_source.setdefault(issue.source, Counter())[str(issue.code)] += 1
        return {source: dict(sorted(c.items())) for source, c in sorted(per_source.items())}

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready mapping."""
        return {
            "issues": [issue.as_dict() for issue in self._issues],
            "counts": self.counts(),
            "refusals": [
                {"source": r.source, "path": r.path, "reason": r.reason, "message": r.message}
                for r in self._refusals
            ],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return the report as JSON (UTF-8 text, accents kept)."""
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=indent)

    def to_rich(self) -> RenderableType:
        """Return the report as rich tables (refusals first, then rows), for a console."""
        from rich.console import Group  # noqa: PLC0415 - rich only when a table is asked for
        from rich.table import Table  # noqa: PLC0415 - loaded on demand

        parts: list[RenderableType] = []
        if self._refusals:
            refused = Table(title="Exports refusés / refused exports", show_lines=False)
            for title in ("Source", "Fichier / file", "Raison / reason"):
                refused.add_column(title)
            for refusal in self._refusals:
                refused.add_row(refusal.source, refusal.path, refusal.message)
            parts.append(refused)
        table = Table(title=f"Quarantaine / quarantine: {len(self._issues)} ligne(s) / row(s)")
        table.add_column("Source")
        table.add_column("Ligne / line", justify="right")
        for title in ("Matricule", "Champ / field", "Motif", "Reason"):
            table.add_column(title)
        for issue in self._issues:
            table.add_row(
                issue.source,
                str(issue.line),
                issue.matricule or "",
                issue.column or issue.field or "",
                issue.message_fr,
                issue.message_en,
            )
        parts.append(table)
        return Group(*parts)

    def render_text(self, *, width: int = 160) -> str:
        """Return the report as a plain-text table, for a file or a mail."""
        from rich.console import Console  # noqa: PLC0415 - rich only when a table is asked for

        console = Console(width=width, record=True, color_system=None, file=io.StringIO())
        console.print(self.to_rich())
        return console.export_text()
