"""The welcome-mail pipeline end to end: real slapd, SQLite store, real SMTP server.

A :class:`NightlyRun` with a fixed clock creates accounts from sample exports; the run
deposits each initial password in the custody and enqueues its mail in the transaction
that records the account, and flushes the outbox to an aiosmtpd server at the end.
"""

from __future__ import annotations

import csv
import re
import secrets
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.crypto import generate_key
from ecampus_idm.custody import open_custody
from ecampus_idm.directory.base import Directory
from ecampus_idm.mail.outbox import MessageStatus, Outbox, open_outbox
from ecampus_idm.mail.settings import SmtpSettings
from ecampus_idm.mail.smtp import SmtpTransport
from ecampus_idm.mail.wiring import build_mailer, keyring_from_settings
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store import open_store
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.testing.slapd import SlapdServer
from ecampus_idm.testing.smtp import SmtpServer

pytestmark = pytest.mark.ldap

BASE = "dc=ecampus,dc=test"
PASSWORD_LINE = re.compile(r"Mot de passe initial : (\S+)")


@dataclass
class World:
    """A sample school group, a real slapd, a SQLite store and a real SMTP server."""

    folder: Path
    settings: Settings
    clock: FixedClock
    store: SqlStore
    directory: Directory
    smtp: SmtpServer

    def run(self, smtp: SmtpSettings | None = None) -> RunReport:
        assert self.settings.sources is not None
        mailer = build_mailer(
            self.settings,
            self.store,
            self.clock,
            transport=SmtpTransport(smtp or self.smtp.settings()),
        )
        with open_connectors(self.settings.sources) as connectors:
            return NightlyRun(
                self.settings,
                clock=self.clock,
                store=self.store,
                directory=self.directory,
                connectors=connectors,
                mailer=mailer,
            ).run()

    def outbox(self) -> Outbox:
        return open_outbox(self.store, keyring_from_settings(self.settings))

    def db_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.folder.glob("state.sqlite3*"))

    def change_email(self, source: str, old: str, new: str) -> None:
        path = self.folder / f"{source}.csv"
        raw = path.read_bytes()
        encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
        text = raw.decode(encoding)
        assert text.count(old) == 1
        path.write_bytes(text.replace(old, new).encode(encoding))

    def first_email(self, source: str) -> str:
        path = self.folder / f"{source}.csv"
        text = path.read_bytes().decode("utf-8-sig")
        rows = list(csv.DictReader(text.splitlines(), delimiter=";"))
        return next(r["Courriel personnel"] for r in rows if r["Courriel personnel"])


def _username(text: str) -> str:
    found = re.search(r"Nom d'utilisateur : (\S+)", text)
    assert found is not None
    return found.group(1)


def _dead_smtp() -> SmtpSettings:
    """Settings of a port where no server listens (SMTP down)."""
    server = SmtpServer()
    settings = server.settings()
    server.stop()
    return settings


@pytest.fixture
def world(
    ldap_server: SlapdServer, ldap_directory: Directory, smtp_server: SmtpServer, tmp_path: Path
) -> Iterator[World]:
    """80 sample people on 2 October 2026, mail flushed at the end of each run."""
    write_sample(tmp_path, 80)
    sample = tomllib.loads((tmp_path / "sources.toml").read_text("utf-8"))
    settings = Settings(
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
            "flush_after_run": True,
            "keys": [generate_key()],
            "throttle": {"per_domain_per_minute": 0, "overall_per_minute": 0},
        },
    ).resolve_paths(tmp_path, ca_file=False)
    clock = FixedClock.on(date(2026, 10, 2))
    with open_store(settings.store, clock=clock) as store:
        yield World(tmp_path, settings, clock, store, ldap_directory, smtp_server)


def test_each_created_account_gets_exactly_one_welcome_mail(world: World) -> None:
    """Create → one mail per account with username, password and platform; re-run → none."""
    report = world.run()
    kinds = [e.kind for p in world.store.accounts() for e in world.store.events_for_person(p)]
    created = kinds.count("account.created")
    assert created > 50
    messages = world.smtp.messages
    per_account = Counter(_username(m.text()) for m in messages)
    assert set(per_account.values()) == {1}
    assert report.mail is not None
    assert report.mail["sent"] == len(messages)
    assert len(messages) + kinds.count("mail.failed") == created
    sample = messages[0].text()
    assert PASSWORD_LINE.search(sample)
    assert "https://ecampus.test/" in sample
    assert "Nom d'utilisateur : " in sample
    world.clock.advance(timedelta(days=1))
    world.run()
    assert len(world.smtp.messages) == len(messages)


