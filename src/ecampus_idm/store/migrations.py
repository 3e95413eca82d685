"""Schema migrations: an explicit, numbered list of steps, applied in order.

Each :class:`Migration` is a version number, a description and a function of a SQLAlchemy
:class:`~sqlalchemy.engine.Connection`. :func:`migrate` applies the steps the database
has not seen yet, each in its own transaction together with the row that records it in
``schema_version``; a step that fails leaves the database at the previous version. Two
processes opening the same new database at once do not both migrate it: PostgreSQL takes
an advisory lock, SQLite's ``BEGIN IMMEDIATE`` serialises writers, and the version is
read again under the lock.

A database whose version is *newer* than the code is refused with
:class:`~ecampus_idm.store.errors.SchemaVersionError`: older code must never write into a
schema it does not know.

Feature packages own their tables: :mod:`ecampus_idm.passwords.sql` (step 4) and
:mod:`ecampus_idm.mail.schema` (steps 5 and 7) each define their live tables and a frozen step;
this module lists them all.

Adding a step: append a
``Migration(n + 1, ...)`` whose function creates or alters tables with its *own* table
definitions (a step is frozen once released: it must keep producing the same schema
whatever :mod:`ecampus_idm.store.schema` becomes), then update the live tables in
:mod:`ecampus_idm.store.schema`. The unit tests check that the steps are numbered 1..n
and that a migrated database matches the live tables.

Alembic was considered and not used: it adds a configuration file, a script directory
and an ``env.py`` to a package that must work embedded (``pip install`` and run, SQLite
file next to the configuration); our migrations are few, linear and written by hand
anyway, so a list of functions says the same with nothing to set up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ecampus_idm.clock import Clock
from ecampus_idm.mail.schema import metadata as mail_metadata
from ecampus_idm.mail.schema import migrate_v5, migrate_v7, migrate_v8
from ecampus_idm.passwords.sql import metadata as passwords_metadata
from ecampus_idm.passwords.sql import migrate_v4
from ecampus_idm.store._engine import WRITE
from ecampus_idm.store.errors import SchemaVersionError
from ecampus_idm.store.schema import (
    BIG_ID,
    JSON_DATA,
    NAMING,
    UtcDateTime,
    schema_version,
)
from ecampus_idm.store.schema import metadata as store_metadata

__all__ = [
    "LATEST_VERSION",
    "LIVE_METADATA",
    "MIGRATIONS",
    "Migration",
    "current_version",
    "migrate",
]

# Any fixed 64-bit number: the key of the PostgreSQL advisory lock held while migrating.
_ADVISORY_LOCK_KEY = 0x6563616D707573  # "ecampus"


@dataclass(frozen=True)
class Migration:
    """One step of the schema's history.

    Attributes:
        version: The version the database has once the step is applied (1, 2, ...).
        description: What the step does, recorded in ``schema_version``.
        apply: The step itself; runs inside the transaction that records it.
    """

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_initial(connection: Connection) -> None:
    """Runs, events, username registry, account memory, accepted exports."""
    # Frozen copy of the version-1 tables: never edit, add a step instead.
    metadata = sa.MetaData(naming_convention=NAMING)
    sa.Table(
        "runs",
        metadata,
        sa.Column("run_id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False, index=True),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.Column("counts", JSON_DATA, nullable=False),
        sa.Column("plan_hash", sa.String(128), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
    )
    sa.Table(
        "events",
        metadata,
        sa.Column("event_id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column(
            "run_id",
            BIG_ID,
            sa.ForeignKey("runs.run_id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("at", UtcDateTime, nullable=False, index=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("reason_fr", sa.Text, nullable=False),
        sa.Column("reason_en", sa.Text, nullable=False),
        sa.Column("data", JSON_DATA, nullable=False),
        sa.Index(None, "person_id", "at"),
    )
    usernames = sa.Table(
        "usernames",
        metadata,
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.String(64), nullable=False, index=True),
        sa.Column("reserved_at", UtcDateTime, nullable=False),
        sa.Column("released_at", UtcDateTime, nullable=True),
    )
    sa.Index(
        "uq_usernames_live_person",
        usernames.c.person_id,
        unique=True,
        sqlite_where=usernames.c.released_at.is_(None),
        postgresql_where=usernames.c.released_at.is_(None),
    )
    sa.Table(
        "accounts",
        metadata,
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("status_since", UtcDateTime, nullable=False),
        sa.Column("last_seen_in_sources", UtcDateTime, nullable=True),
    )
    sa.Table(
        "accepted_exports",
        metadata,
        sa.Column("export_id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("columns", JSON_DATA, nullable=False),
        sa.Column("encoding", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("accepted_at", UtcDateTime, nullable=False),
        sa.Index(None, "source", "export_id"),
    )
    metadata.create_all(connection)


def _v2_account_roles(connection: Connection) -> None:
    """The roles a person held when last seen: they choose grace and retention periods."""
    connection.execute(
        sa.text("ALTER TABLE accounts ADD COLUMN roles VARCHAR(128) NOT NULL DEFAULT ''")
    )


def _v3_identity_links(connection: Connection) -> None:
    """Which person a pseudonym or source key belonged to: ids survive new numbers."""
    # Frozen copy of the version-3 table: never edit, add a step instead.
    metadata = sa.MetaData(naming_convention=NAMING)
    sa.Table(
        "identity_links",
        metadata,
        sa.Column("link", sa.String(200), primary_key=True),
        sa.Column("person_id", sa.String(64), nullable=False, index=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    metadata.create_all(connection)


def _v6_run_locks(connection: Connection) -> None:
    """Named locks held by running runs: one nightly run (one flush) at a time, atomically."""
    # Frozen copy of the version-6 table: never edit, add a step instead.
    metadata = sa.MetaData(naming_convention=NAMING)
    sa.Table("runs", metadata, sa.Column("run_id", BIG_ID, primary_key=True))  # FK target
    locks = sa.Table(
        "run_locks",
        metadata,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column(
            "run_id",
            BIG_ID,
            sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("acquired_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=True),
        sa.Column("owner", sa.String(300), nullable=True),
    )
    locks.create(connection)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, events, usernames, accounts, accepted exports", _v1_initial),
    Migration(2, "accounts.roles", _v2_account_roles),
    Migration(3, "identity links", _v3_identity_links),
    Migration(4, "password resets: requests, tokens, rate counters, audit", migrate_v4),
    Migration(5, "mail outbox, recipients, password custody", migrate_v5),
    Migration(6, "run locks", _v6_run_locks),
    Migration(7, "mail outbox queue order", migrate_v7),
    Migration(8, "mail outbox context (school, reason, affiliation)", migrate_v8),
)
"""Every step, in order. Append only."""

LIVE_METADATA: tuple[sa.MetaData, ...] = (store_metadata, passwords_metadata, mail_metadata)
"""The live table definitions, store's and features' own: a migrated database has these."""

LATEST_VERSION = MIGRATIONS[-1].version
"""The schema version this code works with."""


def current_version(connection: Connection) -> int:
    """Return the database's schema version (0 for a database we never migrated)."""
    if not sa.inspect(connection).has_table(schema_version.name):
        return 0
    found = connection.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return int(found or 0)


