"""The mail pipeline's ports: :class:`Transport`, :class:`LinkIssuer`, :class:`Mailer`.

Protocols only, so that every other module (and the lead's wiring) depends on these and
never on an implementation: :mod:`ecampus_idm.mail.smtp` (the only module that talks
SMTP), :mod:`ecampus_idm.mail.transports` (maildir, memory).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ecampus_idm.mail.delivery import FlushReport

__all__ = ["FlushProgress", "LinkIssuer", "Mailer", "Transport"]

FlushProgress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while the outbox is flushed."""


@runtime_checkable
class Transport(Protocol):
    """Hands finished messages (bytes, already signed) to the next hop.

    ``send`` raises :class:`~ecampus_idm.mail.errors.TemporaryDeliveryError` (try again
    later), :class:`~ecampus_idm.mail.errors.PermanentDeliveryError` (this address will not
    take it) or :class:`~ecampus_idm.mail.errors.TransportUnavailableError` (nothing can
    be sent now); never a third-party exception.
    """

    @property
    def where(self) -> str:
        """Where messages go, for reports (never a password)."""

    def send(self, raw: bytes, *, sender: str, recipients: Sequence[str]) -> None:
        """Deliver one message to its recipients."""

    def close(self) -> None:
        """Release connections."""


class LinkIssuer(Protocol):
    """Gives the personal URL of an activation (or reset) for a person.

    The lead wires it to the password-token service (:mod:`ecampus_idm.passwords`); it is
    called at send time, so that the link's validity starts when the mail leaves.
    """

    def __call__(self, *, person_id: str, username: str, purpose: str) -> str:
        """Return the URL (it carries a secret token: never log it)."""


class Mailer(Protocol):
    """Delivers what the outbox holds (see :class:`ecampus_idm.mail.delivery.OutboxMailer`)."""

    def flush(
        self, *, limit: int | None = None, progress: FlushProgress | None = None
    ) -> FlushReport:
        """Send the due messages; return what happened."""
