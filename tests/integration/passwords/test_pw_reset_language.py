"""Reset mails speak the configured or the person's language (issue 14, item 8).

The real path: a request on a SQLite store, ``ecampus-idm passwords process`` against a
real slapd, ``ecampus-idm mail send`` to a real aiosmtpd server; the mail read there.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from pw_integration import add_ldap_account
from pydantic import SecretStr

from ecampus_idm.cli import main
from ecampus_idm.config import load_config
from ecampus_idm.crypto import generate_key
from ecampus_idm.directory.ldap import LdapDirectory
from ecampus_idm.mail.welcome import Addressee, WelcomeDesk
from ecampus_idm.mail.wiring import keyring_from_settings
from ecampus_idm.model import Role
from ecampus_idm.portal import reset_service
from ecampus_idm.store import open_store
from ecampus_idm.testing.cli import json_data
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.smtp import ReceivedMessage, SmtpServer

pytestmark = pytest.mark.integration

SUBJECT = {
    "fr": "Réinitialisation de votre mot de passe",
    "nl": "Uw wachtwoord opnieuw instellen",
    "en": "Resetting your password",
}
GREETING = {"fr": "Bonjour Jean Dupont", "nl": "Beste Jean Dupont", "en": "Hello Jean Dupont"}


def _config(
    tmp_path: Path, ldap: SlapdServer, smtp: SmtpServer, *, language: str, extra: str = ""
) -> Path:
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
reset_url = "https://portal.ecampus.test/mot-de-passe"

[mail]
transport = "smtp"
language = "{language}"
keys = ["{generate_key()}"]

[mail.smtp]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
timeout_seconds = 5
{extra}
""",
        "utf-8",
    )
    return path


def _welcome(config: Path, roles: frozenset[Role]) -> None:
    """The nightly run's welcome mail for p-jean, in the population ``roles`` name."""
    settings = load_config(config)
    with open_store(settings.store) as store:
        desk = WelcomeDesk(store, keyring_from_settings(settings), settings.mail)
        who = Addressee("p-jean", "jean", "Jean Dupont", "jean@example.be", roles)
        with store.transaction():
            now = store.start_run("run").started_at
            store.record_events(desk.issue(who, SecretStr("Welcome-Pw-7741"), now=now, run_id=None))


def _reset_mail(config: Path, smtp: SmtpServer) -> ReceivedMessage:
    """Request a reset, run the worker and the flush as commands; the reset mail received."""
    settings = load_config(config)
    with open_store(settings.store) as store:
        service = reset_service(
            settings, store, directory=lambda: pytest.fail("a request must not open it")
        )
        service.request_reset("parent@example.org", "203.0.113.9")
    runner = CliRunner()
    processed = runner.invoke(main, ["passwords", "process", "--config", str(config), "--json"])
    assert processed.exit_code == 0, processed.output
    assert json_data(processed.stdout)["mailed"] == 1
    sent = runner.invoke(main, ["mail", "send", "--config", str(config), "--json"])
    assert sent.exit_code == 0, sent.output
    resets = [m for m in smtp.messages if "token=" in m.text()]
    assert len(resets) == 1
    return resets[0]


@pytest.fixture
def jean(
    ldap_server: SlapdServer, ldap_directory: LdapDirectory, monkeypatch: pytest.MonkeyPatch
) -> SlapdServer:
    """slapd holding jean's account; its bind password in the environment, as in production."""
    monkeypatch.setenv(
        "ECAMPUS_IDM_DIRECTORY__BIND_PASSWORD", ldap_server.admin_password.get_secret_value()
    )
    add_ldap_account(ldap_directory, ldap_server.people_dn, "jean")
    return ldap_server


@pytest.mark.parametrize("language", ["nl", "en"])
def test_reset_mail_follows_mail_language(
    language: str,
    tmp_path: Path,
    jean: SlapdServer,
    smtp_server: SmtpServer,
) -> None:
    """With ``mail.language`` set, the reset mail is written in that language."""
    config = _config(tmp_path, jean, smtp_server, language=language)
    message = _reset_mail(config, smtp_server).parsed()
    assert message["Content-Language"] == language
    assert str(message["Subject"]).startswith(SUBJECT[language])
    assert GREETING[language] in _reset_mail_text(message)


def test_reset_mail_speaks_the_persons_language(
    tmp_path: Path,
    jean: SlapdServer,
    smtp_server: SmtpServer,
) -> None:
    """A teacher whose population writes in English gets the reset in English, not nl."""
    extra = '[mail.populations.teacher]\nlanguage = "en"\n'
    config = _config(tmp_path, jean, smtp_server, language="nl", extra=extra)
    _welcome(config, frozenset({Role.TEACHER}))
    message = _reset_mail(config, smtp_server).parsed()
    assert message["Content-Language"] == "en"
    assert str(message["Subject"]).startswith(SUBJECT["en"])


def test_reset_mail_stays_french_by_default(
    tmp_path: Path,
    jean: SlapdServer,
    smtp_server: SmtpServer,
) -> None:
    """Without a language configured, the reset mail is French."""
    config = _config(tmp_path, jean, smtp_server, language="fr")
    message = _reset_mail(config, smtp_server).parsed()
    assert message["Content-Language"] == "fr"
    assert GREETING["fr"] in _reset_mail_text(message)


def _reset_mail_text(message: object) -> str:
    from email.message import EmailMessage  # noqa: PLC0415

    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]
