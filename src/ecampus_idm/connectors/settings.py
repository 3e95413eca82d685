"""Configuration of the sources: profiles (column mappings), connectors, checks, the key.

A *profile* says how one kind of export is laid out: which column holds the matricule,
the names, the birth date, the national number, the personal e-mail, the school... and
how its values are written (date formats, yes/no words, school and function codes).
Ready profiles ship with the package (``secretariat``, ``personnel``,
``secretariat-staff``; see :func:`ready_profile`); an installation may define its own
under ``[sources.profiles.<name>]``.

A *connector* entry names a source, its type (``csv``, ``sql``, ``ldap``), where it is,
its profile and the thresholds of the whole-export checks. The order of the entries is
the precedence of the sources when they disagree about a person's name or e-mail.

The section, as the lead wires it into :class:`~ecampus_idm.config.Settings` under
``sources``::

    [sources]
    ledger_path = "var/export-ledger.json"
    # pseudonym_key: set ECAMPUS_IDM_SOURCES__PSEUDONYM_KEY (32+ random characters)

    [[sources.connectors]]
    name = "secretariat-hec"
    type = "csv"
    path = "exports/secretariat-hec.csv"
    profile = "secretariat"
    columns = { department = "Section" }      # override one column of the profile
    checks = { max_shrink_share = 0.1 }
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ecampus_idm.directory.base import TlsMode
from ecampus_idm.directory.dn import parse_dn
from ecampus_idm.errors import ConfigError, InvalidDnError
from ecampus_idm.model import AcademicYear, Category, Code, StaffFunction

__all__ = [
    "MIN_PSEUDONYM_KEY_LENGTH",
    "READY_PROFILES",
    "ColumnMap",
    "CsvSourceSettings",
    "ExportChecks",
    "LdapSourceSettings",
    "LogicalField",
    "SourceKind",
    "SourceProfile",
    "SourceSettings",
    "SourcesSettings",
    "SqlSourceSettings",
    "ready_profile",
]

MIN_PSEUDONYM_KEY_LENGTH = 32
READY_PROFILES = ("personnel", "secretariat", "secretariat-staff")
"""Names of the profiles shipped in ``ecampus_idm/data/profiles``."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class LogicalField(StrEnum):
    """A field the library understands, whatever the export calls its column."""

    MATRICULE = "matricule"
    FAMILY_NAME = "family_name"
    GIVEN_NAME = "given_name"
    BIRTH_DATE = "birth_date"
    NATIONAL_NUMBER = "national_number"
    PERSONAL_EMAIL = "personal_email"
    SCHOOL = "school"
    DEPARTMENT = "department"
    ACADEMIC_YEAR = "academic_year"
    ENCODING_COMPLETE = "encoding_complete"
    CATEGORY = "category"
    FUNCTION = "function"
    START = "start"
    END = "end"
    LANGUAGE = "language"
    """The language of the person's mails (``fr``, ``nl``, ``en``, or a word for one)."""


_IDENTITY_FIELDS = frozenset(
    {
        LogicalField.MATRICULE,
        LogicalField.FAMILY_NAME,
        LogicalField.GIVEN_NAME,
        LogicalField.BIRTH_DATE,
        LogicalField.NATIONAL_NUMBER,
        LogicalField.PERSONAL_EMAIL,
    }
)


class SourceKind(StrEnum):
    """What a source's rows are about."""

    STUDENT = "student"
    """One row per enrolment (a student in a school for a year)."""
    STAFF = "staff"
    """One row per attribution, identity repeated; a row without attribution columns
    filled is a staff member without attribution."""


class ColumnMap(_Section):
    """Which column of the export holds each field (header names, case-insensitive).

    Only the matricule and the names are required; a field without a column is absent
    from the source (or given by the profile's ``constants``).
    """

    matricule: str = Field(min_length=1)
    family_name: str = Field(min_length=1)
    given_name: str = Field(min_length=1)
    birth_date: str | None = None
    national_number: str | None = None
    personal_email: str | None = None
    school: str | None = None
    department: str | None = None
    academic_year: str | None = None
    encoding_complete: str | None = None
    category: str | None = None
    function: str | None = None
    start: str | None = None
    end: str | None = None
    language: str | None = None

    def mapped(self) -> dict[LogicalField, str]:
        """Return the mapped fields and their column names."""
        return {
            LogicalField(name): column
            for name, column in self.model_dump().items()
            if column is not None
        }


