"""The flush under SMTP faults, against a real aiosmtpd server told to fail.

Each test queues welcome mails through the real pipeline (a nightly run on the memory
directory twin, SQLite store: custody deposit and outbox enqueue in the run's
transaction), flushes while the server fails one way (down, 421 at connect or MAIL, 451
at RCPT or DATA, 550 for one recipient, the connection dropped during DATA), then lets
it recover and flushes again, moving a fixed clock past the backoff, until nothing is
due. After recovery every mail is delivered exactly once — counted per (Message-ID,
recipient) on the server — and none is lost; the at-least-once window (the server
accepted, the client never heard it) is measured, not assumed.
"""

from __future__ import annotations

import inspect
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings, load_config
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.crypto import generate_key
from ecampus_idm.custody import open_custody
from ecampus_idm.mail.address import normalise_email
from ecampus_idm.mail.delivery import FlushReport, OutboxMailer
from ecampus_idm.mail.outbox import MessageStatus, Outbox, OutboxMessage, open_outbox
from ecampus_idm.mail.smtp import SmtpTransport
from ecampus_idm.mail.welcome import Addressee, WelcomeDesk
from ecampus_idm.mail.wiring import build_mailer, keyring_from_settings
from ecampus_idm.runner import NightlyRun
from ecampus_idm.store import open_store
from ecampus_idm.store.base import RunStatus
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.support.diagnose import Diagnostician, Lookup, read_sources
from ecampus_idm.support.rules import ConclusionCode
from ecampus_idm.testing.plugin import memory_base_tree
from ecampus_idm.testing.smtp import ReceivedMessage, SmtpServer

BASE = "dc=ecampus,dc=test"
PENDING = (MessageStatus.QUEUED, MessageStatus.DEFERRED)


@dataclass
class World:
    """Welcome mails queued by a nightly run in a SQLite store, and a faulty SMTP server."""

    settings: Settings
    clock: FixedClock
    store: SqlStore
    directory: object
    server: SmtpServer

    def outbox(self) -> Outbox:
        return open_outbox(self.store, keyring_from_settings(self.settings))

    def mailer(self) -> OutboxMailer:
        mailer = build_mailer(
            self.settings,
            self.store,
            self.clock,
            transport=SmtpTransport(self.server.settings(timeout_seconds=2)),
            throttle=False,
        )
        assert mailer is not None
        return mailer

    def flush(self) -> FlushReport:
        return self.mailer().flush()

    def messages(self) -> list[OutboxMessage]:
        return [m for p in self.store.accounts() for m in self.outbox().messages_for(p)]

    def pending(self) -> list[OutboxMessage]:
        return [m for m in self.messages() if m.status in PENDING]

    def recover(self, *, most: int = 12) -> list[FlushReport]:
        """Flush, moving the clock past each backoff, until nothing is pending."""
        reports = []
        while self.pending():
            assert len(reports) < most, "still pending after the retry policy's flushes"
            latest = max(m.next_attempt_at or self.clock.now() for m in self.pending())
            if latest > self.clock.now():
                self.clock.set(latest)
            reports.append(self.flush())
        return reports

    def bouncing(self) -> set[str]:
        return {p for p, r in self.outbox().recipients().items() if r.bouncing_since}


def _delivered_once(world: World, *, failed: int = 0) -> dict[str, int]:
    """Every message sent exactly once, none lost; return the outbox counts."""
    deliveries = world.server.deliveries()
    assert set(deliveries.values()) <= {1}, [k for k, n in deliveries.items() if n > 1]
    delivered = {(_our_id(header), to) for header, to in deliveries}
    messages = world.messages()
    sent = {(m.message_id, m.to_address) for m in messages if m.status is MessageStatus.SENT}
    assert delivered == sent
    counts = world.outbox().counts()
    assert counts == {
        k: v
        for k, v in {"sent": len(messages) - failed, "failed": failed}.items()
        if v  # nothing queued, deferred or bounced is left
    }
    return counts


def _our_id(header: str) -> str:
    """The outbox's message id in a ``Message-ID: <id@domain>`` header."""
    return header.strip("<>").split("@", 1)[0]


