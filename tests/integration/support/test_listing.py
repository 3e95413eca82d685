"""The secretariat listing on a real directory: scoping, passwords, audit, the PDF."""

from __future__ import annotations

import shutil
import stat
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from support_world import KEY, SCHOOLS, School

from ecampus_idm.cli import main
from ecampus_idm.support.errors import OperatorScopeError, UnknownOperatorError
from ecampus_idm.support.listing import (
    Listing,
    PasswordState,
    SecretariatListing,
    render_csv,
    render_html,
)
from ecampus_idm.support.pdf import render_pdf
from ecampus_idm.testing.cli import json_data
from ecampus_idm.testing.rendering import page_texts
from ecampus_idm.testing.slapd import SlapdServer

TOURNAI = {"HE0001", "HE0004"}
MONS = {"HE0002", "HE0003", "P0001"}


def _listing(world: School) -> SecretariatListing:
    return SecretariatListing(
        world.settings,
        clock=world.clock,
        store=world.store,
        directory=world.directory,
        custody=world.custody,
        support=world.settings.support,
    )


def _deposit_all(world: School) -> dict[str, str]:
    """Give every account an initial password in custody, as the mail part will."""
    passwords = {}
    for record in world.store.username_records():
        password = f"ba-{record.username[:4]}-7"
        world.custody.deposit(
            record.person_id, record.username, SecretStr(password), issued_at=world.clock.now()
        )
        passwords[record.person_id] = password
    return passwords


def _ids(world: School, matricules: set[str]) -> set[str]:
    return {world.person_id(m) for m in matricules}


def test_school_a_listing_never_contains_a_person_of_school_b(school_group: School) -> None:
    """Listing Tournai gives exactly Tournai's accounts, none of Mons."""
    school_group.run()
    tournai = _listing(school_group).build("HEC-TOURNAI", operator="helpdesk")
    mons = _listing(school_group).build("HEC-MONS", operator="helpdesk")
    assert {r.person_id for r in tournai.rows} == _ids(school_group, TOURNAI)
    assert {r.person_id for r in mons.rows} == _ids(school_group, MONS)


def test_operator_of_one_school_cannot_list_another(school_group: School) -> None:
    """The Tournai secretariat asking for Mons gets a typed error, and nothing is audited."""
    school_group.run()
    with pytest.raises(OperatorScopeError) as caught:
        _listing(school_group).build("HEC-MONS", operator="sec-tournai")
    assert caught.value.school == "HEC-MONS"
    assert not school_group.store.recent_runs(kind="listing")


def test_unknown_operator_is_refused(school_group: School) -> None:
    """An operator that is not configured cannot list anything."""
    with pytest.raises(UnknownOperatorError):
        _listing(school_group).build("HEC-TOURNAI", operator="intruder")


def test_missing_operator_is_refused(school_group: School) -> None:
    """Without an operator there is no listing."""
    with pytest.raises(UnknownOperatorError):
        _listing(school_group).build("HEC-TOURNAI", operator=None)


def test_default_password_shown_while_unchanged(school_group: School) -> None:
    """An unchanged initial password is in the listing; a changed one is not."""
    school_group.run()
    passwords = _deposit_all(school_group)
    alice, farid = school_group.person_id("HE0001"), school_group.person_id("HE0004")
    school_group.clock.advance(timedelta(hours=3))
    school_group.custody.discard(farid, reason="password.changed", at=school_group.clock.now())
    listing = _listing(school_group).build("HEC-TOURNAI", operator="sec-tournai")
    rows = {r.person_id: r for r in listing.rows}
    assert rows[alice].password_text("fr") == passwords[alice]
    assert rows[farid].state is PasswordState.CHANGED
    assert rows[farid].password_text("fr") == "mot de passe déjà changé"
    assert passwords[farid] not in render_csv(listing)


def test_discarded_custody_reads_changed_by_the_user(school_group: School) -> None:
    """A custody entry discarded on password change reads "password already changed"."""
    school_group.run()
    _deposit_all(school_group)
    alice = school_group.person_id("HE0001")
    school_group.custody.discard(alice, reason="password.changed", at=school_group.clock.now())
    listing = _listing(school_group).build("HEC-TOURNAI", operator="sec-tournai")
    row = next(r for r in listing.rows if r.person_id == alice)
    assert row.password_text("en") == "password already changed"


def test_purged_password_reads_purged(school_group: School) -> None:
    """A password discarded by retention reads "purged", not "password already changed"."""
    school_group.run()
    _deposit_all(school_group)
    school_group.clock.advance(timedelta(days=61))
    school_group.custody.purge(
        before=school_group.clock.now() - timedelta(days=60), at=school_group.clock.now()
    )
    listing = _listing(school_group).build("HEC-TOURNAI", operator="sec-tournai")
    assert {r.state for r in listing.rows} == {PasswordState.EXPIRED}


def test_each_view_is_audited(school_group: School) -> None:
    """A view records a listing run and a listing.viewed event for every person listed."""
    school_group.run()
    _deposit_all(school_group)
    _listing(school_group).build("HEC-TOURNAI", operator="sec-tournai", fmt="pdf")
    runs = school_group.store.recent_runs(kind="listing")
    assert len(runs) == 1
    assert runs[0].counts["rows"] == 2
    assert "sec-tournai" in (runs[0].message or "")
    events = school_group.store.events_for_run(runs[0].run_id)
    assert {e.person_id for e in events} == _ids(school_group, TOURNAI)
    assert {e.kind for e in events} == {"listing.viewed"}
    assert all(e.data["operator"] == "sec-tournai" and e.data["format"] == "pdf" for e in events)