_DEFAULT_FUNCTIONS = {
    "teacher": StaffFunction.TEACHER,
    "enseignant": StaffFunction.TEACHER,
    "enseignante": StaffFunction.TEACHER,
    "ens": StaffFunction.TEACHER,
    "leerkracht": StaffFunction.TEACHER,
    "docent": StaffFunction.TEACHER,
    "administrative": StaffFunction.ADMINISTRATIVE,
    "administratif": StaffFunction.ADMINISTRATIVE,
    "administrative staff": StaffFunction.ADMINISTRATIVE,
    "adm": StaffFunction.ADMINISTRATIVE,
    "administratief": StaffFunction.ADMINISTRATIVE,
}


def _fold_keys(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key.strip().casefold(): value for key, value in mapping.items()}


class SourceProfile(_Section):
    """How one kind of export is laid out and how its values are written.

    Attributes:
        kind: Students (enrolments) or staff (attributions).
        description: What software produces this export, for humans.
        columns: Which column holds each field.
        constants: Values for fields the export has no column for (``category = "HE"``
            for the export of a Haute École secretariat).
        date_formats: ``strptime`` formats tried in order; ISO ``yyyy-mm-dd`` is always
            accepted too.
        delimiter: ``;``, ``,`` or ``auto`` (found from the header).
        encoding: ``utf-8``, ``cp1252`` or ``auto`` (BOM, then strict UTF-8, then cp1252).
        true_values: Words meaning yes (case-insensitive).
        false_values: Words meaning no (case-insensitive).
        school_codes: The source's school codes to configured school codes.
        category_codes: The source's category words to categories (``HE``, ``PS`` and
            ``SEC`` are always understood).
        function_codes: The source's function words to staff functions.
    """

    kind: SourceKind
    description: str = ""
    columns: ColumnMap
    constants: dict[LogicalField, str] = {}
    date_formats: tuple[str, ...] = ("%d/%m/%Y",)
    delimiter: Literal["auto", ";", ","] = "auto"
    encoding: Literal["auto", "utf-8", "cp1252"] = "auto"
    true_values: frozenset[str] = frozenset({"1", "o", "oui", "y", "yes", "j", "ja", "x", "vrai"})
    false_values: frozenset[str] = frozenset({"0", "n", "non", "no", "nee", "faux"})
    school_codes: dict[str, str] = {}
    category_codes: dict[str, Category] = {}
    function_codes: dict[str, StaffFunction] = _DEFAULT_FUNCTIONS

    @field_validator("true_values", "false_values")
    @classmethod
    def _fold_words(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(word.strip().casefold() for word in value)

    @field_validator("school_codes", "category_codes", "function_codes")
    @classmethod
    def _fold_codes(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _fold_keys(value)

    @field_validator("date_formats")
    @classmethod
    def _usable_formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        sample = datetime(2001, 2, 3)
        for fmt in value:
            try:
                ok = datetime.strptime(sample.strftime(fmt), fmt).date() == sample.date()
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"a strptime date format with day, month and year: {fmt!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        mapped = self.columns.mapped()
        both = sorted(str(f) for f in self.constants if f in mapped)
        if both:
            raise ValueError(f"fields both mapped to a column and constant: {', '.join(both)}")
        personal = sorted(str(f) for f in self.constants if f in _IDENTITY_FIELDS)
        if personal:
            raise ValueError(f"identity fields cannot be constants: {', '.join(personal)}")
        if self.true_values & self.false_values:
            raise ValueError("a word cannot mean both yes and no")
        if self.kind is SourceKind.STUDENT:
            for needed in (LogicalField.SCHOOL, LogicalField.ACADEMIC_YEAR):
                if needed not in mapped and needed not in self.constants:
                    raise ValueError(f"a student profile needs a column or constant for {needed}")
        year = self.constants.get(LogicalField.ACADEMIC_YEAR)
        if year is not None:
            AcademicYear.parse(year)
        category = self.constants.get(LogicalField.CATEGORY)
        if category is not None and self.category(category) is None:
            raise ValueError(f"unknown category constant: {category!r}")
        return self

    def category(self, word: str) -> Category | None:
        """Return the category a source word means, if any (case-insensitive)."""
        folded = word.strip().casefold()
        if folded in self.category_codes:
            return self.category_codes[folded]
        return next((c for c in Category if c.value.casefold() == folded), None)

    def with_columns(self, overrides: dict[LogicalField, str]) -> SourceProfile:
        """Return a copy whose columns are changed by ``overrides``."""
        if not overrides:
            return self
        columns = self.columns.model_dump() | {str(k): v for k, v in overrides.items()}
        return self.model_validate(self.model_dump() | {"columns": columns})


class ExportChecks(_Section):
    """Thresholds of the whole-export checks of one source.

    Attributes:
        max_shrink_share: The largest share of rows an export may lose against the last
            accepted one (0.2: at most 20 % fewer rows).
        max_rejected_share: The largest share of rows that may be quarantined before the
            whole export is refused (a changed date format must not look like departures).
        refuse_encoding_change: Whether an encoding different from the last accepted
            export's refuses the export.
    """

    max_shrink_share: float = Field(default=0.2, ge=0, le=1)
    max_rejected_share: float = Field(default=0.2, ge=0, le=1)
    refuse_encoding_change: bool = True


class _SourceBase(_Section):
    name: Code
    profile: str | SourceProfile
    columns: dict[LogicalField, str] = {}
    checks: ExportChecks = ExportChecks()


class CsvSourceSettings(_SourceBase):
    """A CSV export dropped in a folder by the source's software.

    Attributes:
        name: The source's name, used in source keys (``secretariat-hec``).
        profile: A profile name (ready or from ``[sources.profiles]``) or a profile.
        columns: Overrides of the profile's columns for this source.
        checks: Thresholds of the whole-export checks.
        path: The export file (relative paths are relative to the configuration file).
    """

    type: Literal["csv"] = "csv"
    path: Path


class SqlSourceSettings(_SourceBase):
    """A table or query in the source software's database (SQLAlchemy Core).

    Attributes:
        url: SQLAlchemy URL without a password (``postgresql://reader@db/gpe``).
        password: The database password, kept apart from the URL.
        query: A ``SELECT`` whose result columns are the profile's columns.
        table: A table (or view) to read instead of a query.
        schema_name: The table's schema, when not the default.
        fetch_size: Rows fetched per round trip while streaming.
    """

    type: Literal["sql"] = "sql"
    url: str
    password: SecretStr | None = None
    query: str | None = None
    table: str | None = None
    schema_name: str | None = None
    fetch_size: int = Field(default=1000, ge=1, le=100_000)

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("a database URL such as sqlite:///export.sqlite3")
        if urlsplit(value).password:
            raise ValueError("a URL without a password (set password instead)")
        return value

    @model_validator(mode="after")
    def _query_or_table(self) -> Self:
        if (self.query is None) == (self.table is None):
            raise ValueError("exactly one of query and table")
        return self


def _valid_dn(value: str) -> str:
    try:
        parse_dn(value)
    except InvalidDnError as exc:
        raise ValueError(f"a distinguished name (RFC 4514): {exc}") from exc
    return value


class LdapSourceSettings(_SourceBase):
    """People read from another directory (the profile's columns are attribute names).

    Attributes:
        url: ``ldap://host`` (StartTLS) or ``ldaps://host``.
        bind_dn: The reading account.
        bind_password: Its password.
        tls: ``auto``, ``starttls``, ``ldaps`` or ``none`` (loopback only).
        ca_file: PEM bundle of the CA to trust; the system store when unset.
        timeout_seconds: Connect/receive timeout.
        page_size: Search page size.
        search_base: Where the people are.
        object_class: The object class of a person entry.
        where: Extra equality conditions (attribute to value) on the entries read.
    """

    type: Literal["ldap"] = "ldap"
    url: str
    bind_dn: str
    bind_password: SecretStr
    tls: TlsMode = "auto"
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    page_size: int = Field(default=500, ge=1, le=10_000)
    search_base: str
    object_class: str = "inetOrgPerson"
    where: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _ldap_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError("an ldap://host[:port] or ldaps://host[:port] URL")
        if parts.username or parts.password:
            raise ValueError("a URL without credentials (use bind_dn and bind_password)")
        return value

    @field_validator("bind_dn", "search_base")
    @classmethod
    def _dn(cls, value: str) -> str:
        return _valid_dn(value)


SourceSettings = Annotated[
    CsvSourceSettings | SqlSourceSettings | LdapSourceSettings, Field(discriminator="type")
]
"""One connector entry, told apart by its ``type``."""


class SourcesSettings(_Section):
    """The ``[sources]`` section: where people come from, and the pseudonym key.

    Attributes:
        pseudonym_key: The HMAC key of national-number pseudonyms and person ids (32+
            random characters; prefer ``ECAMPUS_IDM_SOURCES__PSEUDONYM_KEY``). Changing
            it changes every pseudonym: it needs a migration of the state store.
        ledger_path: A JSON file remembering the last accepted export of each source
            (until the state store holds it).
        profiles: Profiles of this installation, by name, besides the ready ones.
        connectors: The sources, in order of precedence.
    """

    pseudonym_key: SecretStr
    ledger_path: Path | None = None
    profiles: dict[str, SourceProfile] = {}
    connectors: tuple[SourceSettings, ...] = ()

    @field_validator("pseudonym_key")
    @classmethod
    def _long_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_PSEUDONYM_KEY_LENGTH:
            raise ValueError(
                f"a random key of at least {MIN_PSEUDONYM_KEY_LENGTH} characters "
                "(e.g. from `openssl rand -base64 48`)"
            )
        return value

    @model_validator(mode="after")
    def _known_names(self) -> Self:
        names = [c.name.casefold() for c in self.connectors]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"unique connector names (duplicated: {', '.join(duplicates)})")
        for connector in self.connectors:
            self.profile_for(connector)
        return self

    def profile_for(
        self, connector: CsvSourceSettings | SqlSourceSettings | LdapSourceSettings
    ) -> SourceProfile:
        """Return the profile of ``connector``, its column overrides applied.

        Raises:
            ValueError: If the profile name is neither ready nor defined here, or the
                overrides make it invalid.
        """
        profile = connector.profile
        if isinstance(profile, str):
            if profile in self.profiles:
                profile = self.profiles[profile]
            elif profile in READY_PROFILES:
                profile = ready_profile(profile)
            else:
                known = ", ".join(sorted({*self.profiles, *READY_PROFILES}))
                raise ValueError(f"unknown profile {connector.profile!r} (known: {known})")
        try:
            return profile.with_columns(connector.columns)
        except ValidationError as exc:
            raise ValueError(f"column overrides of {connector.name!r}: {exc}") from exc

    def resolve_paths(self, base: Path) -> SourcesSettings:
        """Return a copy whose relative paths are made relative to ``base``."""

        def absolute(path: Path | None) -> Path | None:
            return path if path is None or path.is_absolute() else base / path

        def resolved(entry: SourceSettings) -> SourceSettings:
            if isinstance(entry, CsvSourceSettings):
                return entry.model_copy(update={"path": absolute(entry.path)})
            if isinstance(entry, LdapSourceSettings):
                return entry.model_copy(update={"ca_file": absolute(entry.ca_file)})
            return entry

        return self.model_copy(
            update={
                "ledger_path": absolute(self.ledger_path),
                "connectors": tuple(resolved(entry) for entry in self.connectors),
            }
        )


@cache
def ready_profile(name: str) -> SourceProfile:
    """Return a profile shipped with the package.

    Args:
        name: One of :data:`READY_PROFILES`.

    Raises:
        ConfigError: If there is no such profile (or the shipped file is broken).
    """
    if name not in READY_PROFILES:
        raise ConfigError(
            f"profile {name!r}", None, f"one of the ready profiles: {', '.join(READY_PROFILES)}"
        )
    resource = resources.files("ecampus_idm.data").joinpath("profiles", f"{name}.toml")
    try:
        data = tomllib.loads(resource.read_text(encoding="utf-8"))
        return SourceProfile.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"ready profile {name}", None, f"a valid profile ({exc})") from exc
