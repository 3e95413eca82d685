"""The secretariat listing as a printable PDF: a table per class, or one slip per person.

The only module that imports reportlab (the ReportLab Toolkit, BSD licence). Two layouts:

* ``table`` — A4 landscape, one page or more per class/department. Every page carries the
  school, the group (marked "(suite)" on the pages a long group continues on), the
  confidentiality line and "page N / M"; the column headers repeat. No text runs past its
  column or the page: every cell is wrapped to its column's width (after a hyphen, a dot,
  an ``@`` or a space; a word longer than the column is cut), so the longest password the
  initial-password policy can produce stays in its cell.
* ``slips`` — A4 portrait, eight cut-out slips per page with dashed cut lines, one per
  person, to hand over in person: name, class/department, username, the initial password
  in a large monospace font (its hyphens are part of it: the note says so), the platform's
  address and the first steps. A person whose password was already changed gets the
  listing's state ("mot de passe déjà changé") instead. Each group starts a new page;
  pages carry the school, the group and "page N / M". A slip's text shrinks until it fits
  its slip, never past it.

The DejaVu fonts are embedded when the system has them (every name in any Latin, Greek or
Cyrillic script prints; DejaVu Sans Mono tells ``0``/``O`` and ``1``/``l`` apart), else
the PDF core fonts Helvetica and Courier (Latin-1 only).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4, landscape  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFError, TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    BaseDocTemplate,
    Flowable,
    Frame,
    PageBreak,
    PageTemplate,
    Table,
    TableStyle,
)

from ecampus_idm.support.errors import ListingRenderError
from ecampus_idm.support.listing import Listing, ListingRow, PasswordState, headers, title
from ecampus_idm.support.settings import Language

__all__ = ["LAYOUTS", "Layout", "render_pdf"]

Layout = Literal["table", "slips"]
"""How the PDF is laid out: a table per class, or one cut-out slip per person."""
LAYOUTS: tuple[Layout, ...] = ("table", "slips")

_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
_FACES = {  # our name: (DejaVu file, core font without it)
    "EcampusSans": ("DejaVuSans.ttf", "Helvetica"),
    "EcampusSans-Bold": ("DejaVuSans-Bold.ttf", "Helvetica-Bold"),
    "EcampusMono": ("DejaVuSansMono.ttf", "Courier"),
}
_LEADING = 1.2
_ELLIPSIS = "…"
# A line may break after these (kept at the end of the line: a password's hyphens stay).
_PIECES = re.compile(r"[^\s\-@._/]*(?:[\s\-@._/]+|$)")

_GRID = colors.grey
_CUT = colors.Color(0.6, 0.6, 0.6)
_MUTED = colors.dimgrey


@dataclass(frozen=True)
class _Fonts:
    regular: str
    bold: str
    mono: str


def _face(name: str) -> str:
    """Register one DejaVu face once when available; return the font name to use."""
    if name in pdfmetrics.getRegisteredFontNames():
        return name
    file, fallback = _FACES[name]
    for folder in _FONT_DIRS:
        path = folder / file
        if path.is_file():
            try:
                pdfmetrics.registerFont(TTFont(name, str(path)))
            except TTFError:
                continue
            return name
    return fallback


def _fonts() -> _Fonts:
    return _Fonts(_face("EcampusSans"), _face("EcampusSans-Bold"), _face("EcampusMono"))


def render_pdf(listing: Listing, lang: Language = "fr", *, layout: Layout = "table") -> bytes:
    """Return the listing as PDF bytes: a table per class, or one slip per person.

    Args:
        listing: The listing to print.
        lang: The language of the headers, states and first steps.
        layout: ``table`` (A4 landscape, one page or more per class/department) or
            ``slips`` (A4 portrait, eight cut-out slips per page).

    Raises:
        ListingRenderError: If reportlab cannot lay the document out, or a slip's text
            cannot fit its slip even at the smallest size.
    """
    try:
        if layout == "slips":
            return _Slips(listing, lang, _fonts()).render()
        return _render_table(listing, lang, _fonts())
    except ListingRenderError:
        raise
    except Exception as exc:  # reportlab raises bare Exception (LayoutError...) on layout
        raise ListingRenderError("pdf", type(exc).__name__) from exc


# -- fitting text -------------------------------------------------------------------------


def _width(text: str, font: str, size: float) -> float:
    return float(pdfmetrics.stringWidth(text, font, size))


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` points.

    Lines break after a space, a hyphen, a dot, an ``@`` or a ``/``; a piece wider than
    the whole width is cut between characters. Never returns an empty list.
    """
    lines: list[str] = []
    line = ""
    for piece in (p for p in _PIECES.findall(text) if p):
        if _width((line + piece).rstrip(), font, size) <= width:
            line += piece
            continue
        if line.strip():
            lines.append(line.rstrip())
        word = piece.strip()
        parts = _cut(word, font, size, width) if word else [""]
        lines += parts[:-1]
        line = parts[-1] + piece[len(piece.rstrip()) :]
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def _cut(word: str, font: str, size: float, width: float) -> list[str]:
    """Cut a word wider than ``width`` between characters (at least one per part)."""
    parts: list[str] = []
    start, used = 0, 0.0
    for index, character in enumerate(word):
        advance = _width(character, font, size)
        if used + advance > width and index > start:
            parts.append(word[start:index])
            start, used = index, 0.0
        used += advance
    parts.append(word[start:])
    return parts


