"""The reset repository port: pending requests, token records, rate counters, request audit.

Two implementations pass the same contract tests
(:class:`ecampus_idm.testing.passwords_contract.ResetRepositoryContract`):
:class:`~ecampus_idm.passwords.memory.MemoryResetRepository` and
:class:`~ecampus_idm.passwords.sql.SqlResetRepository` (tables beside the state store's,
SQLite or PostgreSQL).

The contract:

* Nothing here ever sees a token, a link, a password or an address in clear: tokens are
  digests, addresses and IPs keyed labels, a pending address is sealed (AES-GCM) and
  erased when the worker claims the request.
* :meth:`ResetRepository.consume` is the one atomic step of a reset: across threads,
  processes and service instances on one database, exactly one caller gets ``True``.
* :meth:`ResetRepository.claim_requests` hands each pending request to exactly one worker.
* :meth:`ResetRepository.hit` increments a rate counter atomically and returns its value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ecampus_idm.passwords.tokens import TokenRecord

__all__ = ["AuditRecord", "NewToken", "PendingRequest", "ResetRepository"]


@dataclass(frozen=True)
class PendingRequest:
    """A reset request claimed by the worker.

    Attributes:
        request_id: Assigned by the repository.
        requested_at: When it was made (UTC).
        address_label: Keyed label of the submitted address.
        ip_label: Keyed label of the client IP.
        address_sealed: The sealed address (``None`` for a suppressed request).
    """

    request_id: int
    requested_at: datetime
    address_label: str
    ip_label: str
    address_sealed: str | None

    def __repr__(self) -> str:
        return f"PendingRequest({self.request_id}, {self.requested_at.isoformat()})"


@dataclass(frozen=True)
class AuditRecord:
    """One line of the request audit (requests may concern no known person).

    Attributes:
        audit_id: Assigned by the repository, increasing.
        at: When (UTC).
        kind: The event kind (``reset.requested``, ``reset.suppressed``...).
        reason: A short code (``rate_limit.ip``, ``no_account``...), if any.
        request_id: The request concerned, if any.
        address_label: Keyed label of the submitted address, if any.
        ip_label: Keyed label of the client IP, if any.
        person_id: The person, once known.
    """

    audit_id: int
    at: datetime
    kind: str
    reason: str | None = None
    request_id: int | None = None
    address_label: str | None = None
    ip_label: str | None = None
    person_id: str | None = None


@dataclass(frozen=True)
class NewToken:
    """A token record to store (see :class:`~ecampus_idm.passwords.tokens.TokenRecord`)."""

    purpose: str
    person_id: str
    dn: str
    username: str
    key_id: str
    digest: str
    fingerprint: str
    issued_at: datetime
    expires_at: datetime

    def __repr__(self) -> str:
        return f"NewToken(purpose={self.purpose!r}, person_id={self.person_id!r})"


@runtime_checkable
class ResetRepository(Protocol):
    """Where the reset service keeps its state."""

    # -- requests ------------------------------------------------------------------------

    def add_request(
        self,
        *,
        at: datetime,
        address_label: str,
        ip_label: str,
        address_sealed: str | None,
    ) -> int:
        """Record a request; pending when ``address_sealed`` is given, else already done."""
        ...

    def claim_requests(self, *, at: datetime, limit: int) -> list[PendingRequest]:
        """Claim up to ``limit`` pending requests, oldest first, each for one caller only.

        A claimed request is marked processed and its sealed address erased.
        """
        ...

    def pending_count(self) -> int:
        """How many requests wait for the worker."""
        ...

    # -- rate counters -------------------------------------------------------------------

    def hit(self, bucket: str, window_start: datetime) -> int:
        """Add one to the counter of ``bucket`` in the window; return the new count."""
        ...

    # -- tokens --------------------------------------------------------------------------

    def add_token(self, token: NewToken) -> TokenRecord:
        """Store a token record; return it with its id."""
        ...

    def find_token(self, digests: Sequence[str], purpose: str) -> TokenRecord | None:
        """Return the record whose digest is one of ``digests`` for ``purpose``, if any."""
        ...

    def get_token(self, token_id: int) -> TokenRecord | None:
        """Return the record ``token_id``, if any."""
        ...

    def tokens_for(self, person_id: str) -> list[TokenRecord]:
        """Return the person's token records, oldest first."""
        ...

    def mark_peeked(self, token_id: int, at: datetime) -> None:
        """Remember the first time the token's page was shown (later calls keep it)."""
        ...

    def consume(self, token_id: int, at: datetime) -> bool:
        """Mark the token used if it is unused, unrevoked and unexpired at ``at``: atomically.

        Returns:
            ``True`` for exactly one caller; ``False`` for every other.
        """
        ...

    def release(self, token_id: int) -> None:
        """Undo :meth:`consume` (the directory refused the password: the link stays usable)."""
        ...

    def revoke(self, token_id: int, at: datetime, reason: str) -> bool:
        """Revoke one token (if still live); return whether it was."""
        ...

    def revoke_person(
        self, person_id: str, at: datetime, reason: str, *, keep: int | None = None
    ) -> list[int]:
        """Revoke the person's live tokens (except ``keep``); return their ids."""
        ...

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
        ...

    def audit_records(self, *, limit: int = 1000) -> list[AuditRecord]:
        """Return the latest audit lines, oldest first."""
        ...

    def purge(self, before: datetime) -> int:
        """Delete requests, tokens, counters and audit lines older than ``before``."""
        ...
