"""Validation: a source record's text becomes typed values, or issues for the quarantine.

:class:`RecordValidator` checks one :class:`~ecampus_idm.connectors.base.SourceRecord`
against its profile and the configured schools and returns either a
:class:`ValidRecord` or every :class:`~ecampus_idm.connectors.quarantine.RowIssue` of
the row (all of them at once, so that the secretariat fixes a row in one go).

Hard fields quarantine the row when they are missing or wrong: the matricule, the names,
any value that cannot be read (a date, a code, a yes/no), a national number with a bad
checksum. Soft fields may be missing: a person without personal e-mail, birth date or
national number is kept with ``None`` so that policies can say what is missing; so is a
mistyped e-mail address (bad syntax or domain), flagged ``email_issue`` so that the
welcome mail is held with that reason and support asks for the correction. The
language of the person's mails (an optional column, ``language``) is ``fr``, ``nl`` or
``en`` or a common word or code for one (``Néerlandais``, ``NL-BE``, ``N``...); any other
value never quarantines the row: the language is then left to the school's default and
the row flagged ``language_issue``, which the welcome mail's event notes. A
personnel row whose attribution columns are all empty, function included, is a staff
member without attribution (:attr:`~ecampus_idm.model.Role.STAFF`): kept, for an
account without school access; an attribution started but incomplete (a school without
start date or function) quarantines the row.

The national number leaves this module only as its keyed pseudonym.

An issue quotes the offending value only for the fields that hold codes or words (school,
category, function, department, academic year, the yes/no of a complete encoding) and
only when the value does not look personal: a date, an e-mail address, a run of digits
that could be a national number, or any of the row's own names or identity values is
withheld (a column shifted into a code column). A bad date gives the profile's formats,
never the date.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from ecampus_idm.connectors.base import SourceRecord, SourceValue
from ecampus_idm.connectors.quarantine import IssueCode, RowIssue
from ecampus_idm.connectors.settings import LogicalField, SourceKind, SourceProfile
from ecampus_idm.identity.niss import NissProblem, check_national_number, contains_national_number
from ecampus_idm.identity.pseudonym import Pseudonymiser
from ecampus_idm.model import (
    AcademicYear,
    Attribution,
    Category,
    Code,
    EmailIssue,
    Enrolment,
    Language,
    Role,
    School,
    SourceKey,
    StaffFunction,
)

__all__ = ["RecordValidator", "ValidRecord"]

_MAX_NAME = 128
_MAX_MATRICULE = 64
_MAX_EMAIL = 254
_MAX_LOCAL_PART = 64
_OLDEST_YEAR = 1900
_CACHE_LIMIT = 200_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: 00:00(?::00)?)?")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
# Cheap first look for a national number hidden in the text fields kept (a sloppy
# entry, a shifted column): eleven digits, separators allowed.
_MAYBE_NUMBER = re.compile(r"[0-9][0-9. \-]{9,}[0-9]")
_LETTER = re.compile(r"[^\W\d_]")
# A conservative subset of what email-validator accepts: ASCII dot-atom local part. The
# domain is checked (and normalised) by email-validator itself, once per domain.
_SIMPLE_EMAIL = re.compile(r"([A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)@([A-Za-z0-9.-]+)")
# Fields whose values are codes or words, quoted in their issues (never a personal field).
_SHOWN_FIELDS = frozenset(
    {
        LogicalField.SCHOOL,
        LogicalField.CATEGORY,
        LogicalField.FUNCTION,
        LogicalField.DEPARTMENT,
        LogicalField.ACADEMIC_YEAR,
        LogicalField.ENCODING_COMPLETE,
    }
)
# Issues about a value that was read but not understood (not "missing", "too long"...).
_SHOWN_CODES = frozenset(
    {
        IssueCode.UNKNOWN_SCHOOL,
        IssueCode.UNKNOWN_CATEGORY,
        IssueCode.CATEGORY_MISMATCH,
        IssueCode.INVALID_CODE,
        IssueCode.UNKNOWN_FUNCTION,
        IssueCode.INVALID_BOOLEAN,
        IssueCode.INVALID_ACADEMIC_YEAR,
    }
)
# What a personal value pasted into a code column looks like: an e-mail address, a date
# (30/07/1985, 1985-07-30, 30.07.85); long digit runs are _MAYBE_NUMBER.
_LOOKS_PERSONAL = re.compile(r"@|\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}")
_IDENTITY_FIELDS = (
    LogicalField.FAMILY_NAME,
    LogicalField.GIVEN_NAME,
    LogicalField.PERSONAL_EMAIL,
    LogicalField.BIRTH_DATE,
    LogicalField.NATIONAL_NUMBER,
    LogicalField.MATRICULE,
)
_MIN_NAME_MATCH = 2
_ISO_FORMAT = "%Y-%m-%d"
_NISS_ISSUES = {
    NissProblem.FORMAT: IssueCode.INVALID_NATIONAL_NUMBER,
    NissProblem.LEADING_ZERO: IssueCode.NATIONAL_NUMBER_LEADING_ZERO,
    NissProblem.CHECKSUM: IssueCode.NATIONAL_NUMBER_CHECKSUM,
}
_CODE = TypeAdapter(Code)
# The words and codes a source writes for a mail language (compared folded, accents
# dropped; "nl-BE" and "nl_BE" are read as "nl"). German is none of them: not a mail
# language, it falls back to the school's default.
_LANGUAGE_WORDS: dict[str, Language] = {
    **dict.fromkeys(("fr", "f", "fra", "fre", "francais", "french", "frans"), "fr"),
    **dict.fromkeys(
        ("nl", "n", "nld", "dut", "neerlandais", "nederlands", "dutch", "vlaams", "flamand"),
        "nl",
    ),
    **dict.fromkeys(("en", "e", "eng", "anglais", "english", "engels"), "en"),
}
_ROLES = {StaffFunction.TEACHER: Role.TEACHER, StaffFunction.ADMINISTRATIVE: Role.ADMINISTRATIVE}


class ValidRecord(NamedTuple):
    """One row, validated: typed values, the national number only as a pseudonym.

    Kept compact (a named tuple, no pydantic model per row) because a run holds every
    row of every source until correlation; :meth:`enrolment` and :meth:`attribution`
    build the model values when a person is assembled.

    Attributes:
        source: The configured name of the source.
        matricule: The person's identifier in the source.
        path: The file, table or directory the row came from.
        line: The row's line (or number) there.
        kind: Student or staff row.
        given_name: First name(s), whitespace tidied, NFC.
        family_name: Family name, particles included.
        birth_date: Birth date, if the source gave one.
        personal_email: Personal address (syntax checked, domain normalised), if any.
        email_issue: Why there is no ``personal_email`` although the row has one (a
            mistyped address: the row is kept, the welcome mail waits).
        language: The language of the person's mails, if the row says one.
        language_issue: Whether the row's language is none the mails are written in
            (the row is kept; the school's default applies).
        niss_pseudonym: Keyed pseudonym of the national number, if the source gave one.
        school: Configured school code (enrolment or attribution), if any.
        category: Category of that school.
        department: Department code (students), if any.
        academic_year: Start year of the enrolment (students).
        encoding_complete: Whether the secretariat marked the record complete.
        function: Teacher or administrative (staff).
        start: First day of the attribution (staff), if there is one.
        end: Last day of the attribution, if it has one.
    """

    source: str
    matricule: str
    path: str
    line: int
    kind: SourceKind
    given_name: str
    family_name: str
    birth_date: date | None
    personal_email: str | None
    niss_pseudonym: str | None
    school: str | None
    category: Category | None
    department: str | None
    academic_year: int | None
    encoding_complete: bool
    function: StaffFunction | None
    start: date | None
    end: date | None
    email_issue: EmailIssue | None = None
    language: Language | None = None
    language_issue: bool = False

    @property
    def key(self) -> SourceKey:
        """The person's source key."""
        return SourceKey(source=self.source, matricule=self.matricule)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self._fields if name != "niss_pseudonym"
        )
        return f"ValidRecord({shown})"

    @property
    def role(self) -> Role:
        """The role this row gives its person (staff without a function: ``STAFF``)."""
        if self.kind is SourceKind.STUDENT:
            return Role.STUDENT
        return _ROLES[self.function] if self.function is not None else Role.STAFF

    def enrolment(self, key: SourceKey) -> Enrolment | None:
        """Return the enrolment this row describes (students), with ``key`` as source."""
        if self.kind is not SourceKind.STUDENT or self.school is None or self.category is None:
            return None
        assert self.academic_year is not None  # noqa: S101 - required for students
        return Enrolment(
            school=self.school,
            category=self.category,
            department=self.department,
            academic_year=_academic_year(self.academic_year),
            encoding_complete=self.encoding_complete,
            source=key,
        )

    def attribution(self, key: SourceKey) -> Attribution | None:
        """Return the attribution this row describes (staff), with ``key`` as source."""
        if self.start is None or self.school is None or self.category is None:
            return None
        return Attribution(
            school=self.school,
            category=self.category,
            function=self.function or StaffFunction.TEACHER,
            start=self.start,
            end=self.end,
            source=key,
        )