def _fit(
    text: str, font: str, sizes: tuple[float, float], width: float, max_lines: int
) -> tuple[float, list[str]]:
    """Return the largest size (from ``sizes[0]`` down to ``sizes[1]``) and its lines.

    At the smallest size, lines beyond ``max_lines`` are dropped and the last kept one
    ends with an ellipsis (a title that long is not worth a second page).
    """
    size, smallest = sizes
    while True:
        lines = _wrap(text, font, size, width)
        if len(lines) <= max_lines:
            return size, lines
        if size - 0.5 < smallest:
            break
        size -= 0.5
    kept = lines[:max_lines]
    last = kept[-1]
    while last and _width(last + _ELLIPSIS, font, size) > width:
        last = last[:-1]
    kept[-1] = last + _ELLIPSIS
    return size, kept


def _draw_lines(
    canvas: Any, lines: list[str], face: tuple[str, float], x: float, top: float
) -> float:
    """Draw ``lines`` from ``top`` down (baselines inside the box); return the new top."""
    font, size = face
    canvas.setFont(font, size)
    for line in lines:
        top -= size * _LEADING
        # The descenders (about a quarter of the size) stay above the line's bottom.
        canvas.drawString(x, top + size * 0.25, line)
    return top


def _page_number(page: int, pages: int) -> str:
    return f"page {page} / {pages}"


def _continued(lang: Language) -> str:
    return " (suite)" if lang == "fr" else " (continued)"


def _group_title(group: str, lang: Language) -> str:
    return f"{headers(lang)[0]} : {group}" if lang == "fr" else f"{headers(lang)[0]}: {group}"


# -- table layout -------------------------------------------------------------------------

_TABLE_PAGE = landscape(A4)
_MARGIN = 12 * mm
_HEADER_HEIGHT = 27 * mm
_FOOTER_HEIGHT = 8 * mm
# Family name, given name, username, institutional address, password: 273 mm in all.
_COLUMNS = (47 * mm, 42 * mm, 46 * mm, 72 * mm, 66 * mm)
_CELL_SIZE = 9.0
_PAD = 4.0