def migrate(
    engine: Engine,
    *,
    url: str,
    clock: Clock,
    allow: bool = True,
    steps: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Bring the database to the latest version of ``steps``; return that version.

    Args:
        engine: The store's engine.
        url: The URL to name in errors (without password).
        clock: Gives the ``applied_at`` of each step.
        allow: When ``False``, an older database is refused instead of migrated.
        steps: The migration list (the default is the real one; tests pass others).

    Raises:
        SchemaVersionError: If the database is newer than ``steps``, or older and
            ``allow`` is false.
        ValueError: If ``steps`` are not numbered 1, 2, ... in order.
    """
    _check_numbering(steps)
    latest = steps[-1].version if steps else 0
    with engine.connect() as connection:
        # Fast path, a plain read: an up-to-date database takes no write lock to open.
        with connection.begin():
            found = current_version(connection)
        if found > latest or (found < latest and not allow):
            raise SchemaVersionError(url, found, latest)
        if found == latest:
            return latest
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            _lock(connection)
            schema_version.create(connection, checkfirst=True)
            found = current_version(connection)
        if found > latest:
            raise SchemaVersionError(url, found, latest)
        for step in steps[found:]:
            with connection.begin():
                _lock(connection)
                if current_version(connection) >= step.version:
                    continue  # another process applied it while we waited for the lock
                step.apply(connection)
                connection.execute(
                    schema_version.insert().values(
                        version=step.version,
                        description=step.description,
                        applied_at=clock.now(),
                    )
                )
    return latest


def _check_numbering(steps: Sequence[Migration]) -> None:
    for expected, step in enumerate(steps, start=1):
        if step.version != expected:
            raise ValueError(f"migration steps must be numbered 1..n; found {step.version}")


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK_KEY)))