_YEARS: dict[int, AcademicYear] = {}


def _academic_year(start: int) -> AcademicYear:
    """Return the (shared) academic-year value starting in ``start``."""
    year = _YEARS.get(start)
    if year is None:
        year = _YEARS[start] = AcademicYear(start_year=start)
    return year


def _as_text(value: SourceValue) -> str:
    return value.strip() if isinstance(value, str) else value.isoformat()


def _tidy(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


class _Row:
    """One row being validated: its values (constants merged in) and its issues."""

    __slots__ = ("issues", "matricule", "record", "validator", "values")

    def __init__(self, validator: RecordValidator, record: SourceRecord) -> None:
        self.validator = validator
        self.record = record
        constants = validator.profile.constants
        self.values: Mapping[LogicalField, SourceValue] = (
            {**constants, **record.values} if constants else record.values
        )
        self.issues: list[RowIssue] = []
        self.matricule: str | None = None

    def text(self, logical: LogicalField) -> str:
        """Return a field as stripped text (``""`` when absent)."""
        return _as_text(self.values.get(logical, ""))

    def fail(self, code: IssueCode, logical: LogicalField | None) -> None:
        """Record the issue ``code`` on ``logical``, quoting the value when it may be shown."""
        column = self.validator.column_names.get(logical) if logical is not None else None
        value = None
        if logical in _SHOWN_FIELDS and code in _SHOWN_CODES:
            value = self.showable(self.text(logical))
        formats = self.validator.expected_formats if code is IssueCode.INVALID_DATE else ()
        self.issues.append(
            RowIssue.of(
                code,
                source=self.record.source,
                path=self.record.path,
                line=self.record.line,
                field=str(logical) if logical is not None else None,
                column=column,
                matricule=self.matricule,
                value=value,
                expected_formats=formats,
            )
        )

    def showable(self, text: str) -> str | None:
        """Return ``text`` if it may be quoted in a report, ``None`` if it looks personal.

        A code or a word is quoted; a date, an e-mail address, digits that could be a
        national number, or text holding one of the row's names or identity values (the
        mark of a shifted column) is not.
        """
        if not text or _LOOKS_PERSONAL.search(text) or _MAYBE_NUMBER.search(text):
            return None
        folded = _tidy(text).casefold()
        for logical in _IDENTITY_FIELDS:
            own = _tidy(self.text(logical)).casefold()
            if len(own) >= _MIN_NAME_MATCH and own in folded:
                return None
        return text


class RecordValidator:
    """Validate the records of one source.

    Args:
        profile: The source's profile (value words, date formats, constants).
        pseudonymiser: Turns a valid national number into its pseudonym.
        schools: The configured schools; when given, a school code must be one of them
            (after the profile's ``school_codes`` mapping) and gives the category.
        today: The institution's date, to refuse birth dates in the future.
    """

    def __init__(
        self,
        profile: SourceProfile,
        pseudonymiser: Pseudonymiser,
        *,
        schools: Iterable[School] = (),
        today: date,
    ) -> None:
        self.profile = profile
        self._pseudonymiser = pseudonymiser
        self._schools = {school.code.casefold(): school for school in schools}
        self._today = today
        mapped = profile.columns.mapped()
        self.column_names: dict[LogicalField, str] = {
            **{f: f"{f} (constante / constant)" for f in profile.constants},
            **mapped,
        }
        self._mapped = frozenset(mapped)
        self._dmy = "%d/%m/%Y" in profile.date_formats
        self._other_formats = tuple(f for f in profile.date_formats if f != "%d/%m/%Y")
        # What a bad date's issue says is expected: the profile's formats, then ISO.
        self.expected_formats: tuple[str, ...] = tuple(
            dict.fromkeys((*profile.date_formats, _ISO_FORMAT))
        )
        self._dates: dict[str, date | None] = {}
        self._domains: dict[str, str | None] = {}
        self._codes: dict[str, bool] = {}
        self._names: dict[str, tuple[str, IssueCode | None]] = {}
        self._places: dict[tuple[SourceValue, SourceValue], _Place] = {}
        self._studies: dict[tuple[SourceValue, ...], _Study] = {}

    def validate(self, record: SourceRecord) -> ValidRecord | list[RowIssue]:
        """Return the typed record, or every issue of the row."""
        row = _Row(self, record)
        matricule = self._matricule(row)
        family = self._name(row, LogicalField.FAMILY_NAME)
        given = self._name(row, LogicalField.GIVEN_NAME)
        birth = self._birth_date(row)
        pseudonym = self._national_number(row, birth)
        email, email_issue = self._email(row)
        language, language_issue = self._language(row)
        if self.profile.kind is SourceKind.STUDENT:
            values = self._enrolment(row)
        else:
            values = self._attribution(row)
        self._hidden_numbers(row, family, given, email, values[2], values[0])
        if row.issues:
            return row.issues
        # Positional: this runs once per row, keywords cost a tenth of the time.
        return ValidRecord(
            record.source,
            matricule,
            record.path,
            record.line,
            self.profile.kind,
            given,
            family,
            birth,
            email,
            pseudonym,
            *values,
            email_issue,
            language,
            language_issue,
        )

    # -- fields --------------------------------------------------------------------------

    def _matricule(self, row: _Row) -> str:
        text = row.text(LogicalField.MATRICULE)
        if not text:
            row.fail(IssueCode.MISSING_VALUE, LogicalField.MATRICULE)
        elif len(text) > _MAX_MATRICULE:
            row.fail(IssueCode.TOO_LONG, LogicalField.MATRICULE)
        elif _CONTROL.search(text):
            row.fail(IssueCode.INVALID_TEXT, LogicalField.MATRICULE)
        elif contains_national_number(text):
            # A source that uses the national number as matricule would store it in clear
            # in every source key: refused, and never quoted.
            row.fail(IssueCode.MATRICULE_IS_NATIONAL_NUMBER, LogicalField.MATRICULE)
        else:
            row.matricule = text
        return text

    def _name(self, row: _Row, logical: LogicalField) -> str:
        raw = row.values.get(logical, "")
        known = self._names.get(raw) if isinstance(raw, str) else None
        if known is None:
            text = _tidy(raw if isinstance(raw, str) else raw.isoformat())
            code = None
            if not text:
                code = IssueCode.MISSING_VALUE
            elif len(text) > _MAX_NAME:
                code = IssueCode.TOO_LONG
            elif _CONTROL.search(text) or not _LETTER.search(text):
                code = IssueCode.INVALID_TEXT
            known = (text, code)
            if isinstance(raw, str):
                if len(self._names) > _CACHE_LIMIT:
                    self._names.clear()
                self._names[raw] = known
        if known[1] is not None:
            row.fail(known[1], logical)
        return known[0]

    def _hidden_numbers(self, row: _Row, *texts: str | None) -> None:
        """Fail the row if a kept text field holds a national number (never kept in clear)."""
        joined = "\x1f".join(text or "" for text in texts)
        if not _MAYBE_NUMBER.search(joined):
            return
        fields = (
            LogicalField.FAMILY_NAME,
            LogicalField.GIVEN_NAME,
            LogicalField.PERSONAL_EMAIL,
            LogicalField.DEPARTMENT,
            LogicalField.SCHOOL,
        )
        for logical, text in zip(fields, texts, strict=True):
            if text and contains_national_number(text):
                row.fail(IssueCode.CONTAINS_NATIONAL_NUMBER, logical)

    def _date(self, row: _Row, logical: LogicalField, *, birth: bool = False) -> date | None:
        value = row.values.get(logical, "")
        if isinstance(value, date):
            parsed = value
        else:
            text = value.strip()
            if not text:
                return None
            known = self._dates.get(text, date.min)
            if known == date.min:
                known = self._parse_date(text)
                if len(self._dates) > _CACHE_LIMIT:
                    self._dates.clear()
                self._dates[text] = known
            if known is None:
                row.fail(IssueCode.INVALID_DATE, logical)
                return None
            parsed = known
        if birth and (parsed.year < _OLDEST_YEAR or parsed > self._today):
            row.fail(IssueCode.IMPLAUSIBLE_DATE, logical)
            return None
        return parsed

    def _parse_date(self, text: str) -> date | None:
        if self._dmy:
            match = _DMY.fullmatch(text)
            if match:
                day, month, year = (int(part) for part in match.groups())
                try:
                    return date(year, month, day)
                except ValueError:
                    return None
        if _ISO.fullmatch(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                return None
        for fmt in self._other_formats:
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        return None

    def _birth_date(self, row: _Row) -> date | None:
        return self._date(row, LogicalField.BIRTH_DATE, birth=True)

    def _national_number(self, row: _Row, birth: date | None) -> str | None:
        text = row.text(LogicalField.NATIONAL_NUMBER)
        if not text:
            return None
        check = check_national_number(text)
        if check.problem is not None:
            row.fail(_NISS_ISSUES[check.problem], LogicalField.NATIONAL_NUMBER)
            return None
        if birth is not None and check.birth_date is not None and birth != check.birth_date:
            row.fail(IssueCode.BIRTH_DATE_MISMATCH, LogicalField.BIRTH_DATE)
        return self._pseudonymiser.pseudonym(check.digits)

    def _email(self, row: _Row) -> tuple[str | None, EmailIssue | None]:
        """Return the normalised address, or ``None`` and why when it is not one.

        A mistyped address does not quarantine the row: the person gets an account and
        the welcome mail waits for the correction (the support FAQ). A national number
        in the column does (a shifted column, and it must never be kept in clear).
        """
        text = row.text(LogicalField.PERSONAL_EMAIL)
        if not text:
            return None, None
        normalised = self._check_email(text)
        if normalised is not None:
            return normalised, None
        if _MAYBE_NUMBER.search(text) and contains_national_number(text):
            row.fail(IssueCode.CONTAINS_NATIONAL_NUMBER, LogicalField.PERSONAL_EMAIL)
        return None, EmailIssue.INVALID

    def _language(self, row: _Row) -> tuple[Language | None, bool]:
        """Return the row's mail language, and whether it held a value that is none.

        An unknown value does not quarantine the row (the person still needs an
        account): the school's default language applies, and the flag says why.
        """
        text = row.text(LogicalField.LANGUAGE)
        if not text:
            return None, False
        folded = unicodedata.normalize("NFKD", text.casefold())
        word = "".join(c for c in folded if not unicodedata.combining(c)).strip()
        language = _LANGUAGE_WORDS.get(word) or _LANGUAGE_WORDS.get(re.split(r"[-_]", word)[0])
        return language, language is None

    def _check_email(self, text: str) -> str | None:
        simple = _SIMPLE_EMAIL.fullmatch(text)
        if simple and len(simple.group(1)) <= _MAX_LOCAL_PART and len(text) <= _MAX_EMAIL:
            domain = simple.group(2)
            if domain not in self._domains:
                if len(self._domains) > _CACHE_LIMIT:
                    self._domains.clear()
                full = _email_validator("postmaster@" + domain)
                self._domains[domain] = full.split("@", 1)[1] if full else None
            normalised_domain = self._domains[domain]
            return f"{simple.group(1)}@{normalised_domain}" if normalised_domain else None
        return _email_validator(text)

    def _code(self, text: str) -> bool:
        known = self._codes.get(text)
        if known is None:
            try:
                _CODE.validate_python(text)
                known = True
            except PydanticValidationError:
                known = False
            self._codes[text] = known
        return known

    def _school(self, row: _Row) -> tuple[str | None, Category | None]:
        """Return the school code and category, failing the row when unusable."""
        values = row.values
        pair = (values.get(LogicalField.SCHOOL, ""), values.get(LogicalField.CATEGORY, ""))
        place = self._places.get(pair)
        if place is None:
            place = self._places[pair] = self._place(_as_text(pair[0]), _as_text(pair[1]))
        code, category, problem = place
        if problem is not None:
            row.fail(*problem)
        return code, category

    def _place(self, text: str, category_text: str) -> _Place:  # noqa: PLR0911 - one per verdict
        if not text:
            return None, None, (IssueCode.MISSING_VALUE, LogicalField.SCHOOL)
        text = self.profile.school_codes.get(text.casefold(), text)
        category = self.profile.category(category_text) if category_text else None
        if category_text and category is None:
            return None, None, (IssueCode.UNKNOWN_CATEGORY, LogicalField.CATEGORY)
        if self._schools:
            school = self._schools.get(text.casefold())
            if school is None:
                return None, None, (IssueCode.UNKNOWN_SCHOOL, LogicalField.SCHOOL)
            if category is not None and category is not school.category:
                return None, None, (IssueCode.CATEGORY_MISMATCH, LogicalField.CATEGORY)
            return school.code, school.category, None
        if not self._code(text):
            return None, None, (IssueCode.INVALID_CODE, LogicalField.SCHOOL)
        if category is None:
            return text, None, (IssueCode.MISSING_VALUE, LogicalField.CATEGORY)
        return text, category, None

    def _enrolment(self, row: _Row) -> _Values:
        school, category = self._school(row)
        values = row.values
        cells = (
            values.get(LogicalField.DEPARTMENT, ""),
            values.get(LogicalField.ACADEMIC_YEAR, ""),
            values.get(LogicalField.ENCODING_COMPLETE, ""),
        )
        study = self._studies.get(cells)
        if study is None:
            if len(self._studies) > _CACHE_LIMIT:
                self._studies.clear()
            study = self._studies[cells] = self._study(*(_as_text(cell) for cell in cells))
        department, year, complete, problems = study
        for problem in problems:
            row.fail(*problem)
        return school, category, department, year, complete, None, None, None

    def _study(self, department_text: str, year_text: str, complete_text: str) -> _Study:
        """Resolve the department, academic year and completeness cells of an enrolment."""
        problems: list[tuple[IssueCode, LogicalField]] = []
        department = department_text or None
        if department is not None and not self._code(department):
            problems.append((IssueCode.INVALID_CODE, LogicalField.DEPARTMENT))
        year = None
        if not year_text:
            problems.append((IssueCode.MISSING_VALUE, LogicalField.ACADEMIC_YEAR))
        else:
            try:
                year = AcademicYear.parse(year_text).start_year
            except ValueError:
                problems.append((IssueCode.INVALID_ACADEMIC_YEAR, LogicalField.ACADEMIC_YEAR))
        complete = True
        field_ = LogicalField.ENCODING_COMPLETE
        if field_ in self._mapped or field_ in self.profile.constants:
            word = complete_text.casefold()
            complete = word in self.profile.true_values
            if word and not complete and word not in self.profile.false_values:
                problems.append((IssueCode.INVALID_BOOLEAN, field_))
        return department, year, complete, tuple(problems)

    def _function(self, row: _Row, *, attributed: bool) -> StaffFunction | None:
        """Return the row's function; ``attributed``: an attribution column is filled."""
        if (
            LogicalField.FUNCTION not in self._mapped
            and LogicalField.FUNCTION not in self.profile.constants
        ):
            return StaffFunction.TEACHER
        word = row.text(LogicalField.FUNCTION)
        if not word:
            if attributed:
                row.fail(IssueCode.MISSING_VALUE, LogicalField.FUNCTION)
            return None  # no attribution at all: staff whose function is not encoded
        folded = word.casefold()
        function = self.profile.function_codes.get(folded)
        if function is None:
            function = next((f for f in StaffFunction if f.value == folded), None)
        if function is None:
            row.fail(IssueCode.UNKNOWN_FUNCTION, LogicalField.FUNCTION)
        return function

    def _attribution(self, row: _Row) -> _Values:
        has_school = bool(row.text(LogicalField.SCHOOL))
        raw_start = row.text(LogicalField.START)
        attributed = bool(has_school or raw_start or row.text(LogicalField.END))
        function = self._function(row, attributed=attributed)
        start = self._date(row, LogicalField.START)
        end = self._date(row, LogicalField.END)
        if not attributed:
            return None, None, None, None, True, function, None, None
        school, category = self._school(row)
        if not raw_start:
            row.fail(IssueCode.MISSING_VALUE, LogicalField.START)
        if start is not None and end is not None and end < start:
            row.fail(IssueCode.INVALID_PERIOD, LogicalField.END)
        return school, category, None, None, True, function, start, end


_Place = tuple[str | None, Category | None, tuple[IssueCode, LogicalField] | None]
"""A school cell resolved: code, category, or the issue it raises."""

_Study = tuple[str | None, int | None, bool, tuple[tuple[IssueCode, LogicalField], ...]]
"""An enrolment's department, academic year and completeness, or the issues they raise."""

_Values = tuple[
    str | None,
    Category | None,
    str | None,
    int | None,
    bool,
    StaffFunction | None,
    date | None,
    date | None,
]


def _email_validator(text: str) -> str | None:
    """Return the normalised address, or ``None`` when email-validator refuses it."""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except (EmailNotValidError, ValueError, UnicodeError):
        return None
