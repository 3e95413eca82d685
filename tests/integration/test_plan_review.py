"""Plans people can review, on slapd: the LDIF applied by ldapmodify, apply --plan FILE."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from ecampus_idm.cli import EXIT_ERROR, EXIT_HELD, main
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.sync import (
    DesiredEntry,
    EntryKind,
    Plan,
    PlanOptions,
    TargetSpec,
    plan,
    read_snapshot,
)
from ecampus_idm.sync.apply import apply
from ecampus_idm.sync.review import plan_to_ldif
from ecampus_idm.testing.cli import json_data, json_error
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.sync_contract import group, person

pytestmark = pytest.mark.ldap


def _ldapmodify(server: SlapdServer, ldif: str) -> subprocess.CompletedProcess[str]:
    """Apply ``ldif`` as an engineer would, with OpenLDAP's own client."""
    return subprocess.run(
        [
            shutil.which("ldapmodify") or "/usr/bin/ldapmodify",
            "-x",
            "-H",
            server.url,
            "-D",
            server.admin_dn,
            "-w",
            server.admin_password.get_secret_value(),
        ],
        input=ldif,
        capture_output=True,
        text=True,
        check=False,
    )


def _spec(server: SlapdServer) -> TargetSpec:
    return TargetSpec(
        containers={EntryKind.PERSON: server.people_dn, EntryKind.GROUP: server.groups_dn},
        extra_attributes=("pwdAccountLockedTime", "memberOf"),
    )


def _known(entries: list[DesiredEntry]) -> list[DesiredEntry]:
    """The desired state once their accounts exist: no initial password to set."""
    return [replace(e, initial_password=False) for e in entries]


def test_ldif_applied_with_ldapmodify_makes_the_planned_tree(
    ldap_directory: LdapDirectory, ldap_server: SlapdServer
) -> None:
    """Creates, modifies, a rename and group adds applied by ldapmodify: nothing left to do."""
    base, spec = ldap_server.base_dn, _spec(ldap_server)
    options = PlanOptions(member_of_attribute="memberof")
    jean = person(base, "p1", "jean.dupont")
    anne = person(base, "p2", "anne.martin")
    first = [jean, anne, group(base, "HEC-TOURNAI", [jean])]
    seeded = plan(first, read_snapshot(ldap_directory, spec), options)
    assert apply(seeded, ldap_directory, spec, passwords=lambda _: _secret()).ok
    zoe = person(base, "p3", "zoe.lefevre", sn="Lefèvre")  # base64 in the LDIF
    renamed = person(base, "p2", "anne.martin-dubois", sn="Martin-Dubois")
    moved = person(base, "p1", "jean.dupont", sn="Dupont-Étienne")
    wanted = [
        *_known([moved, renamed]),
        replace(zoe, initial_password=False),  # an LDIF carries no password
        group(base, "HEC-TOURNAI", [moved, renamed, zoe]),
        group(base, "HEC-MONS", [zoe]),
    ]
    pending = plan(wanted, read_snapshot(ldap_directory, spec), options)
    assert set(pending.counts()) == {"rename", "create", "update", "add_member"}
    ldif = plan_to_ldif(pending)
    assert "sn:: " in ldif
    assert "# sn: Lefèvre" in ldif

    applied = _ldapmodify(ldap_server, ldif)

    assert applied.returncode == 0, applied.stderr
    assert plan(wanted, read_snapshot(ldap_directory, spec), options).is_empty
    entry = ldap_directory.get(zoe.dn)
    assert entry is not None
    assert entry.first("sn") == "Lefèvre"
    assert entry.get("userPassword") == ()
    mons = ldap_directory.get(group(base, "HEC-MONS", []).dn)
    assert mons is not None
    assert zoe.dn in mons.get("member")


def test_stale_ldif_is_refused_by_its_preconditions(
    ldap_directory: LdapDirectory, ldap_server: SlapdServer
) -> None:
    """An entry changed after planning is not overwritten by ldapmodify (assertion, 122)."""
    base, spec = ldap_server.base_dn, _spec(ldap_server)
    jean = person(base, "p1", "jean.dupont")
    assert apply(
        plan([jean], read_snapshot(ldap_directory, spec)),
        ldap_directory,
        spec,
        passwords=lambda _: _secret(),
    ).ok
    pending = plan(
        _known([person(base, "p1", "jean.dupont", sn="Martin")]),
        read_snapshot(ldap_directory, spec),
    )
    assert pending.counts() == {"update": 1}
    meanwhile = _ldapmodify(
        ldap_server, f"dn: {jean.dn}\nchangetype: modify\nreplace: sn\nsn: Meanwhile\n-\n"
    )
    assert meanwhile.returncode == 0, meanwhile.stderr

    refused = _ldapmodify(ldap_server, plan_to_ldif(pending))

    assert refused.returncode == 122, refused.stderr
    entry = ldap_directory.get(jean.dn)
    assert entry is not None
    assert entry.first("sn") == "Meanwhile"


