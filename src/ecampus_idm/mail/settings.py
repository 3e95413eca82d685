"""The ``[mail]`` section of the configuration: :class:`MailSettings` and its parts.

Every field has a default, except where mail leaves: ``transport`` must be chosen
(``smtp``, ``maildir`` or ``none``), since a maildir holds initial passwords in clear and
must never appear by default wherever a run happens to start. The demo chooses
``maildir`` (``demo-output/mail``). This module imports only pydantic (and the standard
library), so that :mod:`ecampus_idm.config` can use it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "NO_TRANSPORT",
    "DkimSettings",
    "MailSettings",
    "PopulationMail",
    "RetrySettings",
    "SmtpSettings",
    "ThrottleSettings",
]

Language = Literal["fr", "nl", "en"]

NO_TRANSPORT = (
    'aucun transport de courrier choisi : indiquez mail.transport = "smtp" (ou "maildir"'
    ' avec mail.maildir, ou "none" pour tout garder en file) / '
    'no mail transport chosen: set mail.transport = "smtp" (or "maildir" with'
    ' mail.maildir, or "none" to keep everything queued)'
)
"""Why a configuration without ``mail.transport`` cannot send (French, then English)."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class SmtpSettings(_Section):
    """Where and how to submit mail.

    Attributes:
        host: The submission server.
        port: 587 for STARTTLS, 465 for SMTPS, 25 for plain relays.
        security: ``starttls`` (required), ``ssl`` (SMTPS) or ``none`` (a relay without
            login, or one on this machine: a login in clear to another host is refused).
        username: Login for SMTP AUTH, if the server wants one.
        password: Its password (keep it in ``ECAMPUS_IDM_MAIL__SMTP__PASSWORD``).
        ca_file: CA bundle to verify the server with (system CAs when unset).
        timeout_seconds: Per-command timeout.
        local_hostname: Name given in EHLO (the FQDN of the host when unset).
    """

    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    local_hostname: str | None = None

    @model_validator(mode="after")
    def _no_login_in_clear(self) -> Self:
        # As plain LDAP with a bind password: a login without TLS is only for a relay on
        # this machine (nobody can listen on the loopback interface without being root).
        login = self.username is not None or self.password is not None
        if self.security == "none" and login and not _is_loopback(self.host):
            raise ValueError(
                f'security = "none" enverrait username et password en clair à {self.host} :'
                ' choisissez security = "starttls" ou "ssl", ou retirez le login (relais sans'
                " authentification) / "
                f'security = "none" would send username and password in clear to {self.host}:'
                ' choose security = "starttls" or "ssl", or remove the login (a relay without'
                " authentication)"
            )
        return self


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DkimSettings(_Section):
    """DKIM signing (RFC 6376) with an RSA or Ed25519 key in PEM.

    Attributes:
        domain: The signing domain (``d=``), usually the From domain.
        selector: The selector (``s=``) under which the public key is published.
        private_key_file: PEM file of the private key.
        private_key: Or the PEM itself (e.g. from ``ECAMPUS_IDM_MAIL__DKIM__PRIVATE_KEY``).
    """

    domain: str
    selector: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    private_key_file: Path | None = None
    private_key: SecretStr | None = None

    @model_validator(mode="after")
    def _one_key(self) -> DkimSettings:
        if (self.private_key_file is None) == (self.private_key is None):
            raise ValueError("exactly one of private_key_file or private_key")
        return self


class ThrottleSettings(_Section):
    """How fast mail leaves, so that the September wave does not look like spam.

    A limit of 0 turns that limit off.

    Attributes:
        per_domain_per_minute: Messages per receiving domain per minute; the excess is
            kept for later in the same flush (other domains go on meanwhile).
        overall_per_minute: Messages per minute in total; the flush waits when reached.
        domains: Per-domain overrides (``{"gmail.com" = 30}``).
    """

    per_domain_per_minute: int = Field(default=60, ge=0)
    overall_per_minute: int = Field(default=300, ge=0)
    domains: dict[str, int] = Field(default_factory=dict)


class RetrySettings(_Section):
    """Retries of temporary failures (4xx, server unreachable).

    Attributes:
        max_attempts: Attempts before a message is given up as failed.
        backoff_seconds: Wait after the first failure; doubled after each further one.
        max_backoff_seconds: Upper bound of the wait.
    """

    max_attempts: int = Field(default=10, ge=1, le=100)
    backoff_seconds: int = Field(default=300, ge=1)
    max_backoff_seconds: int = Field(default=6 * 3600, ge=1)


