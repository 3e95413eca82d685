"""Identity: validate source records and correlate them into one person per human.

:class:`RecordValidator` turns a source record into a :class:`ValidRecord` (typed
values; the national number only as a keyed pseudonym from :class:`Pseudonymiser`) or
into quarantine issues. :class:`Correlator` joins the records of every source into
people (:class:`Correlation`), leaving doubtful matches as :class:`ReviewItem` values.
:func:`load_population` does a whole run: read every source, check, validate, correlate.
"""

from __future__ import annotations

from ecampus_idm.identity.correlate import (
    Correlation,
    Correlator,
    IdentityIndex,
    MemoryIdentityIndex,
    ReviewItem,
    ReviewKind,
)
from ecampus_idm.identity.errors import PersonBuildError
from ecampus_idm.identity.niss import (
    NissCheck,
    NissProblem,
    check_national_number,
    contains_national_number,
)
from ecampus_idm.identity.population import Population, load_population
from ecampus_idm.identity.pseudonym import Pseudonymiser
from ecampus_idm.identity.validate import RecordValidator, ValidRecord

__all__ = [
    "Correlation",
    "Correlator",
    "IdentityIndex",
    "MemoryIdentityIndex",
    "NissCheck",
    "NissProblem",
    "PersonBuildError",
    "Population",
    "Pseudonymiser",
    "RecordValidator",
    "ReviewItem",
    "ReviewKind",
    "ValidRecord",
    "check_national_number",
    "contains_national_number",
    "load_population",
]
