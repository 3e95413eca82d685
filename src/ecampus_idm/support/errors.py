"""The errors of the support tools (diagnosis, secretariat listing, retention).

The tree (under :class:`~ecampus_idm.errors.IdmError`)::

    SupportError
    ├── LookupInputError        the search criteria are incomplete or malformed (field)
    ├── AmbiguousPersonError    several people match the criteria (count)
    ├── UnknownSchoolError      the school code is not configured (school)
    ├── UnknownOperatorError    the operator is not configured (operator)
    ├── OperatorScopeError      the operator may not see that school (operator, school)
    └── ListingRenderError      the listing could not be written as asked (fmt)

No message ever holds a password, a token or a national number: they are built here
from codes, names and counts only.
"""

from __future__ import annotations

from ecampus_idm.errors import IdmError

__all__ = [
    "AmbiguousPersonError",
    "ListingRenderError",
    "LookupInputError",
    "OperatorScopeError",
    "SupportError",
    "UnknownOperatorError",
    "UnknownSchoolError",
]


class SupportError(IdmError):
    """Root of the support tools' errors."""


class LookupInputError(SupportError):
    """The criteria of a diagnosis are incomplete or malformed.

    Attributes:
        field: The criterion concerned (``email``, ``birth_date``...).
    """

    def __init__(self, field: str, expected: str) -> None:
        self.field = field
        super().__init__(f"search criterion {field!r}: {expected}")


class AmbiguousPersonError(SupportError):
    """Several people match the criteria: support must narrow the search.

    Attributes:
        count: How many people match.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(
            f"{count} personnes correspondent : précisez la recherche (matricule ou nom "
            f"d'utilisateur) / {count} people match: narrow the search (matricule or username)"
        )


class UnknownSchoolError(SupportError):
    """The school code is not among the configured schools.

    Attributes:
        school: The code asked for.
    """

    def __init__(self, school: str) -> None:
        self.school = school
        super().__init__(f"unknown school {school!r}: not in the [[schools]] configuration")


class UnknownOperatorError(SupportError):
    """The operator is not configured under ``[[support.operators]]``.

    Attributes:
        operator: The name given (``None`` when none was given).
    """

    def __init__(self, operator: str | None) -> None:
        self.operator = operator
        if operator is None:
            message = "an operator is required (--operator or ECAMPUS_IDM_OPERATOR)"
        else:
            message = f"unknown operator {operator!r}: not in [[support.operators]]"
        super().__init__(message)


class OperatorScopeError(SupportError):
    """The operator is configured for other schools than the one asked for.

    Attributes:
        operator: The operator.
        school: The school asked for.
    """

    def __init__(self, operator: str, school: str) -> None:
        self.operator = operator
        self.school = school
        super().__init__(
            f"l'opérateur {operator!r} n'a pas accès à l'école {school!r} / "
            f"operator {operator!r} may not list school {school!r}"
        )


class ListingRenderError(SupportError):
    """The listing could not be written in the format asked for.

    Attributes:
        fmt: The format (``csv``, ``html``, ``pdf``).
    """

    def __init__(self, fmt: str, reason: str) -> None:
        self.fmt = fmt
        super().__init__(f"the {fmt} listing could not be written: {reason}")
