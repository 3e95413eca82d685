"""Bounces: delivery status notifications (RFC 3464) read back from a mailbox.

A message the server accepted can still fail later; the receiving side then mails a
DSN (``multipart/report; report-type=delivery-status``) to the envelope sender. This
module reads such reports from a Maildir folder or an IMAP mailbox, keeps the *failed*
ones (``Action: failed``, status 5.x.x), finds our message (by its ``Message-ID`` in the
returned headers, else by the address it was sent to), and marks it ``bounced`` and the
person's address bouncing, with a ``mail.bounced`` event that support sees. Reports
that name nothing of ours are counted and left alone. No imaplib exception escapes.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import mailbox
import re
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ecampus_idm.clock import Clock
from ecampus_idm.mail.address import mask_email
from ecampus_idm.mail.errors import BounceSourceError
from ecampus_idm.mail.outbox import MessageStatus, Outbox, OutboxMessage
from ecampus_idm.store.base import NewEvent, Store

__all__ = ["Bounce", "BounceReport", "imap_reports", "maildir_reports", "parse_dsn", "process"]

_MESSAGE_ID = re.compile(r"<([a-z]{26})@[^>]+>")


@dataclass(frozen=True)
class Bounce:
    """One failed recipient of a DSN.

    Attributes:
        recipient: The address that failed.
        status: The enhanced status code (``5.1.1``).
        diagnostic: The remote server's words, if given.
        message_id: Our message id, if the report returned our headers.
    """

    recipient: str = field(repr=False)
    status: str
    diagnostic: str = ""
    message_id: str | None = None


@dataclass
class BounceReport:
    """What reading a mailbox found.

    Attributes:
        reports: Messages read.
        bounces: Failed recipients found in them.
        marked: Of those, matched to one of our messages and marked.
        unmatched: Failures that name nothing of ours.
    """

    reports: int = 0
    bounces: int = 0
    marked: int = 0
    unmatched: int = 0

    def to_dict(self) -> dict[str, int]:
        """A JSON-ready form."""
        return {
            "reports": self.reports,
            "bounces": self.bounces,
            "marked": self.marked,
            "unmatched": self.unmatched,
        }


def _recipient(value: str) -> str:
    kind, _, address = value.partition(";")
    return (address if address else kind).strip().strip("<>")


def parse_dsn(message: Message) -> list[Bounce]:
    """Return the failed recipients of a DSN (an empty list for any other message)."""
    if message.get_content_type() != "multipart/report":
        return []
    message_id: str | None = None
    fields: list[Message] = []
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                fields.extend(p for p in payload if isinstance(p, Message))
        elif ctype in ("text/rfc822-headers", "message/rfc822") and message_id is None:
            text = part.as_string()
            match = _MESSAGE_ID.search(text)
            message_id = match.group(1) if match else None
    bounces = []
    for block in fields:
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip()
        recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
        if recipient is None or action != "failed" or not status.startswith("5"):
            continue
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        bounces.append(Bounce(_recipient(str(recipient)), status, diagnostic[:300], message_id))
    return bounces


def maildir_reports(path: Path) -> Iterator[tuple[Message, Any]]:
    """Yield the messages of a Maildir folder and a key to remove each once processed.

    Raises:
        BounceSourceError: If the folder cannot be read.
    """
    if not Path(path).is_dir():
        raise BounceSourceError(str(path), "not a maildir folder")
    box = mailbox.Maildir(path, factory=None, create=False)
    try:
        for key in list(box.keys()):
            raw = box.get_bytes(key)
            yield email.message_from_bytes(raw, policy=email.policy.compat32), key
    except OSError as exc:
        raise BounceSourceError(str(path), exc.strerror or type(exc).__name__) from None


def imap_reports(
    host: str,
    *,
    username: str,
    password: SecretStr,
    folder: str = "INBOX",
    port: int = 993,
    ca_file: Path | None = None,
) -> Iterator[tuple[Message, Any]]:
    """Yield the unseen messages of an IMAP folder (over TLS); fetching marks them seen.

    The server's certificate chain and host name are checked (against the system's CAs,
    or ``ca_file``) before the login is sent.

    Raises:
        BounceSourceError: If the server cannot be reached, is not trusted, or refuses
            the login.
    """
    where = f"imaps://{host}:{port}/{folder}"
    # imaplib's default context checks nothing on Python 3.11: never send a password so.
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with imaplib.IMAP4_SSL(host, port, ssl_context=context) as client:
            client.login(username, password.get_secret_value())
            client.select(folder)
            _, data = client.search(None, "UNSEEN")
            for number in (data[0] or b"").split():
                _, parts = client.fetch(number.decode("ascii"), "(RFC822)")
                for part in parts:
                    if isinstance(part, tuple):
                        yield (
                            email.message_from_bytes(part[1], policy=email.policy.compat32),
                            number,
                        )
    except (imaplib.IMAP4.error, OSError) as exc:
        raise BounceSourceError(where, type(exc).__name__) from None


def process(
    reports: Iterable[tuple[Message | EmailMessage, Any]],
    *,
    outbox: Outbox,
    store: Store,
    clock: Clock,
    run_id: int | None = None,
) -> BounceReport:
    """Mark the bounced messages and addresses; return the counts."""
    result = BounceReport()
    for message, _ in reports:
        result.reports += 1
        for bounce in parse_dsn(message):
            result.bounces += 1
            ours = _ours(bounce, outbox)
            if ours is None:
                result.unmatched += 1
                continue
            _mark(bounce, ours, outbox=outbox, store=store, clock=clock, run_id=run_id)
            result.marked += 1
    return result


def _ours(bounce: Bounce, outbox: Outbox) -> OutboxMessage | None:
    if bounce.message_id is not None:
        found = outbox.get(bounce.message_id)
        if found is not None:
            return found
    try:
        return outbox.message_for_address(bounce.recipient)
    except ValueError:
        return None


def _mark(
    bounce: Bounce,
    message: OutboxMessage,
    *,
    outbox: Outbox,
    store: Store,
    clock: Clock,
    run_id: int | None,
) -> None:
    to = message.to_masked
    reason = f"{bounce.status} {bounce.diagnostic}".strip()
    reason = reason.replace(bounce.recipient, mask_email(bounce.recipient))[:500]
    with store.transaction():
        if message.status is not MessageStatus.BOUNCED:
            outbox.mark_bounced(message.message_id, error=reason)
        outbox.mark_bouncing(message.person_id, reason=reason, at=clock.now())
        store.record_events(
            [
                NewEvent(
                    person_id=message.person_id,
                    kind="mail.bounced",
                    reason_fr=f"Le courriel envoyé à {to} est revenu en erreur ({bounce.status}) : "
                    "l'adresse personnelle est à vérifier auprès du secrétariat.",
                    reason_en=f"The mail sent to {to} bounced ({bounce.status}): the personal "
                    "address needs checking with the secretariat.",
                    run_id=run_id,
                    data={
                        "message_id": message.message_id,
                        "to": to,
                        "status": bounce.status,
                        "purpose": message.purpose.value,
                    },
                )
            ]
        )
