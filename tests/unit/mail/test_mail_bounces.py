"""Bounces: DSN parsing, and marking the bounced message and address."""

from __future__ import annotations

import email
import mailbox
from email.message import Message
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.mail.bounces import maildir_reports, parse_dsn, process
from ecampus_idm.mail.errors import BounceSourceError
from ecampus_idm.mail.outbox import MessageStatus, NewMessage, Outbox, OutboxMessage, Purpose
from ecampus_idm.store.memory import MemoryStore


def _dsn(
    recipient: str, message_id: str | None, status: str = "5.1.1", action: str = "failed"
) -> bytes:
    headers = f"Message-ID: <{message_id}@condorcet.be>\n" if message_id else "Subject: x\n"
    return (
        "From: MAILER-DAEMON@mx.example.be\n"
        "To: no-reply@condorcet.be\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.be\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: user unknown\n\n"
        f"--B\nContent-Type: text/rfc822-headers\n\n{headers}\n--B--\n"
    ).encode()


def _sent(outbox: Outbox, clock: FixedClock) -> OutboxMessage:
    message, _ = outbox.enqueue(
        NewMessage(
            "k", "p1", "jean.dupont", Purpose.WELCOME, "jean@example.be", secret=SecretStr("x-Pw-1")
        ),
        now=clock.now(),
    )
    outbox.remember_address("p1", "jean@example.be", at=clock.now())
    outbox.mark_sent(message.message_id, at=clock.now())
    return message


def _box(tmp_path: Path, *raws: bytes) -> Path:
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    for raw in raws:
        box.add(raw)
    return tmp_path / "bounces"


def test_failed_recipient_is_parsed() -> None:
    """The failed recipient, status and our message id come out of the report."""
    (bounce,) = parse_dsn(email.message_from_bytes(_dsn("jean@example.be", "a" * 26)))
    assert (bounce.recipient, bounce.status, bounce.message_id) == (
        "jean@example.be",
        "5.1.1",
        "a" * 26,
    )


@pytest.mark.parametrize(("status", "action"), [("4.2.2", "delayed"), ("2.0.0", "delivered")])
def test_non_failures_are_ignored(status: str, action: str) -> None:
    """Delays and delivery confirmations are not bounces."""
    assert parse_dsn(email.message_from_bytes(_dsn("a@b.be", None, status, action))) == []


def test_ordinary_mail_is_not_a_report() -> None:
    """A message that is not a DSN gives nothing."""
    message = Message()
    message.set_payload("hello")
    assert parse_dsn(message) == []


def test_bounce_marks_message_address_and_timeline(
    tmp_path: Path, outbox: Outbox, mail_store: MemoryStore, mail_clock: FixedClock
) -> None:
    """A DSN for our message marks it bounced, the address bouncing, with mail.bounced."""
    message = _sent(outbox, mail_clock)
    folder = _box(tmp_path, _dsn("jean@example.be", message.message_id))
    report = process(maildir_reports(folder), outbox=outbox, store=mail_store, clock=mail_clock)
    assert (report.reports, report.marked, report.unmatched) == (1, 1, 0)
    bounced = outbox.get(message.message_id)
    assert bounced is not None
    assert bounced.status is MessageStatus.BOUNCED
    assert outbox.recipients()["p1"].bouncing_since == mail_clock.now()
    (event,) = mail_store.events_for_person("p1")
    assert (event.kind, event.data["to"]) == ("mail.bounced", "j***@example.be")
    assert "jean@example.be" not in str(event.data) + event.reason_fr + event.reason_en


def test_bounce_without_message_id_is_matched_by_address(
    tmp_path: Path, outbox: Outbox, mail_store: MemoryStore, mail_clock: FixedClock
) -> None:
    """A report that returned no headers is attributed by the address it names."""
    _sent(outbox, mail_clock)
    folder = _box(tmp_path, _dsn("jean@example.be", None))
    report = process(maildir_reports(folder), outbox=outbox, store=mail_store, clock=mail_clock)
    assert report.marked == 1


def test_unknown_recipient_is_counted_unmatched(
    tmp_path: Path, outbox: Outbox, mail_store: MemoryStore, mail_clock: FixedClock
) -> None:
    """A bounce for an address we never mailed changes nothing."""
    folder = _box(tmp_path, _dsn("stranger@example.be", None))
    report = process(maildir_reports(folder), outbox=outbox, store=mail_store, clock=mail_clock)
    assert (report.marked, report.unmatched) == (0, 1)


def test_missing_maildir_is_a_clear_error(tmp_path: Path) -> None:
    """A folder that is not there is named in the error."""
    with pytest.raises(BounceSourceError, match="not a maildir"):
        list(maildir_reports(tmp_path / "nope"))
