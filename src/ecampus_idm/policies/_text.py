"""Bilingual wording shared by the policies: dates, lists, categories, identity fields.

Reasons are shown to people by support, French first and English next; the small helpers
here keep that wording the same in every policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from ecampus_idm.model import Category

_FR_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

CATEGORY_FR = {
    Category.HE: "Haute École",
    Category.PS: "Promotion sociale",
    Category.SEC: "enseignement secondaire",
}
CATEGORY_EN = {
    Category.HE: "Haute École",
    Category.PS: "Promotion Sociale",
    Category.SEC: "secondary school",
}

FIELD_FR = {
    "birth_date": "date de naissance",
    "personal_email": "adresse e-mail personnelle",
    "niss_pseudonym": "numéro de registre national",
}
FIELD_EN = {
    "birth_date": "birth date",
    "personal_email": "personal e-mail address",
    "niss_pseudonym": "national register number",
}


def fr_date(day: date) -> str:
    """Return ``day`` the French way: ``1er septembre 2026``, ``31 août 2026``."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {_FR_MONTHS[day.month - 1]} {day.year}"


def en_date(day: date) -> str:
    """Return ``day`` the British way: ``1 September 2026`` (never locale-dependent)."""
    return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"


def fr_list(items: Iterable[str]) -> str:
    """Join ``items`` as French prose: ``a, b et c``."""
    return _join(list(items), " et ")


def en_list(items: Iterable[str]) -> str:
    """Join ``items`` as English prose: ``a, b and c``."""
    return _join(list(items), " and ")


def _join(items: list[str], last: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + last + items[-1]
