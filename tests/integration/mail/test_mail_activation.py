"""Activation mode: the welcome mail carries a link from the password-token service.

Real slapd, SQLite store and SMTP server: the run sends a link instead of the password;
the portal's reset page accepts the link's token (``peek`` then ``redeem``), and the
chosen password binds.
"""

from __future__ import annotations

import base64
import re
import secrets
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.crypto import generate_key
from ecampus_idm.directory.base import Directory
from ecampus_idm.errors import InvalidCredentialsError
from ecampus_idm.mail.outbox import open_outbox
from ecampus_idm.mail.reset import OutboxResetMailer
from ecampus_idm.mail.smtp import SmtpTransport
from ecampus_idm.mail.wiring import build_mailer, keyring_from_settings
from ecampus_idm.passwords import PasswordResetService, TokenInvalidError
from ecampus_idm.runner import NightlyRun
from ecampus_idm.store import open_store
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.smtp import SmtpServer

pytestmark = pytest.mark.ldap

BASE = "dc=ecampus,dc=test"
LINK = re.compile(r"https://ecampus\.test/activer\?token=([A-Za-z0-9_-]+)")
NEW_PASSWORD = "tartine-de-speculoos-au-beurre-sale"


@pytest.fixture
def settings(ldap_server: SlapdServer, tmp_path: Path) -> Settings:
    """40 sample people; mail in activation mode, with a token key."""
    write_sample(tmp_path, 40)
    sample = tomllib.loads((tmp_path / "sources.toml").read_text("utf-8"))
    return Settings(
        institution={"mail_domain": "ecampus.test", "portal_url": "https://ecampus.test/"},
        schools=sample["schools"],
        sources={
            **sample["sources"],
            "pseudonym_key": secrets.token_urlsafe(48),
            "ledger_path": None,
        },
        directory=ldap_server.settings().model_dump(),
        store={"url": f"sqlite:///{tmp_path}/state.sqlite3"},
        mail={
            "transport": "smtp",
            "mode": "activation",
            "flush_after_run": True,
            "keys": [generate_key()],
            "throttle": {"per_domain_per_minute": 0, "overall_per_minute": 0},
        },
        passwords={
            "token_keys": [base64.b64encode(secrets.token_bytes(32)).decode()],
            "reset_url": "https://ecampus.test/activer",
            "people_dn": f"ou=people,{BASE}",
        },
    ).resolve_paths(tmp_path, ca_file=False)


@pytest.fixture
def store(settings: Settings) -> Iterator[SqlStore]:
    """The SQLite store of ``settings``."""
    with open_store(settings.store, clock=FixedClock.on(date(2026, 10, 2))) as opened:
        yield opened


def _run(
    settings: Settings, store: SqlStore, directory: Directory, smtp: SmtpServer, clock: FixedClock
) -> None:
    assert settings.sources is not None
    mailer = build_mailer(
        settings, store, clock, transport=SmtpTransport(smtp.settings()), directory=directory
    )
    with open_connectors(settings.sources) as connectors:
        NightlyRun(
            settings,
            clock=clock,
            store=store,
            directory=directory,
            connectors=connectors,
            mailer=mailer,
        ).run()


def _service(settings: Settings, store: SqlStore, directory: Directory) -> PasswordResetService:
    outbox = open_outbox(store, keyring_from_settings(settings))
    return PasswordResetService.for_store(
        store,
        mailer=OutboxResetMailer(store, outbox),
        settings=settings.passwords,
        directory=directory,
        clock=FixedClock.on(date(2026, 10, 2)),
    )


def test_activation_mail_carries_a_link_not_the_password(
    settings: Settings, store: SqlStore, ldap_directory: Directory, smtp_server: SmtpServer
) -> None:
    """In activation mode the mail has a working link and no initial password."""
    _run(settings, store, ldap_directory, smtp_server, FixedClock.on(date(2026, 10, 2)))
    assert smtp_server.messages
    text = smtp_server.messages[0].text()
    assert "Mot de passe initial" not in text
    found = LINK.search(text)
    assert found is not None
    info = _service(settings, store, ldap_directory).peek(found.group(1))
    assert info.username in text


def test_activation_link_sets_the_first_password(
    settings: Settings, store: SqlStore, ldap_directory: Directory, smtp_server: SmtpServer
) -> None:
    """Redeeming the link writes the chosen password; the link is then spent."""
    _run(settings, store, ldap_directory, smtp_server, FixedClock.on(date(2026, 10, 2)))
    found = LINK.search(smtp_server.messages[0].text())
    assert found is not None
    service = _service(settings, store, ldap_directory)
    info = service.peek(found.group(1))
    dn = f"uid={info.username},ou=people,{BASE}"
    service.redeem(found.group(1), NEW_PASSWORD)
    ldap_directory.authenticate(dn, SecretStr(NEW_PASSWORD))  # raises if refused
    with pytest.raises(InvalidCredentialsError):
        ldap_directory.authenticate(dn, SecretStr(NEW_PASSWORD + "x"))
    with pytest.raises(TokenInvalidError):
        service.redeem(found.group(1), NEW_PASSWORD + "-encore")


def test_activation_token_is_never_stored_in_clear(
    settings: Settings, store: SqlStore, ldap_directory: Directory, smtp_server: SmtpServer
) -> None:
    """The link's token is in the mail only: not in the database file, not in the events."""
    _run(settings, store, ldap_directory, smtp_server, FixedClock.on(date(2026, 10, 2)))
    found = LINK.search(smtp_server.messages[0].text())
    assert found is not None
    token = found.group(1)
    database = settings.store.url.removeprefix("sqlite:///")
    stored = b"".join(p.read_bytes() for p in Path(database).parent.glob("state.sqlite3*"))
    assert token.encode() not in stored
    info = _service(settings, store, ldap_directory).peek(token)
    owner = store.username_record(info.username)
    assert owner is not None
    events = store.events_for_person(owner.person_id)
    assert "activation.issued" in [e.kind for e in events]
    assert all(token not in f"{e.reason_fr}{e.reason_en}{e.data}" for e in events)


def test_without_a_token_key_activation_mails_wait(
    settings: Settings, store: SqlStore, ldap_directory: Directory, smtp_server: SmtpServer
) -> None:
    """No [passwords] token key: the run succeeds, the activation mails are deferred, with why."""
    keyless = settings.model_copy(
        update={"passwords": settings.passwords.model_copy(update={"token_keys": ()})}
    )
    _run(keyless, store, ldap_directory, smtp_server, FixedClock.on(date(2026, 10, 2)))
    assert smtp_server.messages == []
    outbox = open_outbox(store, keyring_from_settings(keyless))
    queued = outbox.counts()
    assert queued.get("deferred", 0) > 0
    assert queued.get("sent", 0) == 0
    person = next(iter(store.accounts()))
    waiting = [m for m in outbox.messages_for(person) if m.status == "deferred"]
    assert waiting
    assert "no activation link" in (waiting[0].last_error or "")
