"""The durable outbox: every mail to send, its state and retries, in the state store.

A message is *enqueued* inside the store transaction that records why it exists (the
account's creation, the address correction), under an idempotency key naming that
issuance: enqueuing the same key again returns the existing message, so a crash between
two steps or a re-run never sends one issuance twice. The flush
(:mod:`ecampus_idm.mail.delivery`) takes the *due* messages, and marks each sent,
deferred (temporary failure, retried with backoff), failed (permanent) or bounced.

The initial password travels in the message *sealed* (AES-GCM,
:mod:`ecampus_idm.crypto`, bound to the message id) and is wiped once the message is
sent. Each message also keeps its :class:`MailContext` (why the person receives it: the
enrolment or attribution and the school's name, and the affiliation that sets the
password rule), so that the mail rendered at the flush says what the run knew. The
outbox also remembers, per person, the personal address the credentials were
last sent to (:class:`RecipientRecord`), to notice a correction, and whether it bounces.

Two implementations pass :class:`ecampus_idm.testing.outbox_contract.OutboxContract`:
:class:`SqlOutbox` (tables of :mod:`ecampus_idm.mail.schema`, joining the store's
transaction) and :class:`MemoryOutbox`; :func:`open_outbox` gives the right one.
"""

from __future__ import annotations

import itertools
import json
import secrets
import string
import threading
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, get_args

import sqlalchemy as sa
from pydantic import SecretStr

from ecampus_idm.crypto import Keyring
from ecampus_idm.mail.address import mask_email, normalise_email
from ecampus_idm.mail.schema import mail_outbox, mail_recipients
from ecampus_idm.store.base import Store, aware_utc, validate_person_id

__all__ = [
    "MailContext",
    "MailReason",
    "MemoryOutbox",
    "MessageStatus",
    "NewMessage",
    "Outbox",
    "OutboxMessage",
    "Purpose",
    "RecipientRecord",
    "SqlOutbox",
    "open_outbox",
]

_ERROR_MAX = 500


class Purpose(StrEnum):
    """Why a message is sent."""

    WELCOME = "welcome"
    """The account was created: username, initial password (or link), platform."""
    WELCOME_AGAIN = "welcome-again"
    """The personal address was corrected, or support resent the credentials."""
    RESET_HINT = "reset-hint"
    """No password to resend (the user chose one): how to use « Mot de passe oublié »."""
    RESET = "reset"
    """A password-reset link (the password service)."""
    ACTIVATION = "activation"
    """A link to choose a first password (activation mode)."""


class MessageStatus(StrEnum):
    """Where a message stands."""

    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"
    """A temporary failure: it will be tried again at ``next_attempt_at``."""
    FAILED = "failed"
    """A permanent failure (5xx) or too many attempts."""
    BOUNCED = "bounced"
    """Accepted, then reported undeliverable by a DSN."""


_PENDING = (MessageStatus.QUEUED.value, MessageStatus.DEFERRED.value)

MailReason = Literal["enrolment", "attribution", "personnel"]
"""Why a person has an account: an enrolment (a student), an attribution (a teacher, an
administrative), or the personnel office's list without a function (no school)."""

_REASONS: frozenset[str] = frozenset(get_args(MailReason))
_CONTEXT_MAX = 2000


@dataclass(frozen=True)
class MailContext:
    """What a mail says about its person, as the run knew it when it queued the mail.

    Stored with the message (``mail_outbox.context``, JSON; schema version 8) and read
    back when the mail is rendered; never a secret.

    Attributes:
        reason: Why the person has an account (``None``: not known, e.g. a message
            queued before version 8 or a resend from a command that does not know).
        schools: The names of the schools of that reason, as configured.
        affiliation: The account's primary affiliation (``student``, ``faculty``,
            ``staff``, ``employee``): it picks ``passwords.quality``'s length floor.
    """

    reason: MailReason | None = None
    schools: tuple[str, ...] = ()
    affiliation: str | None = None

    def to_json(self) -> str:
        """The stored form (compact JSON)."""
        document: dict[str, object] = {"reason": self.reason, "schools": list(self.schools)}
        if self.affiliation is not None:
            document["affiliation"] = self.affiliation
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))[:_CONTEXT_MAX]

    @classmethod
    def from_json(cls, text: str | None) -> MailContext | None:
        """Read a stored context; ``None`` for none, and for one this version cannot read."""
        if not text:
            return None
        try:
            document = json.loads(text)
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        reason = document.get("reason")
        schools = document.get("schools")
        affiliation = document.get("affiliation")
        return cls(
            reason=reason if reason in _REASONS else None,
            schools=tuple(str(s) for s in schools) if isinstance(schools, list) else (),
            affiliation=affiliation if isinstance(affiliation, str) else None,
        )


