"""``ecampus-idm diagnose``, ``listing`` and ``purge``, run as support staff run them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from support_world import KEY, SCHOOLS, School

from ecampus_idm.cli import EXIT_ERROR, main
from ecampus_idm.identity.niss import contains_national_number
from ecampus_idm.testing.cli import json_data, json_error
from ecampus_idm.testing.slapd import SlapdServer


@pytest.fixture
def config(school_group: School, ldap_server: SlapdServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration file for the school group (secrets in the environment)."""
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
    ]
    for school in SCHOOLS:
        lines += ["[[schools]]", *(f'{k} = "{v}"' for k, v in school.items())]
    lines += ["[sources]"]
    for name, profile in (
        ("personnel", "personnel"),
        ("secretariat-he", "secretariat"),
        ("secretariat-sec", "secretariat"),
    ):
        lines += [
            "[[sources.connectors]]",
            f'name = "{name}"',
            'type = "csv"',
            f'path = "{name}.csv"',
            f'profile = "{profile}"',
        ]
    lines += [
        "[support]",
        'nightly_run_time = "02:30"',
        "[[support.operators]]",
        'name = "sec-tournai"',
        'schools = ["HEC-TOURNAI"]',
    ]
    path = folder / "ecampus-idm.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    monkeypatch.setenv(
        "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ldap_server.admin_password.get_secret_value()
    )
    monkeypatch.setenv("ECAMPUS_IDM_SOURCES__PSEUDONYM_KEY", KEY)
    monkeypatch.chdir(folder)
    return path


def test_diagnose_json(config: Path) -> None:
    """`diagnose --json` prints the conclusion and the timeline, without a national number."""
    result = CliRunner().invoke(
        main,
        [
            "diagnose",
            "--config",
            str(config),
            "--school",
            "AR-ATH",
            "--matricule",
            "SEC001",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json_data(result.stdout)
    assert document["conclusion"]["code"] == "encoding-unfinished"
    assert document["timeline"]
    assert not contains_national_number(result.output)


def test_diagnose_text_in_english(config: Path) -> None:
    """`diagnose --lang en` prints the report in English."""
    result = CliRunner().invoke(
        main,
        [
            "diagnose",
            "--config",
            str(config),
            "--school",
            "HEC-TOURNAI",
            "--username",
            "farid.benali",
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Conclusion:" in result.output


def test_diagnose_needs_one_criterion(config: Path) -> None:
    """Two criteria at once is a usage error (exit 2) naming the problem."""
    result = CliRunner().invoke(
        main,
        [
            "diagnose",
            "--config",
            str(config),
            "--school",
            "HEC-TOURNAI",
            "--username",
            "a",
            "--matricule",
            "b",
        ],
    )
    assert result.exit_code == 2
    assert "exactly one" in result.output


def test_listing_writes_a_private_pdf(config: Path) -> None:
    """`listing --format pdf` writes a PDF readable by its owner only; JSON has counts.

    An earlier file readable by others is replaced, not truncated with its old mode.
    """
    target = config.parent / "out.pdf"
    target.write_bytes(b"last week's listing")
    target.chmod(0o644)
    result = CliRunner().invoke(
        main,
        [
            "listing",
            "--config",
            str(config),
            "--school",
            "HEC-TOURNAI",
            "--format",
            "pdf",
            "--output",
            str(target),
            "--operator",
            "sec-tournai",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json_data(result.stdout)
    assert document["rows"] == 2
    assert target.read_bytes().startswith(b"%PDF-")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_listing_out_of_scope_exits_1(config: Path) -> None:
    """An operator asking for another school's listing gets exit 1 and no file."""
    result = CliRunner().invoke(
        main,
        [
            "listing",
            "--config",
            str(config),
            "--school",
            "HEC-MONS",
            "--json",
            "--operator",
            "sec-tournai",
            "--output",
            "mons.csv",
        ],
    )
    assert result.exit_code == EXIT_ERROR
    assert json_error(result.stdout)["type"] == "OperatorScopeError"
    assert not (config.parent / "mons.csv").exists()


def test_purge_json(config: Path) -> None:
    """`purge --json` reports what it deleted from the events and the wired custody."""
    result = CliRunner().invoke(main, ["purge", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    document = json_data(result.stdout)
    assert document["events"] == 0
    assert isinstance(document["custody"], int)  # the custody is wired (mail is on)
