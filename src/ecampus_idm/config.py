"""One typed configuration, read from a TOML file and ``ECAMPUS_IDM_*`` variables.

Environment variables win over the file; nested keys use a double underscore, so
``ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD`` sets ``directory.bind_password`` (the usual way
to keep a secret out of the file). Relative paths in the file are relative to the file.

Secrets are :class:`~pydantic.SecretStr`: their repr and JSON form are ``**********``,
and validation errors never echo the offending input. A bad file raises
:class:`~ecampus_idm.errors.ConfigError` naming the file (or variable), the key and what
was expected, for every problem at once.

Example file::

    [institution]
    name = "Haute-Ecole Condorcet"
    mail_domain = "condorcet.be"

    [directory]
    url = "ldaps://ldap.condorcet.be"
    bind_dn = "cn=ecampus-idm,ou=services,dc=condorcet,dc=be"
    base_dn = "dc=condorcet,dc=be"

    [[schools]]
    code = "HEC-TOURNAI"
    name = "Haute-Ecole Condorcet - Tournai"
    category = "HE"
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from ecampus_idm.connectors.settings import SourcesSettings
from ecampus_idm.directory.base import TlsMode
from ecampus_idm.directory.dn import parse_dn
from ecampus_idm.errors import ConfigError, InvalidDnError
from ecampus_idm.mail.settings import MailSettings
from ecampus_idm.model import School
from ecampus_idm.passwords.settings import PasswordSettings
from ecampus_idm.policies.settings import PolicySettings
from ecampus_idm.support.settings import SupportSettings

__all__ = [
    "ENV_PREFIX",
    "ActiveDirectorySettings",
    "DirectorySettings",
    "InstitutionSettings",
    "Settings",
    "StoreSettings",
    "load_config",
]

ENV_PREFIX = "ECAMPUS_IDM_"
_NESTED = "__"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class InstitutionSettings(_Section):
    """Who we are.

    Attributes:
        name: The institution's name, used in mails and reports.
        mail_domain: Domain of institutional addresses and of ``eduPersonPrincipalName``.
        portal_url: Address of the eCampus platform, given in the welcome mail.
        timezone: IANA zone of the calendar rules.
    """

    name: str = Field(default="eCampus", min_length=1)
    mail_domain: str = Field(
        default="ecampus.test",
        pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$",
    )
    portal_url: str = Field(default="https://ecampus.test/", pattern=r"^https?://\S+$")
    timezone: str = "Europe/Brussels"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("an IANA time zone such as Europe/Brussels") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The time zone as a :class:`~zoneinfo.ZoneInfo`."""
        return ZoneInfo(self.timezone)


def _valid_dn(value: str) -> str:
    try:
        parse_dn(value)
    except InvalidDnError as exc:
        raise ValueError(f"a distinguished name (RFC 4514): {exc}") from exc
    return value


DirectoryKind = Literal["openldap", "active_directory"]
"""The kind of target directory: the mapping profile and the adapter follow it."""

_ATTRIBUTE_NAME = r"^[A-Za-z][A-Za-z0-9-]{0,63}$"


class ActiveDirectorySettings(_Section):
    """The Active Directory layout (used when ``directory.kind`` is ``active_directory``).

    Attributes:
        upn_suffix: Suffix of ``userPrincipalName`` (``user@suffix``); the institution's
            mail domain when unset.
        school_ous: School code to the RDN(s) of its OU under the people container
            (``"ou=Tournai,ou=HE"``); a school not listed uses ``category_ous``.
        category_ous: Category (``HE``, ``ES``...) to the RDN(s) of its OU under the people
            container; people of other categories go directly in the container.
        person_id_attribute: Attribute holding the stable person id (the sync key).
        marker_attribute: Attribute holding the ownership marker ``ecampus-idm``.
        personal_mail_attribute: Attribute holding the personal address (welcome mail).
        source_keys_attribute: Multi-valued attribute holding the source keys.
        school_attribute: Attribute holding the person's current school code(s).
        group_type: ``groupType`` of the security groups created (global security).
    """

    upn_suffix: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$",
    )
    school_ous: dict[str, str] = Field(default_factory=dict)
    category_ous: dict[str, str] = Field(default_factory=dict)
    person_id_attribute: str = Field(default="employeeNumber", pattern=_ATTRIBUTE_NAME)
    marker_attribute: str = Field(default="adminDescription", pattern=_ATTRIBUTE_NAME)
    personal_mail_attribute: str = Field(default="otherMailbox", pattern=_ATTRIBUTE_NAME)
    source_keys_attribute: str = Field(default="extensionName", pattern=_ATTRIBUTE_NAME)
    school_attribute: str = Field(default="departmentNumber", pattern=_ATTRIBUTE_NAME)
    group_type: int = -2147483646

    @field_validator("school_ous", "category_ous")
    @classmethod
    def _rdns(cls, value: dict[str, str]) -> dict[str, str]:
        for rdn_text in value.values():
            _valid_dn(rdn_text)
        return value


