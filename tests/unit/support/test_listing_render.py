"""Rendering a listing: CSV safe for spreadsheets, HTML escaped, a PDF that never overflows."""

from __future__ import annotations

import itertools
import random
import stat
from datetime import UTC, datetime
from pathlib import Path

import annotated_types
import pytest
from pydantic import BaseModel, SecretStr

from ecampus_idm.model import Category, School
from ecampus_idm.policies.initial_password import InitialPasswordGenerator
from ecampus_idm.policies.settings import InitialPasswordSettings, PasswordQualitySettings
from ecampus_idm.support.errors import ListingRenderError
from ecampus_idm.support.listing import (
    Listing,
    ListingRow,
    PasswordState,
    render_csv,
    render_html,
)
from ecampus_idm.support.pdf import render_pdf
from ecampus_idm.support.settings import Language
from ecampus_idm.testing.rendering import GrayPage, Line, page_texts, rasterise, screenshot

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


# -- the PDF, as printed ----------------------------------------------------------------
# Rendered by pdftoppm (grey, no anti-aliasing: each pixel keeps the shade it was painted
# with) and read by pdftotext; both come with poppler-utils, which the suite requires.

GRID = range(120, 137)  # the table's grid (colors.grey, 128)
CUT = range(145, 162)  # the slips' dashed cut lines (60 % grey, 153)
TEXT = 110  # darker than this: text (black, or the dim grey of a password's state)
MARGIN_MM = 8  # no ink this close to the paper's edge


def _bound(model: type[BaseModel], name: str) -> int:
    """The largest value the configuration accepts for one field."""
    field = model.model_fields[name]
    return next(int(m.le) for m in field.metadata if isinstance(m, annotated_types.Le))


def _longest_password() -> str:
    """The longest initial password the policy can be configured to produce (178 chars)."""
    shape = InitialPasswordSettings(
        words=_bound(InitialPasswordSettings, "words"),
        syllables_per_word=_bound(InitialPasswordSettings, "syllables_per_word"),
        digits=_bound(InitialPasswordSettings, "digits"),
    )
    quality = PasswordQualitySettings(max_length=_bound(PasswordQualitySettings, "max_length"))
    draws = random.Random(15)  # noqa: S311 - reproducible sample, not a secret
    generator = InitialPasswordGenerator(shape, quality, randbelow=draws.randrange)
    password = generator.generate().get_secret_value()
    assert len(password) == shape.length
    return password


def _default_passwords(count: int) -> list[str]:
    draws = random.Random(5)  # noqa: S311 - reproducible sample, not a secret
    generator = InitialPasswordGenerator(
        InitialPasswordSettings(), PasswordQualitySettings(), randbelow=draws.randrange
    )
    return [generator.generate().get_secret_value() for _ in range(count)]


LONG_CLASS = "BACHELIER-EN-INFORMATIQUE-DE-GESTION-ORIENTATION-DEVELOPPEMENT-APPLICATIONS"


def _crowded(count: int = 12) -> Listing:
    """Long names, classes, addresses, and the longest possible passwords."""
    longest, usual = _longest_password(), _default_passwords(count)
    rows = [
        _row(
            person_id=f"p{index}",
            group=LONG_CLASS if index % 2 else "INFO",
            family_name="Van Den Bossche-Vandermeulen de la Tour d'Auvergne" + "x" * index,
            given_name="Marie-Éléonore Anne-Sophie Gwendoline",
            username=f"marie-eleonore.vandenbosschevandermeulen{index}",
            email=f"marie-eleonore.vandenbossche-vandermeulen{index}@ecampus-condorcet.test",
            password=SecretStr(longest if index % 3 == 0 else usual[index]),
            state=PasswordState.CHANGED if index % 5 == 4 else PasswordState.INITIAL,
        )
        for index in range(count)
    ]
    rows.sort(key=lambda r: r.group)
    return _listing(*rows)


def _flat(text: str) -> str:
    """The text without any white space (pdftotext lays lines out with spaces)."""
    return "".join(text.split())


