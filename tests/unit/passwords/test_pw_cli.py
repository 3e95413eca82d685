"""Unit tests of the ``ecampus-idm passwords`` commands."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from ecampus_idm.cli import main
from ecampus_idm.config import StoreSettings
from ecampus_idm.passwords.sql import SqlResetRepository
from ecampus_idm.store.sql import open_store
from ecampus_idm.testing.cli import json_data, json_error


def run(*args: str, stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(main, ["passwords", *args], input=stdin)
    return result.exit_code, result.stdout


def test_check_accepts_a_long_passphrase() -> None:
    """A good password exits 0 with ok true."""
    code, out = run("check", "--stdin", "--json", stdin="lampadaire-violet-sous-la-pluie\n")
    assert code == 0
    assert json_data(out)["ok"] is True


def test_check_explains_a_refusal_and_exits_1() -> None:
    """A refused password exits 1 and lists the problems in French and English."""
    code, out = run("check", "--stdin", "--json", "--username", "jdupont", stdin="jdupont\n")
    document = json_data(out)
    assert code == 1
    assert [p["code"] for p in document["problems"]] == ["quality.too_short", "quality.personal"]
    assert document["problems"][0]["fr"].startswith("Le mot de passe")


def test_check_never_prints_the_password() -> None:
    """The checked password is not echoed."""
    _, out = run("check", "--stdin", stdin="Canary-secret-value-123\n")
    assert "Canary-secret-value-123" not in out


def test_keygen_prints_a_usable_key() -> None:
    """The generated key is 32 bytes of base64."""
    code, out = run("keygen", "--json")
    assert code == 0
    assert len(base64.b64decode(json_data(out)["key"])) == 32


def test_process_without_a_mailer_is_an_error(tmp_path: Path) -> None:
    """With mail turned off there is no outbox: the worker refuses to run, saying why."""
    config = tmp_path / "idm.toml"
    config.write_text(
        '[directory]\nurl = "ldaps://ldap.example.be"\nbind_dn = "cn=a"\nbase_dn = "dc=x"\n'
        'bind_password = "x"\n[mail]\nenabled = false\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "state.sqlite3"}"\n',
        "utf-8",
    )
    code, out = run("process", "--config", str(config), "--json")
    assert code == 1
    assert "[mail] enabled = false" in json_error(out)["message"]


def test_purge_deletes_old_rows(tmp_path: Path) -> None:
    """The purge command runs on the configured store and reports a count."""
    database = tmp_path / "state.sqlite3"
    config = tmp_path / "idm.toml"
    config.write_text(
        '[directory]\nurl = "ldaps://ldap.example.be"\nbind_dn = "cn=a"\nbase_dn = "dc=x"\n'
        'bind_password = "x"\n'
        f'[store]\nurl = "sqlite:///{database}"\n',
        "utf-8",
    )
    store = open_store(StoreSettings(url=f"sqlite:///{database}"))
    SqlResetRepository(store).add_audit(at=datetime(2020, 1, 1, tzinfo=UTC), kind="reset.requested")
    store.close()
    code, out = run("purge", "--config", str(config), "--json")
    assert code == 0
    assert json_data(out)["removed"] == 1
