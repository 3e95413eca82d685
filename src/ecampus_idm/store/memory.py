"""An in-memory state store that honours the Store contract, for fast unit tests.

It keeps plain dictionaries behind one re-entrant lock: a public method holds the lock
for its whole duration, and :meth:`MemoryStore.transaction` holds it for the whole block
after taking a snapshot to restore on an exception. Threads therefore see each other's
writes only once a transaction ends, like readers of a real database. The contract tests
(:class:`ecampus_idm.testing.store_contract.StoreContract`) run against it and against
SQLite and PostgreSQL, which is what makes it trustworthy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Self

from ecampus_idm.clock import Clock, SystemClock
from ecampus_idm.store.base import (
    AccountRecord,
    Event,
    IdentityLinks,
    JsonValue,
    NewEvent,
    Run,
    RunStatus,
    UsernameRecord,
    aware_utc,
    plan_reservations,
    stale_message,
    validate_kind,
    validate_lease,
    validate_links,
    validate_person_id,
    validate_run_finish,
    validate_username,
)
from ecampus_idm.store.errors import (
    RunFinishedError,
    RunInProgressError,
    RunNotFoundError,
    UsernameNotFoundError,
)

if TYPE_CHECKING:
    from ecampus_idm.connectors.base import ExportFacts

__all__ = ["MemoryStore"]


@dataclass(frozen=True)
class _Lock:
    run_id: int
    expires_at: datetime | None


@dataclass
class _State:
    runs: dict[int, Run] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    usernames: dict[str, UsernameRecord] = field(default_factory=dict)
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    exports: dict[str, ExportFacts] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    locks: dict[str, _Lock] = field(default_factory=dict)
    next_run: int = 1
    next_event: int = 1

    def copy(self) -> _State:
        """A copy of the containers; the values are frozen, so they can be shared."""
        return _State(
            runs=dict(self.runs),
            events=list(self.events),
            usernames=dict(self.usernames),
            accounts=dict(self.accounts),
            exports=dict(self.exports),
            links=dict(self.links),
            locks=dict(self.locks),
            next_run=self.next_run,
            next_event=self.next_event,
        )


class MemoryStore:
    """The in-memory twin of :class:`~ecampus_idm.store.sql.SqlStore`.

    Args:
        clock: Where "now" comes from (run and event times, reservations).
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._state = _State()

    def __repr__(self) -> str:
        return "MemoryStore()"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group calls into one atomic unit (see :meth:`Store.transaction`)."""
        with self._lock:
            snapshot = self._state.copy()
            try:
                yield
            except BaseException:
                self._state = snapshot
                raise

    def close(self) -> None:
        """Nothing to release."""

    # -- runs ----------------------------------------------------------------------------

    def start_run(
        self,
        kind: str,
        *,
        plan_hash: str | None = None,
        exclusive: bool = False,
        lock: str | None = None,
        stale_after: timedelta | None = None,
    ) -> Run:
        """Record that a run starts now; exclusively, under the store's lock (see the port)."""
        validate_kind("run kind", kind)
        validate_run_finish(None, plan_hash, None)
        validate_lease(stale_after)
        name = validate_kind("lock name", lock or kind) if exclusive else None
        if lock is not None and not exclusive:
            raise ValueError("a lock is only held by an exclusive run")
        with self._lock:
            now = self._clock.now()
            if name is not None:
                self._clear_stale(kind, name, now, stale_after)
                running = sorted(
                    (r for r in self._state.runs.values() if r.kind == kind and not r.finished),
                    key=lambda r: (r.started_at, r.run_id),
                )
                holder = running[0] if running else self._holder(name)
                if holder is not None:
                    raise RunInProgressError(
                        holder.run_id,
                        holder.started_at,
                        kind=holder.kind,
                        lock=None if running else name,
                        stale_after=stale_after,
                    )
            run = Run(
                run_id=self._state.next_run,
                kind=kind,
                status=RunStatus.RUNNING,
                started_at=now,
                plan_hash=plan_hash,
            )
            self._state.runs[run.run_id] = run
            self._state.next_run += 1
            if name is not None:
                self._state.locks[name] = _Lock(run.run_id, _expiry(now, stale_after))
            return run

    def claim_lock(
        self, run_id: int, name: str, *, stale_after: timedelta | None = None
    ) -> Run | None:
        """Let a running run hold one more lock (see the port)."""
        validate_kind("lock name", name)
        validate_lease(stale_after)
        with self._lock:
            run = self.get_run(run_id)
            if run.finished:
                raise RunFinishedError(run_id, run.status.value)
            now = self._clock.now()
            self._clear_stale(None, name, now, None)
            holder = self._holder(name)
            if holder is not None:
                return None if holder.run_id == run_id else holder
            self._state.locks[name] = _Lock(run_id, _expiry(now, stale_after))
            return None

    def _clear_stale(
        self, kind: str | None, name: str, now: datetime, stale_after: timedelta | None
    ) -> None:
        state = self._state
        if kind is not None and stale_after is not None:
            for run in list(state.runs.values()):
                if run.kind == kind and not run.finished and run.started_at <= now - stale_after:
                    state.runs[run.run_id] = replace(
                        run,
                        status=RunStatus.FAILED,
                        finished_at=now,
                        message=stale_message(stale_after),
                    )
                    self._release(run.run_id)
        held = state.locks.get(name)
        if held is not None and (
            (held.expires_at is not None and held.expires_at <= now)
            or state.runs[held.run_id].finished
        ):
            del state.locks[name]

    def _holder(self, name: str) -> Run | None:
        held = self._state.locks.get(name)
        return None if held is None else self._state.runs[held.run_id]

    def _release(self, run_id: int) -> None:
        for name in [n for n, held in self._state.locks.items() if held.run_id == run_id]:
            del self._state.locks[name]

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        *,
        counts: Mapping[str, int] | None = None,
        plan_hash: str | None = None,
        message: str | None = None,
    ) -> Run:
        """Record how a run ended."""
        status = RunStatus(status)
        if status is RunStatus.RUNNING:
            raise ValueError("a run finishes with a final status, not 'running'")
        checked = validate_run_finish(counts, plan_hash, message)
        with self._lock:
            run = self.get_run(run_id)
            if run.finished:
                raise RunFinishedError(run_id, run.status.value)
            done = replace(
                run,
                status=status,
                finished_at=self._clock.now(),
                counts=checked,
                plan_hash=plan_hash if plan_hash is not None else run.plan_hash,
                message=message,
            )
            self._state.runs[run_id] = done
            self._release(run_id)
            return done

    def get_run(self, run_id: int) -> Run:
        """Return the run."""
        with self._lock:
            try:
                return self._state.runs[run_id]
            except KeyError:
                raise RunNotFoundError(run_id) from None

    def recent_runs(self, limit: int = 20, *, kind: str | None = None) -> list[Run]:
        """Return the latest runs, newest first."""
        with self._lock:
            runs = [r for r in self._state.runs.values() if kind is None or r.kind == kind]
        runs.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
        return runs[: max(limit, 0)]

    # -- events --------------------------------------------------------------------------

    def record_event(
        self,
        person_id: str,
        kind: str,
        *,
        reason_fr: str,
        reason_en: str,
        run_id: int | None = None,
        data: Mapping[str, JsonValue] | None = None,
        at: datetime | None = None,
    ) -> Event:
        """Record one event."""
        draft = NewEvent(person_id, kind, reason_fr, reason_en, run_id, data or {}, at)
        return self.record_events([draft])[0]

    def record_events(self, events: Iterable[NewEvent]) -> list[Event]:
        """Record several events atomically."""
        drafts = list(events)
        with self._lock:
            for draft in drafts:
                if draft.run_id is not None and draft.run_id not in self._state.runs:
                    raise RunNotFoundError(draft.run_id)
            now = self._clock.now()
            recorded = []
            for draft in drafts:
                event = Event(
                    event_id=self._state.next_event,
                    person_id=draft.person_id,
                    run_id=draft.run_id,
                    at=draft.at or now,
                    kind=draft.kind,
                    reason_fr=draft.reason_fr,
                    reason_en=draft.reason_en,
                    data=draft.data,
                )
                self._state.next_event += 1
                self._state.events.append(event)
                recorded.append(event)
            return recorded

    def events_for_person(self, person_id: str) -> list[Event]:
        """Return the person's timeline, oldest first."""
        with self._lock:
            found = [e for e in self._state.events if e.person_id == person_id]
        return sorted(found, key=lambda e: (e.at, e.event_id))

    def events_for_run(self, run_id: int) -> list[Event]:
        """Return what a run recorded, oldest first."""
        with self._lock:
            found = [e for e in self._state.events if e.run_id == run_id]
        return sorted(found, key=lambda e: (e.at, e.event_id))

    def purge_events(self, before: datetime) -> int:
        """Delete events older than ``before``."""
        limit = aware_utc("before", before)
        with self._lock:
            kept = [e for e in self._state.events if e.at >= limit]
            purged = len(self._state.events) - len(kept)
            self._state.events = kept
            return purged

    # -- username registry ---------------------------------------------------------------

    def reserve_username(self, username: str, person_id: str) -> UsernameRecord:
        """Reserve ``username`` for ``person_id``."""
        return self.reserve_usernames([(username, person_id)])[0]

    def reserve_usernames(self, pairs: Iterable[tuple[str, str]]) -> list[UsernameRecord]:
        """Reserve several usernames atomically."""
        wanted = [(validate_username(u), validate_person_id(p)) for u, p in pairs]
        with self._lock:
            names = {username for username, _ in wanted}
            existing = {n: r for n, r in self._state.usernames.items() if n in names}
            holders = {
                r.person_id: r.username for r in self._state.usernames.values() if not r.tombstoned
            }
            planned = plan_reservations(wanted, existing, holders, self._clock.now())
            self._state.usernames.update(planned)
            return [planned[username] for username, _ in wanted]

    def release_username(self, username: str) -> UsernameRecord:
        """Turn a username into a tombstone."""
        with self._lock:
            record = self._state.usernames.get(username)
            if record is None:
                raise UsernameNotFoundError(username)
            if not record.tombstoned:
                record = replace(record, released_at=self._clock.now())
                self._state.usernames[username] = record
            return record

    def username_record(self, username: str) -> UsernameRecord | None:
        """Return the record of ``username``, if any."""
        with self._lock:
            return self._state.usernames.get(username)

    def username_of(self, person_id: str) -> UsernameRecord | None:
        """Return the person's live username, if any."""
        with self._lock:
            return next(
                (
                    r
                    for r in self._state.usernames.values()
                    if r.person_id == person_id and not r.tombstoned
                ),
                None,
            )

    def is_taken(self, username: str) -> bool:
        """Whether ``username`` is live or tombstoned."""
        with self._lock:
            return username in self._state.usernames

    def username_records(self) -> list[UsernameRecord]:
        """Return every record, sorted by username."""
        with self._lock:
            return sorted(self._state.usernames.values(), key=lambda r: r.username)

    # -- account memory ------------------------------------------------------------------

    def get_account(self, person_id: str) -> AccountRecord | None:
        """Return the person's account record, if any."""
        with self._lock:
            return self._state.accounts.get(person_id)

    def accounts(self) -> dict[str, AccountRecord]:
        """Return every account record."""
        with self._lock:
            return dict(self._state.accounts)

    def put_accounts(self, records: Iterable[AccountRecord]) -> None:
        """Insert or replace account records."""
        batch = list(records)
        with self._lock:
            self._state.accounts.update((r.person_id, r) for r in batch)

    # -- identity links ------------------------------------------------------------------

    def identity_links(self) -> IdentityLinks:
        """Return every remembered identity link."""
        with self._lock:
            return IdentityLinks(self._state.links)

    def remember_identities(self, links: Mapping[str, str]) -> int:
        """Insert or repoint identity links; return how many."""
        checked = validate_links(links)
        with self._lock:
            self._state.links.update(checked)
        return len(checked)

    # -- export ledger -------------------------------------------------------------------

    def last_accepted(self, source: str) -> ExportFacts | None:
        """Return the facts of the source's last accepted export."""
        with self._lock:
            return self._state.exports.get(source)

    def record_accepted(self, facts: ExportFacts) -> None:
        """Remember an accepted export (stamped now if it has no ``accepted_at``)."""
        if facts.accepted_at is None:
            facts = facts.model_copy(update={"accepted_at": self._clock.now()})
        with self._lock:
            self._state.exports[facts.source] = facts


def _expiry(now: datetime, stale_after: timedelta | None) -> datetime | None:
    return None if stale_after is None else now + stale_after