def _margin_ink(page: GrayPage) -> int:
    edge = page.px(MARGIN_MM)
    strips = [
        (0, 0, page.width - 1, edge),
        (0, page.height - edge, page.width - 1, page.height - 1),
        (0, 0, edge, page.height - 1),
        (page.width - edge, 0, page.width - 1, page.height - 1),
    ]
    return sum(page.ink(strip) for strip in strips)


def _ink_beside(page: GrayPage, line: Line, *, vertical: bool, gap: int, darker: int) -> int:
    """Ink darker than ``darker`` within ``gap`` pixels of either side of ``line``."""
    if vertical:
        before = (line.first - gap, line.start, line.first - 1, line.end)
        after = (line.last + 1, line.start, line.last + gap, line.end)
    else:
        before = (line.start, line.first - gap, line.end, line.first - 1)
        after = (line.start, line.last + 1, line.end, line.last + gap)
    return page.ink(before, darker_than=darker) + page.ink(after, darker_than=darker)


def test_table_text_never_runs_past_its_column() -> None:
    """With the longest passwords and long names, no text touches a column's border."""
    pages = rasterise(render_pdf(_crowded()))
    for page in pages:
        columns = page.vertical_lines(GRID, min_length=page.px(20))
        assert len(columns) == 6  # the table's five columns: six borders
        for border in columns:
            assert _ink_beside(page, border, vertical=True, gap=3, darker=TEXT) == 0


def test_table_ink_stays_on_the_page() -> None:
    """No ink in the paper's margins on any page of the table."""
    pages = rasterise(render_pdf(_crowded()))
    assert all(_margin_ink(page) == 0 for page in pages)


def test_table_wraps_without_losing_text() -> None:
    """Each column, read alone, holds every name, username, address and password whole."""
    listing = _crowded()
    pdf = render_pdf(listing)
    page = rasterise(pdf, dpi=72)[0]  # 72 dpi: a pixel is a point, as pdftotext counts
    borders = page.vertical_lines(GRID, min_length=page.px(20))
    columns = [
        _flat(
            "".join(
                page_texts(pdf, area=(left.last + 1, 0, right.first - left.last - 1, page.height))
            )
        )
        for left, right in itertools.pairwise(borders)
    ]
    for row in listing.rows:
        values = (row.family_name, row.given_name, row.username, row.email, row.password_text("fr"))
        assert all(_flat(value) in column for value, column in zip(values, columns, strict=True))


def _group_of(text: str) -> str:
    flat = _flat(text)
    return next(g for g in ("INFO", "ECO") if _flat(f"Classe / département : {g}") in flat)


def test_table_pages_carry_their_number_and_group() -> None:
    """Every page has "page N / M", the school and its group, continuation pages too."""
    passwords = _default_passwords(75)
    rows = [
        _row(person_id=f"i{n}", username=f"info{n}", password=SecretStr(p))
        for n, p in enumerate(passwords[:72])
    ]
    rows += [_row(person_id=f"e{n}", group="ECO", username=f"eco{n}") for n in range(3)]
    texts = page_texts(render_pdf(_listing(*sorted(rows, key=lambda r: r.group))))
    total = len(texts)
    assert total >= 4  # INFO fills several pages, ECO one
    assert [_group_of(t) for t in texts] == ["ECO"] + ["INFO"] * (total - 1)
    for number, text in enumerate(texts, start=1):
        flat = _flat(text)
        assert _flat(f"page {number} / {total}") in flat
        assert _flat("Listing eCampus — Haute-Ecole <Mons> (HEC-MONS)") in flat
        assert ("(suite)" in text) is (number > 2)  # INFO's second page onwards


def test_slips_one_per_person_eight_per_page() -> None:
    """Ten people of one class give ten slips on two pages, each with its password."""
    passwords = _default_passwords(10)
    rows = [
        _row(person_id=f"p{n}", username=f"user{n}", password=SecretStr(p))
        for n, p in enumerate(passwords)
    ]
    texts = page_texts(render_pdf(_listing(*rows), layout="slips"))
    assert len(texts) == 2
    flat = _flat("".join(texts))
    assert all(f"user{n}" in flat and p in flat for n, p in enumerate(passwords))
    assert sum(t.count("Mot de passe initial") for t in texts) == 10


