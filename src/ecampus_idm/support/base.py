"""What the support tools read from the mail and custody parts: small ports.

The welcome-mail issue owns the outbox (:class:`ecampus_idm.mail.outbox.Outbox`) and the
initial-password custody (:class:`ecampus_idm.custody.PasswordCustody`). The support
tools only read them (and the retention job purges the custody), through the protocols
below, which those classes satisfy structurally: ``Outbox.messages_for`` returns
``OutboxMessage`` values with the attributes of :class:`MailMessage`, and
``PasswordCustody`` has ``status``, ``reveal`` and ``purge`` as in :class:`CustodyReader`.

:class:`MemoryMailHistory` and :class:`MemoryCustody` are simple in-memory
implementations for tests and for installations without the mail part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

__all__ = [
    "CustodyReader",
    "CustodyStatusView",
    "MailHistory",
    "MailMessage",
    "MemoryCustody",
    "MemoryMailHistory",
    "SimpleCustodyStatus",
    "SimpleMailMessage",
]


@runtime_checkable
class MailMessage(Protocol):
    """One message of the outbox, as support sees it (never its content)."""

    @property
    def message_id(self) -> str:
        """The outbox's id of the message."""
        ...

    @property
    def purpose(self) -> str:
        """``welcome``, ``welcome-again``, ``reset-hint``, ``reset`` or ``activation``."""
        ...

    @property
    def to_masked(self) -> str:
        """The recipient, masked (``j***@gmail.com``)."""
        ...

    @property
    def status(self) -> str:
        """``queued``, ``sent``, ``deferred``, ``failed`` or ``bounced``."""
        ...

    @property
    def queued_at(self) -> datetime:
        """When it was queued."""
        ...

    @property
    def sent_at(self) -> datetime | None:
        """When the receiving server accepted it, if it did."""
        ...

    @property
    def next_attempt_at(self) -> datetime | None:
        """When the next attempt is due (deferred messages)."""
        ...

    @property
    def attempts(self) -> int:
        """How many delivery attempts were made."""
        ...

    @property
    def last_error(self) -> str | None:
        """The last delivery error (no secret)."""
        ...


@runtime_checkable
class MailHistory(Protocol):
    """The outbox, read per person."""

    def messages_for(self, person_id: str) -> Sequence[MailMessage]:
        """Return the person's messages, oldest first."""
        ...


@runtime_checkable
class CustodyStatusView(Protocol):
    """What the custody says about a person's initial password (never the password)."""

    @property
    def username(self) -> str:
        """The account the password was issued for."""
        ...

    @property
    def issued_at(self) -> datetime:
        """When the password was issued."""
        ...

    @property
    def discarded_at(self) -> datetime | None:
        """When the encrypted password was discarded, if it was."""
        ...

    @property
    def discard_reason(self) -> str | None:
        """Why (``password.changed``, ``purged``...)."""
        ...


@runtime_checkable
class CustodyReader(Protocol):
    """The encrypted custody of initial passwords, as the support tools use it."""

    def status(self, person_id: str) -> CustodyStatusView | None:
        """Return the custody's record of the person, if any."""
        ...

    def reveal(self, person_id: str) -> SecretStr | None:
        """Return the initial password while it is kept, else ``None``."""
        ...

    def purge(self, *, before: datetime, at: datetime) -> int:
        """Discard the passwords issued before ``before`` (at ``at``); return how many."""
        ...


@dataclass(frozen=True)
class SimpleMailMessage:
    """A plain :class:`MailMessage` value (tests, the in-memory history)."""

    message_id: str
    person_id: str
    purpose: str
    to_masked: str
    status: str
    queued_at: datetime
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None


class MemoryMailHistory:
    """An in-memory :class:`MailHistory`."""

    def __init__(self, messages: Sequence[SimpleMailMessage] = ()) -> None:
        self._messages = list(messages)

    def add(self, message: SimpleMailMessage) -> None:
        """Add a message."""
        self._messages.append(message)

    def messages_for(self, person_id: str) -> Sequence[MailMessage]:
        """Return the person's messages, oldest first."""
        mine = [m for m in self._messages if m.person_id == person_id]
        return sorted(mine, key=lambda m: m.queued_at)


@dataclass(frozen=True)
class SimpleCustodyStatus:
    """A plain :class:`CustodyStatusView` value."""

    username: str
    issued_at: datetime
    discarded_at: datetime | None = None
    discard_reason: str | None = None


class MemoryCustody:
    """An in-memory :class:`CustodyReader` (passwords kept as :class:`SecretStr`)."""

    def __init__(self) -> None:
        self._status: dict[str, SimpleCustodyStatus] = {}
        self._secrets: dict[str, SecretStr] = {}

    def deposit(
        self, person_id: str, username: str, password: SecretStr, *, issued_at: datetime
    ) -> None:
        """Keep ``password`` as the person's initial password."""
        self._status[person_id] = SimpleCustodyStatus(username, issued_at)
        self._secrets[person_id] = password

    def discard(self, person_id: str, *, reason: str, at: datetime) -> bool:
        """Forget the password (kept: the status); return whether there was one."""
        status = self._status.get(person_id)
        if status is None or person_id not in self._secrets:
            return False
        del self._secrets[person_id]
        self._status[person_id] = replace(status, discarded_at=at, discard_reason=reason)
        return True

    def status(self, person_id: str) -> CustodyStatusView | None:
        """Return the record of the person, if any."""
        return self._status.get(person_id)

    def reveal(self, person_id: str) -> SecretStr | None:
        """Return the password while it is kept."""
        return self._secrets.get(person_id)

    def purge(self, *, before: datetime, at: datetime) -> int:
        """Discard (reason ``purged``) the passwords issued before ``before``."""
        old = [pid for pid in self._secrets if self._status[pid].issued_at < before]
        for pid in old:
            self.discard(pid, reason="purged", at=at)
        return len(old)

    def __repr__(self) -> str:
        return f"MemoryCustody({len(self._secrets)} kept)"