class PopulationMail(_Section):
    """Overrides for one population: a role.

    ``student``, ``teacher``, ``administrative`` or ``staff`` (function not encoded).

    Attributes:
        language: The mail's language for that population.
        template_prefix: Sub-folder of ``templates_dir`` searched first for its templates.
    """

    language: Language | None = None
    template_prefix: str | None = Field(default=None, pattern=r"^[a-z0-9_-]+$")


class MailSettings(_Section):
    """The welcome-mail pipeline.

    Attributes:
        enabled: Whether runs enqueue welcome mails (and keep the initial password in
            custody).
        transport: ``smtp``, ``maildir`` (files in :attr:`maildir`: the demo's), or
            ``none`` (keep everything queued). Unset, mails are queued but sending them
            (``mail send``, ``resend``, a flush) is a configuration error, and
            ``flush_after_run`` is refused.
        maildir: The folder the maildir transport writes to (``mail-out`` next to the
            configuration file when unset).
        from_address: The sender (``no-reply@<institution.mail_domain>`` when unset).
        from_name: Display name of the sender (the institution's name when unset).
        reply_to: Where replies go (the support desk), if anywhere.
        support_url: The support page named in the mail, if any.
        logo_url: The institution's logo shown at the top of the HTML mails (an
            ``https://`` image, loaded by the reader's mail client, never fetched by
            ecampus-idm); none by default: the institution's name stands alone.
        mode: ``password`` sends the initial password; ``activation`` sends a link to
            choose one.
        language: Default language of the mails.
        populations: Per-population overrides, keyed by role.
        templates_dir: A folder of templates that override the shipped ones.
        keys: Data-encryption keys for the initial passwords, oldest first (base64 of
            32 bytes, optionally ``id:base64``). Without keys, one is derived from
            ``sources.pseudonym_key``.
        flush_after_run: Whether ``run`` also delivers the outbox when it ends.
        custody_days: Days an initial password stays in custody (for resends and the
            secretariat's listing) when the user has not changed it: each run and
            ``ecampus-idm purge`` discard older ones.
        smtp: The SMTP server (transport ``smtp``).
        dkim: DKIM signing, when configured.
        throttle: Sending rates.
        retry: Retries of temporary failures.
    """

    enabled: bool = True
    transport: Literal["maildir", "smtp", "none"] | None = None
    maildir: Path = Path("mail-out")
    from_address: str | None = Field(default=None, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    from_name: str | None = None
    reply_to: str | None = Field(default=None, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    support_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    logo_url: str | None = Field(default=None, pattern=r"^https://[^\s\"'<>]+$")
    mode: Literal["password", "activation"] = "password"
    language: Language = "fr"
    populations: dict[str, PopulationMail] = Field(default_factory=dict)
    templates_dir: Path | None = None
    keys: tuple[SecretStr, ...] = ()
    flush_after_run: bool = False
    custody_days: int = Field(default=60, ge=1, le=3650)
    smtp: SmtpSettings = SmtpSettings()
    dkim: DkimSettings | None = None
    throttle: ThrottleSettings = ThrottleSettings()
    retry: RetrySettings = RetrySettings()

    def resolve_paths(self, base: Path) -> MailSettings:
        """Return a copy whose relative paths (maildir, templates, CA, DKIM key) are in ``base``."""

        def at(path: Path) -> Path:
            return path if path.is_absolute() else base / path

        update: dict[str, object] = {"maildir": at(self.maildir)}
        if self.templates_dir is not None:
            update["templates_dir"] = at(self.templates_dir)
        if self.smtp.ca_file is not None:
            update["smtp"] = self.smtp.model_copy(update={"ca_file": at(self.smtp.ca_file)})
        if self.dkim is not None and self.dkim.private_key_file is not None:
            update["dkim"] = self.dkim.model_copy(
                update={"private_key_file": at(self.dkim.private_key_file)}
            )
        return self.model_copy(update=update)

    @model_validator(mode="after")
    def _flush_needs_a_transport(self) -> Self:
        if self.enabled and self.flush_after_run and self.transport is None:
            raise ValueError(f"flush_after_run = true : {NO_TRANSPORT}")
        return self

    @field_validator("populations")
    @classmethod
    def _known_roles(cls, value: dict[str, PopulationMail]) -> dict[str, PopulationMail]:
        unknown = sorted(set(value) - {"student", "teacher", "administrative", "staff"})
        if unknown:
            raise ValueError(
                "populations are student, teacher, administrative or staff"
                f" (not {', '.join(unknown)})"
            )
        return value

    @field_validator("keys")
    @classmethod
    def _valid_keys(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        from ecampus_idm.crypto import DataKey  # noqa: PLC0415 - keeps config light

        for key in value:
            DataKey.parse(key)
        return value
