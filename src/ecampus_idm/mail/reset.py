"""The password service's reset mails, through the outbox: :class:`OutboxResetMailer`.

The password-reset service (:mod:`ecampus_idm.passwords`) hands each reset mail to a
``ResetMailer`` out of the request path; this one enqueues it in the durable outbox (the
link, which holds the token, *sealed* like an initial password), records ``mail.queued``
and leaves delivery to the flush (``mail send``, or the portal's own flush). The
argument is typed structurally (:class:`ResetMailLike`), so that this module does not
import the password service.

The reset mail speaks the person's language: the one of their latest mail in the outbox
that knew them (a welcome, activation or reset-hint mail, which
:class:`~ecampus_idm.mail.welcome.WelcomeDesk` wrote in the language of their row, their
school or their population), otherwise ``mail.language``. Their population and
:class:`~ecampus_idm.mail.outbox.MailContext` go with it too, so that a
``template_prefix`` applies and the mail states the password rule of their affiliation.
The link's lifetime it states is ``passwords.token_ttl_minutes`` (the renderer's
:class:`~ecampus_idm.mail.render.Branding`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import SecretStr

from ecampus_idm.mail.outbox import NewMessage, Outbox, OutboxMessage, Purpose
from ecampus_idm.mail.settings import MailSettings
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
        settings: The ``[mail]`` settings: ``language`` and the populations' languages.
    """

    def __init__(self, store: Store, outbox: Outbox, settings: MailSettings | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.settings = settings or MailSettings()

    def _latest(self, person_id: str) -> OutboxMessage | None:
        """The person's latest mail that knew them (a population or a context)."""
        known = [m for m in self.outbox.messages_for(person_id) if m.population or m.context]
        return known[-1] if known else None

    def language_for(self, population: str | None) -> str:
        """The language of a reset mail for ``population`` (as the welcome mail's)."""
        override = self.settings.populations.get(population or "")
        return (override.language if override else None) or self.settings.language

    def send_reset(self, mail: ResetMailLike) -> None:
        """Enqueue ``mail`` once per link (idempotent on the person and issue time)."""
        with self.store.transaction():
            latest = self._latest(mail.person_id)
            population = latest.population if latest is not None else None
            message, new = self.outbox.enqueue(
                NewMessage(
                    idempotency_key=f"reset:{mail.person_id}:{mail.issued_at.isoformat()}",
                    person_id=mail.person_id,
                    username=mail.username,
                    purpose=Purpose.RESET,
                    to_address=mail.to,
                    display_name=mail.display_name,
                    language=(latest.language if latest is not None else self.language_for(None)),
                    population=population,
                    secret=mail.link,
                    context=latest.context if latest is not None else None,
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
