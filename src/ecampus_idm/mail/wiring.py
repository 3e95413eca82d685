"""Building the mail pipeline from the configuration: keyring, transport, mailer.

Kept apart so that the runner, the CLI and the lead's portal wiring build the pipeline
the same way. The configuration module is imported for annotations only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ecampus_idm.crypto import DataKey, Keyring
from ecampus_idm.errors import ConfigError, IdmError
from ecampus_idm.mail.base import FlushProgress, LinkIssuer, Transport
from ecampus_idm.mail.delivery import (
    FLUSH_LOCK,
    FLUSH_LOCK_HOURS,
    FlushReport,
    OutboxMailer,
)
from ecampus_idm.mail.dkim import DkimSigner
from ecampus_idm.mail.errors import MailError
from ecampus_idm.mail.outbox import open_outbox
from ecampus_idm.mail.render import Branding, Renderer
from ecampus_idm.mail.settings import NO_TRANSPORT
from ecampus_idm.mail.throttle import Throttle
from ecampus_idm.mail.transports import MaildirTransport
from ecampus_idm.store.base import RunStatus

if TYPE_CHECKING:
    from ecampus_idm.clock import Clock
    from ecampus_idm.config import Settings
    from ecampus_idm.directory.base import Directory
    from ecampus_idm.store.base import Run, Store

__all__ = [
    "activation_links",
    "build_mailer",
    "build_transport",
    "keyring_from_settings",
    "locked_flush",
]

_DERIVED_PURPOSE = "ecampus-idm mail custody v1"


def keyring_from_settings(settings: Settings) -> Keyring:
    """The keyring of ``mail.keys``; without keys, one derived from the pseudonym key.

    Raises:
        ConfigError: If there are neither mail keys nor a pseudonym key.
    """
    if settings.mail.keys:
        return Keyring.from_config(settings.mail.keys)
    if settings.sources is None:
        raise ConfigError(
            "configuration", "mail.keys", "mail keys (or a [sources] pseudonym_key to derive one)"
        )
    return Keyring([DataKey.derive(settings.sources.pseudonym_key, purpose=_DERIVED_PURPOSE)])


def build_transport(settings: Settings) -> Transport | None:
    """The configured transport (``None`` for transport ``none``).

    Raises:
        ConfigError: If ``mail.transport`` is not set: no maildir by default, since it
            would write initial passwords in clear wherever the command runs.
    """
    mail = settings.mail
    if mail.transport is None:
        raise ConfigError("configuration", "mail.transport", NO_TRANSPORT)
    if mail.transport == "maildir":
        return MaildirTransport(Path(mail.maildir))
    if mail.transport == "smtp":
        from ecampus_idm.mail.smtp import SmtpTransport  # noqa: PLC0415 - only when used

        return SmtpTransport(mail.smtp)
    return None


def build_mailer(
    settings: Settings,
    store: Store,
    clock: Clock,
    *,
    transport: Transport | None = None,
    link_issuer: LinkIssuer | None = None,
    directory: Directory | Callable[[], Directory] | None = None,
    throttle: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> OutboxMailer | None:
    """The mailer of the configuration, or ``None`` when the transport is ``none``.

    In the ``activation`` mode without an explicit ``link_issuer``, the links come from
    the password-token service (:func:`activation_links`) on ``directory`` (opened from
    the configuration on first use when not given).
    """
    transport = transport or build_transport(settings)
    if transport is None:
        return None
    mail = settings.mail
    if link_issuer is None and mail.mode == "activation":
        link_issuer = activation_links(settings, store, clock, directory=directory)
    return OutboxMailer(
        outbox=open_outbox(store, keyring_from_settings(settings)),
        transport=transport,
        renderer=Renderer(Branding.from_settings(settings), mail),
        store=store,
        clock=clock,
        retry=mail.retry,
        throttle=Throttle(mail.throttle) if throttle else Throttle.off(),
        signer=DkimSigner.from_settings(mail.dkim) if mail.dkim is not None else None,
        link_issuer=link_issuer,
        sleep=sleep,
    )


def activation_links(
    settings: Settings,
    store: Store,
    clock: Clock,
    *,
    directory: Directory | Callable[[], Directory] | None = None,
) -> LinkIssuer:
    """The welcome mail's activation links, issued by the password-token service.

    The token is the same kind as a "Mot de passe oublié" one (HMAC-stored, bound to the
    account and its password state) with the ``activation`` purpose and
    ``passwords.activation_ttl_hours``; the portal's reset page accepts it.

    A link that cannot be made (no ``[passwords] token_keys``, the account gone from the
    directory) raises :class:`~ecampus_idm.mail.errors.MailError`: the flush defers that
    mail with the reason and goes on.
    """
    from ecampus_idm.mail.reset import OutboxResetMailer  # noqa: PLC0415 - avoids a cycle
    from ecampus_idm.passwords import PasswordResetService  # noqa: PLC0415 - only when used

    def opened() -> Directory:
        from ecampus_idm.directory import open_directory  # noqa: PLC0415 - keeps ldap3 lazy

        return open_directory(settings.directory)

    services: list[PasswordResetService] = []

    def issue(*, person_id: str, username: str, purpose: str) -> str:
        # Built on first use: a missing token key defers the activation mails (with the
        # reason) instead of stopping the run or the flush.
        try:
            if not services:
                services.append(
                    PasswordResetService.for_store(
                        store,
                        mailer=OutboxResetMailer(
                            store,
                            open_outbox(store, keyring_from_settings(settings)),
                            settings.mail,
                        ),
                        # Completed from [directory]: AD or OpenLDAP names, people container.
                        settings=settings.passwords.for_directory(settings.directory),
                        directory=directory if directory is not None else opened,
                        clock=clock,
                    )
                )
            return services[0].activation_link(
                person_id=person_id, username=username, purpose=purpose
            )
        except MailError:
            raise
        except IdmError as exc:
            raise MailError(f"no activation link ({type(exc).__name__}: {exc})") from exc

    return issue


def locked_flush(
    store: Store,
    mailer: OutboxMailer,
    *,
    kind: str = "mail.send",
    limit: int | None = None,
    progress: FlushProgress | None = None,
) -> tuple[Run, FlushReport]:
    """Flush the outbox as a recorded run that holds the flush lock.

    Two flushes at once could both send a message before either marks it sent: the run
    takes the ``mail.flush`` lock atomically, so of two flushes (``mail send``, the reset
    worker, a nightly run flushing at its end) exactly one goes. The run ends
    ``succeeded``, or ``partial`` when the transport was unavailable or a message failed.

    Args:
        store: The state store (the run and its lock).
        mailer: The mailer of :func:`build_mailer`.
        kind: The run's kind, as ``status`` shows it.
        limit: At most this many messages.
        progress: Called after each message with (done, total).

    Returns:
        The finished run and what the flush did.

    Raises:
        RunInProgressError: Another flush holds the lock; nothing was sent or recorded.
    """
    run = store.start_run(
        kind, exclusive=True, lock=FLUSH_LOCK, stale_after=timedelta(hours=FLUSH_LOCK_HOURS)
    )
    try:
        report = mailer.flush(limit=limit, run_id=run.run_id, progress=progress)
    except BaseException as exc:
        store.finish_run(run.run_id, RunStatus.FAILED, message=type(exc).__name__)
        raise
    status = RunStatus.PARTIAL if report.unavailable or report.failed else RunStatus.SUCCEEDED
    finished = store.finish_run(
        run.run_id,
        status,
        counts={k: v for k, v in report.to_dict().items() if isinstance(v, int)},
        message=report.unavailable,
    )
    return finished, report
