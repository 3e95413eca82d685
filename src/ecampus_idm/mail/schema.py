"""The mail pipeline's tables (live definitions) and their frozen migration step.

Three tables, created by :func:`migrate_v5` (to register as schema version 5);
:func:`migrate_v7` adds the outbox's queue order (version 7), :func:`migrate_v8` the
context a welcome mail names (version 8):

``mail_outbox``
    One row per message to send: who, why (purpose), to which address, its state and
    retries. ``idempotency_key`` is unique: one issuance gives one message, however often
    it is enqueued. ``seq`` numbers the messages in the order they were queued (a nightly
    run queues all its mails at one instant, and the message ids are random): the flush
    takes the oldest first, and among those queued together, the first queued.
    ``sealed`` holds the initial password *encrypted* (AES-GCM, see
    :mod:`ecampus_idm.crypto`) and is cleared once the message is sent. ``context``
    (JSON, no secret) says why the person receives it: enrolment or attribution, the
    schools' names, the affiliation whose password rule the mail states.
``mail_recipients``
    Per person, the personal address the credentials were last sent to (to notice a
    correction) and whether it bounces.
``password_custody``
    Per person, the *encrypted* initial password, kept for resends until it is discarded
    (the user chose a password) or purged.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ecampus_idm.store.schema import NAMING, UtcDateTime

__all__ = [
    "OUTBOX_SEQUENCE",
    "mail_outbox",
    "mail_recipients",
    "metadata",
    "migrate_v5",
    "migrate_v7",
    "migrate_v8",
    "password_custody",
]

metadata = sa.MetaData(naming_convention=NAMING)

OUTBOX_SEQUENCE = sa.Sequence("mail_outbox_seq", metadata=metadata)
"""PostgreSQL's source of ``mail_outbox.seq`` (SQLite, whose writers take turns, takes the
largest number plus one: see :class:`~ecampus_idm.mail.outbox.SqlOutbox`)."""

mail_outbox = sa.Table(
    "mail_outbox",
    metadata,
    sa.Column("message_id", sa.String(64), primary_key=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("to_address", sa.String(320), nullable=False),
    sa.Column("to_masked", sa.String(330), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("population", sa.String(32), nullable=True),
    sa.Column("display_name", sa.String(260), nullable=False),
    sa.Column("sealed", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("queued_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True, index=True),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("run_id", sa.BigInteger, nullable=True),
    # Nullable only because SQLite cannot add a NOT NULL column; every row has one.
    sa.Column("seq", sa.BigInteger, OUTBOX_SEQUENCE, nullable=True, index=True),
    sa.Column("context", sa.Text, nullable=True),
)

mail_recipients = sa.Table(
    "mail_recipients",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("address", sa.String(320), nullable=True, index=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("bouncing_since", UtcDateTime, nullable=True),
    sa.Column("bounce_reason", sa.String(500), nullable=True),
)

password_custody = sa.Table(
    "password_custody",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("sealed", sa.Text, nullable=True),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("issued_at", UtcDateTime, nullable=False, index=True),
    sa.Column("discarded_at", UtcDateTime, nullable=True),
    sa.Column("discard_reason", sa.String(200), nullable=True),
)


def migrate_v5(connection: Connection) -> None:
    """Schema v5: the mail outbox, the recipients' addresses and the password custody."""
    # Frozen copy of the version-5 tables: never edit, add a step instead.
    frozen = sa.MetaData(naming_convention=NAMING)
    sa.Table(
        "mail_outbox",
        frozen,
        sa.Column("message_id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("person_id", sa.String(64), nullable=False, index=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("to_masked", sa.String(330), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("population", sa.String(32), nullable=True),
        sa.Column("display_name", sa.String(260), nullable=False),
        sa.Column("sealed", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("queued_at", UtcDateTime, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=True, index=True),
        sa.Column("sent_at", UtcDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("run_id", sa.BigInteger, nullable=True),
    )
    sa.Table(
        "mail_recipients",
        frozen,
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(320), nullable=True, index=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("bouncing_since", UtcDateTime, nullable=True),
        sa.Column("bounce_reason", sa.String(500), nullable=True),
    )
    sa.Table(
        "password_custody",
        frozen,
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("sealed", sa.Text, nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("issued_at", UtcDateTime, nullable=False, index=True),
        sa.Column("discarded_at", UtcDateTime, nullable=True),
        sa.Column("discard_reason", sa.String(200), nullable=True),
    )
    frozen.create_all(connection)


def migrate_v7(connection: Connection) -> None:
    """Schema v7: ``mail_outbox.seq``, the order messages were queued in."""
    # Frozen: plain DDL of this step's own, never edit, add a step instead.
    connection.execute(sa.text("ALTER TABLE mail_outbox ADD COLUMN seq BIGINT"))
    connection.execute(sa.text("CREATE INDEX ix_mail_outbox_seq ON mail_outbox (seq)"))
    # The messages already queued keep the order the flush gave them (queued_at, then id).
    ids = connection.execute(
        sa.text("SELECT message_id FROM mail_outbox ORDER BY queued_at, message_id")
    ).scalars()
    numbered = [{"seq": n, "message_id": m} for n, m in enumerate(ids, start=1)]
    if numbered:
        connection.execute(
            sa.text("UPDATE mail_outbox SET seq = :seq WHERE message_id = :message_id"),
            numbered,
        )
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("CREATE SEQUENCE mail_outbox_seq OWNED BY mail_outbox.seq"))
        connection.execute(
            sa.text("SELECT setval('mail_outbox_seq', :next, false)"), {"next": len(numbered) + 1}
        )


def migrate_v8(connection: Connection) -> None:
    """Schema v8: ``mail_outbox.context``, why the person receives the mail (JSON)."""
    # Frozen: plain DDL of this step's own, never edit, add a step instead. The messages
    # already queued have none: their mail says so in general terms.
    connection.execute(sa.text("ALTER TABLE mail_outbox ADD COLUMN context TEXT"))
