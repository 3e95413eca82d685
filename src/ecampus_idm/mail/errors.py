"""The mail pipeline's errors, under :class:`~ecampus_idm.errors.IdmError`.

The tree::

    IdmError
    └── MailError
        ├── DeliveryError                 one message was not accepted (reason, code)
        │   ├── TemporaryDeliveryError    4xx: kept and retried with backoff
        │   └── PermanentDeliveryError    5xx: marked failed on the person
        ├── TransportUnavailableError     the server cannot be reached or refuses our login
        ├── TemplateError                 a template is missing or does not render
        └── BounceSourceError             the bounce mailbox cannot be read

No message ever contains a password, a token or a full personal address.
"""

from __future__ import annotations

from ecampus_idm.errors import IdmError

__all__ = [
    "BounceSourceError",
    "DeliveryError",
    "MailError",
    "PermanentDeliveryError",
    "TemplateError",
    "TemporaryDeliveryError",
    "TransportUnavailableError",
]


class MailError(IdmError):
    """Root of the mail pipeline's errors."""


class DeliveryError(MailError):
    """One message was not accepted.

    Attributes:
        reason: The server's answer or the local reason (no secret, no full address).
        code: The SMTP reply code, when there is one.
    """

    def __init__(self, reason: str, code: int | None = None) -> None:
        self.reason = reason
        self.code = code
        prefix = f"{code} " if code is not None else ""
        super().__init__(f"message not delivered: {prefix}{reason}")


class TemporaryDeliveryError(DeliveryError):
    """A temporary refusal (4xx): try again later."""


class PermanentDeliveryError(DeliveryError):
    """A permanent refusal (5xx): this address will not take it."""


class TransportUnavailableError(MailError):
    """The transport cannot send anything now (server down, login refused).

    Attributes:
        where: The server or folder.
        reason: Why.
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"mail transport {where} unavailable: {reason}")


class TemplateError(MailError):
    """A mail template is missing or failed to render.

    Attributes:
        template: The template's name.
    """

    def __init__(self, template: str, reason: str) -> None:
        self.template = template
        super().__init__(f"mail template {template}: {reason}")


class BounceSourceError(MailError):
    """The mailbox holding delivery reports cannot be read.

    Attributes:
        where: The maildir path or IMAP server.
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        super().__init__(f"cannot read bounces from {where}: {reason}")