def _secret() -> SecretStr:
    return SecretStr("Initial-Review-Pass-2026")


# -- the commands ------------------------------------------------------------------------


def _config(tmp_path: Path, server: SlapdServer) -> Path:
    exports = tmp_path / "exports"
    sampled = CliRunner().invoke(
        main, ["sample", "--people", "40", "--out", str(exports), "--year", "2026"]
    )
    assert sampled.exit_code == 0, sampled.output
    sources = (
        (exports / "sources.toml")
        .read_text("utf-8")
        .replace('ledger_path = "export-ledger.json"', "")
        .replace('path = "', f'path = "{exports}/')
    )
    config = tmp_path / "idm.toml"
    config.write_text(
        "[directory]\n"
        f'url = "{server.url}"\nbind_dn = "{server.admin_dn}"\n'
        f'base_dn = "{server.base_dn}"\nca_file = "{server.ca_file}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/state.db"\n' + sources,
        "utf-8",
    )
    return config


@pytest.fixture
def config(
    tmp_path: Path,
    ldap_server: SlapdServer,
    ldap_directory: LdapDirectory,  # empties the tree again afterwards
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A nightly configuration: 40 sample people, slapd, a SQLite store."""
    del ldap_directory
    monkeypatch.setenv(
        "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ldap_server.admin_password.get_secret_value()
    )
    monkeypatch.setenv("ECAMPUS_IDM_SOURCES__PSEUDONYM_KEY", "k" * 40)
    return _config(tmp_path, ldap_server)


def _people(directory: LdapDirectory, server: SlapdServer) -> set[str]:
    return {
        e.dn
        for e in directory.search(server.people_dn, attributes=["1.1"])
        if e.dn != server.people_dn
    }


def test_plan_diff_json_shows_each_change_without_a_password(config: Path) -> None:
    """`plan --diff --json` has one entry per DN, attributes before → after, members."""
    result = CliRunner().invoke(main, ["plan", "--config", str(config), "--diff", "--json"])
    assert result.exit_code == 0, result.output
    data = json_data(result.stdout)
    diff = data["diff"]
    creates = data["plan"]["counts"]["create"]
    assert len([e for e in diff if e["operations"] == ["create"]]) == creates
    person_entry = next(e for e in diff if e["entry_kind"] == "person")
    assert {c["attribute"] for c in person_entry["changes"]} >= {"uid", "sn", "mail"}
    assert all(c["before"] == [] for c in person_entry["changes"])
    assert person_entry["initial_password"] is True
    assert any(e["members"]["added"] for e in diff if e["entry_kind"] == "group")
    assert "userpassword" not in result.output.lower()
    assert data["plan"]["segments"]["-"] == "hors école / no school"
    human = CliRunner().invoke(main, ["plan", "--config", str(config), "--diff"])
    assert f"+ {person_entry['dn']}  [create]" in human.output
    assert "[-] hors école / no school:" in human.output


def test_plan_ldif_out_applies_with_ldapmodify(
    config: Path, tmp_path: Path, ldap_server: SlapdServer, ldap_directory: LdapDirectory
) -> None:
    """`plan --format ldif --out` writes an owner-only LDIF; ldapmodify creates the people."""
    target = tmp_path / "plan.ldif"
    result = CliRunner().invoke(
        main, ["plan", "--config", str(config), "--format", "ldif", "--out", str(target), "--json"]
    )
    assert result.exit_code == 0, result.output
    creates = json_data(result.stdout)["plan"]["counts"]["create"]
    assert target.stat().st_mode & 0o777 == 0o600  # names and addresses
    ldif = target.read_text("utf-8")
    assert ldif.startswith("version: 1\n")
    assert "userpassword" not in ldif.lower()

    applied = _ldapmodify(ldap_server, ldif)

    assert applied.returncode == 0, applied.stderr
    people = _people(ldap_directory, ldap_server)
    assert len(people) == ldif.count("\n# create person ")
    again = CliRunner().invoke(main, ["plan", "--config", str(config), "--json"])
    counts = json_data(again.stdout)["plan"]["counts"]
    assert "create" not in counts  # every entry of the LDIF is there, groups included
    # Entries without a recorded account and without password: the next run sets one.
    assert counts["set_password"] == len(people)
    assert creates > len(people)  # the groups were created too


def test_format_ldif_needs_out(config: Path) -> None:
    """`plan --format ldif` without a file is a usage error (exit 2)."""
    result = CliRunner().invoke(main, ["plan", "--config", str(config), "--format", "ldif"])
    assert result.exit_code == 2, result.output
    assert "--format ldif needs --out FILE" in result.output


def test_apply_needs_a_plan_or_a_hash() -> None:
    """`apply` with neither --plan nor --approve is a usage error (exit 2)."""
    result = CliRunner().invoke(main, ["apply"])
    assert result.exit_code == 2, result.output
    assert "give --plan FILE (from plan --out) or --approve HASH" in result.output


def test_apply_plan_with_another_hash_is_refused(tmp_path: Path) -> None:
    """--approve beside --plan must be the file's hash; otherwise nothing is read (exit 2)."""
    saved = tmp_path / "plan.json"
    saved.write_text(Plan(()).to_json(), "utf-8")
    result = CliRunner().invoke(main, ["apply", "--plan", str(saved), "--approve", "0" * 64])
    assert result.exit_code == 2, result.output
    assert f"--approve is not the hash of {saved}" in result.output


def test_apply_plan_file_applies_the_reviewed_plan(
    config: Path, tmp_path: Path, ldap_server: SlapdServer, ldap_directory: LdapDirectory
) -> None:
    """`apply --plan FILE` applies a saved plan that is still today's."""
    saved = tmp_path / "plan.json"
    planned = CliRunner().invoke(main, ["plan", "--config", str(config), "--out", str(saved)])
    assert planned.exit_code == 0, planned.output
    creates = json.loads(saved.read_text("utf-8"))["counts"]["create"]

    applied = CliRunner().invoke(
        main, ["apply", "--config", str(config), "--plan", str(saved), "--json"]
    )

    assert applied.exit_code == 0, applied.output
    data = json_data(applied.stdout)
    assert data["applied"]["applied"]["create"] == creates
    assert data["plan"]["hash"] == json.loads(saved.read_text("utf-8"))["hash"]
    assert _people(ldap_directory, ldap_server)


def test_apply_stale_plan_file_is_held_and_writes_nothing(
    config: Path, tmp_path: Path, ldap_server: SlapdServer, ldap_directory: LdapDirectory
) -> None:
    """A saved plan the directory no longer matches is held (5), naming the file."""
    saved = tmp_path / "plan.json"
    CliRunner().invoke(main, ["plan", "--config", str(config), "--out", str(saved)])
    operations = json.loads(saved.read_text("utf-8"))["operations"]
    taken = next(op["dn"] for op in operations if op["entry_kind"] == "person")
    uid = taken.split(",", 1)[0].split("=", 1)[1]
    squatter = _ldapmodify(
        ldap_server,
        f"dn: {taken}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: x\nsn: x\n",
    )
    assert squatter.returncode == 0, squatter.stderr

    stale = CliRunner().invoke(
        main, ["apply", "--config", str(config), "--plan", str(saved), "--json"]
    )

    assert stale.exit_code == EXIT_HELD, stale.output
    data = json_data(stale.stdout)
    assert data["status"] == "held"
    assert str(saved) in data["message"]
    assert "rien n'a été écrit" in data["message"]
    assert data["applied"] is None
    assert _people(ldap_directory, ldap_server) == {taken}  # only the squatter


def test_apply_altered_plan_file_is_refused_naming_it(
    config: Path, tmp_path: Path, ldap_server: SlapdServer, ldap_directory: LdapDirectory
) -> None:
    """A saved plan edited after review is refused (exit 1) before anything is read."""
    saved = tmp_path / "plan.json"
    CliRunner().invoke(main, ["plan", "--config", str(config), "--out", str(saved)])
    document = json.loads(saved.read_text("utf-8"))
    document["operations"] = document["operations"][:1]
    saved.write_text(json.dumps(document), "utf-8")

    refused = CliRunner().invoke(
        main, ["apply", "--config", str(config), "--plan", str(saved), "--json"]
    )

    assert refused.exit_code == EXIT_ERROR, refused.output
    error = json_error(refused.stdout)
    assert error["type"] == "PlanFileError"
    assert str(saved) in error["message"]
    assert "hash" in error["message"]
    assert not _people(ldap_directory, ldap_server)