def test_mail_password_is_the_directory_password(world: World) -> None:
    """The password in the mail is the one the account was created with."""
    world.run()
    message = world.smtp.messages[0]
    password = PASSWORD_LINE.search(message.text())
    assert password
    dn = f"uid={_username(message.text())},ou=people,{BASE}"
    world.directory.authenticate(dn, SecretStr(password.group(1)))  # raises if refused


def test_smtp_down_keeps_mails_for_the_next_flush_once(world: World) -> None:
    """SMTP down during the run: nothing lost, all delivered by the next flush, once."""
    report = world.run(smtp=_dead_smtp())
    assert report.mail is not None
    assert report.mail["unavailable"]
    assert world.smtp.messages == []
    queued = world.outbox().counts()
    world.clock.advance(timedelta(hours=1))
    mailer = build_mailer(
        world.settings, world.store, world.clock, transport=SmtpTransport(world.smtp.settings())
    )
    assert mailer is not None
    first = mailer.flush()
    second = mailer.flush()
    assert first.sent == sum(queued.values())
    assert second.sent == 0
    assert set(Counter(_username(m.text()) for m in world.smtp.messages).values()) == {1}
    assert world.outbox().counts() == {MessageStatus.SENT.value: first.sent}


def test_corrected_address_gets_one_mail_and_the_old_none(world: World) -> None:
    """A corrected address in the source → one mail to the new address, none to the old."""
    world.run()
    old = world.first_email("secretariat-he")
    (welcome,) = world.smtp.to(old)
    world.change_email("secretariat-he", old, "corrected.address@skynet.be")
    before = len(world.smtp.messages)
    world.clock.advance(timedelta(days=1))
    world.run()
    assert len(world.smtp.messages) == before + 1
    (again,) = world.smtp.to("corrected.address@skynet.be")
    assert world.smtp.to(old) == [welcome]
    first_password = PASSWORD_LINE.search(welcome.text())
    second_password = PASSWORD_LINE.search(again.text())
    assert first_password
    assert second_password
    assert first_password.group(1) == second_password.group(1)
    assert "Vos nouveaux accès" in str(again.parsed()["Subject"])
    world.clock.advance(timedelta(days=1))
    world.run()
    assert len(world.smtp.messages) == before + 1


def test_database_file_holds_no_clear_password(world: World) -> None:
    """Canary: with mails queued and passwords in custody, the SQLite file has none in clear."""
    world.run(smtp=_dead_smtp())
    custody = open_custody(world.store, keyring_from_settings(world.settings))
    passwords = [custody.reveal(p) for p in world.store.accounts()]
    held = [p.get_secret_value() for p in passwords if p is not None]
    assert len(held) > 50
    assert world.outbox().counts()[MessageStatus.QUEUED.value] > 0
    data = world.db_bytes()
    assert b"mail_outbox" in data
    leaked = [p for p in held if p.encode() in data or p.encode("utf-16-le") in data]
    assert leaked == []


def test_logs_and_events_hold_no_password(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Canary: no initial password in the log records nor in any person's timeline."""
    caplog.set_level("DEBUG")
    world.run()
    texts = [m.text() for m in world.smtp.messages]
    passwords = [p.group(1) for p in map(PASSWORD_LINE.search, texts) if p]
    assert len(passwords) > 50
    timeline = " ".join(
        f"{e.reason_fr} {e.reason_en} {dict(e.data)}"
        for person in world.store.accounts()
        for e in world.store.events_for_person(person)
    )
    assert "j***@" in timeline or "***@" in timeline  # the timeline does mention the mails
    # "mail.log" is the test SMTP server's own logger (aiosmtpd), which logs what it receives.
    ours = [r for r in caplog.records if r.name != "mail.log"]
    assert any(r.name.startswith("ecampus_idm") for r in ours)
    leaked_logs = [r.name for r in ours if any(p in r.getMessage() for p in passwords)]
    leaked_timeline = [p for p in passwords if p in timeline]
    assert (sorted(set(leaked_logs)), leaked_timeline) == ([], [])
