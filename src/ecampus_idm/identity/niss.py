"""Checking a Belgian national number (NISS) or BIS number, without ever showing it.

The checks are those of python-stdnum (:mod:`stdnum.be.nn` and :mod:`stdnum.be.bis`):
11 digits, a mod-97 check on the first nine digits (on ``2`` followed by them for people
born from 2000 on, for years already begun by the system clock, as stdnum decides it), a
month in 0-12 (national number), 20-32 or 40-52 (BIS number). :func:`check_national_number`
returns a :class:`NissCheck` value: the compact digits for the pseudonymiser, the birth date
the number encodes, or why it is not valid; its repr never shows the digits.
:func:`contains_national_number` finds a valid number hidden in any text (an e-mail, a name).
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from stdnum.be import bis, nn
from stdnum.exceptions import InvalidChecksum, ValidationError

__all__ = ["NissCheck", "NissProblem", "check_national_number", "contains_national_number"]

_SEPARATORS = str.maketrans("", "", " .-/")
# Eleven digits, alone or grouped as YY.MM.DD-SSS.CC, not inside a longer run of digits
# (the state store looks for the same thing).
_EMBEDDED = re.compile(
    r"(?<![0-9])[0-9]{2}[. ]?[0-9]{2}[. ]?[0-9]{2}[- ]?[0-9]{3}[. ]?[0-9]{2}(?![0-9])"
)
_LENGTH = 11
_BIS_MONTHS = (range(20, 33), range(40, 53))
_MONTHS_PER_BIS_SHIFT = 20
_MOD = 97


class NissProblem(StrEnum):
    """Why a value is not a national number."""

    FORMAT = "format"
    """Not 11 digits (separators aside), or a month/day out of range."""
    LEADING_ZERO = "leading-zero"
    """Ten digits: a spreadsheet dropped the leading zero of someone born in 200x."""
    CHECKSUM = "checksum"
    """The check digits are wrong."""


class NissCheck(NamedTuple):
    """The outcome of checking one national number (a named tuple: one is made per row).

    Attributes:
        digits: The 11 digits when valid (hidden from the repr), else ``""``.
        problem: Why it is not valid, or ``None``.
        birth_date: The birth date it encodes, when valid and fully known.
        bis: Whether it is a BIS number.
    """

    digits: str
    problem: NissProblem | None
    birth_date: date | None = None
    bis: bool = False

    @property
    def valid(self) -> bool:
        """Whether the number is valid."""
        return self.problem is None

    def __repr__(self) -> str:
        # The digits are the national number in clear: never in a repr.
        return (
            f"NissCheck(problem={self.problem!r}, birth_date={self.birth_date!r}, bis={self.bis})"
        )


def check_national_number(text: str) -> NissCheck:  # noqa: PLR0911 - one return per verdict
    """Check a national or BIS number written with or without separators.

    The common case (a national number with a full birth date and a right checksum) is
    decided here, in a microsecond; every other case is decided by python-stdnum. A
    property test holds both to the same verdicts.

    Args:
        text: The value as the source wrote it (``85.07.30-033.28``, ``85073003328``).

    Returns:
        The check's outcome; it never raises for bad input.
    """
    digits = text.translate(_SEPARATORS)
    if not (digits.isascii() and digits.isdigit()):
        return NissCheck("", NissProblem.FORMAT)
    if len(digits) == _LENGTH - 1:
        return NissCheck("", NissProblem.LEADING_ZERO)
    if len(digits) != _LENGTH:
        return NissCheck("", NissProblem.FORMAT)
    fast = _plain(digits)
    if fast is not None:
        return fast
    month = int(digits[2:4])
    is_bis = any(month in months for months in _BIS_MONTHS)
    try:
        (bis if is_bis else nn).validate(digits)
    except InvalidChecksum:
        return NissCheck("", NissProblem.CHECKSUM)
    except ValidationError:
        return NissCheck("", NissProblem.FORMAT)
    return NissCheck(digits, None, _birth_date(digits), is_bis)


def contains_national_number(text: str) -> bool:
    """Return whether ``text`` holds a valid national or BIS number anywhere in it."""
    return any(check_national_number(m.group()).valid for m in _EMBEDDED.finditer(text))


def _plain(digits: str) -> NissCheck | None:
    """Decide a national number with a full birth date and a right checksum, else ``None``."""
    body, check = int(digits[:9]), int(digits[9:])
    year = int(digits[:2])
    if _MOD - body % _MOD == check:
        year += 1900
    elif _MOD - (2_000_000_000 + body) % _MOD == check and year + 2000 <= _this_year():
        year += 2000
    else:
        return None
    try:
        birth = date(year, int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return None  # month 0 or > 12 (BIS), day 0: left to stdnum
    return NissCheck(digits, None, birth)


def _this_year() -> int:
    # stdnum applies the rule for births from 2000 only to years already begun, by the
    # system clock; so does the fast path, so that both always agree.
    return date.today().year


def _birth_date(digits: str) -> date | None:
    """Return the birth date of a *valid* number, or ``None`` when it is not fully known."""
    # stdnum tried the 1900s first; the two checks cannot both hold (2e9 % 97 != 0).
    century = 1900 if _MOD - int(digits[:9]) % _MOD == int(digits[9:]) else 2000
    month = int(digits[2:4]) % _MONTHS_PER_BIS_SHIFT
    try:
        return date(century + int(digits[:2]), month, int(digits[4:6]))
    except ValueError:
        return None  # month or day 00: unknown when the number was issued
