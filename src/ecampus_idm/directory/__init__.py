"""Directories: the port, DN and filter helpers, an in-memory twin and the ldap3 adapter.

Importing this package does not import ldap3: :func:`open_directory` loads the adapter
only when a real directory is asked for, so that light users (the portal's password
path) never pay for an LDAP client; :class:`MemoryDirectory` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecampus_idm._lazy import lazy_attributes
from ecampus_idm.directory.base import Directory, Entry, Modification, ModOp, Scope
from ecampus_idm.directory.dn import build_dn, escape_rdn_value, normalize_dn, parse_dn, rdn
from ecampus_idm.directory.filters import Filter, eq, escape_filter_value, present

if TYPE_CHECKING:
    from ecampus_idm.config import DirectorySettings
    from ecampus_idm.directory.ldap import LdapDirectory
    from ecampus_idm.directory.memory import MemoryDirectory

__all__ = [
    "Directory",
    "Entry",
    "Filter",
    "MemoryDirectory",
    "ModOp",
    "Modification",
    "Scope",
    "build_dn",
    "eq",
    "escape_filter_value",
    "escape_rdn_value",
    "normalize_dn",
    "open_directory",
    "parse_dn",
    "present",
    "rdn",
]

__getattr__ = lazy_attributes(__name__, {"MemoryDirectory": "ecampus_idm.directory.memory"})


def open_directory(settings: DirectorySettings) -> LdapDirectory:
    """Return an :class:`~ecampus_idm.directory.ldap.LdapDirectory` for the settings.

    The connection opens on first use; call ``check()`` to fail early.
    """
    from ecampus_idm.directory.ldap import (  # noqa: PLC0415 - keeps ldap3 lazy
        ActiveDirectory,
        LdapDirectory,
    )

    adapter = ActiveDirectory if settings.kind == "active_directory" else LdapDirectory
    return adapter(
        settings.url,
        settings.bind_dn,
        settings.bind_password,
        tls=settings.tls,
        ca_file=settings.ca_file,
        timeout=settings.timeout_seconds,
        page_size=settings.page_size,
    )
