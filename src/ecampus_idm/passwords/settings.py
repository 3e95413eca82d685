"""Settings of the password-reset service: keys, expiry, limits, quality, directory names.

One :class:`PasswordSettings` section, ``[passwords]`` in the configuration file (field
``passwords`` of :class:`~ecampus_idm.config.Settings`). The defaults keep every existing
configuration valid; the service itself refuses to start without a token key.

Token keys are secrets (``ECAMPUS_IDM_PASSWORDS__TOKEN_KEYS='["base64...", ...]'``), newest
first: the newest keys every new token, every listed key still verifies, so a key is
rotated by prepending a new one and dropping the old one once its tokens have expired
(the expiry is at most four hours).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ecampus_idm.passwords.vocabulary import AccountVocabulary, VocabularyKind

if TYPE_CHECKING:
    from ecampus_idm.config import DirectorySettings

__all__ = [
    "MIN_KEY_BYTES",
    "PasswordSettings",
    "QualitySettings",
    "RateLimitSettings",
]

MIN_KEY_BYTES = 32
"""A token key holds at least 256 bits."""

_ATTRIBUTE = r"^[A-Za-z][\w-]*$"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class RateLimitSettings(_Section):
    """How many reset requests are accepted per window (fixed windows, shared in the store).

    Attributes:
        window_seconds: Length of a counting window.
        per_address: Requests for one submitted address per window.
        per_ip: Requests from one client IP (an IPv6 client's /64) per window.
        per_network: Requests from one IPv6 network of ``ipv6_network_prefix`` bits (a
            /56 by default: what a home or small office is given) per window.
        ipv6_network_prefix: Prefix length of that network (32-64).
        per_account: Reset mails for one account per window (counted by the worker).
        overall: Requests from everyone per window that passed their own limits (a
            flood brake; the first request of a network in the window always passes).
    """

    window_seconds: int = Field(default=3600, ge=60, le=86_400)
    per_address: int = Field(default=3, ge=1, le=100)
    per_ip: int = Field(default=20, ge=1, le=10_000)
    per_network: int = Field(default=60, ge=1, le=100_000)
    ipv6_network_prefix: int = Field(default=56, ge=32, le=64)
    per_account: int = Field(default=3, ge=1, le=100)
    overall: int = Field(default=2000, ge=1, le=1_000_000)


class QualitySettings(_Section):
    """Rules for the passwords people choose (NIST SP 800-63B rev. 4: length, no composition).

    Attributes:
        min_length: Shortest password (15: a password that is the only factor).
        min_length_by_population: Another floor for a population (``student``,
            ``faculty``, ``staff``: the account's ``eduPersonPrimaryAffiliation``); never
            below 8.
        max_length: Longest password accepted (at least 64).
        context_token_length: Parts of the username, names and school names at least this
            long may not appear in the password.
        context_words: Words no password may contain (besides the account's own).
        use_blocklist: Refuse the shipped list of common passwords.
        extra_blocklist: More passwords to refuse (compared without case).
        ad_complexity: Mirror Active Directory's complexity rule (three kinds of
            characters) when AD is the directory: it is the directory's rule, not ours.
        min_strength: The lowest zxcvbn score accepted (0 to 4; 4, the default, means
            an estimated 10^10 guesses or more; 0 turns the estimate off).
        known_words: Words an attacker of this group tries first (the schools' names,
            the town, the mascot): counted as known words by the strength estimate,
            not refused outright as :attr:`context_words` are.
    """

    min_length: int = Field(default=15, ge=8, le=64)
    min_length_by_population: dict[str, int] = Field(default_factory=dict)
    max_length: int = Field(default=128, ge=64, le=4096)
    context_token_length: int = Field(default=4, ge=3, le=16)
    context_words: tuple[str, ...] = ("ecampus",)
    use_blocklist: bool = True
    extra_blocklist: frozenset[str] = frozenset()
    ad_complexity: bool = False
    min_strength: int = Field(default=4, ge=0, le=4)
    known_words: tuple[str, ...] = ()

    @field_validator("min_length_by_population")
    @classmethod
    def _floors(cls, value: dict[str, int]) -> dict[str, int]:
        for name, floor in value.items():
            if not 8 <= floor <= 64:  # noqa: PLR2004 - the documented bounds
                raise ValueError(f"min_length_by_population.{name} must be 8-64")
        return {name.casefold(): floor for name, floor in value.items()}

    @field_validator("extra_blocklist")
    @classmethod
    def _fold(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(word.casefold() for word in value)

    def with_known_words(self, words: Iterable[str]) -> QualitySettings:
        """These rules with ``words`` added to :attr:`known_words` (e.g. the schools' names).

        ``settings.passwords.quality.with_known_words(s.name for s in settings.schools)``
        is what ``ecampus-idm passwords check`` uses.
        """
        added = tuple(dict.fromkeys((*self.known_words, *words)))
        return self.model_copy(update={"known_words": added})

    def min_length_for(self, population: str | None) -> int:
        """Return the floor for ``population`` (the general one when it has none)."""
        if population is None:
            return self.min_length
        return self.min_length_by_population.get(population.casefold(), self.min_length)


class PasswordSettings(_Section):
    """The ``[passwords]`` section: the "Mot de passe oublié" service.

    Attributes:
        token_keys: Base64 HMAC keys (at least 32 bytes each), newest first.
        token_ttl_minutes: How long a reset link works (5 minutes to 4 hours).
        activation_ttl_hours: How long a welcome mail's activation link works (1 to 30
            days: it waits in a mailbox until the school year starts).
        reset_url: The portal page that receives the token (``?token=`` is appended).
        directory_kind: ``openldap`` or ``active_directory``: how a disabled account is
            told (OpenLDAP: ``ecampusAccountStatus`` or a ppolicy lock; AD:
            ``userAccountControl`` bit 2) and how "must change" is cleared.
            :meth:`for_directory` sets it from ``[directory] kind``, with the names
            below that were not set explicitly.
        personal_mail_attribute: The directory attribute holding the personal address
            (``ecampusPersonalMail`` on OpenLDAP; ``otherMailbox`` by default on AD).
        person_id_attribute: The attribute holding the person id (``ecampusPersonId``;
            ``employeeNumber`` by default on AD).
        school_attribute: The attribute holding the school codes (``ecampusSchool``;
            ``departmentNumber`` by default on AD).
        people_dn: Where accounts are searched; the directory's base DN when unset.
        username_attribute: The login's attribute (``uid``; ``cn`` on AD, where the
            profile names the user ``CN=<login>``: ``sAMAccountName`` is shortened past
            20 characters).
        fingerprint_attributes: Attributes whose change kills a token (with the
            personal address): the password hash and its change time by default
            (``pwdLastSet`` on AD, where no hash is readable).
        population_attribute: The attribute naming the account's population (none on
            AD by default).
        policy_dn: The ppolicy entry mirrored before writing (none: not mirrored).
        clear_must_change: After a reset, clear "must change at next logon": remove
            ppolicy's ``pwdReset`` flag on OpenLDAP, set ``pwdLastSet`` to -1 (now) on AD
            (the user chose this password themselves).
        max_accounts_per_address: At most this many mails for one address (siblings).
        process_batch: Pending requests handled per worker pass.
        retention_days: Requests, tokens and audit rows are purged after this.
        rate_limits: The request limits.
        quality: The rules for chosen passwords.
    """

    token_keys: tuple[SecretStr, ...] = ()
    token_ttl_minutes: int = Field(default=30, ge=5, le=240)
    activation_ttl_hours: int = Field(default=168, ge=24, le=720)
    reset_url: str = "https://ecampus.invalid/mot-de-passe/nouveau"
    directory_kind: VocabularyKind = "openldap"
    personal_mail_attribute: str = Field(default="ecampusPersonalMail", pattern=_ATTRIBUTE)
    person_id_attribute: str = Field(default="ecampusPersonId", pattern=_ATTRIBUTE)
    school_attribute: str = Field(default="ecampusSchool", pattern=_ATTRIBUTE)
    people_dn: str | None = None
    username_attribute: str = Field(default="uid", pattern=_ATTRIBUTE)
    fingerprint_attributes: tuple[str, ...] = ("userPassword", "pwdChangedTime")
    population_attribute: str | None = "eduPersonPrimaryAffiliation"
    policy_dn: str | None = None
    clear_must_change: bool = True
    max_accounts_per_address: int = Field(default=5, ge=1, le=20)
    process_batch: int = Field(default=100, ge=1, le=10_000)
    retention_days: int = Field(default=30, ge=1, le=400)
    rate_limits: RateLimitSettings = RateLimitSettings()
    quality: QualitySettings = QualitySettings()

    @field_validator("token_keys")
    @classmethod
    def _keys(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for position, key in enumerate(value, start=1):
            try:
                raw = base64.b64decode(key.get_secret_value(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"token key #{position} is not base64") from None
            if len(raw) < MIN_KEY_BYTES:
                raise ValueError(f"token key #{position} must hold at least {MIN_KEY_BYTES} bytes")
        return value

    @field_validator("reset_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("reset_url must be an https:// address (http only for localhost)")
        if parts.fragment or "token=" in parts.query:
            raise ValueError("reset_url must not carry a fragment or a token parameter")
        return value

    @model_validator(mode="after")
    def _distinct_keys(self) -> Self:
        values = [k.get_secret_value() for k in self.token_keys]
        if len(set(values)) != len(values):
            raise ValueError("token_keys must be distinct")
        return self

    def ttl_seconds(self) -> int:
        """The token lifetime in seconds."""
        return self.token_ttl_minutes * 60

    def for_directory(self, directory: DirectorySettings) -> PasswordSettings:
        """These settings completed from ``[directory]``: kind, names, people container.

        Fields set explicitly (in the file or the environment) are kept; the others take
        the defaults of the profile ``directory.kind`` names (see
        :class:`~ecampus_idm.passwords.vocabulary.AccountVocabulary`), and ``people_dn``
        the directory's people container.
        """
        vocabulary = AccountVocabulary.for_directory(directory)
        defaults: dict[str, object] = {
            "directory_kind": vocabulary.kind,
            "personal_mail_attribute": vocabulary.personal_mail,
            "person_id_attribute": vocabulary.person_id,
            "username_attribute": vocabulary.username,
            "school_attribute": vocabulary.school,
            "fingerprint_attributes": vocabulary.fingerprint,
            "population_attribute": vocabulary.population,
            "people_dn": directory.people_dn,
        }
        update = {k: v for k, v in defaults.items() if k not in self.model_fields_set}
        return self.model_validate({**self.model_dump(), **update})

    def vocabulary(self) -> AccountVocabulary:
        """The attribute names and rules these settings describe."""
        base = (
            AccountVocabulary.active_directory()
            if self.directory_kind == "active_directory"
            else AccountVocabulary.openldap()
        )
        return replace(
            base,
            person_id=self.person_id_attribute,
            username=self.username_attribute,
            school=self.school_attribute,
            personal_mail=self.personal_mail_attribute,
            population=self.population_attribute,
            fingerprint=self.fingerprint_attributes,
        )
