"""ecampus-idm: identity management for the eCampus of a Belgian school group.

Connectors read people from the secretariat and personnel-office software; policies
decide who gets which account and access, and when; a sync engine writes OpenLDAP and
Active Directory; mails, password tokens and support tools complete the picture.

Importing this package is light: it never loads an LDAP client (ldap3 is imported only
when a real directory is opened), and :class:`Settings` and :func:`load_config` are loaded
on first use, as the configuration imports every section (sources, policies, mail...).
"""

from typing import TYPE_CHECKING

from ecampus_idm._lazy import lazy_attributes
from ecampus_idm.clock import Clock, FixedClock, SystemClock
from ecampus_idm.errors import (
    ConfigError,
    DirectoryError,
    DirectoryUnavailableError,
    IdmError,
)
from ecampus_idm.model import (
    AcademicYear,
    Account,
    AccountStatus,
    Attribution,
    Category,
    Enrolment,
    Person,
    Role,
    School,
    SourceKey,
    StaffFunction,
)

if TYPE_CHECKING:
    from ecampus_idm.config import Settings, load_config

__version__ = "0.1.0"

__getattr__ = lazy_attributes(
    __name__, {"Settings": "ecampus_idm.config", "load_config": "ecampus_idm.config"}
)

__all__ = [
    "AcademicYear",
    "Account",
    "AccountStatus",
    "Attribution",
    "Category",
    "Clock",
    "ConfigError",
    "DirectoryError",
    "DirectoryUnavailableError",
    "Enrolment",
    "FixedClock",
    "IdmError",
    "Person",
    "Role",
    "School",
    "Settings",
    "SourceKey",
    "StaffFunction",
    "SystemClock",
    "__version__",
    "load_config",
]
