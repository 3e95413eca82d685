"""The flush: sent, deferred with backoff, failed, unavailable, throttled, signed."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.mail.delivery import OutboxMailer
from ecampus_idm.mail.dkim import DkimSigner
from ecampus_idm.mail.outbox import MessageStatus, NewMessage, Outbox, OutboxMessage, Purpose
from ecampus_idm.mail.reset import OutboxResetMailer
from ecampus_idm.mail.settings import RetrySettings, ThrottleSettings
from ecampus_idm.mail.throttle import Throttle
from ecampus_idm.mail.transports import MemoryTransport
from ecampus_idm.store.memory import MemoryStore

PASSWORD = "Welcome-Pw-5521"


def _queue(
    outbox: OutboxMailer | Outbox, clock: FixedClock, n: int = 1, domain: str = "gmail.com"
) -> list[OutboxMessage]:
    box = outbox.outbox if isinstance(outbox, OutboxMailer) else outbox
    return [
        box.enqueue(
            NewMessage(
                idempotency_key=f"welcome:p{i}:{domain}",
                person_id=f"p{i}",
                username=f"user.{i}",
                purpose=Purpose.WELCOME,
                to_address=f"user{i}@{domain}",
                display_name=f"User {i}",
                secret=SecretStr(PASSWORD),
            ),
            now=clock.now(),
        )[0]
        for i in range(n)
    ]


def _kinds(store: MemoryStore, person: str) -> list[str]:
    return [e.kind for e in store.events_for_person(person)]


def test_due_message_is_sent_once_with_its_password(
    mailer: OutboxMailer,
    transport: MemoryTransport,
    mail_clock: FixedClock,
    mail_store: MemoryStore,
) -> None:
    """A queued message is delivered once, carries the password, and is recorded as sent."""
    (message,) = _queue(mailer, mail_clock)
    assert mailer.flush().sent == 1
    assert mailer.flush().sent == 0
    (sent,) = transport.sent
    body = email.message_from_bytes(sent.raw, policy=email.policy.default).get_body(("plain",))
    assert PASSWORD in body.get_content()
    assert sent.recipients == ("user0@gmail.com",)
    stored = mailer.outbox.get(message.message_id)
    assert stored is not None
    assert stored.status is MessageStatus.SENT
    assert _kinds(mail_store, "p0") == ["mail.sent"]


def test_temporary_refusal_is_deferred_with_doubling_backoff(
    mailer: OutboxMailer, transport: MemoryTransport, mail_clock: FixedClock
) -> None:
    """A 4xx defers the message: due again after 5 min, then after 10 min more."""
    (message,) = _queue(mailer, mail_clock)
    transport.refuse["user0@gmail.com"] = 451
    assert mailer.flush().deferred == 1
    first = mailer.outbox.get(message.message_id)
    assert first is not None
    assert first.next_attempt_at == mail_clock.now() + timedelta(seconds=300)
    mail_clock.advance(timedelta(seconds=300))
    mailer.flush()
    second = mailer.outbox.get(message.message_id)
    assert second is not None
    assert second.next_attempt_at == mail_clock.now() + timedelta(seconds=600)
    assert second.attempts == 2


def test_permanent_refusal_fails_and_marks_the_person(
    mailer: OutboxMailer,
    transport: MemoryTransport,
    mail_clock: FixedClock,
    mail_store: MemoryStore,
) -> None:
    """A 5xx is final: the message fails, the address is marked, mail.failed is recorded."""
    (message,) = _queue(mailer, mail_clock)
    mailer.outbox.remember_address("p0", "user0@gmail.com", at=mail_clock.now())
    transport.refuse["user0@gmail.com"] = 550
    assert mailer.flush().failed == 1
    stored = mailer.outbox.get(message.message_id)
    assert stored is not None
    assert stored.status is MessageStatus.FAILED
    assert mailer.outbox.recipients()["p0"].bouncing_since == mail_clock.now()
    (event,) = mail_store.events_for_person("p0")
    assert event.kind == "mail.failed"
    assert "user0@gmail.com" not in str(event.data) + event.reason_fr


def test_too_many_temporary_failures_give_up(
    mail_store: MemoryStore,
    mailer: OutboxMailer,
    transport: MemoryTransport,
    mail_clock: FixedClock,
) -> None:
    """After max_attempts temporary failures the message fails."""
    mailer.retry = RetrySettings(max_attempts=2, backoff_seconds=1)
    _queue(mailer, mail_clock)
    transport.refuse["user0@gmail.com"] = 421
    mailer.flush()
    mail_clock.advance(timedelta(seconds=1))
    report = mailer.flush()
    assert report.failed == 1
    assert _kinds(mail_store, "p0") == ["mail.deferred", "mail.failed"]


def test_unavailable_transport_keeps_everything_for_later(
    mailer: OutboxMailer,
    transport: MemoryTransport,
    mail_clock: FixedClock,
    mail_store: MemoryStore,
) -> None:
    """With the server down the flush stops; no attempt is counted, nothing recorded on the
    people but the reason on the first message; every mail leaves once it is back."""
    first, *_ = _queue(mailer, mail_clock, n=3)
    transport.down = True
    for _ in range(20):  # more flushes than retry.max_attempts
        report = mailer.flush()
        assert (report.sent, report.deferred, report.failed) == (0, 0, 0)
        assert report.unavailable == "down (simulated)"
    due = mailer.outbox.due(mail_clock.now())
    assert [(m.status, m.attempts) for m in due] == [(MessageStatus.QUEUED, 0)] * 3
    assert due[0].message_id == first.message_id
    assert due[0].last_error == "unavailable: down (simulated)"
    assert _kinds(mail_store, "p0") == []
    transport.down = False
    assert mailer.flush().sent == 3
    assert mailer.flush().sent == 0
    assert sorted(m.recipients[0] for m in transport.sent) == [
        "user0@gmail.com",
        "user1@gmail.com",
        "user2@gmail.com",
    ]


def test_domain_rate_postpones_the_excess(mailer: OutboxMailer, mail_clock: FixedClock) -> None:
    """Over the per-domain rate, the rest waits for the next minute; other domains go on."""
    mailer.throttle = Throttle(ThrottleSettings(per_domain_per_minute=2, overall_per_minute=0))
    _queue(mailer, mail_clock, n=4, domain="gmail.com")
    _queue(mailer, mail_clock, n=1, domain="skynet.be")
    report = mailer.flush()
    assert (report.sent, report.postponed) == (3, 2)
    assert mailer.flush().sent == 0
    mail_clock.advance(timedelta(minutes=1))
    assert mailer.flush().sent == 2


def test_overall_rate_waits_through_the_injected_sleep(
    mailer: OutboxMailer, mail_clock: FixedClock
) -> None:
    """The overall rate makes the flush wait (here a sleep that moves the clock)."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        mail_clock.advance(timedelta(seconds=seconds))

    mailer.throttle = Throttle(ThrottleSettings(per_domain_per_minute=0, overall_per_minute=2))
    mailer._sleep = sleep
    _queue(mailer, mail_clock, n=3)
    assert mailer.flush().sent == 3
    assert waits == [60.0]