@pytest.fixture
def world(smtp_server: SmtpServer, tmp_path: Path) -> Iterator[World]:
    """About 35 welcome mails queued on 2 October 2026; the server behaves until told."""
    write_sample(tmp_path, 45)
    sample = tomllib.loads((tmp_path / "sources.toml").read_text("utf-8"))
    settings = Settings(
        institution={"mail_domain": "ecampus.test", "portal_url": "https://ecampus.test/"},
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
        store={"url": f"sqlite:///{tmp_path}/state.sqlite3"},
        mail={
            "transport": "smtp",
            "keys": [generate_key()],
            "throttle": {"per_domain_per_minute": 0, "overall_per_minute": 0},
        },
    ).resolve_paths(tmp_path, ca_file=False)
    clock = FixedClock.on(date(2026, 10, 2))
    directory = memory_base_tree()
    with open_store(settings.store, clock=clock) as store:
        assert settings.sources is not None
        with open_connectors(settings.sources) as connectors:
            NightlyRun(
                settings,
                clock=clock,
                store=store,
                directory=directory,
                connectors=connectors,  # type: ignore[arg-type]
            ).run()
        built = World(settings, clock, store, directory, smtp_server)
        assert len(built.pending()) > 25
        yield built


def test_server_down_for_a_weekend_then_up(world: World) -> None:
    """Port closed for 62 h, a flush every 10 min: nothing sent, failed nor marked; then once.

    An outage is the server's, not the message's: it must not use up the messages'
    attempts (else a long outage fails every welcome mail and marks every address
    bouncing, and support tells people to have a good address corrected).
    """
    queued = len(world.pending())
    world.server.down()
    for _ in range(62 * 6):
        report = world.flush()
        assert (report.sent, report.failed, report.unavailable is not None) == (0, 0, True)
        world.clock.advance(timedelta(minutes=10))
    assert len(world.pending()) == queued
    assert world.bouncing() == set()
    world.server.up()
    (report,) = world.recover()
    assert report.sent == queued
    _delivered_once(world)


@pytest.mark.parametrize(
    ("where", "reply"),
    [
        ("connect", "421 4.3.2 Service not available, closing transmission channel"),
        ("mail", "421 4.7.0 Too many connections, try again later"),
    ],
    ids=["421-connect", "421-mail"],
)
def test_421_stops_the_flush_and_keeps_every_mail(world: World, where: str, reply: str) -> None:
    """A 421 is the server closing: the flush stops at once, no message loses an attempt."""
    queued = len(world.pending())
    setattr(world.server.faults, where, reply)
    report = world.flush()
    assert (report.sent, report.failed, report.deferred) == (0, 0, 0)
    assert report.unavailable is not None
    assert "421" in report.unavailable
    assert [m.attempts for m in world.pending()] == [0] * queued
    world.server.faults.clear()
    (report,) = world.recover()
    assert report.sent == queued
    _delivered_once(world)


@pytest.mark.parametrize("where", ["rcpt", "data"], ids=["451-rcpt", "451-data"])
def test_451_defers_each_mail_then_delivers_once(world: World, where: str) -> None:
    """A 451 is per message: each is deferred (backoff), the server keeps none; then once."""
    queued = len(world.pending())
    setattr(world.server.faults, where, "451 4.3.0 Temporary local problem, try later")
    report = world.flush()
    assert (report.sent, report.deferred, report.failed) == (0, queued, 0)
    assert world.server.messages == []
    assert {m.status for m in world.pending()} == {MessageStatus.DEFERRED}
    world.clock.advance(timedelta(minutes=1))
    assert world.flush().due == 0  # backoff: not before 5 minutes
    world.server.faults.clear()
    (report,) = world.recover()
    assert report.sent == queued
    _delivered_once(world)


