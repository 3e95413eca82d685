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
  year and the next start of year.

A period of 0 keeps that kind of data (the job then leaves it alone). See
``docs/data-retention.md`` for every kind of data and its period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ecampus_idm.clock import Clock
from ecampus_idm.store.base import RunStatus, Store
from ecampus_idm.support.base import CustodyReader
from ecampus_idm.support.settings import SupportSettings

__all__ = ["PurgeReport", "purge"]


@dataclass(frozen=True)
class PurgeReport:
    """What a purge deleted.

    Attributes:
        run_id: The store's ``purge`` run.
        events: Events deleted.
        events_before: The cut-off of events, if events were purged.
        custody: Initial passwords discarded (``None`` when no custody is wired).
        custody_before: The cut-off of custody entries, if they were purged.
    """

    run_id: int
    events: int
    events_before: datetime | None
    custody: int | None
    custody_before: datetime | None

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready form."""
        return {
            "run_id": self.run_id,
            "events": self.events,
            "events_before": self.events_before.isoformat() if self.events_before else None,
            "custody": self.custody,
            "custody_before": self.custody_before.isoformat() if self.custody_before else None,
        }


def purge(
    store: Store,
    *,
    clock: Clock,
    settings: SupportSettings,
    custody: CustodyReader | None = None,
    custody_days: int = 60,
) -> PurgeReport:
    """Delete the events and custody entries older than their retention periods.

    Args:
        store: The state store (its events; the run is recorded there).
        clock: Gives "now".
        settings: The retention periods.
        custody: The initial-password custody, when wired.
        custody_days: How long an initial password is held (``mail.custody_days``).

    Returns:
        What was deleted; the store keeps a ``purge`` run with the counts.
    """
    now = clock.now()
    run = store.start_run("purge")
    events_before = custody_before = None
    events = 0
    kept: int | None = None
    try:
        if settings.event_retention_days:
            events_before = now - timedelta(days=settings.event_retention_days)
            events = store.purge_events(events_before)
        if custody is not None:
            custody_before = now - timedelta(days=custody_days)
            kept = custody.purge(before=custody_before, at=now)
    except Exception:
        store.finish_run(run.run_id, RunStatus.FAILED, message="purge failed")
        raise
    store.finish_run(
        run.run_id,
        RunStatus.SUCCEEDED,
        counts={"events": events, "custody": kept or 0},
    )
    return PurgeReport(run.run_id, events, events_before, kept, custody_before)