@dataclass(frozen=True)
class NewMessage:
    """A message to enqueue.

    Attributes:
        idempotency_key: Names the issuance (``welcome:<person>:<issued-at>``).
        person_id: The person it is for.
        username: Their account.
        purpose: Why it is sent.
        to_address: The personal address.
        display_name: How to greet them.
        language: ``fr``, ``nl`` or ``en``.
        population: The role whose templates apply (``student``...), if any.
        secret: The initial password to include (sealed before it is stored).
        run_id: The run that enqueued it.
        context: Why the person receives it and which password rule applies.
    """

    idempotency_key: str
    person_id: str
    username: str
    purpose: Purpose
    to_address: str = field(repr=False)
    display_name: str = ""
    language: str = "fr"
    population: str | None = None
    secret: SecretStr | None = field(default=None, repr=False)
    run_id: int | None = None
    context: MailContext | None = None


@dataclass(frozen=True)
class OutboxMessage:
    """One message of the outbox, as stored (the password stays sealed).

    Attributes:
        message_id: Our id (also the left part of the ``Message-ID`` header).
        idempotency_key: The issuance it belongs to.
        person_id: The person.
        username: The account.
        purpose: Why it is sent.
        to_address: The personal address (never shown: use ``to_masked``).
        to_masked: ``j***@gmail.com``.
        language: The mail's language.
        population: The role whose templates apply.
        display_name: How to greet them.
        status: Where it stands.
        queued_at: When it was enqueued.
        next_attempt_at: When it may be tried (again).
        sent_at: When the server accepted it.
        attempts: Delivery attempts so far.
        last_error: The last failure (no secret).
        run_id: The run that enqueued it.
        has_secret: Whether a sealed password travels with it.
        sealed: That password, encrypted (never shown).
        context: Why the person receives it (``None``: not recorded).
    """

    message_id: str
    idempotency_key: str
    person_id: str
    username: str
    purpose: Purpose
    to_address: str = field(repr=False)
    to_masked: str
    language: str
    population: str | None
    display_name: str
    status: MessageStatus
    queued_at: datetime
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    run_id: int | None = None
    has_secret: bool = False
    sealed: str | None = field(default=None, repr=False, compare=False)
    context: MailContext | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: masked address, no secret."""
        return {
            "message_id": self.message_id,
            "person_id": self.person_id,
            "username": self.username,
            "purpose": self.purpose.value,
            "to": self.to_masked,
            "language": self.language,
            "status": self.status.value,
            "queued_at": self.queued_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "attempts": self.attempts,
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class RecipientRecord:
    """The address a person's credentials were last sent to, and whether it bounces.

    Attributes:
        person_id: The person.
        address: The normalised personal address (``None``: the person had none).
        updated_at: When it was recorded.
        bouncing_since: When a DSN reported it undeliverable, if one did.
        bounce_reason: The DSN's status and diagnostic.
    """

    person_id: str
    address: str | None = field(repr=False)
    updated_at: datetime
    bouncing_since: datetime | None = None
    bounce_reason: str | None = None


def _aad(message_id: str) -> bytes:
    return b"outbox:" + message_id.encode("ascii")


class Outbox(ABC):
    """The outbox port (see the module docstring); open one with :meth:`for_store`."""

    keyring: Keyring

    @staticmethod
    def for_store(store: Store, keyring: Keyring) -> Outbox:
        """Return the outbox kept in ``store`` (see :func:`open_outbox`)."""
        return open_outbox(store, keyring)

    @abstractmethod
    def enqueue(self, message: NewMessage, *, now: datetime) -> tuple[OutboxMessage, bool]:
        """Enqueue ``message`` unless its idempotency key exists; return it and whether new."""

    @abstractmethod
    def get(self, message_id: str) -> OutboxMessage | None:
        """Return one message."""

    @abstractmethod
    def messages_for(self, person_id: str) -> list[OutboxMessage]:
        """Return a person's messages, oldest first."""

    @abstractmethod
    def due(self, now: datetime, *, limit: int | None = None) -> list[OutboxMessage]:
        """Return the queued or deferred messages due at ``now``, oldest first.

        Oldest means due first, then queued first; messages queued at one instant (a
        nightly run's) come in the order they were queued, never in the random order of
        their ids.
        """

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Return the number of messages per status."""

    @abstractmethod
    def purge(self, *, before: datetime) -> int:
        """Delete the finished messages (sent, failed, bounced) queued before ``before``.

        Queued and deferred messages are kept whatever their age: they are not delivered
        yet. Returns how many were deleted. The timeline keeps the ``mail.*`` events (with
        masked addresses); the rows go with their clear address and name.
        """

    @abstractmethod
    def _sealed(self, message_id: str) -> bytes | None: ...

    @abstractmethod
    def _update(self, message_id: str, values: dict[str, Any]) -> bool: ...

    def reveal(self, message: OutboxMessage) -> SecretStr | None:
        """Return the password sealed in ``message``, if it still holds one."""
        # The sealed value read with the message saves a query per message in a flush.
        sealed = (
            message.sealed.encode("ascii") if message.sealed else self._sealed(message.message_id)
        )
        if sealed is None:
            return None
        plain = self.keyring.decrypt(sealed, aad=_aad(message.message_id))
        return SecretStr(plain.decode("utf-8"))

    def mark_sent(self, message_id: str, *, at: datetime) -> None:
        """Record that the server accepted the message; wipe its sealed password."""
        at = aware_utc("at", at)
        self._update(
            message_id,
            {
                "status": MessageStatus.SENT.value,
                "sent_at": at,
                "next_attempt_at": None,
                "sealed": None,
                "last_error": None,
                "attempts": ("+", 1),
            },
        )

    def mark_deferred(self, message_id: str, *, error: str, retry_at: datetime) -> None:
        """Record a temporary failure; the message is due again at ``retry_at``."""
        self._update(
            message_id,
            {
                "status": MessageStatus.DEFERRED.value,
                "next_attempt_at": aware_utc("retry_at", retry_at),
                "last_error": error[:_ERROR_MAX],
                "attempts": ("+", 1),
            },
        )

    def mark_failed(self, message_id: str, *, error: str) -> None:
        """Record a permanent failure; wipe its sealed password."""
        self._update(
            message_id,
            {
                "status": MessageStatus.FAILED.value,
                "next_attempt_at": None,
                "sealed": None,
                "last_error": error[:_ERROR_MAX],
                "attempts": ("+", 1),
            },
        )

    def note_error(self, message_id: str, *, error: str) -> None:
        """Record why the message could not leave, without counting an attempt.

        For a transport that is unavailable (SMTP down, 421): the server's outage is not
        the message's, so it stays due, first in line, with its attempts untouched.
        """
        self._update(message_id, {"last_error": error[:_ERROR_MAX]})

    def postpone(self, message_id: str, *, until: datetime) -> None:
        """Keep the message for later without counting an attempt (throttling)."""
        self._update(message_id, {"next_attempt_at": aware_utc("until", until)})

    def mark_bounced(self, message_id: str, *, error: str) -> bool:
        """Record that a DSN reported the (sent) message undeliverable."""
        return self._update(
            message_id,
            {"status": MessageStatus.BOUNCED.value, "last_error": error[:_ERROR_MAX]},
        )

    # -- recipients ------------------------------------------------------------------------

    @abstractmethod
    def recipients(self) -> dict[str, RecipientRecord]:
        """Return every person's last address (one bulk read)."""

    @abstractmethod
    def recipient(self, person_id: str) -> RecipientRecord | None:
        """Return a person's last address."""

    @abstractmethod
    def remember_address(self, person_id: str, address: str | None, *, at: datetime) -> None:
        """Record the address credentials go to now (clears any bounce mark)."""

    @abstractmethod
    def mark_bouncing(self, person_id: str, *, reason: str, at: datetime) -> None:
        """Mark the person's address as bouncing."""

    @abstractmethod
    def message_for_address(self, address: str) -> OutboxMessage | None:
        """Return the latest sent message to ``address`` (to attribute a bounce)."""


