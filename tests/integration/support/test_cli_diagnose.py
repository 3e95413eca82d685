"""``ecampus-idm diagnose`` as support runs it: the person of the school, local times.

Issue 15 (items 3 and 4), against slapd, SQLite and the CSV exports of support_world.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from support_world import KEY, TWIN_PUPIL, School, write_config

from ecampus_idm.cli import main
from ecampus_idm.clock import BRUSSELS
from ecampus_idm.testing.cli import json_data
from ecampus_idm.testing.slapd import SlapdServer


@pytest.fixture
def config(school_group: School, ldap_server: SlapdServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The school group after one nightly run, Zoé (Ath) sharing Farid's number HE0004."""
    school_group.add_rows("secretariat-sec.csv", TWIN_PUPIL)
    school_group.run()
    monkeypatch.setenv(
        "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ldap_server.admin_password.get_secret_value()
    )
    monkeypatch.setenv("ECAMPUS_IDM_SOURCES__PSEUDONYM_KEY", KEY)
    monkeypatch.chdir(school_group.folder)
    return write_config(school_group, ldap_server)


def _diagnose(config: Path, *options: str) -> str:
    result = CliRunner(env={"COLUMNS": "100"}).invoke(
        main, ["diagnose", "--config", str(config), *options]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_school_and_matricule_answer_with_the_person_of_that_school(config: Path) -> None:
    """`--school AR-ATH --matricule HE0004` is Zoé; at Mons the number finds nobody, and
    no other school's person is shown (was: exit 1, "2 people match")."""
    at_ath = json_data(_diagnose(config, "--school", "AR-ATH", "--matricule", "HE0004", "--json"))
    assert at_ath["display_name"] == "Zoé Simon"
    at_mons = _diagnose(config, "--school", "HEC-MONS", "--matricule", "HE0004", "--json")
    data = json_data(at_mons)
    assert data["found"] is False
    assert data["conclusion"]["code"] == "not-found"
    assert "Farid" not in at_mons
    assert "Zoé" not in at_mons


def test_text_keeps_the_outcomes_and_names_the_zone(config: Path) -> None:
    """The report prints "[accordé]" (rich took it for markup and dropped it) and its
    times with the zone; the JSON's instants carry Brussels' offset."""
    text = _diagnose(config, "--school", "HEC-TOURNAI", "--matricule", "HE0004")
    assert "[accordé] Inscription 2026-2027 à HEC-TOURNAI/ECO" in text
    assert re.search(r"2026-09-10 02:00 CEST  account\.created", text)
    assert re.search(r"Établi le \d{4}-\d{2}-\d{2} \d{2}:\d{2} CES?T", text)
    document = json_data(
        _diagnose(config, "--school", "HEC-TOURNAI", "--username", "farid.benali", "--json")
    )
    for instant in [document["at"]] + [t["at"] for t in document["timeline"] if t["at"]]:
        moment = datetime.fromisoformat(instant)
        assert moment.utcoffset() == moment.astimezone(BRUSSELS).utcoffset(), instant
