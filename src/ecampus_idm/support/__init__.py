"""Support tools: the per-person diagnosis, the secretariat listing, retention.

* :mod:`~ecampus_idm.support.diagnose` — "why didn't I get my access?": a person's
  timeline and a conclusion mapped to the support FAQ's steps (:func:`diagnose`,
  :class:`Diagnostician`, :class:`Lookup`, :class:`Diagnosis`);
* :mod:`~ecampus_idm.support.listing` — a school's accounts with the default password
  while unchanged, scoped per operator and audited (:class:`SecretariatListing`, CSV and
  HTML); :mod:`~ecampus_idm.support.pdf` — the printable PDF (loads reportlab);
* :mod:`~ecampus_idm.support.retention` — purging events and custody entries;
* :mod:`~ecampus_idm.support.settings` — the ``[support]`` section;
* :mod:`~ecampus_idm.support.base` — the small ports onto the outbox and the custody.

This package's ``__init__`` re-exports only the modules that do not import the
configuration (``ecampus_idm.config`` imports :mod:`~ecampus_idm.support.settings`);
import the tools from their modules.
"""

from ecampus_idm.support.base import (
    CustodyReader,
    MailHistory,
    MailMessage,
    MemoryCustody,
    MemoryMailHistory,
    SimpleCustodyStatus,
    SimpleMailMessage,
)
from ecampus_idm.support.errors import (
    AmbiguousPersonError,
    ListingRenderError,
    LookupInputError,
    OperatorScopeError,
    SupportError,
    UnknownOperatorError,
    UnknownSchoolError,
)
from ecampus_idm.support.settings import OperatorSettings, SupportSettings

__all__ = [
    "AmbiguousPersonError",
    "CustodyReader",
    "ListingRenderError",
    "LookupInputError",
    "MailHistory",
    "MailMessage",
    "MemoryCustody",
    "MemoryMailHistory",
    "OperatorScopeError",
    "OperatorSettings",
    "SimpleCustodyStatus",
    "SimpleMailMessage",
    "SupportError",
    "SupportSettings",
    "UnknownOperatorError",
    "UnknownSchoolError",
]