def test_listing_rows_carry_department_and_institutional_address(school_group: School) -> None:
    """Each row has its department (from the groups) and the institutional address."""
    school_group.run()
    listing = _listing(school_group).build("HEC-TOURNAI", operator="helpdesk")
    rows = {r.username: r for r in listing.rows}
    assert rows["alice.martin"].group == "INFO"
    assert rows["farid.benali"].group == "ECO"
    assert rows["alice.martin"].email == "alice.martin@ecampus.test"


def _rendered(listing: Listing, tmp_path: Path) -> tuple[Path, int]:
    pdf = tmp_path / "listing.pdf"
    pdf.write_bytes(render_pdf(listing))
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.fail("pdftoppm is missing (apt-get install poppler-utils)")
    subprocess.run([pdftoppm, "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    return pdf, len(list(tmp_path.glob("page*.png")))


def test_pdf_opens_and_renders_one_page_per_department(
    school_group: School, tmp_path: Path
) -> None:
    """pdftoppm renders the PDF: one page per department of the school."""
    school_group.run()
    _deposit_all(school_group)
    listing = _listing(school_group).build("HEC-TOURNAI", operator="helpdesk", fmt="pdf")
    pdf, pages = _rendered(listing, tmp_path)
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert pages == len(listing.groups()) == 2


def test_empty_listing_still_renders(school_group: School, tmp_path: Path) -> None:
    """A school without accounts gives a one-page PDF, not an error."""
    listing = _listing(school_group).build("AR-ATH", operator="helpdesk", fmt="pdf")
    _, pages = _rendered(listing, tmp_path)
    assert pages == 1


def test_html_listing_has_one_section_per_group(school_group: School) -> None:
    """The HTML page has one printable section per department."""
    school_group.run()
    listing = _listing(school_group).build("HEC-TOURNAI", operator="helpdesk", fmt="html")
    page = render_html(listing)
    assert page.count("<section>") == 2
    assert "alice.martin@ecampus.test" in page


def _flat(text: str) -> str:
    return "".join(text.split())


def test_slips_of_a_school(school_group: School) -> None:
    """One slip per account of the school, a page per department, changed ones say so."""
    school_group.run()
    passwords = _deposit_all(school_group)
    alice, farid = school_group.person_id("HE0001"), school_group.person_id("HE0004")
    school_group.custody.discard(farid, reason="password.changed", at=school_group.clock.now())
    listing = _listing(school_group).build("HEC-TOURNAI", operator="sec-tournai", fmt="pdf")
    texts = page_texts(render_pdf(listing, layout="slips"))
    assert len(texts) == len(listing.groups()) == 2
    flat = _flat("".join(texts))
    assert passwords[alice] in flat
    assert passwords[farid] not in flat
    assert "mot de passe déjà changé" in "".join(texts)
    assert "alice.martin" in flat
    assert "farid.benali" in flat
    assert _flat(f"Plateforme : {school_group.settings.institution.portal_url}") in flat


@pytest.fixture
def cli_config(
    school_group: School, ldap_server: SlapdServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A configuration file for the listing command (its custody is empty: no password)."""
    school_group.run()
    folder = school_group.folder
    lines = [
        "[directory]",
        f'url = "{ldap_server.url}"',
        f'bind_dn = "{ldap_server.admin_dn}"',
        f'base_dn = "{ldap_server.base_dn}"',
        f'ca_file = "{ldap_server.ca_file}"',
        "[store]",
        f'url = "sqlite:///{folder / "state.sqlite3"}"',
        "[institution]",
        'mail_domain = "ecampus.test"',
        'portal_url = "https://ecampus.condorcet.test/"',
    ]
    for school in SCHOOLS:
        lines += ["[[schools]]", *(f'{k} = "{v}"' for k, v in school.items())]
    lines += ["[[support.operators]]", 'name = "sec-tournai"', 'schools = ["HEC-TOURNAI"]']
    path = folder / "ecampus-idm.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    monkeypatch.setenv(
        "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ldap_server.admin_password.get_secret_value()
    )
    monkeypatch.setenv("ECAMPUS_IDM_SOURCES__PSEUDONYM_KEY", KEY)
    monkeypatch.chdir(folder)
    return path


def test_cli_listing_slips(cli_config: Path) -> None:
    """`listing --format pdf --layout slips` writes the slips, owner-only, named -slips."""
    result = CliRunner().invoke(
        main,
        [
            "listing",
            "--config",
            str(cli_config),
            "--school",
            "HEC-TOURNAI",
            "--format",
            "pdf",
            "--layout",
            "slips",
            "--operator",
            "sec-tournai",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json_data(result.output)
    assert document["layout"] == "slips"
    target = cli_config.parent / document["output"]
    assert target.name.endswith("-slips.pdf")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    texts = page_texts(target.read_bytes())
    assert sum(t.count("Mot de passe initial") for t in texts) == document["rows"] == 2
    assert "https://ecampus.condorcet.test/" in "".join(texts)


def test_cli_slips_need_the_pdf_format(cli_config: Path) -> None:
    """Slips are a PDF layout: asking for them in CSV is a usage error, nothing is written."""
    result = CliRunner().invoke(
        main,
        [
            "listing",
            "--config",
            str(cli_config),
            "--school",
            "HEC-TOURNAI",
            "--layout",
            "slips",
            "--operator",
            "sec-tournai",
            "--output",
            "out.csv",
        ],
    )
    assert result.exit_code == 2  # click's usage error
    assert "PDF" in result.output
    assert not (cli_config.parent / "out.csv").exists()
