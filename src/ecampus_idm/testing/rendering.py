"""Look at a rendered PDF as a reader would: its pixels (pdftoppm) and its text (pdftotext).

The secretariat listing's tests use it to prove that no ink runs past a table's column, a
slip's cut lines or the page, and that every page carries its number and its group. The
pages are rasterised in grey without anti-aliasing, so each pixel has exactly the shade
it was painted with: black text, the grey of a table's grid, the lighter grey of the cut
lines can be told apart.

Run as a script, it draws the picture of the listing's slips that ``docs/support.md``
shows (sample people, sample passwords)::

    python -m ecampus_idm.testing.rendering docs/images/listing-slips.png

Needs poppler's ``pdftoppm`` and ``pdftotext`` (Debian: ``poppler-utils``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from ecampus_idm.files import write_private
from ecampus_idm.model import Category, School
from ecampus_idm.support.listing import Listing, ListingRow, PasswordState
from ecampus_idm.support.pdf import render_pdf

__all__ = [
    "GrayPage",
    "Line",
    "page_texts",
    "rasterise",
    "sample_listing",
    "screenshot",
]

_MM_PER_INCH = 25.4


@dataclass(frozen=True)
class Line:
    """A straight line found on a page, in pixels (``first``..``last`` across its width).

    Attributes:
        first: First pixel column (vertical line) or row (horizontal line) it covers.
        last: Last one.
        start: Where it starts along its length.
        end: Where it ends along its length.
    """

    first: int
    last: int
    start: int
    end: int


@dataclass(frozen=True)
class GrayPage:
    """One page as grey pixels (0 black, 255 white), row by row from the top-left corner.

    Attributes:
        width: Pixels across.
        height: Pixels down.
        dpi: Resolution it was rendered at.
        pixels: ``width * height`` bytes.
    """

    width: int
    height: int
    dpi: int
    pixels: bytes

    def px(self, millimetres: float) -> int:
        """Return a length in pixels."""
        return round(millimetres / _MM_PER_INCH * self.dpi)

    def at(self, x: int, y: int) -> int:
        """Return the shade at column ``x``, row ``y``."""
        return self.pixels[y * self.width + x]

    def ink(self, box: tuple[int, int, int, int], *, darker_than: int = 250) -> int:
        """Count the pixels darker than ``darker_than`` in ``box`` (x0, y0, x1, y1 included)."""
        x0, y0, x1, y1 = box
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.width - 1), min(y1, self.height - 1)
        return sum(
            1
            for y in range(y0, y1 + 1)
            for value in self.pixels[y * self.width + x0 : y * self.width + x1 + 1]
            if value < darker_than
        )

    def vertical_lines(self, shades: range, *, min_length: int, solid: bool = True) -> list[Line]:
        """Return the vertical lines painted in ``shades``.

        Args:
            shades: The shades the line is painted in.
            min_length: Pixels a column needs: in one run (``solid``) or in all (dashed).
            solid: Whether the line is one run (a grid) or dashes (cut lines).
        """
        columns = [[self.at(x, y) in shades for y in range(self.height)] for x in range(self.width)]
        return _lines(columns, min_length, solid=solid)

    def horizontal_lines(self, shades: range, *, min_length: int, solid: bool = True) -> list[Line]:
        """Return the horizontal lines painted in ``shades`` (see :meth:`vertical_lines`)."""
        rows = [
            [value in shades for value in self.pixels[y * self.width : (y + 1) * self.width]]
            for y in range(self.height)
        ]
        return _lines(rows, min_length, solid=solid)


def _lines(strips: list[list[bool]], min_length: int, *, solid: bool) -> list[Line]:
    """Group neighbouring strips (columns or rows) that hold a line into one :class:`Line`."""
    found: list[tuple[int, int, int]] = []
    for index, strip in enumerate(strips):
        span = _longest_run(strip) if solid else _count_span(strip)
        if span is not None and span[1] - span[0] + 1 >= min_length:
            found.append((index, *span))
    lines: list[Line] = []
    for index, start, end in found:
        if lines and lines[-1].last == index - 1:
            last = lines[-1]
            lines[-1] = Line(last.first, index, min(last.start, start), max(last.end, end))
        else:
            lines.append(Line(index, index, start, end))
    return lines


def _longest_run(strip: list[bool]) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    start = None
    for position, painted in enumerate([*strip, False]):
        if painted and start is None:
            start = position
        elif not painted and start is not None:
            if best is None or position - 1 - start > best[1] - best[0]:
                best = (start, position - 1)
            start = None
    return best


def _count_span(strip: list[bool]) -> tuple[int, int] | None:
    """First to last painted pixel, when the painted ones would make ``min_length``."""
    painted = [position for position, value in enumerate(strip) if value]
    if not painted:
        return None
    # The span is reported as long as the count of painted pixels (dashes leave gaps).
    return painted[0], painted[0] + len(painted) - 1


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} est absent / is missing (apt-get install poppler-utils)")
    return found


def rasterise(pdf: bytes, *, dpi: int = 100) -> list[GrayPage]:
    """Render every page of ``pdf`` with pdftoppm, in grey, without anti-aliasing.

    Raises:
        FileNotFoundError: If pdftoppm is not installed.
        subprocess.CalledProcessError: If pdftoppm cannot read the PDF.
    """
    pdftoppm = _tool("pdftoppm")
    with tempfile.TemporaryDirectory(prefix="ecampus-render-") as folder:
        source = Path(folder) / "document.pdf"
        write_private(source, pdf)  # a listing holds default passwords
        root = Path(folder) / "page"
        command = [pdftoppm, "-gray", "-aa", "no", "-aaVector", "no", "-r", str(dpi)]
        subprocess.run([*command, str(source), str(root)], check=True, capture_output=True)
        files = sorted(Path(folder).glob("page-*.pgm"), key=lambda p: int(p.stem.split("-")[-1]))
        return [_read_pgm(path.read_bytes(), dpi) for path in files]


def _read_pgm(data: bytes, dpi: int) -> GrayPage:
    """Parse a binary PGM (``P5``, 8 bits) as pdftoppm writes it."""
    fields: list[bytes] = []
    position = 0
    while len(fields) < 4:  # noqa: PLR2004 - magic, width, height, maximum
        while data[position : position + 1].isspace():
            position += 1
        if data[position : position + 1] == b"#":
            position = data.index(b"\n", position) + 1
            continue
        end = position
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[position:end])
        position = end
    magic, width, height, maximum = fields
    if magic != b"P5" or maximum != b"255":
        raise ValueError("not an 8-bit binary PGM")
    w, h = int(width), int(height)
    pixels = data[position + 1 : position + 1 + w * h]
    return GrayPage(w, h, dpi, pixels)


def page_texts(pdf: bytes, *, area: tuple[int, int, int, int] | None = None) -> list[str]:
    """Return the text of every page of ``pdf``, as pdftotext reads it (layout kept).

    Args:
        pdf: The document.
        area: Only the text inside this box of each page: left, top, width, height in
            points from the top-left corner (a :class:`GrayPage` rendered at 72 dpi
            counts in points).

    Raises:
        FileNotFoundError: If pdftotext is not installed.
    """
    pdftotext = _tool("pdftotext")
    crop: list[str] = []
    if area is not None:
        x, y, width, height = area
        crop = ["-x", str(x), "-y", str(y), "-W", str(width), "-H", str(height)]
    with tempfile.TemporaryDirectory(prefix="ecampus-text-") as folder:
        source = Path(folder) / "document.pdf"
        write_private(source, pdf)
        result = subprocess.run(
            [pdftotext, "-layout", "-enc", "UTF-8", *crop, str(source), "-"],
            check=True,
            capture_output=True,
        )
    pages = result.stdout.decode("utf-8").split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


# -- the documentation's picture ----------------------------------------------------------

_SAMPLE = (  # family, given, group, username, password (None: already changed)
    ("Dubois", "Camille", "INFO", "camille.dubois", "bazoki-muteva-ridopa-sukemi-47"),
    ("Lambert", "Noah", "INFO", "noah.lambert", "faridu-kepano-zutibe-hogame-83"),
    ("Van den Broeck", "Léa", "INFO", "lea.vandenbroeck", None),
    (
        "Nkemba",
        "Joseph-Emmanuel",
        "INFO",
        "joseph-emmanuel.nkemba",
        "sivaku-denomi-parute-jabeki-26",
    ),
)


def sample_listing() -> Listing:
    """A small listing of fictitious people with fictitious passwords (for the picture)."""
    rows = tuple(
        ListingRow(
            person_id=f"sample-{index}",
            group=group,
            family_name=family,
            given_name=given,
            username=username,
            email=f"{username}@ecampus.test",
            state=PasswordState.INITIAL if password else PasswordState.CHANGED,
            password=SecretStr(password) if password else None,
        )
        for index, (family, given, group, username, password) in enumerate(_SAMPLE)
    )
    school = School(
        code="HEC-TOURNAI", name="Haute-École Condorcet - Tournai", category=Category.HE
    )
    at = datetime(2026, 9, 10, 9, 30, tzinfo=ZoneInfo("Europe/Brussels"))
    return Listing(school, "sec-hec-tournai", at, rows, portal_url="https://ecampus.test/")


def screenshot(target: Path, *, dpi: int = 110) -> None:
    """Write a PNG of the top half of the sample listing's first slip page to ``target``.

    Raises:
        FileNotFoundError: If pdftoppm is not installed.
    """
    pdf = render_pdf(sample_listing(), "fr", layout="slips")
    pdftoppm = _tool("pdftoppm")
    width, height = round(210 / _MM_PER_INCH * dpi), round(297 / _MM_PER_INCH * dpi)
    with tempfile.TemporaryDirectory(prefix="ecampus-shot-") as folder:
        source = Path(folder) / "slips.pdf"
        write_private(source, pdf)
        crop = ["-x", "0", "-y", "0", "-W", str(width), "-H", str(height * 45 // 100)]
        command = [pdftoppm, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", *crop]
        subprocess.run([*command, str(source), str(Path(folder) / "shot")], check=True)
        write_private(target, (Path(folder) / "shot.png").read_bytes())


def main(argv: Sequence[str] | None = None) -> int:
    """Write the documentation's picture of the slips to the path given (or its default)."""
    args = list(sys.argv[1:] if argv is None else argv)
    screenshot(Path(args[0] if args else "docs/images/listing-slips.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