def test_550_for_one_recipient_fails_it_marks_it_and_support_says_so(world: World) -> None:
    """550 for one address: that mail failed (never retried), the address marked bouncing,
    the diagnosis says the address bounces; every other mail delivered once."""
    assert world.settings.sources is not None
    with open_connectors(world.settings.sources) as connectors:
        people = read_sources(world.settings, connectors, store=world.store, clock=world.clock)
    # One address, one mail: a parent's address shared by siblings fails every mail to it
    # (next test). Which student comes first depends on the random pseudonym key.
    shared = _shared_addresses(world)
    student = next(
        p
        for p in people.people
        if p.enrolments and p.personal_email and normalise_email(p.personal_email) not in shared
    )
    (target,) = (m for m in world.pending() if m.person_id == student.person_id)
    world.server.refuse[target.to_address] = f"550 5.1.1 <{target.to_address}>: user unknown"
    queued = len(world.pending())
    report = world.flush()
    assert (report.sent, report.failed, report.deferred) == (queued - 1, 1, 0)
    world.clock.advance(timedelta(days=1))
    assert world.recover() == []  # nothing left to retry
    assert world.server.to(target.to_address) == []
    failed = world.outbox().get(target.message_id)
    assert failed is not None
    assert failed.status is MessageStatus.FAILED
    assert failed.attempts == 1
    assert target.to_address not in (failed.last_error or "")
    assert world.bouncing() == {target.person_id}
    _delivered_once(world, failed=1)

    diagnosis = Diagnostician(
        world.settings,
        clock=world.clock,
        store=world.store,
        directory=world.directory,  # type: ignore[arg-type]
        people=people.people,
        issues=people.issues,
        refused=people.refused,
        mail=world.outbox(),
        custody=open_custody(world.store, keyring_from_settings(world.settings)),
        support=world.settings.support,
    ).diagnose(Lookup(school=student.enrolments[0].school, email=student.personal_email))
    assert diagnosis.conclusion.code is ConclusionCode.MAIL_BOUNCED
    assert "550" in diagnosis.conclusion.en
    assert "refused" in diagnosis.conclusion.en
    assert target.to_address not in diagnosis.render("fr") + diagnosis.render("en")


def test_550_for_a_shared_address_fails_every_mail_to_it(world: World) -> None:
    """550 for a parent's address that two pupils share: both mails failed, both marked."""
    shared = _shared_addresses(world)
    assert shared, "the sample has siblings sharing a parent's address"
    address = min(shared)
    targets = [m for m in world.pending() if m.to_address == address]
    assert len(targets) == shared[address]
    world.server.refuse[address] = f"550 5.1.1 <{address}>: user unknown"
    queued = len(world.pending())
    report = world.flush()
    assert (report.sent, report.failed, report.deferred) == (queued - len(targets), len(targets), 0)
    assert world.server.to(address) == []
    assert world.bouncing() == {m.person_id for m in targets}
    _delivered_once(world, failed=len(targets))


def _shared_addresses(world: World) -> dict[str, int]:
    """The pending mails' addresses that more than one mail goes to, with their count."""
    counts = Counter(m.to_address for m in world.pending())
    return {address: n for address, n in counts.items() if n > 1}


def test_connection_dropped_mid_data_loses_nothing(world: World) -> None:
    """The server drops every connection after part of the message: nothing kept, nothing
    lost: each mail is tried twice (two connections), then deferred; then once."""
    queued = len(world.pending())
    world.server.faults.drop_in_data = 10_000
    report = world.flush()
    assert (report.sent, report.deferred, report.failed) == (0, queued, 0)
    assert world.server.messages == []
    assert world.server.dropped == 2 * queued  # each: the first try, the retry at once
    world.server.faults.clear()
    reports = world.recover()
    assert sum(r.sent for r in reports) == queued
    _delivered_once(world)


def test_one_drop_mid_data_is_retried_at_once(world: World) -> None:
    """One dropped connection (before the server accepted): resent on a new one, once."""
    queued = len(world.pending())
    world.server.faults.drop_in_data = 1
    report = world.flush()
    assert (report.sent, report.deferred, world.server.dropped) == (queued, 0, 1)
    _delivered_once(world)


