"""The run's side of the pipeline, on a memory directory: atomicity and the memory twins."""

from __future__ import annotations

import secrets
import tomllib
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.crypto import generate_key
from ecampus_idm.custody import open_custody
from ecampus_idm.errors import IdmError
from ecampus_idm.mail.outbox import open_outbox
from ecampus_idm.mail.schema import password_custody
from ecampus_idm.mail.welcome import WelcomeDesk
from ecampus_idm.mail.wiring import keyring_from_settings
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store import open_store
from ecampus_idm.store.base import Store
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.testing.plugin import memory_base_tree

BASE = "dc=ecampus,dc=test"


def _settings(folder: Path, **mail: object) -> Settings:
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
        store={"url": f"sqlite:///{folder}/state.sqlite3"},
        mail={"keys": [generate_key()], **mail},
    ).resolve_paths(folder, ca_file=False)


def _run(settings: Settings, store: Store, clock: FixedClock, directory: object) -> RunReport:
    assert settings.sources is not None
    with open_connectors(settings.sources) as connectors:
        return NightlyRun(
            settings,
            clock=clock,
            store=store,
            directory=directory,
            connectors=connectors,  # type: ignore[arg-type]
        ).run()


def test_failed_enqueue_records_no_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If enqueuing fails, the accounts' records roll back with it: nothing half-recorded."""
    settings = _settings(tmp_path)
    clock = FixedClock.on(date(2026, 10, 2))
    calls: list[str] = []
    real = WelcomeDesk.issue

    def failing(self: WelcomeDesk, *args: object, **kwargs: object) -> object:
        calls.append("issue")
        if len(calls) > 3:
            raise IdmError("outbox refused (simulated)")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(WelcomeDesk, "issue", failing)
    with open_store(settings.store, clock=clock) as store:
        with pytest.raises(IdmError, match="simulated"):
            _run(settings, store, clock, memory_base_tree())
        keyring = keyring_from_settings(settings)
        assert store.accounts() == {}
        assert open_outbox(store, keyring).counts() == {}
        open_custody(store, keyring)  # its table exists: it must be empty
        with store.connection() as connection:
            deposits = connection.execute(sa.select(sa.func.count()).select_from(password_custody))
            assert deposits.scalar_one() == 0
        assert store.recent_runs(1)[0].status.value == "failed"


def test_memory_store_run_queues_once(tmp_path: Path) -> None:
    """With the memory store, the twins keep the outbox between runs: one mail per account."""
    settings = _settings(tmp_path)
    clock = FixedClock.on(date(2026, 10, 2))
    store = MemoryStore(clock)
    directory = memory_base_tree()
    _run(settings, store, clock, directory)
    outbox = open_outbox(store, keyring_from_settings(settings))
    queued = outbox.counts()
    assert queued["queued"] > 40
    clock.advance(timedelta(days=1))
    _run(settings, store, clock, directory)
    assert outbox.counts() == queued


def test_mail_disabled_queues_nothing(tmp_path: Path) -> None:
    """With mail.enabled = false the run neither keeps passwords nor queues mails."""
    settings = _settings(tmp_path, enabled=False)
    clock = FixedClock.on(date(2026, 10, 2))
    store = MemoryStore(clock)
    report = _run(settings, store, clock, memory_base_tree())
    assert report.status.value == "succeeded"
    assert open_outbox(store, keyring_from_settings(settings)).counts() == {}
