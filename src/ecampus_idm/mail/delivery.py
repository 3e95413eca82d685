"""The flush: render the due messages of the outbox, sign them, hand them to the transport.

:class:`OutboxMailer` is the only place where a message changes state after it was
enqueued, each change recorded with its event in one store transaction:

* accepted → ``sent`` (the sealed password is wiped), event ``mail.sent`` — recorded per
  batch of at most 10 accepted messages, and before the flush waits for the sending rate
  (at-least-once: a crash before that commit sends those messages again);
* temporary failure (4xx, template or key problem) → ``deferred`` until
  ``now + backoff`` (doubling, bounded), event ``mail.deferred``; after
  ``retry.max_attempts`` → ``failed``;
* permanent failure (5xx) → ``failed``, the address marked failing on the person,
  event ``mail.failed``;
* transport unavailable (SMTP down, a 421 closing the connection) → the flush stops;
  every message stays due for the next flush with its attempts untouched (the outage is
  the server's, not the message's: a long one must not use up their retries), the
  reason noted on the first one. Nothing is lost.

Throttling (:mod:`ecampus_idm.mail.throttle`): a domain over its rate is postponed (the
others go on); the overall rate makes the flush wait, through the injected ``sleep``.
"""

from __future__ import annotations

import email.policy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr

from ecampus_idm.clock import Clock
from ecampus_idm.crypto import CryptoError
from ecampus_idm.mail.address import domain_of
from ecampus_idm.mail.base import FlushProgress, LinkIssuer, Transport
from ecampus_idm.mail.dkim import DkimSigner
from ecampus_idm.mail.errors import (
    MailError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    TransportUnavailableError,
)
from ecampus_idm.mail.outbox import Outbox, OutboxMessage, Purpose
from ecampus_idm.mail.render import Renderer
from ecampus_idm.mail.settings import RetrySettings
from ecampus_idm.mail.throttle import Throttle
from ecampus_idm.store.base import NewEvent, Run, RunStatus, Store

__all__ = ["FLUSH_LOCK", "FLUSH_LOCK_HOURS", "FlushReport", "OutboxMailer", "running_flush"]

log = logging.getLogger(__name__)
_SMTP = email.policy.compat32.clone(linesep="\r\n")

_PURPOSE_TEXT = {
    # French after "l'envoi": the article contracted with "de" ("du courriel", not "de le").
    "welcome": ("du courriel de bienvenue", "the welcome mail"),
    "welcome-again": ("du renvoi des accès", "the credentials sent again"),
    "reset-hint": ("de l'explication « Mot de passe oublié »", "the 'forgot password' explanation"),
    "reset": ("du lien de réinitialisation", "the reset link"),
    "activation": ("du lien d'activation", "the activation link"),
}


@dataclass
class FlushReport:
    """What one flush did.

    Attributes:
        due: Messages that were due when it started.
        sent: Accepted by the transport.
        deferred: Temporary failures, kept for a later attempt.
        failed: Given up (permanent failure or too many attempts).
        postponed: Held back by the per-domain rate, for a later flush.
        unavailable: Why the transport could not be used, if it could not.
        where: Where the messages went.
        seconds: How long it took.
    """

    due: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    postponed: int = 0
    unavailable: str | None = None
    where: str = ""
    seconds: float = 0.0
    message_ids: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "due": self.due,
            "sent": self.sent,
            "deferred": self.deferred,
            "failed": self.failed,
            "postponed": self.postponed,
            "unavailable": self.unavailable,
            "where": self.where,
            "seconds": round(self.seconds, 3),
        }


