"""Screenshot of the welcome mail, rendered from the shipped HTML template.

Run: ``.venv/bin/python tests/benchmarks/mail_screenshot.py`` (needs Debian's
``chromium``). Writes ``docs/images/welcome-mail-fr.png`` (the nl and en ones too with
``--all``; the docs show the French one): the real
:class:`~ecampus_idm.mail.render.Renderer` on a sample person, with a local logo file
(nothing is fetched from the network) and a password drawn by the real generator from a
fixed seed.

Not part of the test suite: the images are refreshed by hand when a template changes.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pydantic import SecretStr

from ecampus_idm.mail.outbox import MailContext
from ecampus_idm.mail.render import Branding, Renderer
from ecampus_idm.mail.settings import MailSettings
from ecampus_idm.policies.initial_password import InitialPasswordGenerator
from ecampus_idm.policies.settings import InitialPasswordSettings, PasswordQualitySettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"
LOGO = """<svg xmlns="http://www.w3.org/2000/svg" width="160" height="48" viewBox="0 0 160 48">
<rect width="48" height="48" rx="8" fill="#1f4e79"/>
<text x="24" y="32" font-family="DejaVu Sans" font-size="22" font-weight="bold"
 fill="#ffffff" text-anchor="middle">HC</text>
<text x="58" y="31" font-family="DejaVu Sans" font-size="16" fill="#1f4e79">Condorcet</text>
</svg>
"""


def _password() -> str:
    """A password as the nightly run draws one (fixed seed: the same image every time)."""
    rng = random.Random(2026)  # noqa: S311 - an illustration, not a secret
    generator = InitialPasswordGenerator(
        InitialPasswordSettings(), PasswordQualitySettings(), randbelow=rng.randrange
    )
    return generator.generate(username="elodie.vandamme").get_secret_value()


def render(language: str, folder: Path) -> Path:
    """Write the welcome mail's HTML for ``language`` in ``folder``; return its path."""
    logo = folder / "logo.svg"
    logo.write_text(LOGO, "utf-8")
    branding = Branding(
        institution="Haute-Ecole Condorcet",
        portal_url="https://ecampus.condorcet.be/",
        mail_domain="condorcet.be",
        from_address="no-reply@condorcet.be",
        from_name="Haute-Ecole Condorcet",
        support_url="https://support.condorcet.be/",
        logo_url=logo.as_uri(),  # a local file: the screenshot fetches nothing
    )
    mail = Renderer(branding, MailSettings()).render(
        purpose="welcome",
        language=language,
        username="elodie.vandamme",
        display_name="Élodie Vandamme",
        password=SecretStr(_password()),
        context=MailContext(
            reason="enrolment", schools=("Haute-Ecole Condorcet - Tournai",), affiliation="student"
        ),
    )
    page = folder / f"welcome-{language}.html"
    page.write_text(mail.html, "utf-8")
    return page


def screenshot(page: Path, out: Path, chromium: str) -> None:
    """Take a full-width screenshot of ``page`` with headless Chromium."""
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # root in the build container
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=680,1180",
            f"--screenshot={out}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main() -> int:
    """Render and photograph the welcome mail."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="fr, nl and en (default: fr)")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder of the PNG files")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for language in ("fr", "nl", "en") if args.all else ("fr",):
            out = args.out / f"welcome-mail-{language}.png"
            screenshot(render(language, Path(tmp)), out, chromium)
            print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