def test_drop_after_acceptance_is_the_at_least_once_window(world: World) -> None:
    """Measured: the server kept the message, then the connection dropped before its 250.

    The client cannot tell this from a drop before acceptance, and must not lose the
    mail: it sends again. Each such drop costs exactly one duplicate, of that message
    only; the other mails are delivered once.
    """
    queued = len(world.pending())
    drops = 3
    world.server.faults.drop_after_accept = drops
    reports = [world.flush(), *world.recover()]
    assert sum(r.sent for r in reports) == queued
    assert world.server.dropped == drops
    deliveries = world.server.deliveries()
    duplicates = sum(n - 1 for n in deliveries.values())
    assert duplicates == drops
    assert world.outbox().counts() == {"sent": queued}


def _config(folder: Path, server: SmtpServer) -> Path:
    path = folder / "ecampus.toml"
    path.write_text(
        f"""
[directory]
url = "ldap://127.0.0.1"
bind_dn = "cn=admin,{BASE}"
base_dn = "{BASE}"
bind_password = "unused-here"

[store]
url = "sqlite:///{folder}/state.sqlite3"

[mail]
transport = "smtp"
keys = ["{generate_key()}"]

[mail.smtp]
host = "{server.host}"
port = {server.port}
security = "none"
timeout_seconds = 5
""",
        "utf-8",
    )
    return path


def _send(config: Path, *, killed_at: int | None, server: SmtpServer) -> int:
    """Run `ecampus-idm mail send`; SIGKILL it when the server keeps its ``killed_at``-th
    message, before the 250 (the worst moment). Return how many it had accepted."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ecampus_idm", "mail", "send", "--no-throttle", "--json"],
        env={**os.environ, "ECAMPUS_IDM_CONFIG": str(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    accepted = 0

    def kill(message: ReceivedMessage) -> None:
        del message
        nonlocal accepted
        accepted += 1
        if accepted == killed_at:
            os.kill(process.pid, signal.SIGKILL)

    server.on_accept = kill
    try:
        _, err = process.communicate(timeout=60)
    finally:
        server.on_accept = None
    if killed_at is None:
        assert process.returncode == 0, err.decode()
    else:
        assert process.returncode == -signal.SIGKILL, err.decode()
    return accepted


def test_killed_flush_sends_at_most_one_batch_again(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Measured: `mail send` SIGKILLed K times mid-flush, each time just after the server
    kept a message and before its 250; then `mail send` to the end.

    Every mail is delivered, none lost; the duplicates are the messages accepted since
    the last commit of the killed flush: at most one batch (10) per kill.
    """
    mails, kills, rng = 300, 3, random.Random(13)  # noqa: S311 - kill points, not secrets
    config = _config(tmp_path, smtp_server)
    settings = load_config(config)
    with open_store(settings.store) as store:  # the nightly run's enqueue, on the wall clock
        desk = WelcomeDesk(store, keyring_from_settings(settings), settings.mail)
        now = store.start_run("run").started_at
        with store.transaction():
            for i in range(mails):
                who = Addressee(f"p{i:04d}", f"user.{i}", f"User {i}", f"user{i}@example.be")
                store.record_events(desk.issue(who, SecretStr(f"Pw-{i}-x"), now=now, run_id=None))
    batch = inspect.signature(OutboxMailer).parameters["batch"].default
    expected = 0
    for _ in range(kills):
        at = rng.randint(5, 60)
        assert _send(config, killed_at=at, server=smtp_server) == at
        expected += (at - 1) % batch + 1  # accepted since the killed flush's last commit
        with open_store(settings.store) as store:  # the killed run's lock: its operator's
            (killed,) = [r for r in store.recent_runs(3, kind="mail.send") if not r.finished]
            store.finish_run(killed.run_id, RunStatus.FAILED, message="killed (test)")
    _send(config, killed_at=None, server=smtp_server)
    deliveries = smtp_server.deliveries()
    duplicates = sum(n - 1 for n in deliveries.values())
    figures = {"mails": mails, "kills": kills, "duplicates": duplicates, "batch": batch}
    print(json.dumps(figures))  # the figure docs/mail.md quotes
    assert len(deliveries) == mails  # none lost
    assert duplicates == expected <= kills * batch
    with open_store(settings.store) as store:
        assert open_outbox(store, keyring_from_settings(settings)).counts() == {"sent": mails}
