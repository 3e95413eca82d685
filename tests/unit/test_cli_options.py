"""Ready to schedule: default configuration path, -v/-q, JSON logs, completion (item 9)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecampus_idm import cli
from ecampus_idm.cli import main
from ecampus_idm.config import StoreSettings
from ecampus_idm.store import open_store
from ecampus_idm.testing.cli import json_data

BINARY = Path(sys.executable).with_name("ecampus-idm")


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """The CLI configures the library's logger; leave it as found for the other tests."""
    logger = logging.getLogger("ecampus_idm")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def _config(tmp_path: Path, *, url: str = "ldaps://ldap.example.be") -> Path:
    config = tmp_path / "ecampus-idm.toml"
    config.write_text(
        f'[directory]\nurl = "{url}"\nbind_dn = "cn=a"\nbase_dn = "dc=x"\n'
        f'bind_password = "x"\n[store]\nurl = "sqlite:///{tmp_path / "state.sqlite3"}"\n',
        "utf-8",
    )
    return config


def test_default_configuration_path_is_read_without_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --config or ECAMPUS_IDM_CONFIG, /etc/ecampus-idm/ecampus-idm.toml is read."""
    monkeypatch.setattr(cli, "DEFAULT_CONFIG_PATH", _config(tmp_path, url="ldaps://etc.example.be"))
    monkeypatch.delenv("ECAMPUS_IDM_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    assert json_data(result.stdout)["config"]["directory"]["url"] == "ldaps://etc.example.be"


def test_config_option_and_variable_win_over_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--config, then ECAMPUS_IDM_CONFIG, then the default path."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "env").mkdir()
    monkeypatch.setattr(cli, "DEFAULT_CONFIG_PATH", _config(tmp_path / "etc"))
    monkeypatch.setenv("ECAMPUS_IDM_CONFIG", str(_config(tmp_path / "env", url="ldaps://env.be")))
    shown = CliRunner().invoke(main, ["config", "show", "--json"])
    assert json_data(shown.stdout)["config"]["directory"]["url"] == "ldaps://env.be"
    given = _config(tmp_path, url="ldaps://given.be")
    shown = CliRunner().invoke(main, ["config", "show", "--config", str(given), "--json"])
    assert json_data(shown.stdout)["config"]["directory"]["url"] == "ldaps://given.be"


def test_missing_default_path_means_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file at the default path: only ECAMPUS_IDM_* variables (here: none, exit 3)."""
    monkeypatch.setattr(cli, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    monkeypatch.delenv("ECAMPUS_IDM_CONFIG", raising=False)
    for name in [n for n in os.environ if n.startswith("ECAMPUS_IDM_")]:
        monkeypatch.delenv(name)
    result = CliRunner().invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 3, result.output
    assert "environment" in result.output


def _readable_store(tmp_path: Path) -> Path:
    """A configuration whose SQLite store others may read: opening it logs a warning."""
    config = _config(tmp_path)
    open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'state.sqlite3'}")).close()
    (tmp_path / "state.sqlite3").chmod(0o644)
    return config


def test_warnings_reach_stderr_and_quiet_hides_them(tmp_path: Path) -> None:
    """The world-readable store warning is on stderr by default; -q keeps only errors."""
    config = _readable_store(tmp_path)
    runner = CliRunner()
    loud = runner.invoke(main, ["status", "--config", str(config), "--json"])
    assert loud.exit_code == 0
    assert "WARNING ecampus_idm.store.sql: le magasin d'état" in loud.stderr
    json_data(loud.stdout)  # stdout stays one envelope
    quiet = runner.invoke(main, ["-q", "status", "--config", str(config), "--json"])
    assert quiet.exit_code == 0
    assert quiet.stderr == ""


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    """--log-format json: each stderr line is a JSON object with level, logger, time."""
    config = _readable_store(tmp_path)
    result = CliRunner().invoke(
        main, ["--log-format", "json", "status", "--config", str(config), "--json"]
    )
    records = [json.loads(line) for line in result.stderr.splitlines()]
    (record,) = [r for r in records if r["logger"] == "ecampus_idm.store.sql"]
    assert record["level"] == "WARNING"
    assert record["message"].startswith("le magasin d'état")
    assert record["timestamp"].endswith("+00:00")


def test_verbose_lowers_the_level(tmp_path: Path) -> None:
    """No flag: the application's level (warnings); -v: INFO; -vv: DEBUG."""
    config = _config(tmp_path)
    logger = logging.getLogger("ecampus_idm")
    for flags, level in (([], logging.NOTSET), (["-v"], logging.INFO), (["-vv"], logging.DEBUG)):
        result = CliRunner().invoke(main, [*flags, "status", "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert logger.level == level  # NOTSET: the root's (WARNING unless configured)


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "_ecampus_idm_completion"), ("zsh", "#compdef ecampus-idm"), ("fish", "complete")],
)
def test_shell_completion_scripts(shell: str, marker: str) -> None:
    """`_ECAMPUS_IDM_COMPLETE=<shell>_source ecampus-idm` prints the completion script."""
    result = subprocess.run(
        [str(BINARY)],
        env={**os.environ, "_ECAMPUS_IDM_COMPLETE": f"{shell}_source"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert marker in result.stdout


def test_completion_completes_commands() -> None:
    """The bash completion answers `ecampus-idm ma<TAB>` with `mail`."""
    result = subprocess.run(
        [str(BINARY)],
        env={
            **os.environ,
            "_ECAMPUS_IDM_COMPLETE": "bash_complete",
            "COMP_WORDS": "ecampus-idm ma",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert "plain,mail" in result.stdout.splitlines()
