"""The reset repository on the state store's database (SQLite or PostgreSQL).

Owns four tables, created by :func:`migrate_v4` (the lead registers it as the store's
migration step 4, "password resets"):

* ``reset_requests``: one row per "Mot de passe oublié" submission; the address only
  sealed (AES-GCM) while the request waits for the worker, erased once claimed;
* ``reset_tokens``: token records (HMAC digest, never the token), one purpose and one
  account each;
* ``reset_rate_counters``: fixed-window counters keyed by keyed labels, shared by every
  portal instance;
* ``reset_audit``: what happened to each request, including those for unknown addresses
  (which have no person, so no place in the store's per-person events).

Atomic steps are single statements: a consume is ``UPDATE ... WHERE used_at IS NULL``
and wins for exactly one caller; a counter is an ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from ecampus_idm.passwords.repository import AuditRecord, NewToken, PendingRequest
from ecampus_idm.passwords.tokens import TokenRecord
from ecampus_idm.store.base import aware_utc
from ecampus_idm.store.schema import BIG_ID, NAMING, UtcDateTime

if TYPE_CHECKING:
    # Annotations only: the store's migrations import this module's tables.
    from ecampus_idm.store.sql import SqlStore

__all__ = [
    "SqlResetRepository",
    "metadata",
    "migrate_v4",
    "reset_audit",
    "reset_rate_counters",
    "reset_requests",
    "reset_tokens",
]

_LABEL = 64  # hex SHA-256
_SEALED = 400

metadata = sa.MetaData(naming_convention=NAMING)

reset_requests = sa.Table(
    "reset_requests",
    metadata,
    sa.Column("request_id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("requested_at", UtcDateTime, nullable=False, index=True),
    sa.Column("address_label", sa.String(_LABEL), nullable=False),
    sa.Column("ip_label", sa.String(_LABEL), nullable=False),
    sa.Column("address_sealed", sa.String(_SEALED), nullable=True),
    sa.Column("processed_at", UtcDateTime, nullable=True, index=True),
)

reset_tokens = sa.Table(
    "reset_tokens",
    metadata,
    sa.Column("token_id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("dn", sa.Text, nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("digest", sa.String(_LABEL), nullable=False, unique=True),
    sa.Column("fingerprint", sa.String(_LABEL), nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
    sa.Column("peeked_at", UtcDateTime, nullable=True),
    sa.Column("used_at", UtcDateTime, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Column("revoke_reason", sa.String(32), nullable=True),
)

reset_rate_counters = sa.Table(
    "reset_rate_counters",
    metadata,
    sa.Column("bucket", sa.String(100), primary_key=True),
    sa.Column("window_start", UtcDateTime, primary_key=True),
    sa.Column("hits", sa.Integer, nullable=False),
)

reset_audit = sa.Table(
    "reset_audit",
    metadata,
    sa.Column("audit_id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(64), nullable=True),
    sa.Column("request_id", BIG_ID, nullable=True),
    sa.Column("address_label", sa.String(_LABEL), nullable=True, index=True),
    sa.Column("ip_label", sa.String(_LABEL), nullable=True),
    sa.Column("person_id", sa.String(64), nullable=True, index=True),
)


def migrate_v4(connection: Connection) -> None:
    """Create the password-reset tables (requests, tokens, rate counters, audit).

    Frozen once registered: it builds its own copies of the tables.
    """
    frozen = sa.MetaData(naming_convention=NAMING)
    sa.Table(
        "reset_requests",
        frozen,
        sa.Column("request_id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("requested_at", UtcDateTime, nullable=False, index=True),
        sa.Column("address_label", sa.String(_LABEL), nullable=False),
        sa.Column("ip_label", sa.String(_LABEL), nullable=False),
        sa.Column("address_sealed", sa.String(_SEALED), nullable=True),
        sa.Column("processed_at", UtcDateTime, nullable=True, index=True),
    )
    sa.Table(
        "reset_tokens",
        frozen,
        sa.Column("token_id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False, index=True),
        sa.Column("dn", sa.Text, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(_LABEL), nullable=False, unique=True),
        sa.Column("fingerprint", sa.String(_LABEL), nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
        sa.Column("peeked_at", UtcDateTime, nullable=True),
        sa.Column("used_at", UtcDateTime, nullable=True),
        sa.Column("revoked_at", UtcDateTime, nullable=True),
        sa.Column("revoke_reason", sa.String(32), nullable=True),
    )
    sa.Table(
        "reset_rate_counters",
        frozen,
        sa.Column("bucket", sa.String(100), primary_key=True),
        sa.Column("window_start", UtcDateTime, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    sa.Table(
        "reset_audit",
        frozen,
        sa.Column("audit_id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False, index=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("request_id", BIG_ID, nullable=True),
        sa.Column("address_label", sa.String(_LABEL), nullable=True, index=True),
        sa.Column("ip_label", sa.String(_LABEL), nullable=True),
        sa.Column("person_id", sa.String(64), nullable=True, index=True),
    )
    frozen.create_all(connection, checkfirst=True)


class SqlResetRepository:
    """A :class:`~ecampus_idm.passwords.repository.ResetRepository` on a :class:`SqlStore`.

    Args:
        store: The state store whose database holds the tables (created by
            :func:`migrate_v4`, a migration step of the store).
    """

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def __repr__(self) -> str:
        return f"SqlResetRepository({self._store.url!r})"

    def _insert(self, table: sa.Table) -> Any:
        if self._store.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # -- requests ------------------------------------------------------------------------

    def add_request(
        self,
        *,
        at: datetime,
        address_label: str,
        ip_label: str,
        address_sealed: str | None,
    ) -> int:
        """Record a request."""
        at = aware_utc("at", at)
        insert = reset_requests.insert().values(
            requested_at=at,
            address_label=address_label,
            ip_label=ip_label,
            address_sealed=address_sealed,
            processed_at=None if address_sealed else at,
        )
        with self._store.connection() as connection:
            found = connection.execute(insert.returning(reset_requests.c.request_id))
            return int(found.scalar_one())

    def claim_requests(self, *, at: datetime, limit: int) -> list[PendingRequest]:
        """Claim pending requests, oldest first (PostgreSQL: ``FOR UPDATE SKIP LOCKED``)."""
        at = aware_utc("at", at)
        select = (
            sa.select(reset_requests)
            .where(reset_requests.c.processed_at.is_(None))
            .order_by(reset_requests.c.request_id)
            .limit(limit)
        )
        if self._store.dialect == "postgresql":
            select = select.with_for_update(skip_locked=True)
        with self._store.connection() as connection:
            rows = connection.execute(select).all()
            ids = [int(row.request_id) for row in rows]
            if ids:
                connection.execute(
                    reset_requests.update()
                    .where(reset_requests.c.request_id.in_(ids))
                    .values(processed_at=at, address_sealed=None)
                )
        return [
            PendingRequest(
                request_id=int(row.request_id),
                requested_at=row.requested_at,
                address_label=row.address_label,
                ip_label=row.ip_label,
                address_sealed=row.address_sealed,
            )
            for row in rows
        ]

    def pending_count(self) -> int:
        """How many requests wait."""
        count = sa.select(sa.func.count()).where(reset_requests.c.processed_at.is_(None))
        with self._store.connection() as connection:
            return int(connection.execute(count).scalar_one())

    # -- rate counters -------------------------------------------------------------------

    def hit(self, bucket: str, window_start: datetime) -> int:
        """Count one more in the window (one upsert statement)."""
        window_start = aware_utc("window_start", window_start)
        insert = self._insert(reset_rate_counters).values(
            bucket=bucket, window_start=window_start, hits=1
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[reset_rate_counters.c.bucket, reset_rate_counters.c.window_start],
            set_={"hits": reset_rate_counters.c.hits + 1},
        ).returning(reset_rate_counters.c.hits)
        with self._store.connection() as connection:
            return int(connection.execute(upsert).scalar_one())

    # -- tokens --------------------------------------------------------------------------

    def add_token(self, token: NewToken) -> TokenRecord:
        """Store a token record."""
        values: dict[str, Any] = {
            "purpose": token.purpose,
            "person_id": token.person_id,
            "dn": token.dn,
            "username": token.username,
            "key_id": token.key_id,
            "digest": token.digest,
            "fingerprint": token.fingerprint,
            "issued_at": aware_utc("issued_at", token.issued_at),
            "expires_at": aware_utc("expires_at", token.expires_at),
        }
        insert = reset_tokens.insert().values(**values).returning(reset_tokens.c.token_id)
        with self._store.connection() as connection:
            token_id = int(connection.execute(insert).scalar_one())
        return TokenRecord(
            token_id=token_id,
            purpose=token.purpose,
            person_id=token.person_id,
            dn=token.dn,
            username=token.username,
            key_id=token.key_id,
            digest=token.digest,
            fingerprint=token.fingerprint,
            issued_at=values["issued_at"],
            expires_at=values["expires_at"],
        )

    def find_token(self, digests: Sequence[str], purpose: str) -> TokenRecord | None:
        """Find a record by digest."""
        if not digests:
            return None
        select = sa.select(reset_tokens).where(
            reset_tokens.c.digest.in_(list(digests)), reset_tokens.c.purpose == purpose
        )
        with self._store.connection() as connection:
            row = connection.execute(select).first()
        return None if row is None else _token(row)

    def get_token(self, token_id: int) -> TokenRecord | None:
        """Return a record by id."""
        select = sa.select(reset_tokens).where(reset_tokens.c.token_id == token_id)
        with self._store.connection() as connection:
            row = connection.execute(select).first()
        return None if row is None else _token(row)

    def tokens_for(self, person_id: str) -> list[TokenRecord]:
        """Return the person's records, oldest first."""
        select = (
            sa.select(reset_tokens)
            .where(reset_tokens.c.person_id == person_id)
            .order_by(reset_tokens.c.token_id)
        )
        with self._store.connection() as connection:
            return [_token(row) for row in connection.execute(select)]

    def mark_peeked(self, token_id: int, at: datetime) -> None:
        """Remember the first peek."""
        update = (
            reset_tokens.update()
            .where(reset_tokens.c.token_id == token_id, reset_tokens.c.peeked_at.is_(None))
            .values(peeked_at=aware_utc("at", at))
        )
        with self._store.connection() as connection:
            connection.execute(update)

    def consume(self, token_id: int, at: datetime) -> bool:
        """Mark used, once: a single conditional UPDATE."""
        at = aware_utc("at", at)
        update = (
            reset_tokens.update()
            .where(
                reset_tokens.c.token_id == token_id,
                reset_tokens.c.used_at.is_(None),
                reset_tokens.c.revoked_at.is_(None),
                reset_tokens.c.expires_at > at,
            )
            .values(used_at=at)
        )
        with self._store.connection() as connection:
            return connection.execute(update).rowcount == 1

    def release(self, token_id: int) -> None:
        """Undo a consume."""
        update = (
            reset_tokens.update().where(reset_tokens.c.token_id == token_id).values(used_at=None)
        )
        with self._store.connection() as connection:
            connection.execute(update)

    def revoke(self, token_id: int, at: datetime, reason: str) -> bool:
        """Revoke one live token."""
        update = (
            reset_tokens.update()
            .where(
                reset_tokens.c.token_id == token_id,
                reset_tokens.c.used_at.is_(None),
                reset_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=aware_utc("at", at), revoke_reason=reason)
        )
        with self._store.connection() as connection:
            return connection.execute(update).rowcount == 1

    def revoke_person(
        self, person_id: str, at: datetime, reason: str, *, keep: int | None = None
    ) -> list[int]:
        """Revoke the person's live tokens."""
        conditions = [
            reset_tokens.c.person_id == person_id,
            reset_tokens.c.used_at.is_(None),
            reset_tokens.c.revoked_at.is_(None),
        ]
        if keep is not None:
            conditions.append(reset_tokens.c.token_id != keep)
        update = (
            reset_tokens.update()
            .where(*conditions)
            .values(revoked_at=aware_utc("at", at), revoke_reason=reason)
            .returning(reset_tokens.c.token_id)
        )
        with self._store.connection() as connection:
            return sorted(int(token_id) for token_id in connection.execute(update).scalars())

    # -- audit and retention -------------------------------------------------------------

    def add_audit(
        self,
        *,
        at: datetime,
        kind: str,
        reason: str | None = None,
        request_id: int | None = None,
        address_label: str | None = None,
        ip_label: str | None = None,
        person_id: str | None = None,
    ) -> None:
        """Record one audit line."""
        insert = reset_audit.insert().values(
            at=aware_utc("at", at),
            kind=kind,
            reason=reason,
            request_id=request_id,
            address_label=address_label,
            ip_label=ip_label,
            person_id=person_id,
        )
        with self._store.connection() as connection:
            connection.execute(insert)

    def audit_records(self, *, limit: int = 1000) -> list[AuditRecord]:
        """Return the latest audit lines, oldest first."""
        select = sa.select(reset_audit).order_by(reset_audit.c.audit_id.desc()).limit(limit)
        with self._store.connection() as connection:
            rows = connection.execute(select).all()
        return [
            AuditRecord(
                audit_id=int(row.audit_id),
                at=row.at,
                kind=row.kind,
                reason=row.reason,
                request_id=None if row.request_id is None else int(row.request_id),
                address_label=row.address_label,
                ip_label=row.ip_label,
                person_id=row.person_id,
            )
            for row in reversed(rows)
        ]

    def purge(self, before: datetime) -> int:
        """Delete old rows."""
        before = aware_utc("before", before)
        statements = (
            reset_requests.delete().where(reset_requests.c.requested_at < before),
            reset_rate_counters.delete().where(reset_rate_counters.c.window_start < before),
            reset_tokens.delete().where(reset_tokens.c.expires_at < before),
            reset_audit.delete().where(reset_audit.c.at < before),
        )
        with self._store.connection() as connection:
            return sum(int(connection.execute(s).rowcount) for s in statements)


def _token(row: Row[Any]) -> TokenRecord:
    return TokenRecord(
        token_id=int(row.token_id),
        purpose=row.purpose,
        person_id=row.person_id,
        dn=row.dn,
        username=row.username,
        key_id=row.key_id,
        digest=row.digest,
        fingerprint=row.fingerprint,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        peeked_at=row.peeked_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
    )
