"""Passwords: the "Mot de passe oublié" service, chosen-password quality, LDAP hashing.

The portal's import::

    from ecampus_idm.passwords import PasswordResetService

This package is on the portal's import path: it never imports an LDAP client, the
directory adapter or the sync engine (a test checks ``sys.modules`` in a subprocess); the
service is given its directory (or a function opening it on first use).
"""

from ecampus_idm.passwords.base import (
    AccountLookup,
    CustodyDiscarder,
    DirectoryAccountLookup,
    ResetAccount,
    ResetMail,
    ResetMailer,
)
from ecampus_idm.passwords.client import (
    ClientAddress,
    InvalidClientAddressError,
    client_address,
    parse_client_ip,
)
from ecampus_idm.passwords.errors import (
    InvalidAddressError,
    PasswordError,
    PasswordRejectedError,
    PasswordWriteError,
    QualityProblem,
    ResetConfigError,
    TokenError,
    TokenExpiredError,
    TokenInvalidError,
)
from ecampus_idm.passwords.hashing import hash_ldap_password, verify_ldap_password
from ecampus_idm.passwords.hooks import Hooks, ResetEvent
from ecampus_idm.passwords.quality import (
    DirectoryPolicy,
    QualityResult,
    check_user_password,
    read_directory_policy,
)
from ecampus_idm.passwords.service import (
    ACCEPTED,
    PasswordResetService,
    ProcessReport,
    RequestAccepted,
    ResetDone,
    TokenInfo,
)
from ecampus_idm.passwords.settings import PasswordSettings, QualitySettings, RateLimitSettings
from ecampus_idm.passwords.tokens import TokenKeyring

__all__ = [
    "ACCEPTED",
    "AccountLookup",
    "ClientAddress",
    "CustodyDiscarder",
    "DirectoryAccountLookup",
    "DirectoryPolicy",
    "Hooks",
    "InvalidAddressError",
    "InvalidClientAddressError",
    "PasswordError",
    "PasswordRejectedError",
    "PasswordResetService",
    "PasswordSettings",
    "PasswordWriteError",
    "ProcessReport",
    "QualityProblem",
    "QualityResult",
    "QualitySettings",
    "RateLimitSettings",
    "RequestAccepted",
    "ResetAccount",
    "ResetConfigError",
    "ResetDone",
    "ResetEvent",
    "ResetMail",
    "ResetMailer",
    "TokenError",
    "TokenExpiredError",
    "TokenInfo",
    "TokenInvalidError",
    "TokenKeyring",
    "check_user_password",
    "client_address",
    "hash_ldap_password",
    "parse_client_ip",
    "read_directory_policy",
    "verify_ldap_password",
]