class OutboxMailer:
    """Delivers the outbox (see the module docstring).

    Args:
        outbox: The outbox.
        transport: Where messages go.
        renderer: Templates and headers.
        store: The state store, for the events (and the transactions).
        clock: Time.
        retry: Retry policy.
        throttle: Sending rates (:meth:`Throttle.off` for none).
        signer: DKIM signer, if configured.
        link_issuer: Gives activation links (activation mode).
        sleep: How to wait for the overall rate (``time.sleep``; tests advance a clock).
        batch: At most this many accepted messages recorded per transaction (see
            :meth:`_record_accepted`).
    """

    def __init__(
        self,
        *,
        outbox: Outbox,
        transport: Transport,
        renderer: Renderer,
        store: Store,
        clock: Clock,
        retry: RetrySettings | None = None,
        throttle: Throttle | None = None,
        signer: DkimSigner | None = None,
        link_issuer: LinkIssuer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        batch: int = 10,
    ) -> None:
        self.outbox = outbox
        self.transport = transport
        self.renderer = renderer
        self.store = store
        self.clock = clock
        self.retry = retry or RetrySettings()
        self.throttle = throttle or Throttle.off()
        self.signer = signer
        self.link_issuer = link_issuer
        self._sleep = sleep
        self.batch = batch
        self._accepted: list[tuple[OutboxMessage, datetime, int | None]] = []

    def flush(
        self,
        *,
        limit: int | None = None,
        progress: FlushProgress | None = None,
        run_id: int | None = None,
    ) -> FlushReport:
        """Send the due messages; return what happened (never raises for one message)."""
        started = time.monotonic()
        report = FlushReport(where=self.transport.where)
        due = self.outbox.due(self.clock.now(), limit=limit)
        report.due = len(due)
        try:
            for done, message in enumerate(due, start=1):
                self._one(message, report, run_id)
                if progress is not None:
                    progress(done, len(due))
                if report.unavailable is not None:
                    break
        finally:
            self._record_accepted()
            self.transport.close()
            report.seconds = time.monotonic() - started
        return report

    def _one(self, message: OutboxMessage, report: FlushReport, run_id: int | None) -> None:
        now = self.clock.now()
        domain = domain_of(message.to_address)
        free_at = self.throttle.domain_free_at(domain, now)
        if free_at is not None:
            self.outbox.postpone(message.message_id, until=free_at)
            report.postponed += 1
            return
        wait = self.throttle.overall_free_at(now)
        if wait is not None:
            self._record_accepted()  # nothing accepted waits uncommitted while we sleep
            self._sleep(max((wait - now).total_seconds(), 0.0))
            now = self.clock.now()
        try:
            raw = self._build(message, now)
            self.transport.send(
                raw, sender=self.renderer.branding.from_address, recipients=[message.to_address]
            )
        except TransportUnavailableError as exc:
            report.unavailable = exc.reason
            self.outbox.note_error(
                message.message_id, error=_scrub(f"unavailable: {exc.reason}", message)
            )
            return
        except PermanentDeliveryError as exc:
            self._fail(message, now, str(exc), report, run_id)
            return
        except (TemporaryDeliveryError, MailError, CryptoError) as exc:
            self._defer(message, now, str(exc), report, run_id)
            return
        self.throttle.record(domain, now)
        self._accepted.append((message, now, run_id))
        if len(self._accepted) >= self.batch:
            self._record_accepted()
        report.sent += 1
        report.message_ids.append(message.message_id)

    def _record_accepted(self) -> None:
        """Mark the accepted messages sent, with their events, in one transaction.

        One commit per batch rather than per message (a commit waits for the disk: one
        per message makes an unthrottled flush about 1.6 times slower, a batch of 10
        about 1.08): if the process dies between a server's acceptance and this commit,
        the messages of that batch (at most :attr:`batch`) are sent again by the next
        flush — at-least-once, never lost. Measured in
        ``tests/integration/mail/test_mail_faults.py`` (docs/mail.md).
        """
        accepted, self._accepted = self._accepted, []
        if not accepted:
            return
        with self.store.transaction():
            for message, at, _ in accepted:
                self.outbox.mark_sent(message.message_id, at=at)
            self.store.record_events(
                [_event(message, "mail.sent", run_id, {}) for message, _, run_id in accepted]
            )

    def _build(self, message: OutboxMessage, now: datetime) -> bytes:
        secret: SecretStr | None = None
        link: str | None = None
        if message.purpose in (Purpose.WELCOME, Purpose.WELCOME_AGAIN):
            secret = self.outbox.reveal(message)
            if secret is None:
                raise MailError("the initial password is no longer held for this message")
        if message.purpose is Purpose.RESET:
            sealed_link = self.outbox.reveal(message)
            if sealed_link is None:
                raise MailError("the reset link is no longer held for this message")
            link = sealed_link.get_secret_value()
        if message.purpose is Purpose.ACTIVATION:
            if self.link_issuer is None:
                raise MailError("activation mode needs a link issuer (none is wired)")
            link = self.link_issuer(
                person_id=message.person_id, username=message.username, purpose="activation"
            )
        rendered = self.renderer.render(
            purpose=message.purpose.value,
            language=message.language,
            username=message.username,
            display_name=message.display_name,
            population=message.population,
            password=secret,
            activation_url=link,
            reset_url=link,
            context=message.context,
        )
        try:
            mime = self.renderer.compose(
                rendered,
                to_address=message.to_address,
                to_name=message.display_name,
                message_id=message.message_id,
                now=now,
                language=message.language,
            )
            raw = mime.as_bytes(policy=_SMTP)
        except (ValueError, TypeError) as exc:
            raise PermanentDeliveryError(
                f"cannot address this message ({type(exc).__name__})"
            ) from None
        del rendered, secret
        return self.signer.sign(raw) if self.signer is not None else raw

    def _defer(
        self,
        message: OutboxMessage,
        now: datetime,
        error: str,
        report: FlushReport,
        run_id: int | None,
    ) -> None:
        attempts = message.attempts + 1
        if attempts >= self.retry.max_attempts:
            self._fail(message, now, f"gave up after {attempts} attempts: {error}", report, run_id)
            return
        delay = min(
            self.retry.backoff_seconds * 2 ** (attempts - 1), self.retry.max_backoff_seconds
        )
        retry_at = now + timedelta(seconds=delay)
        error = _scrub(error, message)
        with self.store.transaction():
            self.outbox.mark_deferred(message.message_id, error=error, retry_at=retry_at)
            self.store.record_events(
                [
                    _event(
                        message,
                        "mail.deferred",
                        run_id,
                        {"error": error, "retry_at": retry_at.isoformat(), "attempts": attempts},
                    )
                ]
            )
        report.deferred += 1

    def _fail(
        self,
        message: OutboxMessage,
        now: datetime,
        error: str,
        report: FlushReport,
        run_id: int | None,
    ) -> None:
        error = _scrub(error, message)
        with self.store.transaction():
            self.outbox.mark_failed(message.message_id, error=error)
            self.outbox.mark_bouncing(message.person_id, reason=error, at=now)
            self.store.record_events([_event(message, "mail.failed", run_id, {"error": error})])
        report.failed += 1


