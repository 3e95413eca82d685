"""The secretariat listing as a printable PDF: one page (or more) per class/department.

The only module that imports reportlab (the ReportLab Toolkit, BSD licence). Pages are
A4 landscape with the school, the group, a confidentiality line and a table of the
accounts; each group starts on a new page so a secretariat can hand out one class's
sheet. The DejaVu Sans font is embedded when the system has it (every name in any Latin,
Greek or Cyrillic script prints), else the PDF core font Helvetica (Latin-1 only).
"""

from __future__ import annotations

import io
from pathlib import Path

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4, landscape  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFError, TTFont  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ecampus_idm.support.errors import ListingRenderError
from ecampus_idm.support.listing import Listing, PasswordState, headers, title
from ecampus_idm.support.settings import Language

__all__ = ["render_pdf"]

_FONT_FILES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
_FONT = "EcampusSans"


def _font() -> str:
    """Register DejaVu Sans once when available; return the font name to use."""
    if _FONT in pdfmetrics.getRegisteredFontNames():
        return _FONT
    for path in _FONT_FILES:
        if path.is_file():
            try:
                pdfmetrics.registerFont(TTFont(_FONT, str(path)))
            except TTFError:
                continue
            return _FONT
    return "Helvetica"


def render_pdf(listing: Listing, lang: Language = "fr") -> bytes:
    """Return the listing as PDF bytes, each class/department starting a new page.

    Raises:
        ListingRenderError: If reportlab cannot lay the document out.
    """
    font = _font()
    styles = getSampleStyleSheet()
    heading_style = ParagraphStyle("h", parent=styles["Heading1"], fontName=font, fontSize=15)
    group_style = ParagraphStyle("g", parent=styles["Heading2"], fontName=font, fontSize=13)
    body = ParagraphStyle("b", parent=styles["BodyText"], fontName=font, fontSize=9)
    heading, notice = title(listing, lang)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=heading,
        author="ecampus-idm",
    )
    story: list[object] = []
    groups = listing.groups() or [("-", [])]
    for index, (group, rows) in enumerate(groups):
        if index:
            story.append(PageBreak())
        story += [
            Paragraph(_esc(heading), heading_style),
            Paragraph(_esc(group), group_style),
            Paragraph(_esc(notice), body),
            Spacer(1, 4 * mm),
        ]
        data: list[list[str]] = [list(headers(lang)[1:])]
        data += [
            [r.family_name, r.given_name, r.username, r.email, r.password_text(lang)] for r in rows
        ]
        table = Table(data, repeatRows=1, colWidths=[50 * mm, 45 * mm, 45 * mm, 75 * mm, 55 * mm])
        style = [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("FONTSIZE", (0, 0), (-1, -1), 9),
            ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ]
        for line, row in enumerate(rows, start=1):
            if row.state is not PasswordState.INITIAL:
                style.append(("TEXTCOLOR", (4, line), (4, line), colors.dimgrey))
        table.setStyle(TableStyle(style))
        story.append(table)
    try:
        document.build(story)
    except Exception as exc:  # reportlab raises bare Exception (LayoutError...) on layout
        raise ListingRenderError("pdf", type(exc).__name__) from exc
    return buffer.getvalue()


def _esc(text: str) -> str:
    """Escape text for a reportlab Paragraph (a small XML dialect)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