class DirectorySettings(_Section):
    """The target directory and the service account that writes to it.

    Attributes:
        url: ``ldap://host[:port]`` (StartTLS) or ``ldaps://host[:port]``.
        bind_dn: DN of the service account.
        bind_password: Its password (prefer ``ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD``).
        base_dn: The suffix under which people and groups live.
        people_rdn: RDN of the people container under ``base_dn``.
        groups_rdn: RDN of the groups container under ``base_dn``.
        tls: ``auto``, ``starttls``, ``ldaps`` or ``none`` (loopback only).
        ca_file: PEM bundle of the CA to trust; the system store when unset.
        timeout_seconds: Connect/receive timeout.
        page_size: Search page size.
        kind: ``openldap`` (default) or ``active_directory``.
        active_directory: The AD layout, used when ``kind`` is ``active_directory``.
    """

    url: str
    bind_dn: str
    bind_password: SecretStr
    base_dn: str
    people_rdn: str = "ou=people"
    groups_rdn: str = "ou=groups"
    tls: TlsMode = "auto"
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    page_size: int = Field(default=500, ge=1, le=10_000)
    kind: DirectoryKind = "openldap"
    active_directory: ActiveDirectorySettings = Field(default_factory=ActiveDirectorySettings)

    @model_validator(mode="after")
    def _ad_needs_tls(self) -> Self:
        if self.kind == "active_directory" and self.tls == "none":
            raise ValueError(
                "Active Directory exige LDAPS ou StartTLS (tls = none refusé) / "
                "Active Directory requires LDAPS or StartTLS (tls = none refused)"
            )
        return self

    @field_validator("url")
    @classmethod
    def _ldap_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError("an ldap://host[:port] or ldaps://host[:port] URL")
        if parts.username or parts.password:
            raise ValueError("a URL without credentials (use bind_dn and bind_password)")
        return value

    @field_validator("bind_dn", "base_dn", "people_rdn", "groups_rdn")
    @classmethod
    def _dn(cls, value: str) -> str:
        return _valid_dn(value)

    @property
    def people_dn(self) -> str:
        """DN of the people container."""
        return f"{self.people_rdn},{self.base_dn}"

    @property
    def groups_dn(self) -> str:
        """DN of the groups container."""
        return f"{self.groups_rdn},{self.base_dn}"


class StoreSettings(_Section):
    """The state store.

    Attributes:
        url: SQLAlchemy URL without a password (``sqlite:///state.sqlite3``,
            ``postgresql://idm@db/ecampus``).
        password: Database password, kept apart from the URL so it stays secret.
    """

    url: str = "sqlite:///ecampus-idm.sqlite3"
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("a database URL such as sqlite:///state.sqlite3")
        if urlsplit(value).password:
            raise ValueError("a URL without a password (set store.password instead)")
        return value


