"""Passwords: hashing in LDAP formats (and, with the password issue, tokens and resets).

This package is on the portal's import path: it must never import an LDAP client or the
sync engine (a test checks ``sys.modules`` in a subprocess).
"""

from ecampus_idm.passwords.hashing import hash_ldap_password, verify_ldap_password

__all__ = ["hash_ldap_password", "verify_ldap_password"]
