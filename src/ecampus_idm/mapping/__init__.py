"""Mapping profiles: persons and policy verdicts become desired directory entries.

:class:`~ecampus_idm.mapping.openldap.OpenLdapProfile` is the OpenLDAP layout and
:class:`~ecampus_idm.mapping.active_directory.ActiveDirectoryProfile` the Active
Directory one; both follow :class:`~ecampus_idm.mapping.base.MappingProfile`, and
:func:`~ecampus_idm.mapping.active_directory.profile_for` picks one from
``[directory] kind``.
"""

from ecampus_idm.mapping.base import MappingProfile, desired_entries
from ecampus_idm.mapping.openldap import LOCKED, MARKER, OpenLdapProfile

__all__ = ["LOCKED", "MARKER", "MappingProfile", "OpenLdapProfile", "desired_entries"]
