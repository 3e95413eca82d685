"""The scheduling examples install and run as they are (issue 15, item 9).

Each command of ``examples/systemd`` and ``examples/cron`` is a real command with real
options; the units pass ``systemd-analyze verify``, the timers' calendars parse, the cron
lines export the environment file, and every variable of ``examples/env.example`` is a
setting the configuration reads.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from ecampus_idm.cli import main
from ecampus_idm.config import ENV_PREFIX, Settings

EXAMPLES = Path(__file__).parents[2] / "examples"
UNITS = sorted((EXAMPLES / "systemd").glob("*.service")) + sorted(
    (EXAMPLES / "systemd").glob("*.timer")
)
BINARY = "/opt/ecampus-idm/bin/ecampus-idm"


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation names (``X | None``, ``A | B``, ``list[X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("ECAMPUS_IDM_REQUIRE_SYSTEMD"):
            pytest.fail("systemd-analyze is required (ECAMPUS_IDM_REQUIRE_SYSTEMD)")
        pytest.skip("systemd-analyze is not installed")
    return found


def _unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text("utf-8"))
    return parser


def _exec_lines(path: Path) -> list[list[str]]:
    lines = re.findall(r"^ExecStart=(.+)$", path.read_text("utf-8"), re.M)
    return [shlex.split(line) for line in lines]


def _cli_accepts(arguments: list[str]) -> None:
    """The command and its options exist: ``--help`` after them exits 0."""
    result = CliRunner().invoke(main, [*arguments, "--help"])
    assert result.exit_code == 0, f"{shlex.join(arguments)}: {result.output}"


def test_every_service_runs_a_real_command_with_the_environment_file() -> None:
    """ExecStart is our binary with a command that exists; secrets from EnvironmentFile."""
    services = [u for u in UNITS if u.suffix == ".service"]
    assert len(services) >= 4
    for service in services:
        unit = _unit(service)
        assert unit.get("Service", "EnvironmentFile") == "/etc/ecampus-idm/env", service
        assert unit.get("Service", "UMask") == "0077", service  # files it writes: owner-only
        for line in _exec_lines(service):
            assert line[0] == BINARY, service
            _cli_accepts(line[1:])


def test_every_timer_names_an_existing_service_and_a_valid_calendar() -> None:
    """Each timer's Unit= is one of ours and its OnCalendar parses."""
    analyze = _systemd_analyze()
    timers = [u for u in UNITS if u.suffix == ".timer"]
    assert len(timers) >= 4
    for timer in timers:
        unit = _unit(timer)
        assert (EXAMPLES / "systemd" / unit.get("Timer", "Unit")).is_file(), timer
        calendar = unit.get("Timer", "OnCalendar")
        result = subprocess.run(
            [analyze, "calendar", calendar], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{timer.name}: {result.stderr}"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing, with the binary pointed at this venv."""
    analyze = _systemd_analyze()
    here = str(Path(sys.executable).with_name("ecampus-idm"))
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text("utf-8").replace(BINARY, here), "utf-8")
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [
        line
        for line in result.stderr.splitlines()
        if "ecampus-idm" in line and "Unknown user" not in line  # no 'ecampus' user here
    ]
    assert problems == []
    assert result.returncode == 0 or not problems


def test_cron_lines_export_the_environment_and_run_real_commands() -> None:
    """Each cron line: 5 time fields, the user, `set -a; . env; set +a`, a real command."""
    lines = [
        line
        for line in (EXAMPLES / "cron" / "ecampus-idm").read_text("utf-8").splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) >= 4
    for line in lines:
        fields = line.split(None, 6)
        assert fields[5] == "ecampus", line
        command = fields[6]
        assert command.startswith("set -a; . /etc/ecampus-idm/env; set +a; ecampus-idm "), line
        invocation = shlex.split(command.split("; ", 3)[3].split(">>")[0])
        _cli_accepts(invocation[1:])


def test_cron_environment_file_is_really_exported(tmp_path: Path) -> None:
    """What the cron line does to the file reaches the command's environment."""
    env_file = tmp_path / "env"
    env_file.write_text("ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD='s3cr3t'\n", "utf-8")
    shown = subprocess.run(
        ["/bin/sh", "-c", f"set -a; . {env_file}; set +a; env"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    assert "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD=s3cr3t" in shown.splitlines()
    plain = subprocess.run(
        ["/bin/sh", "-c", f". {env_file}; env"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    assert "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD" not in plain  # the old example's mistake


def test_env_example_names_only_real_settings() -> None:
    """Every ECAMPUS_IDM_* variable of env.example is a field of the configuration."""
    names = re.findall(r"^#?(ECAMPUS_IDM_[A-Z_]+)=", (EXAMPLES / "env.example").read_text(), re.M)
    assert len(names) >= 5
    for name in names:
        if name == "ECAMPUS_IDM_MAIL_IMAP_PASSWORD":  # read by `mail bounces`, not a setting
            continue
        models: list[type[BaseModel]] = [Settings]
        for part in name.removeprefix(ENV_PREFIX).lower().split("__"):
            fields = [m.model_fields[part] for m in models if part in m.model_fields]
            assert fields, f"{name}: no setting {part!r}"
            models = [m for f in fields for m in _models_in(f.annotation)]