class Settings(BaseSettings):
    """The whole configuration of an ecampus-idm installation.

    Build it with :func:`load_config`, which reports errors with file and key.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=_NESTED,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    institution: InstitutionSettings = InstitutionSettings()
    directory: DirectorySettings
    store: StoreSettings = StoreSettings()
    schools: tuple[School, ...] = ()
    policies: PolicySettings = PolicySettings()
    sources: SourcesSettings | None = None
    support: SupportSettings = SupportSettings()
    passwords: PasswordSettings = PasswordSettings()
    mail: MailSettings = MailSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the file's content (passed as init values)."""
        del settings_cls, dotenv_settings  # no implicit .env file: explicit is safer
        return env_settings, init_settings, file_secret_settings

    @field_validator("schools")
    @classmethod
    def _unique_codes(cls, value: tuple[School, ...]) -> tuple[School, ...]:
        codes = [school.code.upper() for school in value]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"unique school codes (duplicated: {', '.join(duplicates)})")
        return value

    def school(self, code: str) -> School | None:
        """Return the configured school with ``code`` (case-insensitive), if any."""
        return next((s for s in self.schools if s.code.upper() == code.upper()), None)

    def resolve_paths(self, base: Path, *, ca_file: bool = True) -> Self:
        """Return a copy whose relative paths (CA file, exports, mail) are relative to ``base``."""
        update: dict[str, object] = {"mail": self.mail.resolve_paths(base)}
        ca = self.directory.ca_file
        if ca_file and ca is not None and not ca.is_absolute():
            update["directory"] = self.directory.model_copy(update={"ca_file": base / ca})
        if self.sources is not None:
            update["sources"] = self.sources.resolve_paths(base)
        return self.model_copy(update=update)


def load_config(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the configuration from ``path`` (optional) and the environment.

    Args:
        path: A TOML file (a :class:`~pathlib.Path` or a string); without it, only
            ``ECAMPUS_IDM_*`` variables are read.

    Returns:
        The validated settings, relative paths resolved against the file's folder.

    Raises:
        ConfigError: If the file is missing or malformed, or a value is invalid; the
            error names the file or variable, the key and what was expected, and lists
            every problem found.
    """
    data: dict[str, Any] = {}
    path = Path(path) if path is not None else None
    source = str(path) if path is not None else "environment"
    if path is not None:
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError as exc:
            raise ConfigError(source, None, "the file does not exist") from exc
        except OSError as exc:
            raise ConfigError(source, None, f"the file cannot be read ({exc.strerror})") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(source, None, f"valid UTF-8 TOML ({exc})") from exc
    private = sorted(key for key in data if key.startswith("_"))
    if private:
        # pydantic-settings reads "_env_prefix", "_secrets_dir"... from init values: a file
        # must never be able to change where secrets come from.
        problems = [(source, key, "unknown key (check the spelling)") for key in private]
        raise ConfigError(source, private[0], problems[0][2], problems)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise _config_error(exc, source) from exc
    except SettingsError as exc:
        # An environment value that cannot be parsed (e.g. invalid JSON for a list).
        field_name = str(exc).split('"')[1] if '"' in str(exc) else "?"
        variable = _env_source([field_name]) or ENV_PREFIX + field_name.upper()
        raise ConfigError(
            variable, field_name, "a value in the expected format (JSON for lists and tables)"
        ) from exc
    if path is None:
        return settings
    return settings.resolve_paths(
        path.resolve().parent, ca_file=not _env_source(["directory", "ca_file"])
    )


def _config_error(exc: ValidationError, file_source: str) -> ConfigError:
    problems: list[tuple[str, str, str]] = []
    for error in exc.errors(include_input=False, include_url=False):
        location = [str(part) for part in error["loc"]]
        key = _dotted(error["loc"])
        source = _env_source(location) or file_source
        problems.append((source, key, _expected(error["type"], error["msg"])))
    first_source, first_key, first_expected = problems[0]
    return ConfigError(first_source, first_key, first_expected, problems)


def _dotted(location: tuple[int | str, ...]) -> str:
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _env_source(location: list[str]) -> str | None:
    """Return the environment variable that set the value at ``location``, if one did.

    A value may come from the exact variable (``ECAMPUS_IDM_DIRECTORY__URL``) or from a
    JSON document in a parent variable (``ECAMPUS_IDM_DIRECTORY='{"url": ...}'``); names
    are matched without regard to case, as pydantic-settings reads them.
    """
    environment = {name.upper(): (name, value) for name, value in os.environ.items()}
    for length in range(len(location), 0, -1):
        wanted = ENV_PREFIX + _NESTED.join(part.upper() for part in location[:length])
        if wanted not in environment:
            continue
        name, value = environment[wanted]
        if length == len(location) or _json_has(value, location[length:]):
            return name
    return None


def _json_has(document: str, path: list[str]) -> bool:
    try:
        node: Any = json.loads(document)
    except ValueError:
        return False
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _expected(kind: str, message: str) -> str:
    if kind == "missing":
        return "this key is required"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling)"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    return message
