"""The tables as the code queries them today (SQLAlchemy Core), and their column types.

This is the *current* shape of the schema. It is created and changed only by the numbered
steps in :mod:`ecampus_idm.store.migrations`, which carry their own frozen copies of the
tables; a test checks that a fully migrated database has exactly these tables and
columns. To change the schema: add a migration step, then change the table here.

Column types that need care on both databases live here too: :class:`UtcDateTime`
(aware UTC in and out, on SQLite as on PostgreSQL) and :data:`JSON_DATA` (JSONB on
PostgreSQL, JSON text on SQLite).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = [
    "BIG_ID",
    "JSON_DATA",
    "NAMING",
    "UtcDateTime",
    "accepted_exports",
    "accounts",
    "events",
    "metadata",
    "run_locks",
    "runs",
    "schema_version",
    "usernames",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names are predictable, so that a later migration can drop or alter them."""


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware instant, stored as UTC and always returned aware in UTC.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the UTC wall time is
    stored (ISO text, which sorts correctly) and UTC is attached when reading.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; convert to UTC (naive UTC for SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the store only accepts timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored instant as an aware UTC datetime."""
        del dialect
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSON_DATA = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
"""A JSON document: JSONB on PostgreSQL, JSON text on SQLite."""

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A 64-bit surrogate key (SQLite auto-increments only ``INTEGER PRIMARY KEY``)."""

metadata = sa.MetaData(naming_convention=NAMING)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)

runs = sa.Table(
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

events = sa.Table(
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
# At most one live username per person; tombstones are kept without limit.
sa.Index(
    "uq_usernames_live_person",
    usernames.c.person_id,
    unique=True,
    sqlite_where=usernames.c.released_at.is_(None),
    postgresql_where=usernames.c.released_at.is_(None),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("status_since", UtcDateTime, nullable=False),
    sa.Column("last_seen_in_sources", UtcDateTime, nullable=True),
    sa.Column("roles", sa.String(128), nullable=False, server_default=""),
)

accepted_exports = sa.Table(
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

identity_links = sa.Table(
    "identity_links",
    metadata,
    # "niss:<pseudonym>" or "key:<source>:<matricule>": never a national number in clear.
    sa.Column("link", sa.String(200), primary_key=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

run_locks = sa.Table(
    "run_locks",
    metadata,
    # One row per lock held: the primary key is what makes "one run at a time" atomic.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column(
        "run_id",
        BIG_ID,
        sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),  # NULL: held until the run ends
    sa.Column("owner", sa.String(300), nullable=True),  # host/pid-namespace/pid
)
