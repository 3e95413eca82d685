"""Active Directory specifics that need no LDAP client: encodings, flags and AD errors.

This module owns what is peculiar to Active Directory (and Samba AD) but is pure data
handling, so that it is testable without a server and never imports ldap3 (only
:mod:`ecampus_idm.directory.ldap` does):

* ``unicodePwd``: the password in double quotes, encoded UTF-16-LE (:func:`encode_unicode_pwd`);
* ``userAccountControl`` flags (:class:`Uac`) and the two values the profile writes
  (:data:`UAC_ENABLED` 512, :data:`UAC_DISABLED` 514);
* FILETIME (100 ns ticks since 1601-01-01 UTC) for ``accountExpires`` and ``pwdLastSet``
  (:func:`to_filetime`, :func:`from_filetime`, :data:`NEVER_EXPIRES`);
* the AD sub-codes carried in a diagnostic message (``80090308: LdapErr: ...
  AcceptSecurityContext error, data 773, v4563`` or ``0000052D: Constraint violation``),
  parsed by :func:`ad_subcode` and turned into typed errors with a French message first
  (:func:`bind_error`, :func:`password_error`).

A password never reaches an error raised here: only the DN and the AD code do.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import IntFlag

from pydantic import SecretStr

from ecampus_idm.errors import ConstraintViolationError, InvalidCredentialsError

__all__ = [
    "NEVER_EXPIRES",
    "UAC_DISABLED",
    "UAC_ENABLED",
    "AccountDisabledError",
    "AccountExpiredError",
    "AccountLockedError",
    "AdCredentialsError",
    "PasswordExpiredError",
    "PasswordMustChangeError",
    "PasswordRefusedError",
    "Uac",
    "ad_subcode",
    "bind_error",
    "check_uac",
    "encode_unicode_pwd",
    "from_filetime",
    "password_error",
    "to_filetime",
    "wrong_old_password",
]


class Uac(IntFlag):
    """``userAccountControl`` flags the library reads or writes (MS-ADTS 2.2.16)."""

    ACCOUNTDISABLE = 0x0002
    LOCKOUT = 0x0010
    PASSWD_NOTREQD = 0x0020
    PASSWD_CANT_CHANGE = 0x0040
    NORMAL_ACCOUNT = 0x0200
    DONT_EXPIRE_PASSWORD = 0x10000
    PASSWORD_EXPIRED = 0x800000


UAC_ENABLED = int(Uac.NORMAL_ACCOUNT)
"""512: a normal, enabled account (its password expires; it may be made to change it)."""
UAC_DISABLED = int(Uac.NORMAL_ACCOUNT | Uac.ACCOUNTDISABLE)
"""514: a normal account, disabled."""

NEVER_EXPIRES = 0x7FFFFFFFFFFFFFFF
"""``accountExpires`` value AD uses for "never" (0 means never too)."""

_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_TICKS_PER_MICROSECOND = 10


def check_uac(value: int) -> int:
    """Return ``value`` if it is a combination the library may write.

    "Password never expires" together with "must change at next logon" is refused: AD
    would silently drop the must-change (``pwdLastSet=0`` has no effect then).

    Raises:
        ValueError: If ``value`` carries ``DONT_EXPIRE_PASSWORD``.
    """
    if value & Uac.DONT_EXPIRE_PASSWORD:
        raise ValueError(
            "userAccountControl avec DONT_EXPIRE_PASSWORD empêche le changement de mot de "
            "passe imposé / DONT_EXPIRE_PASSWORD defeats the forced password change"
        )
    return value


def encode_unicode_pwd(password: SecretStr) -> bytes:
    """Return the ``unicodePwd`` value of ``password``: ``"password"`` in UTF-16-LE.

    Raises:
        ValueError: If the password is empty (AD would refuse it with a vaguer error).
    """
    secret = password.get_secret_value()
    if not secret:
        raise ValueError("le mot de passe est vide / the password is empty")
    return f'"{secret}"'.encode("utf-16-le")


def to_filetime(moment: datetime) -> int:
    """Return the FILETIME (100 ns ticks since 1601-01-01 UTC) of an aware datetime.

    Raises:
        ValueError: If ``moment`` is naive.
    """
    if moment.tzinfo is None:
        raise ValueError("a FILETIME needs an aware datetime (with its time zone)")
    delta = moment - _EPOCH
    return (delta // timedelta(microseconds=1)) * _TICKS_PER_MICROSECOND


def from_filetime(value: int | str) -> datetime | None:
    """Return the UTC datetime of a FILETIME, or ``None`` for 0 / "never".

    Raises:
        ValueError: If ``value`` is not an integer.
    """
    ticks = int(value)
    if ticks in (0, NEVER_EXPIRES) or ticks < 0:
        return None
    return _EPOCH + timedelta(microseconds=ticks // _TICKS_PER_MICROSECOND)


_SUBCODE = re.compile(r"\bdata\s+([0-9a-fA-F]{1,8})\b")
_LEADING = re.compile(r"^\s*([0-9a-fA-F]{8})\s*:")


def ad_subcode(diagnostic: str) -> str | None:
    """Return the AD sub-code of a diagnostic message, lower-case without zeros.

    ``"80090308: LdapErr: ... AcceptSecurityContext error, data 773, v4563"`` gives
    ``"773"``; ``"0000052D: Constraint violation - ..."`` gives ``"52d"``; a message
    without a code gives ``None``.
    """
    found = _SUBCODE.search(diagnostic)
    if found is not None:
        return found.group(1).lower().lstrip("0") or "0"
    leading = _LEADING.match(diagnostic)
    if leading is not None and leading.group(1).lower() != "80090308":
        return leading.group(1).lower().lstrip("0") or "0"
    return None


class AdCredentialsError(InvalidCredentialsError):
    """A bind refused by Active Directory for a reason its sub-code names.

    Attributes:
        subcode: The AD sub-code (``"773"``, ``"533"``...).
        message_fr: The French message (the ``str()`` is French then English).
        message_en: The English message.
    """

    subcode = ""
    message_fr = "identifiants refusés par Active Directory"
    message_en = "credentials refused by Active Directory"

    def __init__(self, dn: str) -> None:
        super().__init__(dn)
        code = f" (AD {self.subcode})" if self.subcode else ""
        self.args = (f"{self.message_fr} / {self.message_en}{code}: {dn!r}",)


class PasswordMustChangeError(AdCredentialsError):
    """The password is right but must be changed before use (AD 773): a first login."""

    subcode = "773"
    message_fr = "mot de passe correct, mais il doit être changé avant la première connexion"
    message_en = "the password is right but must be changed before first use"


class AccountDisabledError(AdCredentialsError):
    """The account is disabled (AD 533)."""

    subcode = "533"
    message_fr = "le compte est désactivé"
    message_en = "the account is disabled"


class PasswordExpiredError(AdCredentialsError):
    """The password has expired (AD 532)."""

    subcode = "532"
    message_fr = "le mot de passe a expiré"
    message_en = "the password has expired"


class AccountExpiredError(AdCredentialsError):
    """The account has expired (``accountExpires`` passed, AD 701)."""

    subcode = "701"
    message_fr = "le compte a expiré"
    message_en = "the account has expired"


class AccountLockedError(AdCredentialsError):
    """The account is locked out after too many failures (AD 775)."""

    subcode = "775"
    message_fr = "le compte est verrouillé après trop d'essais"
    message_en = "the account is locked out after too many attempts"


_BIND_ERRORS: dict[str, type[AdCredentialsError]] = {
    cls.subcode: cls
    for cls in (
        PasswordMustChangeError,
        AccountDisabledError,
        PasswordExpiredError,
        AccountExpiredError,
        AccountLockedError,
    )
}


def bind_error(dn: str, diagnostic: str) -> InvalidCredentialsError:
    """Return the typed error of a refused bind (result 49) from its diagnostic message.

    Sub-codes 773, 533, 532, 701 and 775 get their own class; a wrong password (52e), an
    unknown user (525) or a message without a code give a plain
    :class:`~ecampus_idm.errors.InvalidCredentialsError`.
    """
    cls = _BIND_ERRORS.get(ad_subcode(diagnostic) or "")
    return cls(dn) if cls is not None else InvalidCredentialsError(dn)


class PasswordRefusedError(ConstraintViolationError):
    """AD refused a new password (``0000052D``).

    Too short, too simple, in the history, or changed too recently.

    Attributes:
        message_fr: The French message.
    """

    label = "mot de passe refusé par la politique d'Active Directory / password refused by policy"
    message_fr = (
        "le nouveau mot de passe ne respecte pas la politique du domaine (longueur, "
        "complexité, historique ou âge minimal)"
    )


def password_error(dn: str, diagnostic: str) -> ConstraintViolationError:
    """Return the typed error of a refused password change (result 19).

    ``0000052D`` gives :class:`PasswordRefusedError`; any other constraint violation a
    plain :class:`~ecampus_idm.errors.ConstraintViolationError` with the server's detail.
    """
    if ad_subcode(diagnostic) == "52d":
        return PasswordRefusedError(dn, _first_line(diagnostic))
    return ConstraintViolationError(dn, _first_line(diagnostic))


def wrong_old_password(diagnostic: str) -> bool:
    """Whether a refused password change says the old password was wrong (AD 56).

    AD reports it as a constraint violation with ``ERROR_INVALID_PASSWORD`` (0x56).
    """
    return ad_subcode(diagnostic) == "56"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""
