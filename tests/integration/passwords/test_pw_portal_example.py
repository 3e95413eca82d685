"""The portal example of docs/passwords.md runs as written (issue 14, item 10).

The two blocks after ``<!-- example: portal -->`` and ``<!-- example: worker -->`` are
executed with one substitution, the configuration path, against a real slapd, a SQLite
store and a real SMTP server: a request, the worker's pass, the mail read on the server,
the link shown and redeemed, and the new password binds.
"""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from pw_integration import NEW_PASSWORD, add_ldap_account
from pydantic import SecretStr

from ecampus_idm.crypto import generate_key
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.testing.cli import json_data
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.smtp import SmtpServer

pytestmark = pytest.mark.integration

DOC = Path(__file__).parents[3] / "docs" / "passwords.md"
DOCUMENTED_PATH = "/etc/ecampus-idm/idm.toml"


def documented_example(name: str) -> str:
    """The fenced Python block that follows ``<!-- example: name -->`` in passwords.md."""
    found = re.search(
        rf"<!-- example: {name} -->\n```python\n(.*?)\n```", DOC.read_text("utf-8"), re.S
    )
    assert found is not None, f"docs/passwords.md has no example {name!r}"
    return found.group(1)


def run_example(name: str, config: Path) -> dict[str, Any]:
    """Execute the example with the one substitution; its namespace."""
    code = documented_example(name)
    assert code.count(DOCUMENTED_PATH) == 1
    namespace: dict[str, Any] = {"__name__": f"portal_example_{name}"}
    exec(compile(code.replace(DOCUMENTED_PATH, str(config)), f"{DOC}:{name}", "exec"), namespace)  # noqa: S102 - the documented code
    return namespace


def _config(tmp_path: Path, ldap: SlapdServer, smtp: SmtpServer) -> Path:
    path = tmp_path / "idm.toml"
    token_key = base64.b64encode(secrets.token_bytes(32)).decode()
    path.write_text(
        f"""
[directory]
url = "{ldap.url}"
bind_dn = "{ldap.admin_dn}"
base_dn = "{ldap.base_dn}"
ca_file = "{ldap.ca_file}"

[store]
url = "sqlite:///{tmp_path}/state.sqlite3"

[passwords]
token_keys = ["{token_key}"]
people_dn = "{ldap.people_dn}"
reset_url = "https://portal.ecampus.test/mot-de-passe/nouveau"

[mail]
transport = "smtp"
keys = ["{generate_key()}"]

[mail.smtp]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
timeout_seconds = 5
""",
        "utf-8",
    )
    return path


@pytest.fixture
def config(
    tmp_path: Path,
    ldap_server: SlapdServer,
    ldap_directory: LdapDirectory,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """jean's account on slapd; the bind password in the environment, as in production."""
    monkeypatch.setenv(
        "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ldap_server.admin_password.get_secret_value()
    )
    add_ldap_account(ldap_directory, ldap_server.people_dn, "jean")
    return _config(tmp_path, ldap_server, smtp_server)


def test_documented_portal_and_worker_run_as_written(
    config: Path, ldap_server: SlapdServer, smtp_server: SmtpServer
) -> None:
    """Request, worker, mail, link, new password: the documented code does all of it."""
    portal = run_example("portal", config)
    try:
        answer = portal["forgot"]("parent@example.org", "10.1.2.3", "198.51.100.7")
        assert answer.startswith("Si cette adresse correspond à un compte eCampus")
        assert smtp_server.messages == []  # the request only queues

        worker = run_example("worker", config)
        report = worker["report"]
        assert (report.lookup.mailed, report.flush.sent) == (1, 1)
        (mail,) = smtp_server.messages
        token = re.search(r"token=([A-Za-z0-9_-]{43})", mail.text())
        assert token is not None, mail.text()

        assert "jean" in portal["show"](token.group(1))
        assert portal["choose"](token.group(1), "aaaaaaaaaaaaaaaa") != "Mot de passe changé"
        assert portal["choose"](token.group(1), NEW_PASSWORD) == "Mot de passe changé"
        assert portal["revoked"] == ["jean"]
        assert portal["show"](token.group(1)) == "Lien inutilisable"  # single use
    finally:
        portal["shutdown"]()
    with ldap_server.connect() as directory:
        directory.authenticate(f"uid=jean,{ldap_server.people_dn}", SecretStr(NEW_PASSWORD))


def test_worker_leaves_the_mails_to_a_flush_in_progress(
    config: Path, smtp_server: SmtpServer
) -> None:
    """While another flush holds the lock, the worker queues and sends nothing itself."""
    from ecampus_idm.config import load_config  # noqa: PLC0415
    from ecampus_idm.mail.delivery import FLUSH_LOCK  # noqa: PLC0415
    from ecampus_idm.portal import reset_service, run_reset_worker  # noqa: PLC0415
    from ecampus_idm.store import RunStatus, open_store  # noqa: PLC0415

    settings = load_config(str(config))
    with open_store(settings.store) as store:
        reset_service(settings, store).request_reset("parent@example.org", "203.0.113.9")
        other = store.start_run("mail.send", exclusive=True, lock=FLUSH_LOCK)
    report = run_reset_worker(settings)
    assert (report.lookup.mailed, report.flush, report.complete) == (1, None, True)
    assert smtp_server.messages == []
    with open_store(settings.store) as store:
        store.finish_run(other.run_id, RunStatus.SUCCEEDED)
    again = run_reset_worker(settings)
    assert again.lookup.requests == 0
    assert again.flush is not None
    assert again.flush.sent == 1
    assert len(smtp_server.messages) == 1


def test_passwords_process_send_is_the_worker_on_the_command_line(
    config: Path, smtp_server: SmtpServer
) -> None:
    """`passwords process --send --json`: looked up, queued and sent in one pass."""
    from click.testing import CliRunner  # noqa: PLC0415

    from ecampus_idm.cli import main  # noqa: PLC0415
    from ecampus_idm.config import load_config  # noqa: PLC0415
    from ecampus_idm.portal import reset_service  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415

    settings = load_config(config)
    with open_store(settings.store) as store, reset_service(settings, store) as service:
        service.request_reset("parent@example.org", "203.0.113.9")
    result = CliRunner().invoke(
        main, ["passwords", "process", "--send", "--config", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json_data(result.stdout)
    assert (document["ok"], document["mailed"], document["flush"]["sent"]) == (True, 1, 1)
    assert len(smtp_server.messages) == 1
