"""One time zone on screen: the institution's, named; JSON with its offset (issue 15, item 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecampus_idm.cli import main
from ecampus_idm.clock import BRUSSELS, FixedClock, local_text
from ecampus_idm.config import StoreSettings
from ecampus_idm.store import RunStatus, open_store
from ecampus_idm.testing.cli import json_data

WINTER = datetime(2026, 12, 5, 14, 2, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)


def test_local_text_is_brussels_time_with_the_zone() -> None:
    """14:02 UTC in December is 15:02 CET; 22:30 UTC on 1 July is 00:30 CEST the next day."""
    assert local_text(WINTER) == "2026-12-05 15:02 CET"
    assert local_text(SUMMER, BRUSSELS, seconds=True) == "2026-07-02 00:30:00 CEST"
    assert local_text(WINTER.isoformat()) == "2026-12-05 15:02 CET"


def test_local_text_refuses_a_naive_time() -> None:
    """A time without offset cannot be placed: an error, not a guess."""
    with pytest.raises(ValueError, match="naive"):
        local_text(datetime(2026, 12, 5, 14, 2))


def test_status_shows_local_times_and_json_keeps_the_offset(tmp_path: Path) -> None:
    """`status`: the run started 14:02 UTC shows as 15:02 CET; its JSON is ISO with offset."""
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    with open_store(StoreSettings(url=url), clock=FixedClock(WINTER)) as store:
        run = store.start_run("run")
        store.finish_run(run.run_id, RunStatus.SUCCEEDED)
    config = tmp_path / "idm.toml"
    config.write_text(
        '[directory]\nurl = "ldaps://ldap.example.be"\nbind_dn = "cn=a"\nbase_dn = "dc=x"\n'
        f'bind_password = "x"\n[store]\nurl = "{url}"\n',
        "utf-8",
    )
    runner = CliRunner(env={"COLUMNS": "200"})
    human = runner.invoke(main, ["status", "--config", str(config)])
    assert human.exit_code == 0, human.output
    assert "2026-12-05 15:02 CET" in human.output
    assert "14:02" not in human.output
    data = json_data(runner.invoke(main, ["status", "--config", str(config), "--json"]).stdout)
    started = datetime.fromisoformat(data["runs"][0]["started_at"])
    assert started == WINTER
    assert started.utcoffset() is not None
