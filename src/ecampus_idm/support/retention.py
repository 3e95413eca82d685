"""Retention: what is purged, and when (GDPR: data kept no longer than needed).

This module owns :func:`purge`, the job behind ``ecampus-idm purge`` (run it daily, after
the nightly run). With the defaults of :class:`~ecampus_idm.support.settings.SupportSettings`:

* **initial passwords in custody**: discarded as soon as the user changes the password
  (the password part's ``on_after_reset`` hook and the custody's ``discard`` do that at
  the moment of the change); any password still held ``mail.custody_days`` (60)
  after it was issued is discarded by this job, as by each nightly run (reason
  ``purged``: the encrypted password
  is deleted, the status — username, dates — stays for the listing and the diagnosis);
* **events** (the per-person timeline support reads): deleted
  ``event_retention_days`` (400) after they happened, enough to explain a full academic
  year and the next start of year;
* **delivered mails** (outbox rows: clear address and name; the password is gone once
  sent): the finished ones (sent, failed, bounced) go with the events of the same age —
  the timeline keeps their ``mail.*`` events, with masked addresses;
* **reset requests, tokens, rate counters and their audit**: deleted
  ``passwords.retention_days`` (30) after they were made.

A period of 0 keeps that kind of data (the job then leaves it alone). See
``docs/data-retention.md`` for every kind of data and its period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ecampus_idm.clock import Clock
from ecampus_idm.store.base import RunStatus, Store
from ecampus_idm.support.base import CustodyReader
from ecampus_idm.support.settings import SupportSettings

__all__ = ["OutboxPurgeable", "PurgeReport", "Purgeable", "purge"]


class Purgeable(Protocol):
    """Rows that can be deleted by age (the reset service's repository)."""

    def purge(self, before: datetime) -> int:
        """Delete what is older than ``before``; return how many rows."""
        ...


class OutboxPurgeable(Protocol):
    """The mail outbox: its finished messages can be deleted by age."""

    def purge(self, *, before: datetime) -> int:
        """Delete the finished messages queued before ``before``; return how many."""
        ...


@dataclass(frozen=True)
class PurgeReport:
    """What a purge deleted.

    Attributes:
        run_id: The store's ``purge`` run.
        events: Events deleted.
        events_before: The cut-off of events, if events were purged.
        custody: Initial passwords discarded (``None`` when no custody is wired).
        custody_before: The cut-off of custody entries, if they were purged.
        mails: Finished outbox messages deleted (``None`` when no outbox is wired).
        resets: Reset rows deleted (``None`` when the reset tables are not wired).
    """

    run_id: int
    events: int
    events_before: datetime | None
    custody: int | None
    custody_before: datetime | None
    mails: int | None = None
    resets: int | None = None

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready form."""
        return {
            "run_id": self.run_id,
            "events": self.events,
            "events_before": self.events_before.isoformat() if self.events_before else None,
            "custody": self.custody,
            "custody_before": self.custody_before.isoformat() if self.custody_before else None,
            "mails": self.mails,
            "resets": self.resets,
        }


def purge(
    store: Store,
    *,
    clock: Clock,
    settings: SupportSettings,
    custody: CustodyReader | None = None,
    custody_days: int = 60,
    outbox: OutboxPurgeable | None = None,
    resets: Purgeable | None = None,
    reset_days: int = 30,
) -> PurgeReport:
    """Delete the events and custody entries older than their retention periods.

    Args:
        store: The state store (its events; the run is recorded there).
        clock: Gives "now".
        settings: The retention periods.
        custody: The initial-password custody, when wired.
        custody_days: How long an initial password is held (``mail.custody_days``).
        outbox: The mail outbox, when wired (finished messages go with the events).
        resets: The reset service's repository, when wired.
        reset_days: How long reset rows are kept (``passwords.retention_days``).

    Returns:
        What was deleted; the store keeps a ``purge`` run with the counts.
    """
    now = clock.now()
    run = store.start_run("purge")
    events_before = custody_before = None
    events = 0
    kept: int | None = None
    mails: int | None = None
    reset_rows: int | None = None
    try:
        if settings.event_retention_days:
            events_before = now - timedelta(days=settings.event_retention_days)
            events = store.purge_events(events_before)
            if outbox is not None:
                mails = outbox.purge(before=events_before)
        if custody is not None:
            custody_before = now - timedelta(days=custody_days)
            kept = custody.purge(before=custody_before, at=now)
        if resets is not None:
            reset_rows = resets.purge(now - timedelta(days=reset_days))
    except Exception:
        store.finish_run(run.run_id, RunStatus.FAILED, message="purge failed")
        raise
    store.finish_run(
        run.run_id,
        RunStatus.SUCCEEDED,
        counts={
            "events": events,
            "custody": kept or 0,
            "mails": mails or 0,
            "resets": reset_rows or 0,
        },
    )
    return PurgeReport(
        run.run_id, events, events_before, kept, custody_before, mails=mails, resets=reset_rows
    )
