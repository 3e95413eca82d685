"""Password hashing in the ``{SCHEME}`` formats that LDAP servers store.

The only module that imports passlib (provided by libpass, its maintained fork).
Hashes are written in a scheme slapd verifies on bind: ``{SSHA512}`` (the ``pw-sha2``
module) by default, or ``{ARGON2}`` (the ``argon2`` module: an Argon2id PHC string after
the prefix, made with argon2-cffi), so an entry hashed here is usable by a real server.
"""

from __future__ import annotations

from typing import Literal

from passlib.context import CryptContext
from passlib.hash import argon2
from pydantic import SecretStr

__all__ = ["LdapScheme", "hash_ldap_password", "verify_ldap_password"]

LdapScheme = Literal["SSHA512", "ARGON2"]
"""The schemes this module writes."""

_CONTEXT = CryptContext(
    schemes=["ldap_salted_sha512", "ldap_salted_sha256", "ldap_salted_sha1"],
    default="ldap_salted_sha512",
)
_ARGON2_PREFIX = "{ARGON2}"
# Argon2id with OWASP's second recommended setting (19 MiB, 2 passes): a bind stays fast.
_ARGON2 = argon2.using(type="ID", memory_cost=19 * 1024, rounds=2, parallelism=1)


def hash_ldap_password(password: SecretStr, scheme: LdapScheme = "SSHA512") -> str:
    """Return an LDAP hash of ``password``: ``{SSHA512}...`` or ``{ARGON2}$argon2id$...``.

    Args:
        password: The password.
        scheme: ``SSHA512`` (default) or ``ARGON2``.

    Raises:
        ValueError: If ``scheme`` is not one of those.
    """
    if scheme == "SSHA512":
        return str(_CONTEXT.hash(password.get_secret_value()))
    if scheme == "ARGON2":
        return _ARGON2_PREFIX + str(_ARGON2.hash(password.get_secret_value()))
    raise ValueError(f"unsupported LDAP hash scheme {scheme!r}: SSHA512 or ARGON2")


def verify_ldap_password(password: SecretStr, stored: str) -> bool:
    """Return whether ``password`` matches the stored ``{SCHEME}`` hash.

    An unknown or malformed stored value never matches (and never raises).
    """
    try:
        if stored[: len(_ARGON2_PREFIX)].upper() == _ARGON2_PREFIX:
            return bool(argon2.verify(password.get_secret_value(), stored[len(_ARGON2_PREFIX) :]))
        return bool(_CONTEXT.verify(password.get_secret_value(), stored))
    except (ValueError, TypeError):
        return False