def _normalised(address: str | None) -> str | None:
    return None if address is None else normalise_email(address)


class SqlOutbox(Outbox):
    """The outbox in the SQL state store, joining the store's current transaction.

    Args:
        store: A :class:`~ecampus_idm.store.sql.SqlStore`.
        keyring: The keys that seal the passwords.
    """

    def __init__(self, store: Store, keyring: Keyring) -> None:
        self._store = store
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"SqlOutbox({self._store!r})"

    def _connection(self) -> Any:
        return self._store.connection()  # type: ignore[attr-defined]

    def enqueue(self, message: NewMessage, *, now: datetime) -> tuple[OutboxMessage, bool]:
        """Enqueue ``message`` unless its idempotency key exists; return it and whether new."""
        with self._connection() as connection:
            row = connection.execute(
                _BY_KEY, {"b_key": message.idempotency_key[:200]}
            ).one_or_none()
            if row is not None:
                return _message(row), False
            values = _new_row(message, now, self.keyring)
            # PostgreSQL numbers the row from its sequence; SQLite's writers take turns
            # (BEGIN IMMEDIATE), so the largest number plus one is unique there.
            insert = _INSERT if connection.dialect.name == "postgresql" else _INSERT_NEXT
            connection.execute(insert, values)
            return _message(values), True

    def get(self, message_id: str) -> OutboxMessage | None:
        """Return one message."""
        t = mail_outbox
        with self._connection() as connection:
            row = connection.execute(sa.select(t).where(t.c.message_id == message_id)).one_or_none()
        return None if row is None else _message(row)

    def messages_for(self, person_id: str) -> list[OutboxMessage]:
        """Return a person's messages, oldest first."""
        t = mail_outbox
        with self._connection() as connection:
            rows = connection.execute(
                sa.select(t)
                .where(t.c.person_id == person_id)
                .order_by(t.c.queued_at, t.c.seq, t.c.message_id)
            ).all()
        return [_message(r) for r in rows]

    def due(self, now: datetime, *, limit: int | None = None) -> list[OutboxMessage]:
        """Return the queued or deferred messages due at ``now``, oldest first."""
        t = mail_outbox
        query = (
            sa.select(t)
            .where(t.c.status.in_(_PENDING), t.c.next_attempt_at <= aware_utc("now", now))
            .order_by(t.c.next_attempt_at, t.c.queued_at, t.c.seq, t.c.message_id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._connection() as connection:
            rows = connection.execute(query).all()
        return [_message(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Return the number of messages per status."""
        t = mail_outbox
        with self._connection() as connection:
            rows = connection.execute(
                sa.select(t.c.status, sa.func.count()).group_by(t.c.status)
            ).all()
        return {str(status): int(n) for status, n in rows}

    def purge(self, *, before: datetime) -> int:
        """Delete the finished messages queued before ``before``; return how many."""
        t = mail_outbox
        with self._connection() as connection:
            done = connection.execute(
                sa.delete(t).where(
                    t.c.status.not_in(_PENDING), t.c.queued_at < aware_utc("before", before)
                )
            )
        return int(done.rowcount or 0)

    def _sealed(self, message_id: str) -> bytes | None:
        with self._connection() as connection:
            sealed = connection.execute(_SEALED, {"b_id": message_id}).scalar_one_or_none()
        return None if sealed is None else str(sealed).encode("ascii")

    def _update(self, message_id: str, values: dict[str, Any]) -> bool:
        statement = _update_statement(
            tuple(sorted(values)),
            tuple(v[1] if isinstance(v, tuple) else None for _, v in sorted(values.items())),
        )
        params = {f"b_{k}": v for k, v in values.items() if not isinstance(v, tuple)}
        with self._connection() as connection:
            done = connection.execute(statement, {"b_id": message_id, **params}).rowcount
        return bool(done)

    def recipients(self) -> dict[str, RecipientRecord]:
        """Return every person's last address (one bulk read)."""
        with self._connection() as connection:
            rows = connection.execute(sa.select(mail_recipients)).all()
        return {r.person_id: _recipient(r) for r in rows}

    def recipient(self, person_id: str) -> RecipientRecord | None:
        """Return a person's last address."""
        t = mail_recipients
        with self._connection() as connection:
            row = connection.execute(sa.select(t).where(t.c.person_id == person_id)).one_or_none()
        return None if row is None else _recipient(row)

    def remember_address(self, person_id: str, address: str | None, *, at: datetime) -> None:
        """Record the address credentials go to now (clears any bounce mark)."""
        validate_person_id(person_id)
        values = {
            "person_id": person_id,
            "address": _normalised(address),
            "updated_at": aware_utc("at", at),
            "bouncing_since": None,
            "bounce_reason": None,
        }
        with self._connection() as connection:
            done = connection.execute(
                _UPDATE_RECIPIENT, {f"b_{k}": v for k, v in values.items()}
            ).rowcount
            if not done:
                connection.execute(_INSERT_RECIPIENT, values)

    def mark_bouncing(self, person_id: str, *, reason: str, at: datetime) -> None:
        """Mark the person's address as bouncing."""
        t = mail_recipients
        with self._connection() as connection:
            connection.execute(
                sa.update(t)
                .where(t.c.person_id == person_id)
                .values(bouncing_since=aware_utc("at", at), bounce_reason=reason[:_ERROR_MAX])
            )

    def message_for_address(self, address: str) -> OutboxMessage | None:
        """Return the latest sent message to ``address`` (to attribute a bounce)."""
        t = mail_outbox
        with self._connection() as connection:
            row = connection.execute(
                sa.select(t)
                .where(t.c.to_address == normalise_email(address), t.c.sent_at.is_not(None))
                .order_by(t.c.sent_at.desc())
                .limit(1)
            ).one_or_none()
        return None if row is None else _message(row)


_ID_ALPHABET = string.ascii_lowercase
_ID_LENGTH = 26  # 26 letters: about 122 random bits


def new_message_id() -> str:
    """A random message id of letters only.

    No digits: a run of eleven random digits can look like a national number, which the
    store rightly refuses in event data.
    """
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


_BY_KEY = sa.select(mail_outbox).where(mail_outbox.c.idempotency_key == sa.bindparam("b_key"))
_INSERT = sa.insert(mail_outbox)
_INSERT_NEXT = sa.insert(mail_outbox).values(
    seq=sa.select(sa.func.coalesce(sa.func.max(mail_outbox.c.seq), 0) + 1).scalar_subquery()
)
_SEALED = sa.select(mail_outbox.c.sealed).where(mail_outbox.c.message_id == sa.bindparam("b_id"))
_UPDATE_RECIPIENT = (
    sa.update(mail_recipients)
    .where(mail_recipients.c.person_id == sa.bindparam("b_person_id"))
    .values(
        address=sa.bindparam("b_address"),
        updated_at=sa.bindparam("b_updated_at", type_=mail_recipients.c.updated_at.type),
        bouncing_since=sa.bindparam(
            "b_bouncing_since", type_=mail_recipients.c.bouncing_since.type
        ),
        bounce_reason=sa.bindparam("b_bounce_reason"),
    )
)
_INSERT_RECIPIENT = sa.insert(mail_recipients)
_UPDATES: dict[tuple[tuple[str, ...], tuple[int | None, ...]], Any] = {}


def _update_statement(columns: tuple[str, ...], increments: tuple[int | None, ...]) -> Any:
    """A cached UPDATE of ``columns`` by message id (an increment adds to the column).

    Statements are built once per shape and bound with parameters, so that a flush of
    thousands of messages does not rebuild (and re-coerce) one statement per message.
    """
    key = (columns, increments)
    statement = _UPDATES.get(key)
    if statement is None:
        t = mail_outbox
        sets = {
            name: (
                t.c[name] + step
                if step is not None
                else sa.bindparam(f"b_{name}", type_=t.c[name].type)
            )
            for name, step in zip(columns, increments, strict=True)
        }
        statement = _UPDATES[key] = (
            sa.update(t).where(t.c.message_id == sa.bindparam("b_id")).values(sets)
        )
    return statement


def _new_row(message: NewMessage, now: datetime, keyring: Keyring) -> dict[str, Any]:
    validate_person_id(message.person_id)
    address = normalise_email(message.to_address)
    message_id = new_message_id()
    sealed = (
        None
        if message.secret is None
        else keyring.encrypt(
            message.secret.get_secret_value().encode("utf-8"), aad=_aad(message_id)
        ).decode("ascii")
    )
    now = aware_utc("now", now)
    return {
        "message_id": message_id,
        "idempotency_key": message.idempotency_key[:200],
        "person_id": message.person_id,
        "username": message.username,
        "purpose": message.purpose.value,
        "to_address": address,
        "to_masked": mask_email(address),
        "language": message.language,
        "population": message.population,
        "display_name": message.display_name[:260],
        "sealed": sealed,
        "status": MessageStatus.QUEUED.value,
        "queued_at": now,
        "next_attempt_at": now,
        "sent_at": None,
        "attempts": 0,
        "last_error": None,
        "run_id": message.run_id,
        "context": message.context.to_json() if message.context is not None else None,
    }


def _message(row: Any) -> OutboxMessage:
    values: dict[str, Any] = row if isinstance(row, dict) else dict(row._mapping)
    get = values.__getitem__
    return OutboxMessage(
        message_id=get("message_id"),
        idempotency_key=get("idempotency_key"),
        person_id=get("person_id"),
        username=get("username"),
        purpose=Purpose(get("purpose")),
        to_address=get("to_address"),
        to_masked=get("to_masked"),
        language=get("language"),
        population=get("population"),
        display_name=get("display_name"),
        status=MessageStatus(get("status")),
        queued_at=get("queued_at"),
        next_attempt_at=get("next_attempt_at"),
        sent_at=get("sent_at"),
        attempts=get("attempts"),
        last_error=get("last_error"),
        run_id=get("run_id"),
        has_secret=get("sealed") is not None,
        sealed=get("sealed"),
        context=MailContext.from_json(values.get("context")),
    )


def _recipient(row: Any) -> RecipientRecord:
    return RecipientRecord(
        person_id=row.person_id,
        address=row.address,
        updated_at=row.updated_at,
        bouncing_since=row.bouncing_since,
        bounce_reason=row.bounce_reason,
    )


class MemoryOutbox(Outbox):
    """The in-memory twin of :class:`SqlOutbox` (same contract, same encryption).

    Args:
        keyring: The keys that seal the passwords.
    """

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._rows: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, str] = {}
        self._recipients: dict[str, RecipientRecord] = {}
        self._lock = threading.RLock()
        self._seq = itertools.count(1)  # the queue order, as ``mail_outbox.seq``

    def __repr__(self) -> str:
        return f"MemoryOutbox({len(self._rows)} messages)"

    def enqueue(self, message: NewMessage, *, now: datetime) -> tuple[OutboxMessage, bool]:
        """Enqueue ``message`` unless its idempotency key exists; return it and whether new."""
        with self._lock:
            existing = self._keys.get(message.idempotency_key[:200])
            if existing is not None:
                return _message(self._rows[existing]), False
            row = _new_row(message, now, self.keyring)
            row["seq"] = next(self._seq)
            self._rows[row["message_id"]] = row
            self._keys[row["idempotency_key"]] = row["message_id"]
            return _message(row), True

    def get(self, message_id: str) -> OutboxMessage | None:
        """Return one message."""
        row = self._rows.get(message_id)
        return None if row is None else _message(row)

    def messages_for(self, person_id: str) -> list[OutboxMessage]:
        """Return a person's messages, oldest first."""
        rows = [r for r in self._rows.values() if r["person_id"] == person_id]
        return [_message(r) for r in sorted(rows, key=lambda r: (r["queued_at"], r["seq"]))]

    def due(self, now: datetime, *, limit: int | None = None) -> list[OutboxMessage]:
        """Return the queued or deferred messages due at ``now``, oldest first."""
        now = aware_utc("now", now)
        rows = sorted(
            (
                r
                for r in self._rows.values()
                if r["status"] in _PENDING and r["next_attempt_at"] <= now
            ),
            key=lambda r: (r["next_attempt_at"], r["queued_at"], r["seq"]),
        )
        return [_message(r) for r in rows[:limit]]

    def counts(self) -> dict[str, int]:
        """Return the number of messages per status."""
        counts: dict[str, int] = {}
        for row in self._rows.values():
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts

    def purge(self, *, before: datetime) -> int:
        """Delete the finished messages queued before ``before``; return how many."""
        before = aware_utc("before", before)
        with self._lock:
            gone = [
                key
                for key, row in self._rows.items()
                if row["status"] not in _PENDING and row["queued_at"] < before
            ]
            for key in gone:
                row = self._rows.pop(key)
                self._keys.pop(row["idempotency_key"], None)
        return len(gone)

    def _sealed(self, message_id: str) -> bytes | None:
        row = self._rows.get(message_id)
        sealed = None if row is None else row["sealed"]
        return None if sealed is None else str(sealed).encode("ascii")

    def _update(self, message_id: str, values: dict[str, Any]) -> bool:
        with self._lock:
            row = self._rows.get(message_id)
            if row is None:
                return False
            for key, value in values.items():
                row[key] = row[key] + value[1] if isinstance(value, tuple) else value
            return True

    def recipients(self) -> dict[str, RecipientRecord]:
        """Return every person's last address (one bulk read)."""
        return dict(self._recipients)

    def recipient(self, person_id: str) -> RecipientRecord | None:
        """Return a person's last address."""
        return self._recipients.get(person_id)

    def remember_address(self, person_id: str, address: str | None, *, at: datetime) -> None:
        """Record the address credentials go to now (clears any bounce mark)."""
        validate_person_id(person_id)
        self._recipients[person_id] = RecipientRecord(
            person_id, _normalised(address), aware_utc("at", at)
        )

    def mark_bouncing(self, person_id: str, *, reason: str, at: datetime) -> None:
        """Mark the person's address as bouncing."""
        record = self._recipients.get(person_id)
        if record is not None:
            self._recipients[person_id] = replace(
                record, bouncing_since=aware_utc("at", at), bounce_reason=reason[:_ERROR_MAX]
            )

    def message_for_address(self, address: str) -> OutboxMessage | None:
        """Return the latest sent message to ``address`` (to attribute a bounce)."""
        wanted = normalise_email(address)
        rows = [
            r for r in self._rows.values() if r["to_address"] == wanted and r["sent_at"] is not None
        ]
        return _message(max(rows, key=lambda r: r["sent_at"])) if rows else None


_MEMORY: weakref.WeakKeyDictionary[object, MemoryOutbox] = weakref.WeakKeyDictionary()
_MEMORY_LOCK = threading.Lock()


def open_outbox(store: Store, keyring: Keyring) -> Outbox:
    """Return the outbox kept in ``store``.

    A SQL store gets :class:`SqlOutbox` on its own database (joining its transactions);
    any other store (the :class:`~ecampus_idm.store.memory.MemoryStore`) gets one
    :class:`MemoryOutbox` attached to it for its lifetime.
    """
    if hasattr(store, "connection"):
        return SqlOutbox(store, keyring)
    with _MEMORY_LOCK:
        outbox = _MEMORY.get(store)
        if outbox is None:
            outbox = _MEMORY[store] = MemoryOutbox(keyring)
        else:
            outbox.keyring = keyring
        return outbox
