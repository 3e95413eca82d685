"""Password hashing in the ``{SCHEME}`` formats that LDAP servers store.

The only module that imports passlib (provided by libpass, its maintained fork).
Hashes are written in a scheme slapd verifies on bind (``{SSHA512}`` through pw-sha2), so
an entry hashed here is usable by a real server too.
"""

from __future__ import annotations

from passlib.context import CryptContext
from pydantic import SecretStr

__all__ = ["hash_ldap_password", "verify_ldap_password"]

_CONTEXT = CryptContext(
    schemes=["ldap_salted_sha512", "ldap_salted_sha256", "ldap_salted_sha1"],
    default="ldap_salted_sha512",
)


def hash_ldap_password(password: SecretStr) -> str:
    """Return an ``{SSHA512}`` hash of ``password``."""
    return str(_CONTEXT.hash(password.get_secret_value()))


def verify_ldap_password(password: SecretStr, stored: str) -> bool:
    """Return whether ``password`` matches the stored ``{SCHEME}`` hash.

    An unknown or malformed stored value never matches (and never raises).
    """
    try:
        return bool(_CONTEXT.verify(password.get_secret_value(), stored))
    except (ValueError, TypeError):
        return False
