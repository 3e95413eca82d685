"""The Store on SQLAlchemy Core: SQLite (the embedded default) and PostgreSQL.

:func:`open_store` builds the engine from :class:`~ecampus_idm.config.StoreSettings`:
the password travels as a :class:`~pydantic.SecretStr` and is injected into the URL
object on the one line that hands it to SQLAlchemy; the store's repr, its errors and its
``url`` show the URL without it. The schema is brought up to date on opening (see
:mod:`ecampus_idm.store.migrations`), and a database newer than the code is refused.

Transactions: every public method runs in one transaction of its own, unless the calling
thread is inside ``with store.transaction():``, in which case it joins that one. A call
that may fail for an expected reason inside a transaction (a username already taken)
runs in a savepoint, so that the caller can carry on with the next candidate.

Concurrency: usernames are claimed with ``INSERT ... ON CONFLICT DO NOTHING`` and checked
afterwards, so that two writers racing for one username produce exactly one winner, on
PostgreSQL (the unique index decides) as on SQLite (writers queue on the write lock).

A SQLite file holds names and personal addresses in clear: a new one is created readable
by its owner only (0600, whatever the umask; SQLite gives its ``-wal`` and ``-shm`` files
the same mode), and opening an existing one that others may read logs a warning, French
first, with the ``chmod`` that fixes it (the file is left as it is: its mode is the
operator's decision).

No SQLAlchemy or driver exception leaves this module: each is translated to a
:class:`~ecampus_idm.store.errors.StoreError` and chained.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self, cast

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row, make_url

from ecampus_idm.clock import Clock, SystemClock
from ecampus_idm.config import StoreSettings
from ecampus_idm.connectors.base import ExportFacts
from ecampus_idm.files import others_may_read
from ecampus_idm.model import AccountStatus, Role
from ecampus_idm.store import migrations
from ecampus_idm.store import schema as tables
from ecampus_idm.store._engine import WRITE, create_store_engine
from ecampus_idm.store._liveness import current_owner, owner_gone
from ecampus_idm.store.base import (
    GONE_MESSAGE,
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
    StoreError,
    StoreUnavailableError,
    UsernameNotFoundError,
)

__all__ = ["DEFAULT_BUSY_TIMEOUT", "SqlStore", "open_store"]

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for another process's write lock."""

_CHUNK = 500  # parameters per IN (...) list: well under SQLite's and PostgreSQL's limits
_RESERVE_ATTEMPTS = 3
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def _private_sqlite_file(shown: str, database: str) -> None:
    """Create the SQLite file 0600 if it is new; warn if others may read an existing one.

    Raises:
        StoreUnavailableError: If the file cannot be created (folder missing, no right).
    """
    path = Path(database).absolute()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # an existing store (or a concurrent first opener's): check it below
    except OSError as exc:
        reason = f"cannot create the database file ({exc.strerror or type(exc).__name__})"
        raise StoreUnavailableError(shown, reason) from None
    else:
        os.close(descriptor)  # an empty file is a valid new SQLite database
        return
    bits = others_may_read(path)  # None as well when it cannot be examined: SQLite says why
    if bits is not None:
        log.warning(
            "le magasin d'état %s est lisible par d'autres utilisateurs (mode %04o) : il"
            " contient des noms et des adresses personnelles ; chmod 600 %s / the state"
            " store %s is readable by others (mode %04o): it holds names and personal"
            " addresses; chmod 600 %s",
            path,
            bits,
            path,
            path,
            bits,
            path,
        )


class _LostRace(Exception):  # noqa: N818 - internal signal, never escapes
    """Another writer took a username or a lock between our check and our insert."""