def _scrub(error: str, message: OutboxMessage) -> str:
    return error.replace(message.to_address, message.to_masked)[:500]


def _event(
    message: OutboxMessage, kind: str, run_id: int | None, extra: dict[str, Any]
) -> NewEvent:
    what_fr, what_en = _PURPOSE_TEXT.get(message.purpose.value, ("du courriel", "the mail"))
    to = message.to_masked
    texts = {
        "mail.sent": (f"Envoi {what_fr} à {to}.", f"Sent {what_en} to {to}."),
        "mail.deferred": (
            f"Envoi {what_fr} à {to} reporté (échec temporaire), nouvel essai prévu.",
            f"Sending {what_en} to {to} deferred (temporary failure); it will be retried.",
        ),
        "mail.failed": (
            f"Échec définitif de l'envoi {what_fr} à {to} : adresse à vérifier.",
            f"Sending {what_en} to {to} failed permanently: check the address.",
        ),
    }
    fr, en = texts[kind]
    return NewEvent(
        person_id=message.person_id,
        kind=kind,
        reason_fr=fr,
        reason_en=en,
        run_id=run_id,
        data={
            "message_id": message.message_id,
            "purpose": message.purpose.value,
            "to": to,
            **extra,
        },
    )


FLUSH_LOCK_HOURS = 1
"""A flush still marked running after this long is taken for crashed (it stops blocking)."""

FLUSH_LOCK = "mail.flush"
"""The store lock held by a ``mail send`` and by a nightly run that flushes at its end."""


def running_flush(store: Store, now: datetime, *, nightly_runs: bool = False) -> Run | None:
    """Return a recent flush still in progress (``mail send``), if any.

    Two flushes at once could both send a message before either marks it sent; every
    flush asks this first. With ``nightly_runs``, a nightly run in progress counts too
    (it flushes at its end when ``mail.flush_after_run`` is set).

    Args:
        store: The state store the runs are recorded in.
        now: The current instant.
        nightly_runs: Whether a running nightly ``run`` also counts as a flush.
    """
    horizon = now - timedelta(hours=FLUSH_LOCK_HOURS)
    kinds = ("mail.send", "run") if nightly_runs else ("mail.send",)
    for kind in kinds:
        for other in store.recent_runs(5, kind=kind):
            if other.status is RunStatus.RUNNING and other.started_at > horizon:
                return other
    return None
