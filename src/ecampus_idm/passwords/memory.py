"""The in-memory reset repository: the twin of the SQL one, for unit tests and demos."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from ecampus_idm.passwords.repository import AuditRecord, NewToken, PendingRequest
from ecampus_idm.passwords.tokens import TokenRecord
from ecampus_idm.store.base import aware_utc

__all__ = ["MemoryResetRepository"]


class MemoryResetRepository:
    """A :class:`~ecampus_idm.passwords.repository.ResetRepository` held in memory.

    Thread-safe: one lock makes each method atomic.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[int, tuple[PendingRequest, datetime | None]] = {}
        self._counters: dict[tuple[str, datetime], int] = {}
        self._tokens: dict[int, TokenRecord] = {}
        self._audit: list[AuditRecord] = []
        self._request_ids = itertools.count(1)
        self._token_ids = itertools.count(1)
        self._audit_ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"MemoryResetRepository({len(self._tokens)} tokens)"

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
        with self._lock:
            request_id = next(self._request_ids)
            request = PendingRequest(request_id, at, address_label, ip_label, address_sealed)
            self._requests[request_id] = (request, None if address_sealed else at)
            return request_id

    def claim_requests(self, *, at: datetime, limit: int) -> list[PendingRequest]:
        """Claim pending requests, oldest first."""
        at = aware_utc("at", at)
        with self._lock:
            claimed: list[PendingRequest] = []
            for request_id, (request, done) in sorted(self._requests.items()):
                if len(claimed) >= limit:
                    break
                if done is None:
                    claimed.append(request)
                    self._requests[request_id] = (replace(request, address_sealed=None), at)
            return claimed

    def pending_count(self) -> int:
        """How many requests wait."""
        with self._lock:
            return sum(1 for _, done in self._requests.values() if done is None)

    def hit(self, bucket: str, window_start: datetime) -> int:
        """Count one more in the window."""
        key = (bucket, aware_utc("window_start", window_start))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + 1
            return self._counters[key]

    def add_token(self, token: NewToken) -> TokenRecord:
        """Store a token record."""
        with self._lock:
            if any(t.digest == token.digest for t in self._tokens.values()):
                raise ValueError("a token with this digest exists")
            token_id = next(self._token_ids)
            record = TokenRecord(
                token_id=token_id,
                purpose=token.purpose,
                person_id=token.person_id,
                dn=token.dn,
                username=token.username,
                key_id=token.key_id,
                digest=token.digest,
                fingerprint=token.fingerprint,
                issued_at=aware_utc("issued_at", token.issued_at),
                expires_at=aware_utc("expires_at", token.expires_at),
            )
            self._tokens[token_id] = record
            return record

    def find_token(self, digests: Sequence[str], purpose: str) -> TokenRecord | None:
        """Find a record by digest."""
        wanted = set(digests)
        with self._lock:
            return next(
                (t for t in self._tokens.values() if t.digest in wanted and t.purpose == purpose),
                None,
            )

    def get_token(self, token_id: int) -> TokenRecord | None:
        """Return a record by id."""
        with self._lock:
            return self._tokens.get(token_id)

    def tokens_for(self, person_id: str) -> list[TokenRecord]:
        """Return the person's records."""
        with self._lock:
            return [t for _, t in sorted(self._tokens.items()) if t.person_id == person_id]

    def mark_peeked(self, token_id: int, at: datetime) -> None:
        """Remember the first peek."""
        at = aware_utc("at", at)
        with self._lock:
            token = self._tokens.get(token_id)
            if token is not None and token.peeked_at is None:
                self._tokens[token_id] = replace(token, peeked_at=at)

    def consume(self, token_id: int, at: datetime) -> bool:
        """Mark used, once."""
        at = aware_utc("at", at)
        with self._lock:
            token = self._tokens.get(token_id)
            if (
                token is None
                or token.used_at is not None
                or token.revoked_at is not None
                or token.expires_at <= at
            ):
                return False
            self._tokens[token_id] = replace(token, used_at=at)
            return True

    def release(self, token_id: int) -> None:
        """Undo a consume."""
        with self._lock:
            token = self._tokens.get(token_id)
            if token is not None:
                self._tokens[token_id] = replace(token, used_at=None)

    def revoke(self, token_id: int, at: datetime, reason: str) -> bool:
        """Revoke one live token."""
        at = aware_utc("at", at)
        with self._lock:
            token = self._tokens.get(token_id)
            if token is None or token.used_at is not None or token.revoked_at is not None:
                return False
            self._tokens[token_id] = replace(token, revoked_at=at, revoke_reason=reason)
            return True

    def revoke_person(
        self, person_id: str, at: datetime, reason: str, *, keep: int | None = None
    ) -> list[int]:
        """Revoke the person's live tokens."""
        at = aware_utc("at", at)
        with self._lock:
            revoked = []
            for token_id, token in sorted(self._tokens.items()):
                if (
                    token.person_id == person_id
                    and token_id != keep
                    and token.used_at is None
                    and token.revoked_at is None
                ):
                    self._tokens[token_id] = replace(token, revoked_at=at, revoke_reason=reason)
                    revoked.append(token_id)
            return revoked

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
        at = aware_utc("at", at)
        with self._lock:
            self._audit.append(
                AuditRecord(
                    audit_id=next(self._audit_ids),
                    at=at,
                    kind=kind,
                    reason=reason,
                    request_id=request_id,
                    address_label=address_label,
                    ip_label=ip_label,
                    person_id=person_id,
                )
            )

    def audit_records(self, *, limit: int = 1000) -> list[AuditRecord]:
        """Return the latest audit lines, oldest first."""
        with self._lock:
            return list(self._audit[-limit:]) if limit > 0 else []

    def purge(self, before: datetime) -> int:
        """Delete old rows."""
        before = aware_utc("before", before)
        with self._lock:
            removed = 0
            for request_id, (request, _) in list(self._requests.items()):
                if request.requested_at < before:
                    del self._requests[request_id]
                    removed += 1
            for key in [k for k in self._counters if k[1] < before]:
                del self._counters[key]
                removed += 1
            for token_id, token in list(self._tokens.items()):
                if token.expires_at < before:
                    del self._tokens[token_id]
                    removed += 1
            kept = [a for a in self._audit if a.at >= before]
            removed += len(self._audit) - len(kept)
            self._audit = kept
            return removed
