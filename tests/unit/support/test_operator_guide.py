"""docs/operator-guide.md stays true: its commands, options and conclusion codes exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from ecampus_idm.cli import main
from ecampus_idm.support.diagnose import ConclusionCode

GUIDE = Path(__file__).parents[3] / "docs" / "operator-guide.md"
MAIL_PURPOSES = {"welcome-again", "reset-hint"}
"""Hyphenated words of the guide that are mail purposes, not conclusion codes."""


def _command_lines() -> list[str]:
    text = GUIDE.read_text("utf-8")
    blocks = re.findall(r"```\n(.*?)```", text, re.DOTALL)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    lines += re.findall(r"`(ecampus-idm [^`]+)`", text)
    return [line for line in lines if line.startswith("ecampus-idm ")]


def _resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    command: click.Command = main
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        found = command.get_command(click.Context(command), rest[0])
        assert found is not None, f"no command {rest[0]!r}"
        command, rest = found, rest[1:]
    return command, rest


@pytest.mark.parametrize("line", _command_lines())
def test_every_command_of_the_guide_exists_with_its_options(line: str) -> None:
    """Each `ecampus-idm ...` line names a real command and only its real options."""
    command, rest = _resolve(shlex.split(line)[1:])
    assert not isinstance(command, click.Group), f"{line!r} names a group"
    known = {opt for param in command.params for opt in getattr(param, "opts", ())}
    for word in rest:
        if word.startswith("--"):
            assert word in known, f"{line!r}: no option {word}"


def test_every_conclusion_code_of_the_guide_exists() -> None:
    """The codes the runbooks name (`check-spam`...) are the diagnosis's codes."""
    text = GUIDE.read_text("utf-8")
    named = set(re.findall(r"`([a-z]+(?:-[a-z]+)+)`", text)) - MAIL_PURPOSES
    assert named <= {c.value for c in ConclusionCode}, named
    assert {"check-spam", "email-invalid", "account-on-date", "no-attribution"} <= named
    assert {"mail-bounced", "password-changed", "reset-address-unknown"} <= named
