"""Rendering a listing: CSV safe for spreadsheets, HTML escaped, passwords never in reprs."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from ecampus_idm.model import Category, School
from ecampus_idm.support.listing import (
    Listing,
    ListingRow,
    PasswordState,
    render_csv,
    render_html,
)

SCHOOL = School(code="HEC-MONS", name="Haute-Ecole <Mons>", category=Category.HE)


def _row(**changes: object) -> ListingRow:
    values: dict[str, object] = {
        "person_id": "p1",
        "group": "INFO",
        "family_name": "Dupont",
        "given_name": "Marie",
        "username": "marie.dupont",
        "email": "marie.dupont@ecampus.test",
        "state": PasswordState.INITIAL,
        "password": SecretStr("zuba-kote-38"),
    }
    values.update(changes)
    return ListingRow(**values)  # type: ignore[arg-type]


def _listing(*rows: ListingRow) -> Listing:
    return Listing(SCHOOL, "helpdesk", datetime(2026, 9, 10, tzinfo=UTC), rows)


def test_csv_has_the_password_while_unchanged() -> None:
    """The CSV row carries the default password in its last column."""
    lines = render_csv(_listing(_row())).splitlines()
    assert lines[1].endswith(";zuba-kote-38")


def test_csv_neutralises_formulas() -> None:
    """A name a spreadsheet would run as a formula is kept as text."""
    text = render_csv(_listing(_row(family_name="=HYPERLINK(1)")))
    assert ";'=HYPERLINK(1);" in text


def test_changed_password_is_not_shown() -> None:
    """A changed password reads "password already changed" in English."""
    row = _row(state=PasswordState.CHANGED, password=None)
    assert "password already changed" in render_csv(_listing(row), "en")


def test_html_escapes_names() -> None:
    """Names and the school are escaped in the HTML page."""
    page = render_html(_listing(_row(given_name="<script>")))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "Haute-Ecole &lt;Mons&gt;" in page


def test_reprs_never_show_the_password() -> None:
    """Neither a row nor a listing shows the password in its repr."""
    listing = _listing(_row())
    assert "zuba-kote-38" not in repr(listing)
    assert "zuba-kote-38" not in repr(listing.rows[0])


def test_rows_are_grouped_by_department_in_order() -> None:
    """One group per department, in the order of the rows."""
    listing = _listing(_row(group="AGRO"), _row(group="INFO"), _row(group="INFO"))
    assert [(g, len(rows)) for g, rows in listing.groups()] == [("AGRO", 1), ("INFO", 2)]
