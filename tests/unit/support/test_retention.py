"""Retention: events and custody entries older than their periods are purged."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.crypto import Keyring, generate_key
from ecampus_idm.mail.outbox import MemoryOutbox, NewMessage, Purpose
from ecampus_idm.passwords.service import repository_for
from ecampus_idm.store.base import RunStatus
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.support.base import MemoryCustody
from ecampus_idm.support.retention import purge
from ecampus_idm.support.settings import SupportSettings


def _world() -> tuple[FixedClock, MemoryStore, MemoryCustody]:
    clock = FixedClock.on(date(2027, 10, 1))
    store = MemoryStore(clock)
    custody = MemoryCustody()
    now = clock.now()
    for days, pid in ((500, "old"), (10, "new")):
        store.record_event(
            pid, "account.created", reason_fr="Créé.", reason_en="Created.",
            at=now - timedelta(days=days),
        )  # fmt: skip
        custody.deposit(pid, pid, SecretStr("x-y-1"), issued_at=now - timedelta(days=days))
    return clock, store, custody


def test_old_events_are_purged_recent_ones_kept() -> None:
    """With the defaults, a 500-day-old event goes and a 10-day-old one stays."""
    clock, store, custody = _world()
    report = purge(store, clock=clock, settings=SupportSettings(), custody=custody)
    assert report.events == 1
    assert not store.events_for_person("old")
    assert store.events_for_person("new")


def test_old_custody_entries_are_purged() -> None:
    """An initial password kept past the custody period is discarded, its status kept."""
    clock, store, custody = _world()
    report = purge(store, clock=clock, settings=SupportSettings(), custody=custody)
    assert report.custody == 1
    assert custody.reveal("old") is None
    assert custody.reveal("new") is not None
    status = custody.status("old")
    assert status is not None
    assert status.discard_reason == "purged"


def test_zero_keeps_events() -> None:
    """An event period of 0 leaves the events alone."""
    clock, store, custody = _world()
    settings = SupportSettings(event_retention_days=0)
    report = purge(store, clock=clock, settings=settings, custody=custody)
    assert report.events == 0
    assert store.events_for_person("old")


def test_custody_period_is_the_mail_one() -> None:
    """The custody period given (mail.custody_days) decides which passwords go."""
    clock, store, custody = _world()
    report = purge(store, clock=clock, settings=SupportSettings(), custody=custody, custody_days=5)
    assert report.custody == 2
    assert custody.reveal("new") is None


def test_a_purge_is_recorded_as_a_run() -> None:
    """Each purge leaves a run with its counts."""
    clock, store, custody = _world()
    report = purge(store, clock=clock, settings=SupportSettings(), custody=custody)
    run = store.get_run(report.run_id)
    assert run.kind == "purge"
    assert run.status is RunStatus.SUCCEEDED
    assert dict(run.counts) == {"events": 1, "custody": 1, "mails": 0, "resets": 0}


def test_without_custody_only_events_are_purged() -> None:
    """No custody wired: the report says so."""
    clock, store, _ = _world()
    assert purge(store, clock=clock, settings=SupportSettings()).custody is None


def test_delivered_mails_go_with_old_events_pending_ones_stay() -> None:
    """Finished outbox messages as old as purged events go; a message still waiting stays."""
    clock, store, custody = _world()
    outbox = MemoryOutbox(Keyring.from_config([generate_key()]))
    old = clock.now() - timedelta(days=500)
    for key in ("sent", "waiting"):
        outbox.enqueue(
            NewMessage(
                idempotency_key=f"welcome:{key}",
                person_id="old",
                username="old.one",
                purpose=Purpose.WELCOME,
                to_address="old.one@example.be",
                display_name="Old One",
            ),
            now=old,
        )
    (sent, waiting) = outbox.messages_for("old")
    outbox.mark_sent(sent.message_id, at=old)
    report = purge(store, clock=clock, settings=SupportSettings(), custody=custody, outbox=outbox)
    assert report.mails == 1
    assert [m.message_id for m in outbox.messages_for("old")] == [waiting.message_id]


def test_reset_rows_go_after_their_own_period() -> None:
    """Reset rows older than passwords.retention_days are deleted, recent ones kept."""
    clock, store, custody = _world()
    resets = repository_for(store)
    resets.add_audit(at=clock.now() - timedelta(days=31), kind="reset.requested")
    resets.add_audit(at=clock.now() - timedelta(days=1), kind="reset.requested")
    report = purge(
        store,
        clock=clock,
        settings=SupportSettings(),
        custody=custody,
        resets=resets,
        reset_days=30,
    )
    assert report.resets == 1
    assert len(resets.audit_records()) == 1
