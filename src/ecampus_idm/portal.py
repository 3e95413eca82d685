"""What a web portal needs from the configuration: the reset service and its worker.

The "Mot de passe oublié" portal wires nothing by hand::

    from ecampus_idm.config import load_config
    from ecampus_idm.portal import reset_service, run_reset_worker
    from ecampus_idm.store import open_store

    settings = load_config("/etc/ecampus-idm/idm.toml")
    store = open_store(settings.store)
    service = reset_service(settings, store)       # in the web process
    run_reset_worker(settings)                     # in a worker (every minute)

:func:`reset_service` builds the service exactly as ``ecampus-idm passwords process``
does: the directory's account names (AD or OpenLDAP), the directory opened on the first
reset, the mail outbox as its mailer (in the configured languages), the initial-password
custody a reset discards, and the schools' names as words no chosen password may build on.
:func:`run_reset_worker` is one pass of the worker: it looks the pending requests up,
queues one mail per account and sends the outbox, holding the flush lock that ``mail
send`` and the nightly run's flush take, so that no mail is ever sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecampus_idm.passwords.errors import ResetConfigError
from ecampus_idm.passwords.service import PasswordResetService, ProcessReport

if TYPE_CHECKING:
    from ecampus_idm.clock import Clock
    from ecampus_idm.config import Settings
    from ecampus_idm.directory.base import Directory
    from ecampus_idm.mail.delivery import FlushReport
    from ecampus_idm.store.base import Store

__all__ = ["ResetWorkerReport", "reset_service", "run_reset_worker"]


def reset_service(
    settings: Settings,
    store: Store,
    *,
    directory: Directory | Callable[[], Directory] | None = None,
    clock: Clock | None = None,
) -> PasswordResetService:
    """The "Mot de passe oublié" service of the configuration, on ``store``.

    Args:
        settings: The loaded configuration (:func:`ecampus_idm.config.load_config`).
        store: The open state store (the PostgreSQL shared by every portal instance).
        directory: The directory, or a function returning it; by default the configured
            one, opened on the first lookup or reset (a request never opens it).
        clock: Where "now" comes from (the system clock by default).

    Raises:
        ResetConfigError: Mail is switched off (``[mail] enabled = false``): no reset
            mail could ever be sent, so the service would only collect requests.
        ConfigError: Neither ``mail.keys`` nor a pseudonym key to seal the outbox with.
    """
    from ecampus_idm.custody import open_custody  # noqa: PLC0415 - the mail side stays lazy
    from ecampus_idm.directory import open_directory  # noqa: PLC0415 - ldap3 stays lazy
    from ecampus_idm.mail.outbox import open_outbox  # noqa: PLC0415
    from ecampus_idm.mail.reset import OutboxResetMailer  # noqa: PLC0415
    from ecampus_idm.mail.wiring import keyring_from_settings  # noqa: PLC0415

    if not settings.mail.enabled:
        raise ResetConfigError("[mail] enabled = false: no reset mail could be sent")
    keyring = keyring_from_settings(settings)
    passwords = settings.passwords.for_directory(settings.directory)  # AD or OpenLDAP names
    quality = passwords.quality.with_known_words(school.name for school in settings.schools)
    return PasswordResetService.for_store(
        store,
        settings=passwords.model_copy(update={"quality": quality}),
        directory=directory or (lambda: open_directory(settings.directory)),
        mailer=OutboxResetMailer(store, open_outbox(store, keyring), settings.mail),
        custody=open_custody(store, keyring),
        clock=clock,
    )


@dataclass(frozen=True)
class ResetWorkerReport:
    """What one pass of the reset worker did.

    Attributes:
        lookup: The requests looked up, the mails queued, those suppressed or deferred.
        flush: What the outbox's flush did (reset mails and any other mail due), or
            ``None`` when another flush held the lock: the mails stay queued for it.
    """

    lookup: ProcessReport
    flush: FlushReport | None

    @property
    def complete(self) -> bool:
        """Whether the pass met no mail trouble (another flush sending counts as none)."""
        return self.flush is None or not (self.flush.unavailable or self.flush.failed)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (counts only: no address, no token)."""
        return {
            **self.lookup.as_dict(),
            "flush": None if self.flush is None else self.flush.to_dict(),
        }


def run_reset_worker(
    settings: Settings,
    *,
    limit: int | None = None,
    clock: Clock | None = None,
    directory: Directory | None = None,
) -> ResetWorkerReport:
    """One pass of the reset worker: look up, queue one mail per account, send.

    Args:
        settings: The loaded configuration.
        limit: At most this many requests (``passwords.process_batch`` by default).
        clock: The clock (the institution's time zone by default).
        directory: An open directory to use (by default the configured one, opened for
            this pass and closed after it).

    Raises:
        ResetConfigError: Mail is disabled, or ``[mail] transport = "none"``.
        ConfigError: No ``[mail] transport`` is configured (see :mod:`ecampus_idm.mail`).
        DirectoryUnavailableError: The directory cannot be reached; the requests stay
            pending for the next pass.
        StoreError: The state store cannot be used.
    """
    from ecampus_idm.clock import SystemClock  # noqa: PLC0415
    from ecampus_idm.directory import open_directory  # noqa: PLC0415 - ldap3 stays lazy
    from ecampus_idm.mail.wiring import build_mailer, locked_flush  # noqa: PLC0415
    from ecampus_idm.store import open_store  # noqa: PLC0415 - SQLAlchemy stays lazy
    from ecampus_idm.store.errors import RunInProgressError  # noqa: PLC0415

    clock = clock or SystemClock(settings.institution.zone)
    with open_store(settings.store, clock=clock) as store:
        mailer = build_mailer(settings, store, clock)  # before any lookup: no transport, no work
        if mailer is None:
            raise ResetConfigError('[mail] transport = "none": reset mails could not be sent')
        opened = directory or open_directory(settings.directory)
        try:
            service = reset_service(settings, store, directory=opened, clock=clock)
            lookup = service.process_pending(limit=limit)
        finally:
            if directory is None:
                opened.close()
        try:
            _, flushed = locked_flush(store, mailer, kind="passwords.worker")
        except RunInProgressError:
            flushed = None  # another flush is sending: it takes our mails as well
    return ResetWorkerReport(lookup=lookup, flush=flushed)
