"""The welcome-mail pipeline: templates, durable outbox, delivery, bounces.

The pieces (each module says what it owns):

* :mod:`~ecampus_idm.mail.settings` — the ``[mail]`` configuration;
* :mod:`~ecampus_idm.mail.outbox` — the durable outbox in the state store;
* :mod:`~ecampus_idm.mail.render` — Jinja2 templates (fr, nl, en; text + HTML) to MIME;
* :mod:`~ecampus_idm.mail.delivery` — the flush: throttling, retries, events;
* :mod:`~ecampus_idm.mail.smtp` (the only SMTP client), :mod:`~ecampus_idm.mail.transports`
  (maildir, memory), :mod:`~ecampus_idm.mail.dkim`;
* :mod:`~ecampus_idm.mail.bounces` — delivery reports read back from a mailbox;
* :mod:`~ecampus_idm.mail.welcome` — what the nightly run enqueues, and why.

This package's namespace stays light (the configuration imports it): the renderer and the
transports are imported from their modules.
"""

from ecampus_idm.mail.address import mask_email, normalise_email
from ecampus_idm.mail.errors import (
    BounceSourceError,
    DeliveryError,
    MailError,
    PermanentDeliveryError,
    TemplateError,
    TemporaryDeliveryError,
    TransportUnavailableError,
)
from ecampus_idm.mail.settings import MailSettings

__all__ = [
    "BounceSourceError",
    "DeliveryError",
    "MailError",
    "MailSettings",
    "PermanentDeliveryError",
    "TemplateError",
    "TemporaryDeliveryError",
    "TransportUnavailableError",
    "mask_email",
    "normalise_email",
]
