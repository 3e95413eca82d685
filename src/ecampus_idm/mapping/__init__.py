"""Mapping profiles: persons and policy verdicts become desired directory entries.

:class:`~ecampus_idm.mapping.openldap.OpenLdapProfile` is the OpenLDAP layout (the
Active Directory profile comes with the AD issue).
"""

from ecampus_idm.mapping.openldap import LOCKED, MARKER, OpenLdapProfile

__all__ = ["LOCKED", "MARKER", "OpenLdapProfile"]