def open_store(
    settings: StoreSettings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
) -> SqlStore:
    """Open the state store described by ``settings``, migrating its schema if needed.

    ``postgresql://`` URLs use the psycopg (v3) driver. An in-memory SQLite database is
    refused: every connection would see a different one (use
    :class:`~ecampus_idm.store.memory.MemoryStore`).

    Args:
        settings: The URL (without password) and the password.
        clock: Where "now" comes from; the system clock by default.
        migrate: Apply pending migrations; when ``False`` an older schema is refused.
        busy_timeout: Seconds a SQLite writer waits for another writer.

    Raises:
        StoreUnavailableError: If the URL is unusable or the database cannot be reached.
        SchemaVersionError: If the schema is newer than the code (or older, and
            ``migrate`` is false).
    """
    shown = _shown_url(settings.url)
    try:
        url = make_url(settings.url)
    except sa_exc.ArgumentError as exc:
        raise StoreUnavailableError(shown, "not a database URL") from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if settings.password is not None:
            url = url.set(password=settings.password.get_secret_value())
    elif backend == "sqlite":
        if url.database in (None, "", ":memory:") or "mode=memory" in str(url.query):
            raise StoreUnavailableError(shown, "an in-memory SQLite database cannot be shared")
        if not url.query:  # a plain file (URI forms, read-only modes: SQLite's business)
            _private_sqlite_file(shown, url.database)
    else:
        raise StoreUnavailableError(shown, f"unsupported database {backend!r}")
    try:
        engine = create_store_engine(url, busy_timeout=busy_timeout)
    except (sa_exc.SQLAlchemyError, ImportError) as exc:
        reason = f"cannot load the database driver ({type(exc).__name__})"
        raise StoreUnavailableError(shown, reason) from exc
    store = SqlStore(engine, url=shown, clock=clock, secret=settings.password)
    try:
        store.migrate(allow=migrate)
    except BaseException:
        store.close()
        raise
    return store


def _shown_url(text: str) -> str:
    try:
        return make_url(text).set(password=None).render_as_string(hide_password=False)
    except sa_exc.ArgumentError:
        return "<invalid database URL>"


