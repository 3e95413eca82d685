"""The password service's reset mails, through the outbox: :class:`OutboxResetMailer`.

The password-reset service (:mod:`ecampus_idm.passwords`) hands each reset mail to a
``ResetMailer`` out of the request path; this one enqueues it in the durable outbox (the
link, which holds the token, *sealed* like an initial password), records ``mail.queued``
and leaves delivery to the flush (``mail send``, or the portal's own flush). The
argument is typed structurally (:class:`ResetMailLike`), so that this module does not
import the password service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import SecretStr

from ecampus_idm.mail.outbox import NewMessage, Outbox, Purpose
from ecampus_idm.store.base import NewEvent, Store

__all__ = ["OutboxResetMailer", "ResetMailLike"]


class ResetMailLike(Protocol):
    """What a reset mail carries (``ecampus_idm.passwords.base.ResetMail`` is one)."""

    @property
    def person_id(self) -> str:
        """The account's owner."""

    @property
    def username(self) -> str:
        """The login."""

    @property
    def display_name(self) -> str:
        """The owner's name."""

    @property
    def to(self) -> str:
        """The personal address."""

    @property
    def link(self) -> SecretStr:
        """The reset link (a secret)."""

    @property
    def issued_at(self) -> datetime:
        """When the link was made."""


class OutboxResetMailer:
    """Queues reset mails in the outbox (see the module docstring).

    Args:
        store: The state store (events, transaction).
        outbox: The outbox.
        language: The language of the mails.
    """

    def __init__(self, store: Store, outbox: Outbox, *, language: str = "fr") -> None:
        self.store = store
        self.outbox = outbox
        self.language = language

    def send_reset(self, mail: ResetMailLike) -> None:
        """Enqueue ``mail`` once per link (idempotent on the person and issue time)."""
        with self.store.transaction():
            message, new = self.outbox.enqueue(
                NewMessage(
                    idempotency_key=f"reset:{mail.person_id}:{mail.issued_at.isoformat()}",
                    person_id=mail.person_id,
                    username=mail.username,
                    purpose=Purpose.RESET,
                    to_address=mail.to,
                    display_name=mail.display_name,
                    language=self.language,
                    secret=mail.link,
                ),
                now=mail.issued_at,
            )
            if new:
                self.store.record_events(
                    [
                        NewEvent(
                            person_id=mail.person_id,
                            kind="mail.queued",
                            reason_fr="Lien de réinitialisation mis en file pour "
                            f"{message.to_masked}.",
                            reason_en=f"Reset link queued for {message.to_masked}.",
                            data={
                                "message_id": message.message_id,
                                "purpose": Purpose.RESET.value,
                                "to": message.to_masked,
                            },
                        )
                    ]
                )