def test_accepted_messages_are_recorded_before_the_rate_wait(
    mailer: OutboxMailer, mail_clock: FixedClock
) -> None:
    """Nothing accepted waits uncommitted while the flush sleeps for the overall rate."""
    statuses: list[dict[str, int]] = []

    def sleep(seconds: float) -> None:
        statuses.append(mailer.outbox.counts())
        mail_clock.advance(timedelta(seconds=seconds))

    mailer.throttle = Throttle(ThrottleSettings(per_domain_per_minute=0, overall_per_minute=2))
    mailer._sleep = sleep
    _queue(mailer, mail_clock, n=3)
    assert mailer.flush().sent == 3
    assert statuses == [{"sent": 2, "queued": 1}]


def test_accepted_messages_are_recorded_per_batch_of_ten(
    mailer: OutboxMailer, transport: MemoryTransport, mail_clock: FixedClock
) -> None:
    """At most 10 accepted messages wait for their commit (the crash window, docs/mail.md)."""
    unrecorded: list[int] = []
    real = transport.send

    def send(raw: bytes, *, sender: str, recipients: Sequence[str]) -> None:
        unrecorded.append(len(transport.sent) - mailer.outbox.counts().get("sent", 0))
        real(raw, sender=sender, recipients=recipients)

    transport.send = send  # type: ignore[method-assign]
    _queue(mailer, mail_clock, n=25)
    assert mailer.flush().sent == 25
    assert max(unrecorded) == 9  # before the 10th is accepted; then the batch commits
    assert unrecorded[10] == 0
    assert mailer.outbox.counts() == {"sent": 25}


