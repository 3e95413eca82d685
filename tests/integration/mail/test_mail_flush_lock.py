"""The end-of-run flush never overlaps a `mail send`: two flushes could send twice."""

from __future__ import annotations

import mailbox
import secrets
import tomllib
from datetime import date
from pathlib import Path

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.crypto import generate_key
from ecampus_idm.mail.delivery import FLUSH_LOCK
from ecampus_idm.mail.outbox import open_outbox
from ecampus_idm.mail.wiring import keyring_from_settings
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store.base import RunStatus
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.testing.plugin import memory_base_tree

BASE = "dc=ecampus,dc=test"


def _settings(folder: Path) -> Settings:
    write_sample(folder, 60)
    sample = tomllib.loads((folder / "sources.toml").read_text("utf-8"))
    return Settings(
        institution={"mail_domain": "ecampus.test"},
        schools=sample["schools"],
        sources={
            **sample["sources"],
            "pseudonym_key": secrets.token_urlsafe(48),
            "ledger_path": None,
        },
        directory={
            "url": "ldap://127.0.0.1",
            "bind_dn": f"cn=admin,{BASE}",
            "bind_password": "unused-by-the-memory-twin",
            "base_dn": BASE,
        },
        mail={
            "transport": "maildir",
            "maildir": "mail",
            "flush_after_run": True,
            "keys": [generate_key()],
        },
    ).resolve_paths(folder, ca_file=False)


def _run(settings: Settings, store: MemoryStore, clock: FixedClock) -> RunReport:
    assert settings.sources is not None
    with open_connectors(settings.sources) as connectors:
        return NightlyRun(
            settings,
            clock=clock,
            store=store,
            directory=memory_base_tree(),
            connectors=connectors,
        ).run()


def test_run_does_not_flush_while_mail_send_runs(tmp_path: Path) -> None:
    """A `mail send` in progress: the run queues its mails and leaves them for later."""
    settings = _settings(tmp_path)
    clock = FixedClock.on(date(2026, 10, 2))
    store = MemoryStore(clock)
    # As `mail send` starts: holding the flush lock.
    sending = store.start_run("mail.send", exclusive=True, lock=FLUSH_LOCK)
    report = _run(settings, store, clock)
    assert report.mail == {"skipped": f"mail send run {sending.run_id} in progress"}
    assert not (tmp_path / "mail").exists() or len(mailbox.Maildir(tmp_path / "mail")) == 0
    queued = open_outbox(store, keyring_from_settings(settings)).counts()
    assert queued.get("queued", 0) > 0


def test_run_flushes_once_the_send_has_finished(tmp_path: Path) -> None:
    """With the `mail send` finished, the run's own flush delivers its mails."""
    settings = _settings(tmp_path)
    clock = FixedClock.on(date(2026, 10, 2))
    store = MemoryStore(clock)
    sending = store.start_run("mail.send")
    store.finish_run(sending.run_id, RunStatus.SUCCEEDED)
    report = _run(settings, store, clock)
    assert report.mail is not None
    assert report.mail["sent"] > 0
    assert len(mailbox.Maildir(tmp_path / "mail")) == report.mail["sent"]