FIRST_STEPS = {
    "fr": ("Identifiant", "Plateforme : https://ecampus.test/", "mot de passe personnel"),
    "en": ("Username", "Platform: https://ecampus.test/", "password of your own"),
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_slip_has_what_a_first_sign_in_needs(lang: Language) -> None:
    """A slip names the person, class, username, password, platform and first steps."""
    listing = Listing(
        SCHOOL,
        "helpdesk",
        datetime(2026, 9, 10, tzinfo=UTC),
        (_row(),),
        portal_url="https://ecampus.test/",
    )
    flat = _flat(page_texts(render_pdf(listing, lang, layout="slips"))[0])
    for expected in ("Marie Dupont", "INFO", "marie.dupont", "zuba-kote-38", *FIRST_STEPS[lang]):
        assert _flat(expected) in flat


def test_slip_of_a_changed_password_shows_the_state() -> None:
    """A person who changed their password gets "mot de passe déjà changé", no password."""
    row = _row(state=PasswordState.CHANGED, password=SecretStr("zuba-kote-38"))
    text = page_texts(render_pdf(_listing(row), layout="slips"))[0]
    assert "mot de passe déjà changé" in text
    assert "zuba-kote-38" not in _flat(text)


def test_slip_text_stays_inside_its_cut_lines() -> None:
    """With the longest passwords and long names, no text comes near a slip's cut line."""
    pages = rasterise(render_pdf(_crowded(), layout="slips"))
    for page in pages:
        across = page.horizontal_lines(CUT, min_length=page.px(80), solid=False)
        down = page.vertical_lines(CUT, min_length=page.px(80), solid=False)
        assert len(down) == 3  # two columns of slips
        assert len(across) >= 2
        gap = page.px(2.5)
        for line, vertical in [*((d, True) for d in down), *((a, False) for a in across)]:
            assert _ink_beside(page, line, vertical=vertical, gap=gap, darker=CUT.start) == 0


def test_slip_ink_stays_on_the_page() -> None:
    """No ink in the paper's margins on any page of slips."""
    pages = rasterise(render_pdf(_crowded(), layout="slips"))
    assert all(_margin_ink(page) == 0 for page in pages)


def test_slips_lose_no_text() -> None:
    """Every part of the longest password and of long names is on the slips."""
    flat = _flat("".join(page_texts(render_pdf(_crowded(), layout="slips"))))
    assert all(word in flat for word in _longest_password().split("-"))
    assert _flat(LONG_CLASS) in flat


def test_slip_pages_carry_their_number_and_group() -> None:
    """Every page of slips has "page N / M" and its group, continuation pages too."""
    rows = [_row(person_id=f"i{n}", username=f"info{n}") for n in range(17)]
    rows += [_row(person_id=f"e{n}", group="ECO", username=f"eco{n}") for n in range(3)]
    texts = page_texts(render_pdf(_listing(*sorted(rows, key=lambda r: r.group)), layout="slips"))
    assert [_group_of(t) for t in texts] == ["ECO", "INFO", "INFO", "INFO"]
    for number, text in enumerate(texts, start=1):
        assert _flat(f"page {number} / 4") in _flat(text)
        assert ("(suite)" in text) is (number > 2)


def test_slip_that_cannot_fit_is_an_error() -> None:
    """A name too long for a slip even in the smallest type is refused, not overflowed."""
    with pytest.raises(ListingRenderError):
        render_pdf(_listing(_row(given_name="a" * 8000)), layout="slips")


def test_docs_picture_of_the_slips(tmp_path: Path) -> None:
    """The helper that draws docs/support.md's picture writes an owner-only PNG."""
    target = tmp_path / "listing-slips.png"
    screenshot(target)
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    docs = Path(__file__).parents[3] / "docs"
    assert "images/listing-slips.png" in (docs / "support.md").read_text("utf-8")
    assert (docs / "images" / "listing-slips.png").is_file()
