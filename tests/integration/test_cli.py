"""The ecampus-idm command, run as users run it."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecampus_idm.cli import EXIT_CONFIG, EXIT_DIRECTORY, EXIT_HELD, main
from ecampus_idm.testing.cli import json_data, json_error
from ecampus_idm.testing.slapd import SlapdServer

CANARY = "Canary-Cli-Pw-9902"


def _write_config(path: Path, server: SlapdServer, **directory: str) -> Path:
    values = {
        "url": server.url,
        "bind_dn": server.admin_dn,
        "base_dn": server.base_dn,
        "ca_file": str(server.ca_file),
        **directory,
    }
    body = "\n".join(f'{k} = "{v}"' for k, v in values.items())
    path.write_text(f"[directory]\n{body}\n", "utf-8")
    return path


@pytest.mark.ldap
def test_demo_json_runs_twice_and_converges(tmp_path: Path) -> None:
    """`ecampus-idm demo --json` creates accounts, then has nothing to do; config masked."""
    result = subprocess.run(
        [sys.executable, "-m", "ecampus_idm", "demo", "--json", "--people", "200"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json_data(result.stdout)
    assert report["ok"]
    assert report["second_run"]["plan"]["counts"] == {}
    assert report["first_run"]["plan"]["counts"]["create"] > 0
    assert report["directory"]["schema"] == {
        "eduPerson": True,
        "schacContactLocation": True,
        "schacLinkageIdentifiers": True,
        "ecampusPerson": True,
    }
    assert report["config"]["directory"]["bind_password"] == "**********"
    assert {e["dn"] for e in report["directory"]["entries"]} >= {"ou=people,dc=ecampus,dc=test"}
    listing = Path(report["support"]["listing"]["file"])
    assert listing.is_relative_to(tmp_path)  # written in the demo's own folder
    assert listing.read_bytes().startswith(b"%PDF")
    assert listing.stat().st_mode & 0o077 == 0  # default passwords: owner only
    assert report["support"]["diagnosis"]["conclusion"]


def _environment_file(path: Path) -> dict[str, str]:
    """The KEY='value' lines of an EnvironmentFile, as systemd or `set -a; .` reads them."""
    pairs = (line.split("=", 1) for line in path.read_text("utf-8").splitlines() if line)
    return {key: value.strip("'") for key, value in pairs}


def test_demo_keep_hands_over_its_server(tmp_path: Path) -> None:
    """`demo --keep` prints URL, bind DN and where the password is, and writes a config
    that the engineer's own commands use: `directory check` binds, `plan` has nothing to do.
    """
    out = tmp_path / "demo"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecampus_idm",
            "demo",
            "--people",
            "30",
            "--keep",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert demo.stdout is not None
        shown = ""
        for line in demo.stdout:
            shown += line
            if "Ctrl-C" in line and "ecampus-idm directory check" in shown:
                break
        config, env_file = out / "ecampus-idm.toml", out / "ecampus-idm.env"
        assert f"configuration: {config.resolve()}" in shown
        assert f"ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD dans / in {env_file.resolve()}" in shown
        assert "bind DN cn=admin,dc=ecampus,dc=test" in shown
        secrets = _environment_file(env_file)
        assert secrets["ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD"] not in shown
        assert secrets["ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD"] not in config.read_text("utf-8")
        assert {stat.S_IMODE(f.stat().st_mode) for f in (config, env_file)} == {0o600}
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ECAMPUS_IDM_")},
            **secrets,
        }
        for command in (["directory", "check"], ["plan"]):
            result = subprocess.run(
                [sys.executable, "-m", "ecampus_idm", *command, "--config", str(config), "--json"],
                capture_output=True,
                text=True,
                check=False,
                env=environment,
                timeout=120,
            )
            assert result.returncode == 0, result.stdout + result.stderr
        assert (
            json_data(result.stdout)["plan"]["counts"] == {}
        )  # the demo's second run was the last
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=30)
        if demo.stdout is not None:
            demo.stdout.close()
    assert code == 0


@pytest.mark.ldap
def test_directory_check_json(
    ldap_server: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`directory check --json` binds with the configured account and counts children."""
    config = _write_config(tmp_path / "idm.toml", ldap_server)
    monkeypatch.setenv(
        "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ldap_server.admin_password.get_secret_value()
    )
    result = CliRunner().invoke(main, ["directory", "check", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json_data(result.stdout)
    assert report["children"] == {ldap_server.people_dn: 0, ldap_server.groups_dn: 0}


@pytest.mark.ldap
def test_directory_check_wrong_password_exits_4_without_secret(
    ldap_server: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused bind exits with the directory code; the password is never printed."""
    config = _write_config(tmp_path / "idm.toml", ldap_server)
    monkeypatch.setenv("ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", CANARY)
    result = CliRunner().invoke(main, ["directory", "check", "--config", str(config), "--json"])
    assert result.exit_code == EXIT_DIRECTORY
    assert json_error(result.stdout)["type"] == "DirectoryBindError"
    assert CANARY not in result.output


def test_config_show_bad_file_exits_3_naming_file_and_key(tmp_path: Path) -> None:
    """A bad value is reported with file, key and expectation, and exit code 3."""
    config = tmp_path / "idm.toml"
    config.write_text(
        '[directory]\nurl = "http://x"\nbind_dn = "cn=a"\nbase_dn = "dc=x"\n'
        f'bind_password = "{CANARY}"\n',
        "utf-8",
    )
    result = CliRunner().invoke(main, ["config", "show", "--config", str(config), "--json"])
    assert result.exit_code == EXIT_CONFIG
    payload = json_error(result.stdout)
    assert payload["problems"][0]["source"] == str(config)
    assert payload["problems"][0]["key"] == "directory.url"
    assert CANARY not in result.output


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    """A valid configuration prints with the bind password masked."""
    config = tmp_path / "idm.toml"
    config.write_text(
        '[directory]\nurl = "ldaps://ldap.example.be"\nbind_dn = "cn=a"\nbase_dn = "dc=x"\n'
        f'bind_password = "{CANARY}"\n',
        "utf-8",
    )
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(main, ["config", "show", "--config", str(config), *extra])
        assert result.exit_code == 0, result.output
        assert CANARY not in result.output
        assert "**********" in result.output


def test_sample_then_sources_check_reports_quarantine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sample` writes exports; `sources check --json` lists their bad rows, changes nothing."""
    exports = tmp_path / "exports"
    result = CliRunner().invoke(
        main, ["sample", "--people", "150", "--out", str(exports), "--json"]
    )
    assert result.exit_code == 0, result.output
    bad_rows = sum(json_data(result.stdout)["bad_rows"].values())
    config = tmp_path / "idm.toml"
    config.write_text(
        (exports / "sources.toml")
        .read_text("utf-8")
        .replace('ledger_path = "export-ledger.json"', "")
        .replace('path = "', f'path = "{exports}/')
        + '\n[directory]\nurl = "ldaps://ldap.example.be"\nbind_dn = "cn=a"\nbase_dn = "dc=x"\n'
        + f'bind_password = "{CANARY}"\n[store]\nurl = "sqlite:///{tmp_path}/state.db"\n',
        "utf-8",
    )
    monkeypatch.setenv("ECAMPUS_IDM_SOURCES__PSEUDONYM_KEY", "k" * 40)
    checked = CliRunner().invoke(main, ["sources", "check", "--config", str(config), "--json"])
    assert checked.exit_code == 0, checked.output
    report = json_data(checked.stdout)
    assert len(report["report"]["issues"]) == bad_rows
    assert CANARY not in checked.output


def _nightly_config(tmp_path: Path, server: SlapdServer) -> Path:
    exports = tmp_path / "exports"
    CliRunner().invoke(main, ["sample", "--people", "120", "--out", str(exports), "--year", "2026"])
    config = _write_config(tmp_path / "idm.toml", server)
    sources = (exports / "sources.toml").read_text("utf-8")
    sources = sources.replace('ledger_path = "export-ledger.json"', "").replace(
        'path = "', f'path = "{exports}/'
    )
    config.write_text(
        config.read_text("utf-8") + f'\n[store]\nurl = "sqlite:///{tmp_path}/state.db"\n' + sources,
        "utf-8",
    )
    return config


@pytest.mark.ldap
@pytest.mark.usefixtures("ldap_directory")  # empties the tree again afterwards
def test_plan_run_status_and_apply_commands(
    ldap_server: SlapdServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """plan writes nothing, run applies, status reports it, a wrong approval is held (5)."""
    config = _nightly_config(tmp_path, ldap_server)
    monkeypatch.setenv(
        "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ldap_server.admin_password.get_secret_value()
    )
    monkeypatch.setenv("ECAMPUS_IDM_SOURCES__PSEUDONYM_KEY", "k" * 40)
    runner = CliRunner()
    (tmp_path / "p.json").write_text("{}", "utf-8")
    (tmp_path / "p.json").chmod(0o644)  # last night's plan, readable by others
    planned = runner.invoke(
        main, ["plan", "--config", str(config), "--json", "--out", str(tmp_path / "p.json")]
    )
    assert planned.exit_code == 0, planned.output
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o600  # names and addresses
    creates = json_data(planned.stdout)["plan"]["counts"]["create"]
    assert json.loads((tmp_path / "p.json").read_text("utf-8"))["counts"]["create"] == creates
    ran = runner.invoke(main, ["run", "--config", str(config), "--json"])
    assert ran.exit_code == 0, ran.output
    assert json_data(ran.stdout)["applied"]["applied"]["create"] == creates
    status = runner.invoke(main, ["status", "--config", str(config), "--json"])
    assert status.exit_code == 0, status.output
    assert json_data(status.stdout)["runs"][0]["status"] == "succeeded"
    wrong = runner.invoke(main, ["apply", "--config", str(config), "--approve", "0" * 64, "--json"])
    assert wrong.exit_code == EXIT_HELD, wrong.output