def test_activation_without_link_issuer_is_deferred(
    mailer: OutboxMailer, mail_clock: FixedClock
) -> None:
    """An activation mail cannot leave before a link issuer is wired: it waits."""
    mailer.outbox.enqueue(
        NewMessage("activation:p0", "p0", "a.b", Purpose.ACTIVATION, "a@b.be"), now=mail_clock.now()
    )
    report = mailer.flush()
    assert report.deferred == 1


def test_activation_uses_the_link_issuer(
    mailer: OutboxMailer, transport: MemoryTransport, mail_clock: FixedClock
) -> None:
    """The link comes from the issuer, at send time, for that person."""
    calls: list[tuple[str, str, str]] = []

    def issuer(*, person_id: str, username: str, purpose: str) -> str:
        calls.append((person_id, username, purpose))
        return "https://ecampus.condorcet.be/activate/t0k3n"

    mailer.link_issuer = issuer
    mailer.outbox.enqueue(
        NewMessage("activation:p0", "p0", "a.b", Purpose.ACTIVATION, "a@b.be"), now=mail_clock.now()
    )
    assert mailer.flush().sent == 1
    assert calls == [("p0", "a.b", "activation")]
    assert b"activate/t0k3n" in transport.sent[0].raw


def test_dkim_signature_is_added(
    mailer: OutboxMailer, transport: MemoryTransport, mail_clock: FixedClock
) -> None:
    """With a signer, the message leaves with a DKIM-Signature for the domain."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    mailer.signer = DkimSigner("condorcet.be", "sel1", pem)
    _queue(mailer, mail_clock)
    mailer.flush()
    assert transport.sent[0].raw.startswith(b"DKIM-Signature:")
    assert b"d=condorcet.be" in transport.sent[0].raw


@pytest.mark.parametrize("purpose", [Purpose.WELCOME, Purpose.WELCOME_AGAIN])
def test_message_without_its_password_is_not_sent_empty(
    mailer: OutboxMailer, transport: MemoryTransport, mail_clock: FixedClock, purpose: Purpose
) -> None:
    """A credentials mail whose password is gone is deferred, never sent blank."""
    mailer.outbox.enqueue(NewMessage("k", "p0", "a.b", purpose, "a@b.be"), now=mail_clock.now())
    assert mailer.flush().deferred == 1
    assert transport.sent == []


@dataclass(frozen=True)
class Reset:
    """A reset mail as the password service makes one."""

    person_id: str
    username: str
    display_name: str
    to: str
    link: SecretStr = field(repr=False)
    issued_at: datetime


def test_reset_mail_carries_its_sealed_link(
    mailer: OutboxMailer,
    transport: MemoryTransport,
    mail_clock: FixedClock,
    mail_store: MemoryStore,
) -> None:
    """A reset mail queued by the password service leaves with its link, once."""
    reset = Reset("p9", "a.b", "A B", "a@b.be", SecretStr("https://x.test/r/t0k"), mail_clock.now())
    resets = OutboxResetMailer(mail_store, mailer.outbox)
    resets.send_reset(reset)
    resets.send_reset(reset)
    assert mailer.flush().sent == 1
    assert b"https://x.test/r/t0k" in transport.sent[0].raw
    assert _kinds(mail_store, "p9") == ["mail.queued", "mail.sent"]