class _GroupStart(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """Marks where a group starts, so each page's header can name its group."""

    def __init__(self, group: str) -> None:
        super().__init__()
        self.group = group

    def wrap(self, width: float, height: float) -> tuple[float, float]:  # noqa: ARG002 - reportlab's signature
        return 0.0, 0.0

    def draw(self) -> None:
        return None


class _TableDocument(BaseDocTemplate):  # type: ignore[misc]  # reportlab is untyped
    """Follows which group each page shows (the header is drawn at each page's end)."""

    def __init__(self, buffer: io.BytesIO, **options: Any) -> None:
        super().__init__(buffer, **options)
        self.group = "-"
        self.group_first_page = 1

    def afterFlowable(self, flowable: object) -> None:  # noqa: N802 - reportlab's hook
        if isinstance(flowable, _GroupStart):
            self.group = flowable.group
            self.group_first_page = self.page


def _render_table(listing: Listing, lang: Language, fonts: _Fonts) -> bytes:
    # Two passes: the first counts the pages, the second prints "page N / M" (the
    # footer's text takes no room from the flow, so both passes break pages alike).
    pages = _build_table(listing, lang, fonts, pages=0)[1]
    return _build_table(listing, lang, fonts, pages=pages)[0]


def _build_table(
    listing: Listing, lang: Language, fonts: _Fonts, *, pages: int
) -> tuple[bytes, int]:
    heading, notice = title(listing, lang)
    page_width, page_height = _TABLE_PAGE
    buffer = io.BytesIO()
    document = _TableDocument(
        buffer,
        pagesize=_TABLE_PAGE,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=heading,
        author="ecampus-idm",
    )
    frame = Frame(
        _MARGIN,
        _MARGIN + _FOOTER_HEIGHT,
        page_width - 2 * _MARGIN,
        page_height - 2 * _MARGIN - _HEADER_HEIGHT - _FOOTER_HEIGHT,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )

    def finish_page(canvas: Any, doc: _TableDocument) -> None:
        group = _group_title(doc.group, lang)
        if doc.page != doc.group_first_page:
            group += _continued(lang)
        _table_header(canvas, fonts, (heading, group, notice))
        canvas.setFont(fonts.regular, 8)
        canvas.setFillColor(_MUTED)
        canvas.drawRightString(
            page_width - _MARGIN, _MARGIN, _page_number(doc.page, max(pages, doc.page))
        )
        canvas.setFillColor(colors.black)

    document.addPageTemplates([PageTemplate("listing", [frame], onPageEnd=finish_page)])
    story: list[object] = []
    for index, (group, rows) in enumerate(listing.groups() or [("-", [])]):
        if index:
            story.append(PageBreak())
        story += [_GroupStart(group), _table(rows, lang, fonts)]
    document.build(story)
    return buffer.getvalue(), int(document.page)


def _table_header(canvas: Any, fonts: _Fonts, texts: tuple[str, str, str]) -> None:
    """Draw the school, the group and the confidentiality line at the top of a page."""
    heading, group, notice = texts
    page_width, page_height = _TABLE_PAGE
    width = page_width - 2 * _MARGIN
    top = page_height - _MARGIN
    size, lines = _fit(heading, fonts.bold, (14, 8), width, 1)
    top = _draw_lines(canvas, lines, (fonts.bold, size), _MARGIN, top)
    size, lines = _fit(group, fonts.bold, (12, 7), width, 2)
    top = _draw_lines(canvas, lines, (fonts.bold, size), _MARGIN, top - 2)
    size, lines = _fit(notice, fonts.regular, (8, 6), width, 2)
    _draw_lines(canvas, lines, (fonts.regular, size), _MARGIN, top - 1)


def _table(rows: list[ListingRow], lang: Language, fonts: _Fonts) -> Table:
    """One group's table, every cell wrapped to its column."""
    inner = [width - 2 * _PAD for width in _COLUMNS]

    def cell(text: str, column: int, font: str) -> str:
        return "\n".join(_wrap(text, font, _CELL_SIZE, inner[column]))

    data = [[cell(h, i, fonts.bold) for i, h in enumerate(headers(lang)[1:])]]
    style: list[tuple[object, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), fonts.regular),
        ("FONTNAME", (0, 0), (-1, 0), fonts.bold),
        ("FONTSIZE", (0, 0), (-1, -1), _CELL_SIZE),
        ("LEADING", (0, 0), (-1, -1), _CELL_SIZE * _LEADING),
        ("LEFTPADDING", (0, 0), (-1, -1), _PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), _PAD),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("GRID", (0, 0), (-1, -1), 0.4, _GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    for line, row in enumerate(rows, start=1):
        shown = row.state is PasswordState.INITIAL and row.password is not None
        password_font = fonts.mono if shown else fonts.regular
        data.append(
            [
                cell(row.family_name, 0, fonts.regular),
                cell(row.given_name, 1, fonts.regular),
                cell(row.username, 2, fonts.regular),
                cell(row.email, 3, fonts.regular),
                cell(row.password_text(lang), 4, password_font),
            ]
        )
        style.append(("FONTNAME", (4, line), (4, line), password_font))
        if not shown:
            style.append(("TEXTCOLOR", (4, line), (4, line), _MUTED))
    table = Table(data, repeatRows=1, colWidths=list(_COLUMNS))
    table.setStyle(TableStyle(style))
    return table


# -- slip layout --------------------------------------------------------------------------

_SLIP_PAGE = A4
_SLIP_COLUMNS = 2
_SLIP_ROWS = 4
_SLIP_MARGIN = 10 * mm
_SLIP_HEADER = 19 * mm
_SLIP_PAD = 5 * mm
_SMALLEST_SCALE = 0.3

_TEXTS: dict[Language, dict[str, str]] = {
    "fr": {
        "username": "Identifiant",
        "password": "Mot de passe initial",
        "hyphens": "Sans espace ; les tirets font partie du mot de passe.",
        "email": "Adresse e-mail institutionnelle",
        "platform": "Plateforme",
        "the_platform": "la plateforme eCampus",
        "step1": "1. Rendez-vous sur {url} et connectez-vous avec ces accès.",
        "step2": "2. Choisissez un mot de passe personnel : il vous sera demandé "
        "à la première connexion.",
        "step3": "3. Détruisez ce papier une fois votre mot de passe changé.",
        "other1": "1. Rendez-vous sur {url} et connectez-vous avec votre identifiant.",
        "other2": "2. Mot de passe oublié ? Utilisez le lien « Mot de passe oublié » "
        "de la page d'accueil.",
        "empty": "Aucun compte.",
        "private": "Personnel et confidentiel — à remettre en main propre.",
    },
    "en": {
        "username": "Username",
        "password": "Initial password",
        "hyphens": "No spaces; the hyphens are part of the password.",
        "email": "Institutional e-mail address",
        "platform": "Platform",
        "the_platform": "the eCampus platform",
        "step1": "1. Go to {url} and sign in with these details.",
        "step2": "2. Choose a password of your own: you will be asked to at your first sign-in.",
        "step3": "3. Destroy this slip once you have changed your password.",
        "other1": "1. Go to {url} and sign in with your username.",
        "other2": '2. Forgot your password? Use the "Mot de passe oublié" link on the home page.',
        "empty": "No account.",
        "private": "Personal and confidential — hand over in person only.",
    },
}


@dataclass(frozen=True)
class _Block:
    """A piece of a slip: text in one font and colour, with space above it."""

    text: str
    font: str
    size: float
    color: object = colors.black
    space_before: float = 0.0


class _Slips:
    """Lays out one cut-out slip per person, eight per A4 page, groups on new pages."""

    def __init__(self, listing: Listing, lang: Language, fonts: _Fonts) -> None:
        self.listing = listing
        self.lang = lang
        self.fonts = fonts
        self.texts = _TEXTS[lang]
        page_width, page_height = _SLIP_PAGE
        self.slip_width = (page_width - 2 * _SLIP_MARGIN) / _SLIP_COLUMNS
        self.slip_height = (page_height - 2 * _SLIP_MARGIN - _SLIP_HEADER) / _SLIP_ROWS

    def render(self) -> bytes:
        heading, _ = title(self.listing, self.lang)
        per_page = _SLIP_COLUMNS * _SLIP_ROWS
        pages: list[tuple[str, bool, list[ListingRow]]] = []
        for group, rows in self.listing.groups() or [("-", [])]:
            for start in range(0, max(len(rows), 1), per_page):
                pages.append((group, start > 0, rows[start : start + per_page]))
        buffer = io.BytesIO()
        canvas = Canvas(buffer, pagesize=_SLIP_PAGE, pageCompression=1)
        canvas.setTitle(heading)
        canvas.setAuthor("ecampus-idm")
        for number, (group, continued, rows) in enumerate(pages, start=1):
            self._page_header(canvas, heading, group, continued, (number, len(pages)))
            if not rows:
                self._empty(canvas)
            for index, row in enumerate(rows):
                self._slip(canvas, row, index)
            self._cut_lines(canvas, len(rows))
            canvas.showPage()
        canvas.save()
        return buffer.getvalue()

    def _origin(self, index: int) -> tuple[float, float]:
        """Bottom-left corner of the slip at ``index`` (left to right, top to bottom)."""
        _, page_height = _SLIP_PAGE
        row, column = divmod(index, _SLIP_COLUMNS)
        top = page_height - _SLIP_MARGIN - _SLIP_HEADER
        return _SLIP_MARGIN + column * self.slip_width, top - (row + 1) * self.slip_height

    def _page_header(
        self,
        canvas: Any,
        heading: str,
        group: str,
        continued: bool,
        page: tuple[int, int],
    ) -> None:
        fonts = self.fonts
        page_width, page_height = _SLIP_PAGE
        number = _page_number(*page)
        canvas.setFont(fonts.regular, 8)
        canvas.drawRightString(page_width - _SLIP_MARGIN, page_height - _SLIP_MARGIN - 8, number)
        width = page_width - 2 * _SLIP_MARGIN - _width(number, fonts.regular, 8) - 6 * mm
        top = page_height - _SLIP_MARGIN
        size, lines = _fit(heading, fonts.bold, (11, 7), width, 1)
        top = _draw_lines(canvas, lines, (fonts.bold, size), _SLIP_MARGIN, top)
        text = _group_title(group, self.lang) + (_continued(self.lang) if continued else "")
        size, lines = _fit(text, fonts.bold, (10, 6), width, 2)
        top = _draw_lines(canvas, lines, (fonts.bold, size), _SLIP_MARGIN, top)
        canvas.setFillColor(_MUTED)
        size, lines = _fit(self.texts["private"], fonts.regular, (7, 6), width, 1)
        _draw_lines(canvas, lines, (fonts.regular, size), _SLIP_MARGIN, top)
        canvas.setFillColor(colors.black)

    def _empty(self, canvas: Any) -> None:
        x, y = self._origin(0)
        canvas.setFont(self.fonts.regular, 11)
        canvas.drawString(x + _SLIP_PAD, y + self.slip_height - _SLIP_PAD - 11, self.texts["empty"])

    def _cut_lines(self, canvas: Any, slips: int) -> None:
        """Dashed cut lines between and around the page's slips (its rows in use)."""
        rows = max(math.ceil(slips / _SLIP_COLUMNS), 1)
        left, bottom = self._origin((rows - 1) * _SLIP_COLUMNS)
        right = left + _SLIP_COLUMNS * self.slip_width
        top = bottom + rows * self.slip_height
        canvas.saveState()
        canvas.setStrokeColor(_CUT)
        canvas.setLineWidth(0.5)
        canvas.setDash(4, 3)
        for row in range(rows + 1):
            y = bottom + row * self.slip_height
            canvas.line(left, y, right, y)
        for column in range(_SLIP_COLUMNS + 1):
            x = left + column * self.slip_width
            canvas.line(x, bottom, x, top)
        canvas.restoreState()

    def _blocks(self, row: ListingRow) -> list[_Block]:
        fonts, texts = self.fonts, self.texts
        url = self.listing.portal_url or texts["the_platform"]
        name = " ".join(part for part in (row.given_name, row.family_name) if part) or "-"
        blocks = [
            _Block(self.listing.school.name, fonts.regular, 7, _MUTED),
            _Block(name, fonts.bold, 12, space_before=1),
            _Block(_group_title(row.group, self.lang), fonts.regular, 8),
            _Block(texts["username"], fonts.regular, 7, _MUTED, space_before=4),
            _Block(row.username or "-", fonts.mono, 12),
            _Block(texts["password"], fonts.regular, 7, _MUTED, space_before=3),
        ]
        if row.state is PasswordState.INITIAL and row.password is not None:
            blocks += [
                _Block(row.password.get_secret_value(), fonts.mono, 13),
                _Block(texts["hyphens"], fonts.regular, 6.5, _MUTED),
            ]
            steps = [texts["step1"].format(url=url), texts["step2"], texts["step3"]]
        else:
            blocks.append(_Block(row.password_text(self.lang), fonts.bold, 10, _MUTED))
            steps = [texts["other1"].format(url=url), texts["other2"]]
        if row.email:
            blocks += [_Block(f"{texts['email']} : {row.email}", fonts.regular, 7, space_before=3)]
        if self.listing.portal_url:
            sep = " : " if self.lang == "fr" else ": "
            platform = f"{texts['platform']}{sep}{self.listing.portal_url}"
            blocks.append(_Block(platform, fonts.bold, 8, space_before=3))
        blocks += [
            _Block(step, fonts.regular, 7, space_before=3 if i == 0 else 0)
            for i, step in enumerate(steps)
        ]
        return blocks

    def _slip(self, canvas: Any, row: ListingRow, index: int) -> None:
        """Draw one slip, its text scaled down until it fits inside the slip."""
        x, y = self._origin(index)
        width = self.slip_width - 2 * _SLIP_PAD
        height = self.slip_height - 2 * _SLIP_PAD
        laid = _lay_out(self._blocks(row), width, height)
        top = y + self.slip_height - _SLIP_PAD
        for block, size, lines in laid:
            canvas.setFillColor(block.color)
            top = _draw_lines(
                canvas, lines, (block.font, size), x + _SLIP_PAD, top - block.space_before
            )
        canvas.setFillColor(colors.black)


def _lay_out(
    blocks: list[_Block], width: float, height: float
) -> list[tuple[_Block, float, list[str]]]:
    """Wrap every block at the largest common scale at which all of them fit ``height``.

    Raises:
        ListingRenderError: If even the smallest scale does not fit.
    """
    steps = math.floor((1 - _SMALLEST_SCALE) / 0.05) + 1
    for step in range(steps):
        scale = 1 - step * 0.05
        laid: list[tuple[_Block, float, list[str]]] = []
        used = 0.0
        for block in blocks:
            size = block.size * scale
            lines = _wrap(block.text, block.font, size, width)
            laid.append((_scaled(block, scale), size, lines))
            used += block.space_before * scale + len(lines) * size * _LEADING
        if used <= height:
            return laid
    raise ListingRenderError("pdf", "a slip's text does not fit its slip")


def _scaled(block: _Block, scale: float) -> _Block:
    return _Block(block.text, block.font, block.size, block.color, block.space_before * scale)