class SqlStore:
    """The state store on a SQLAlchemy engine; build it with :func:`open_store`.

    Args:
        engine: An engine made by :func:`~ecampus_idm.store._engine.create_store_engine`.
        url: The URL to show (without password).
        clock: Where "now" comes from.
        secret: The database password, only to scrub it from error texts should a driver
            ever echo it.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        url: str,
        clock: Clock | None = None,
        secret: SecretStr | None = None,
    ) -> None:
        self._engine = engine
        self._url = url
        self._clock = clock or SystemClock()
        self._secret = secret
        self._local = threading.local()
        self._unrecorded: dict[int, Mapping[str, Any]] = {}  # run id → its finish values
        self._unrecorded_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The database URL, without password."""
        return self._url

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self._engine.dialect.name)

    def __repr__(self) -> str:
        return f"SqlStore({self._url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------

    def migrate(self, *, allow: bool = True) -> int:
        """Apply pending migrations (see :func:`~ecampus_idm.store.migrations.migrate`)."""
        with self._errors():
            return migrations.migrate(self._engine, url=self._url, clock=self._clock, allow=allow)

    def schema_version(self) -> int:
        """Return the database's schema version."""
        with self._connection() as connection:
            return migrations.current_version(connection)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group this thread's calls inside the block into one transaction.

        Expected failures of store calls (a taken username) leave the transaction usable.
        Any other database error dooms it: let it propagate, the block is rolled back.
        """
        current: Connection | None = getattr(self._local, "connection", None)
        if current is not None:
            with self._savepoint(current):
                yield
            return
        with self._errors(), self._engine.connect() as connection:
            connection.execution_options(**{WRITE: True})
            with connection.begin():
                self._local.connection = connection
                try:
                    yield
                finally:
                    self._local.connection = None

    def connection(self) -> AbstractContextManager[Connection]:
        """Return a context giving a writable connection in the current transaction.

        For store extensions (the mail outbox, tokens...) that keep their own tables in
        the same database: inside ``with store.transaction():`` it is that transaction's
        connection, otherwise a new transaction committed when the block ends.
        """
        return self._connection(write=True)

    @contextmanager
    def _connection(self, *, write: bool = False, savepoint: bool = False) -> Iterator[Connection]:
        current: Connection | None = getattr(self._local, "connection", None)
        with self._errors():
            if current is not None:
                with self._savepoint(current) if savepoint else nullcontext():
                    yield current
                return
            with self._checkout() as connection:
                if write:
                    connection.execution_options(**{WRITE: True})
                with connection.begin():
                    yield connection

    def _checkout(self) -> Connection:
        """A pooled connection; if the pool's are dead (server restart), a fresh pool's.

        The pre-ping replaces a broken connection, but a connection the server terminates
        mid-ping can fail it with an error the dialect does not take for a disconnect
        (psycopg: "can't change 'autocommit' now"): then the whole pool is dropped and the
        checkout tried once more.
        """
        try:
            return self._engine.connect()
        except sa.exc.DBAPIError:
            self._engine.dispose()
            return self._engine.connect()

    @contextmanager
    def _savepoint(self, connection: Connection) -> Iterator[None]:
        with self._errors():
            nested = connection.begin_nested()
        try:
            yield
        except BaseException:
            with self._errors():
                nested.rollback()
            raise
        with self._errors():
            nested.commit()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa_exc.SQLAlchemyError as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: sa_exc.SQLAlchemyError) -> StoreError:
        original = getattr(exc, "orig", None) or exc
        lines = str(original).strip().splitlines() or [""]
        reason = f"{type(original).__name__}: {lines[0]}".strip()
        if self._secret is not None and self._secret.get_secret_value():
            reason = reason.replace(self._secret.get_secret_value(), "**********")
        if isinstance(exc, _UNAVAILABLE):
            return StoreUnavailableError(self._url, reason)
        return StoreError(f"state store {self._url} failed: {reason}", url=self._url)

    def _insert(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

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
        """Record that a run starts now; exclusively, in one transaction (see the port).

        The lock is a row of ``run_locks`` whose primary key is its name: on PostgreSQL a
        second transaction inserting the same name waits for the first and fails with a
        unique violation (then the holder is read and named); on SQLite the writers
        queue (``BEGIN IMMEDIATE``) and the second one sees the first's row.
        """
        validate_kind("run kind", kind)
        validate_run_finish(None, plan_hash, None)
        validate_lease(stale_after)
        name = validate_kind("lock name", lock or kind) if exclusive else None
        if lock is not None and not exclusive:
            raise ValueError("a lock is only held by an exclusive run")
        self._record_unrecorded()
        for _ in range(_RESERVE_ATTEMPTS):
            try:
                return self._start_once(kind, plan_hash, name, stale_after)
            except _LostRace:
                assert name is not None  # noqa: S101 - only a lock insert loses a race
                holder = self._lock_holder(name)
                if holder is not None:
                    raise RunInProgressError(
                        holder.run_id,
                        holder.started_at,
                        kind=holder.kind,
                        lock=name,
                        stale_after=stale_after,
                    ) from None
                # The holder finished between our insert and our read: try again.
        raise StoreError(f"state store {self._url}: the lock {name!r} kept changing hands")

    def _start_once(
        self, kind: str, plan_hash: str | None, name: str | None, stale_after: timedelta | None
    ) -> Run:
        with self._connection(write=True, savepoint=True) as connection:
            # Now is read once the transaction began: on SQLite a writer may have waited
            # for another's lock, and the run must not look started before that one ended.
            started_at = self._clock.now()
            insert = tables.runs.insert().values(
                kind=kind,
                status=RunStatus.RUNNING.value,
                started_at=started_at,
                counts={},
                plan_hash=plan_hash,
            )
            if name is not None:
                self._clear_stale(connection, kind, name, started_at, stale_after)
                runs = tables.runs
                other = connection.execute(
                    sa.select(runs)
                    .where(runs.c.kind == kind, runs.c.status == RunStatus.RUNNING.value)
                    .order_by(runs.c.started_at, runs.c.run_id)
                    .limit(1)
                ).first()
                holder = _run(other) if other is not None else self._holder(connection, name)
                if holder is not None:
                    raise RunInProgressError(
                        holder.run_id,
                        holder.started_at,
                        kind=holder.kind,
                        lock=name if other is None else None,
                        stale_after=stale_after,
                    )
            run_id = int(connection.execute(insert.returning(tables.runs.c.run_id)).scalar_one())
            if name is not None:
                self._insert_lock(connection, name, run_id, started_at, stale_after)
        return Run(
            run_id=run_id,
            kind=kind,
            status=RunStatus.RUNNING,
            started_at=started_at,
            plan_hash=plan_hash,
        )

    def claim_lock(
        self, run_id: int, name: str, *, stale_after: timedelta | None = None
    ) -> Run | None:
        """Let a running run hold one more lock (see the port)."""
        validate_kind("lock name", name)
        validate_lease(stale_after)
        self._record_unrecorded()
        for _ in range(_RESERVE_ATTEMPTS):
            try:
                return self._claim_once(run_id, name, stale_after)
            except _LostRace:
                holder = self._lock_holder(name)
                if holder is not None:
                    return holder
        raise StoreError(f"state store {self._url}: the lock {name!r} kept changing hands")

    def _claim_once(self, run_id: int, name: str, stale_after: timedelta | None) -> Run | None:
        with self._connection(write=True, savepoint=True) as connection:
            now = self._clock.now()
            row = connection.execute(
                sa.select(tables.runs).where(tables.runs.c.run_id == run_id)
            ).first()
            if row is None:
                raise RunNotFoundError(run_id)
            if row.status != RunStatus.RUNNING.value:
                raise RunFinishedError(run_id, row.status)
            self._clear_stale(connection, None, name, now, None)
            holder = self._holder(connection, name)
            if holder is not None:
                return None if holder.run_id == run_id else holder
            self._insert_lock(connection, name, run_id, now, stale_after)
        return None

    def _clear_stale(
        self,
        connection: Connection,
        kind: str | None,
        name: str,
        now: datetime,
        stale_after: timedelta | None,
    ) -> None:
        """Finish as failed the runs of ``kind`` past ``stale_after``; drop dead locks."""
        runs, locks = tables.runs, tables.run_locks
        if kind is not None and stale_after is not None:
            stale = [
                int(value)
                for value in connection.execute(
                    sa.select(runs.c.run_id).where(
                        runs.c.kind == kind,
                        runs.c.status == RunStatus.RUNNING.value,
                        runs.c.started_at <= now - stale_after,
                    )
                ).scalars()
            ]
            for chunk in _chunks(stale):
                connection.execute(
                    runs.update()
                    .where(runs.c.run_id.in_(chunk), runs.c.status == RunStatus.RUNNING.value)
                    .values(
                        status=RunStatus.FAILED.value,
                        finished_at=now,
                        message=stale_message(stale_after),
                    )
                )
                connection.execute(locks.delete().where(locks.c.run_id.in_(chunk)))
        # A holder whose process is gone (same host and PID namespace): crashed.
        held = connection.execute(
            sa.select(locks.c.run_id, locks.c.owner).where(locks.c.name == name)
        ).first()
        if held is not None and owner_gone(held.owner):
            connection.execute(
                runs.update()
                .where(runs.c.run_id == held.run_id, runs.c.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.FAILED.value, finished_at=now, message=GONE_MESSAGE)
            )
            connection.execute(locks.delete().where(locks.c.run_id == held.run_id))
        # A lease run out, or a holder that is no longer running (finished by hand).
        finished = sa.select(runs.c.run_id).where(runs.c.status != RunStatus.RUNNING.value)
        connection.execute(
            locks.delete().where(
                locks.c.name == name,
                sa.or_(locks.c.expires_at <= now, locks.c.run_id.in_(finished)),
            )
        )

    def _holder(self, connection: Connection, name: str) -> Run | None:
        row = connection.execute(
            sa.select(tables.runs)
            .join(tables.run_locks, tables.run_locks.c.run_id == tables.runs.c.run_id)
            .where(tables.run_locks.c.name == name)
        ).first()
        return None if row is None else _run(row)

    def _lock_holder(self, name: str) -> Run | None:
        with self._connection() as connection:
            return self._holder(connection, name)

    def _insert_lock(
        self,
        connection: Connection,
        name: str,
        run_id: int,
        now: datetime,
        stale_after: timedelta | None,
    ) -> None:
        values = {
            "name": name,
            "run_id": run_id,
            "acquired_at": now,
            "expires_at": None if stale_after is None else now + stale_after,
            "owner": current_owner(),
        }
        try:
            connection.execute(tables.run_locks.insert().values(**values))
        except sa_exc.IntegrityError:
            # Another transaction took the lock since our check (PostgreSQL waited for it
            # to commit): ours is rolled back whole, then the holder is read and named.
            raise _LostRace from None

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
        values: dict[str, Any] = {
            "status": status.value,
            "finished_at": self._clock.now(),
            "counts": checked,
            "message": message,
        }
        if plan_hash is not None:
            values["plan_hash"] = plan_hash
        outermost = getattr(self._local, "connection", None) is None
        try:
            return self._record_finish(run_id, values)
        except StoreUnavailableError:
            if outermost:
                # Kept to be recorded by this store's next start: a run whose end could not
                # be written (database restarting) must not look running for hours.
                with self._unrecorded_lock:
                    self._unrecorded[run_id] = values
            raise

    def _record_unrecorded(self) -> None:
        """Record the ends of runs that :meth:`finish_run` could not write at the time."""
        with self._unrecorded_lock:
            pending = dict(self._unrecorded)
        for run_id, values in sorted(pending.items()):
            try:
                self._record_finish(run_id, values)
            except (RunFinishedError, RunNotFoundError):
                pass  # finished meanwhile (taken for crashed, or by hand): nothing to add
            except StoreUnavailableError:
                return  # still unreachable: the caller's own call will say so
            with self._unrecorded_lock:
                self._unrecorded.pop(run_id, None)

    def _record_finish(self, run_id: int, values: Mapping[str, Any]) -> Run:
        with self._connection(write=True) as connection:
            updated = connection.execute(
                tables.runs.update()
                .where(
                    tables.runs.c.run_id == run_id, tables.runs.c.status == RunStatus.RUNNING.value
                )
                .values(**values)
            ).rowcount
            if updated == 1:
                locks = tables.run_locks
                connection.execute(locks.delete().where(locks.c.run_id == run_id))
            row = connection.execute(
                sa.select(tables.runs).where(tables.runs.c.run_id == run_id)
            ).first()
        if row is None:
            raise RunNotFoundError(run_id)
        run = _run(row)
        if updated != 1:
            raise RunFinishedError(run_id, run.status.value)
        return run

    def get_run(self, run_id: int) -> Run:
        """Return the run."""
        with self._connection() as connection:
            row = connection.execute(
                sa.select(tables.runs).where(tables.runs.c.run_id == run_id)
            ).first()
        if row is None:
            raise RunNotFoundError(run_id)
        return _run(row)

    def recent_runs(self, limit: int = 20, *, kind: str | None = None) -> list[Run]:
        """Return the latest runs, newest first."""
        query = sa.select(tables.runs).order_by(
            tables.runs.c.started_at.desc(), tables.runs.c.run_id.desc()
        )
        if kind is not None:
            query = query.where(tables.runs.c.kind == kind)
        with self._connection() as connection:
            rows = connection.execute(query.limit(max(limit, 0))).all()
        return [_run(row) for row in rows]

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
        if not drafts:
            return []
        now = self._clock.now()
        rows = [
            {
                "person_id": d.person_id,
                "run_id": d.run_id,
                "at": d.at or now,
                "kind": d.kind,
                "reason_fr": d.reason_fr,
                "reason_en": d.reason_en,
                "data": dict(d.data),
            }
            for d in drafts
        ]
        wanted_runs = sorted({d.run_id for d in drafts if d.run_id is not None})
        with self._connection(write=True) as connection:
            known: set[int] = set()
            for chunk in _chunks(wanted_runs):
                found = connection.execute(
                    sa.select(tables.runs.c.run_id).where(tables.runs.c.run_id.in_(chunk))
                )
                known.update(int(value) for value in found.scalars())
            missing = [run_id for run_id in wanted_runs if run_id not in known]
            if missing:
                raise RunNotFoundError(missing[0])
            ids = connection.execute(
                tables.events.insert().returning(
                    tables.events.c.event_id, sort_by_parameter_order=True
                ),
                rows,
            ).scalars()
            event_ids = [int(value) for value in ids]
        return [
            Event(
                event_id=event_id,
                person_id=draft.person_id,
                run_id=draft.run_id,
                at=draft.at or now,
                kind=draft.kind,
                reason_fr=draft.reason_fr,
                reason_en=draft.reason_en,
                data=draft.data,
            )
            for event_id, draft in zip(event_ids, drafts, strict=True)
        ]

    def events_for_person(self, person_id: str) -> list[Event]:
        """Return the person's timeline, oldest first."""
        return self._events(tables.events.c.person_id == person_id)

    def events_for_run(self, run_id: int) -> list[Event]:
        """Return what a run recorded, oldest first."""
        return self._events(tables.events.c.run_id == run_id)

    def _events(self, condition: sa.ColumnElement[bool]) -> list[Event]:
        query = (
            sa.select(tables.events)
            .where(condition)
            .order_by(tables.events.c.at, tables.events.c.event_id)
        )
        with self._connection() as connection:
            rows = connection.execute(query).all()
        return [
            Event(
                event_id=int(row.event_id),
                person_id=row.person_id,
                run_id=None if row.run_id is None else int(row.run_id),
                at=row.at,
                kind=row.kind,
                reason_fr=row.reason_fr,
                reason_en=row.reason_en,
                data=row.data,
            )
            for row in rows
        ]

    def purge_events(self, before: datetime) -> int:
        """Delete events older than ``before``."""
        limit = aware_utc("before", before)
        with self._connection(write=True) as connection:
            return int(
                connection.execute(
                    tables.events.delete().where(tables.events.c.at < limit)
                ).rowcount
            )

    # -- username registry ---------------------------------------------------------------

    def reserve_username(self, username: str, person_id: str) -> UsernameRecord:
        """Reserve ``username`` for ``person_id``."""
        return self.reserve_usernames([(username, person_id)])[0]

    def reserve_usernames(self, pairs: Iterable[tuple[str, str]]) -> list[UsernameRecord]:
        """Reserve several usernames atomically."""
        wanted = [(validate_username(u), validate_person_id(p)) for u, p in pairs]
        if not wanted:
            return []
        for _ in range(_RESERVE_ATTEMPTS):
            try:
                return self._reserve_once(wanted)
            except _LostRace:
                continue  # the winner is committed now: the next check names it
        raise StoreError(f"state store {self._url}: usernames kept changing during reservation")

    def _reserve_once(self, wanted: Sequence[tuple[str, str]]) -> list[UsernameRecord]:
        with self._connection(write=True, savepoint=True) as connection:
            names = sorted({u for u, _ in wanted})
            people = sorted({p for _, p in wanted})
            existing: dict[str, UsernameRecord] = {}
            holders: dict[str, str] = {}
            for chunk in _chunks(names):
                query = sa.select(tables.usernames).where(tables.usernames.c.username.in_(chunk))
                existing.update((row.username, _username(row)) for row in connection.execute(query))
            for chunk in _chunks(people):
                query = sa.select(tables.usernames.c.person_id, tables.usernames.c.username).where(
                    tables.usernames.c.person_id.in_(chunk),
                    tables.usernames.c.released_at.is_(None),
                )
                holders.update((row.person_id, row.username) for row in connection.execute(query))
            planned = plan_reservations(wanted, existing, holders, self._clock.now())
            revived = [
                r for name, r in planned.items() if name in existing and existing[name].tombstoned
            ]
            try:
                for record in revived:
                    connection.execute(
                        tables.usernames.update()
                        .where(tables.usernames.c.username == record.username)
                        .values(reserved_at=record.reserved_at, released_at=None)
                    )
            except sa_exc.IntegrityError:
                # The person got another live username meanwhile: check again.
                raise _LostRace from None
            # Sorted: concurrent bulk reservations then lock rows in one order (no deadlock).
            fresh = [
                {"username": r.username, "person_id": r.person_id, "reserved_at": r.reserved_at}
                for name, r in sorted(planned.items())
                if name not in existing
            ]
            if fresh:
                claim = self._insert(tables.usernames).on_conflict_do_nothing()
                inserted = connection.execute(claim.returning(tables.usernames.c.username), fresh)
                if len(set(inserted.scalars())) != len(fresh):
                    raise _LostRace
        return [planned[username] for username, _ in wanted]

    def release_username(self, username: str) -> UsernameRecord:
        """Turn a username into a tombstone."""
        with self._connection(write=True) as connection:
            connection.execute(
                tables.usernames.update()
                .where(
                    tables.usernames.c.username == username,
                    tables.usernames.c.released_at.is_(None),
                )
                .values(released_at=self._clock.now())
            )
            row = connection.execute(
                sa.select(tables.usernames).where(tables.usernames.c.username == username)
            ).first()
        if row is None:
            raise UsernameNotFoundError(username)
        return _username(row)

    def username_record(self, username: str) -> UsernameRecord | None:
        """Return the record of ``username``, if any."""
        with self._connection() as connection:
            row = connection.execute(
                sa.select(tables.usernames).where(tables.usernames.c.username == username)
            ).first()
        return None if row is None else _username(row)

    def username_of(self, person_id: str) -> UsernameRecord | None:
        """Return the person's live username, if any."""
        query = sa.select(tables.usernames).where(
            tables.usernames.c.person_id == person_id, tables.usernames.c.released_at.is_(None)
        )
        with self._connection() as connection:
            row = connection.execute(query).first()
        return None if row is None else _username(row)

    def is_taken(self, username: str) -> bool:
        """Whether ``username`` is live or tombstoned."""
        return self.username_record(username) is not None

    def username_records(self) -> list[UsernameRecord]:
        """Return every record, sorted by username."""
        with self._connection() as connection:
            rows = connection.execute(
                sa.select(tables.usernames).order_by(tables.usernames.c.username)
            ).all()
        return [_username(row) for row in rows]

    # -- account memory ------------------------------------------------------------------

    def get_account(self, person_id: str) -> AccountRecord | None:
        """Return the person's account record, if any."""
        with self._connection() as connection:
            row = connection.execute(
                sa.select(tables.accounts).where(tables.accounts.c.person_id == person_id)
            ).first()
        return None if row is None else _account(row)

    def accounts(self) -> dict[str, AccountRecord]:
        """Return every account record."""
        with self._connection() as connection:
            rows = connection.execute(sa.select(tables.accounts)).all()
        return {row.person_id: _account(row) for row in rows}

    def put_accounts(self, records: Iterable[AccountRecord]) -> None:
        """Insert or replace account records."""
        rows = {
            r.person_id: {
                "person_id": r.person_id,
                "status": r.status.value,
                "created_at": r.created_at,
                "status_since": r.status_since,
                "last_seen_in_sources": r.last_seen_in_sources,
                "roles": ",".join(sorted(role.value for role in r.roles)),
            }
            for r in records
        }
        if not rows:
            return
        upsert = self._insert(tables.accounts)
        upsert = upsert.on_conflict_do_update(
            index_elements=[tables.accounts.c.person_id],
            set_={
                name: upsert.excluded[name]
                for name in (
                    "status",
                    "created_at",
                    "status_since",
                    "last_seen_in_sources",
                    "roles",
                )
            },
        )
        with self._connection(write=True) as connection:
            connection.execute(upsert, list(rows.values()))

    # -- identity links ------------------------------------------------------------------

    def identity_links(self) -> IdentityLinks:
        """Return every remembered identity link: one bulk read."""
        links = tables.identity_links
        with self._connection() as connection:
            rows = connection.execute(sa.select(links.c.link, links.c.person_id)).all()
        return IdentityLinks({row.link: row.person_id for row in rows})

    def remember_identities(self, links: Mapping[str, str]) -> int:
        """Insert or repoint identity links; return how many."""
        checked = validate_links(links)
        if not checked:
            return 0
        now = self._clock.now()
        rows = [{"link": k, "person_id": v, "updated_at": now} for k, v in checked.items()]
        upsert = self._insert(tables.identity_links)
        upsert = upsert.on_conflict_do_update(
            index_elements=[tables.identity_links.c.link],
            set_={name: upsert.excluded[name] for name in ("person_id", "updated_at")},
        )
        with self._connection(write=True) as connection:
            for chunk in _chunks(rows):
                connection.execute(upsert, list(chunk))
        return len(checked)

    # -- export ledger -------------------------------------------------------------------

    def last_accepted(self, source: str) -> ExportFacts | None:
        """Return the facts of the source's last accepted export."""
        exports = tables.accepted_exports
        query = (
            sa.select(exports)
            .where(exports.c.source == source)
            .order_by(exports.c.export_id.desc())
            .limit(1)
        )
        with self._connection() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return ExportFacts(
            source=row.source,
            path=row.path,
            rows=int(row.rows),
            columns=tuple(row.columns),
            encoding=row.encoding,
            fingerprint=row.fingerprint,
            accepted_at=row.accepted_at,
        )

    def record_accepted(self, facts: ExportFacts) -> None:
        """Remember an accepted export (stamped now if it has no ``accepted_at``)."""
        with self._connection(write=True) as connection:
            connection.execute(
                tables.accepted_exports.insert().values(
                    source=facts.source,
                    path=facts.path,
                    rows=facts.rows,
                    columns=list(facts.columns),
                    encoding=facts.encoding,
                    fingerprint=facts.fingerprint,
                    accepted_at=facts.accepted_at or self._clock.now(),
                )
            )


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _run(row: Row[Any]) -> Run:
    return Run(
        run_id=int(row.run_id),
        kind=row.kind,
        status=RunStatus(row.status),
        started_at=row.started_at,
        finished_at=row.finished_at,
        counts=cast("dict[str, int]", row.counts),
        plan_hash=row.plan_hash,
        message=row.message,
    )


def _username(row: Row[Any]) -> UsernameRecord:
    return UsernameRecord(
        username=row.username,
        person_id=row.person_id,
        reserved_at=row.reserved_at,
        released_at=row.released_at,
    )


def _account(row: Row[Any]) -> AccountRecord:
    return AccountRecord(
        person_id=row.person_id,
        status=AccountStatus(row.status),
        created_at=row.created_at,
        status_since=row.status_since,
        last_seen_in_sources=row.last_seen_in_sources,
        roles=frozenset(Role(r) for r in row.roles.split(",") if r),
    )
