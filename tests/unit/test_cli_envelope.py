"""Every command speaks one JSON envelope under ``--json`` (issue 15, item 7).

Each leaf command of ``ecampus-idm`` is run with ``--json``: with a configuration file that
does not exist where it takes one (a configuration error, exit 3), with its required
options missing (a usage error, exit 2), and the commands that need no configuration for
real. Every output must be exactly one envelope ``{"ok", "command", "data", "errors"}``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ecampus_idm.cli import EXIT_CONFIG, main
from ecampus_idm.testing.cli import json_data, json_envelope, json_error


def _leaves(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _leaves(sub, (*path, name))
    else:
        yield path


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


LEAVES = list(_leaves(main))
WITH_CONFIG = [p for p in LEAVES if any("--config" in o.opts for o in _command(p).params)]
REQUIRED = [p for p in LEAVES if any(o.required for o in _command(p).params)]


def test_every_command_has_json() -> None:
    """No command is left without --json."""
    missing = [
        " ".join(p) for p in LEAVES if not any("--json" in o.opts for o in _command(p).params)
    ]
    assert missing == []
    assert len(LEAVES) >= 20  # the walk found the whole tree


@pytest.mark.parametrize("path", WITH_CONFIG, ids=" ".join)
def test_a_configuration_error_is_an_envelope(path: tuple[str, ...], tmp_path: Path) -> None:
    """A missing configuration file: ok false, one ConfigError naming the file, exit 3."""
    required = [o for o in _command(path).params if o.required and isinstance(o, click.Option)]
    extra = [arg for o in required for arg in (o.opts[0], "x")]
    missing = tmp_path / "absent.toml"
    result = CliRunner().invoke(
        main, [*path, "--config", str(missing), *extra, "--json"], catch_exceptions=False
    )
    if result.exit_code == 2:
        error = json_error(result.stdout)
        assert error["type"] == "UsageError"
        return
    assert result.exit_code == EXIT_CONFIG, result.output
    envelope = json_envelope(result.stdout)
    assert envelope["command"] == " ".join(path)
    error = json_error(result.stdout)
    assert (error["type"], error["exit_code"]) == ("ConfigError", EXIT_CONFIG)
    assert str(missing) in error["message"]


@pytest.mark.parametrize("path", REQUIRED, ids=" ".join)
def test_a_usage_error_is_an_envelope(path: tuple[str, ...]) -> None:
    """A required option left out: ok false, one UsageError, exit 2, nothing else on stdout."""
    result = CliRunner().invoke(main, [*path, "--json"], catch_exceptions=False)
    assert result.exit_code == 2
    error = json_error(result.stdout)
    assert error["type"] == "UsageError"
    assert json_envelope(result.stdout)["command"] == " ".join(path)


def test_an_unknown_option_is_an_envelope() -> None:
    """A misspelt option is a usage error in the envelope too."""
    result = CliRunner().invoke(main, ["status", "--jsno", "--json"])
    assert result.exit_code == 2
    assert "--jsno" in json_error(result.stdout)["message"]


def test_without_json_a_usage_error_is_click_s_text() -> None:
    """Without --json, click's own usage message (on stderr), exit 2."""
    result = CliRunner().invoke(main, ["status", "--jsno"])
    assert result.exit_code == 2
    assert "No such option" in result.output


@pytest.mark.parametrize("group", ["mail", "passwords"])
def test_keygen_prints_only_the_key_on_stdout(group: str) -> None:
    """`KEY=$(ecampus-idm mail keygen)` works: one line, the key; the hint on stderr."""
    result = CliRunner().invoke(main, [group, "keygen"])
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()
    material = line.rpartition(":")[2]
    assert len(base64.b64decode(material, validate=True)) == 32
    assert "keys" in result.stderr


@pytest.mark.parametrize("group", ["mail", "passwords"])
def test_keygen_json(group: str) -> None:
    """With --json, the key is the envelope's data."""
    result = CliRunner().invoke(main, [group, "keygen", "--json"])
    assert result.exit_code == 0
    data = json_data(result.stdout)
    assert data["ok"] is True
    assert len(base64.b64decode(data["key"].rpartition(":")[2])) == 32
    assert json.loads(result.stdout)["command"] == f"{group} keygen"
