"""Contract tests of the reset repository: written once, run against every implementation.

Subclass :class:`ResetRepositoryContract` in a test module and provide the fixtures
``repository`` (the implementation under test) and ``second_repository`` (another
instance on the *same* data, for the concurrency tests; the in-memory one passes itself)::

    class TestMyRepository(ResetRepositoryContract):
        @pytest.fixture
        def repository(self):
            return MyRepository()

        @pytest.fixture
        def second_repository(self, repository):
            return repository

ecampus-idm runs it against the in-memory twin, a SQLite file and a real PostgreSQL
(``tests/contracts/test_passwords_contract.py``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from ecampus_idm.passwords.repository import NewToken, ResetRepository

__all__ = ["T0", "ResetRepositoryContract", "new_token_record"]

T0 = datetime(2026, 9, 14, 8, 0, tzinfo=UTC)
"""A fixed instant the contract's records are dated from."""


def new_token_record(
    digest: str = "d" * 64, *, person_id: str = "p-1", issued_at: datetime = T0
) -> NewToken:
    """Return a token record to store, valid for 30 minutes from ``issued_at``."""
    return NewToken(
        purpose="reset",
        person_id=person_id,
        dn=f"uid={person_id},ou=people,dc=ecampus,dc=test",
        username=person_id,
        key_id="k1",
        digest=digest,
        fingerprint="f" * 64,
        issued_at=issued_at,
        expires_at=issued_at + timedelta(minutes=30),
    )


class ResetRepositoryContract:
    """What every reset repository must do."""

    # -- requests ------------------------------------------------------------------------

    def test_pending_request_is_claimed_with_its_sealed_address(
        self, repository: ResetRepository
    ) -> None:
        """A pending request comes back once, with its sealed address."""
        request_id = repository.add_request(
            at=T0, address_label="a" * 64, ip_label="i" * 64, address_sealed="k:sealed"
        )
        claimed = repository.claim_requests(at=T0, limit=10)
        assert [(r.request_id, r.address_sealed) for r in claimed] == [(request_id, "k:sealed")]
        assert claimed[0].requested_at == T0

    def test_claimed_request_is_not_claimed_again(self, repository: ResetRepository) -> None:
        """A claimed request is done: a second claim gets nothing."""
        repository.add_request(at=T0, address_label="a", ip_label="i", address_sealed="k:s")
        repository.claim_requests(at=T0, limit=10)
        assert repository.claim_requests(at=T0, limit=10) == []
        assert repository.pending_count() == 0

    def test_suppressed_request_is_never_pending(self, repository: ResetRepository) -> None:
        """A request recorded without an address (rate-limited) is not handed to the worker."""
        repository.add_request(at=T0, address_label="a", ip_label="i", address_sealed=None)
        assert repository.pending_count() == 0
        assert repository.claim_requests(at=T0, limit=10) == []

    def test_claims_respect_the_limit_oldest_first(self, repository: ResetRepository) -> None:
        """At most ``limit`` requests are claimed, the oldest first."""
        ids = [
            repository.add_request(
                at=T0 + timedelta(seconds=n), address_label="a", ip_label="i", address_sealed="s"
            )
            for n in range(3)
        ]
        assert [r.request_id for r in repository.claim_requests(at=T0, limit=2)] == ids[:2]
        assert repository.pending_count() == 1

    def test_concurrent_claims_share_out_requests(
        self, repository: ResetRepository, second_repository: ResetRepository
    ) -> None:
        """Two workers claiming at once never get the same request."""
        for _ in range(20):
            repository.add_request(at=T0, address_label="a", ip_label="i", address_sealed="s")
        with ThreadPoolExecutor(4) as pool:
            batches = list(
                pool.map(
                    lambda r: r.claim_requests(at=T0, limit=3),
                    [repository, second_repository] * 5,
                )
            )
        ids = [r.request_id for batch in batches for r in batch]
        assert len(ids) == len(set(ids)) == 20

    # -- counters ------------------------------------------------------------------------

    def test_hits_count_up_per_bucket_and_window(self, repository: ResetRepository) -> None:
        """Each hit returns the bucket's count in its window."""
        assert [repository.hit("a:x", T0) for _ in range(3)] == [1, 2, 3]
        assert repository.hit("a:y", T0) == 1
        assert repository.hit("a:x", T0 + timedelta(hours=1)) == 1

    def test_concurrent_hits_are_all_counted(
        self, repository: ResetRepository, second_repository: ResetRepository
    ) -> None:
        """Hits from many threads and two instances are all counted."""
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda r: r.hit("all", T0), [repository, second_repository] * 20))
        assert repository.hit("all", T0) == 41

    # -- tokens --------------------------------------------------------------------------

    def test_token_is_found_by_any_of_its_candidate_digests(
        self, repository: ResetRepository
    ) -> None:
        """A lookup with several digests (several keys) finds the stored one."""
        stored = repository.add_token(new_token_record("b" * 64))
        found = repository.find_token(["a" * 64, "b" * 64], "reset")
        assert found is not None
        assert found.token_id == stored.token_id
        assert found.expires_at == T0 + timedelta(minutes=30)

    def test_token_of_another_purpose_is_not_found(self, repository: ResetRepository) -> None:
        """A digest is only valid for its purpose."""
        repository.add_token(new_token_record("b" * 64))
        assert repository.find_token(["b" * 64], "activation") is None

    def test_consume_succeeds_once(self, repository: ResetRepository) -> None:
        """The first consume wins, the next ones fail."""
        token = repository.add_token(new_token_record())
        assert repository.consume(token.token_id, T0) is True
        assert repository.consume(token.token_id, T0) is False
        used = repository.get_token(token.token_id)
        assert used is not None
        assert used.used_at == T0

    def test_expired_token_cannot_be_consumed(self, repository: ResetRepository) -> None:
        """A consume at or after the expiry fails."""
        token = repository.add_token(new_token_record())
        assert repository.consume(token.token_id, token.expires_at) is False

    def test_released_token_can_be_consumed_again(self, repository: ResetRepository) -> None:
        """After a refused write the link stays usable."""
        token = repository.add_token(new_token_record())
        repository.consume(token.token_id, T0)
        repository.release(token.token_id)
        assert repository.consume(token.token_id, T0) is True

    def test_revoked_token_cannot_be_consumed(self, repository: ResetRepository) -> None:
        """A revoked token is dead, with its reason."""
        token = repository.add_token(new_token_record())
        assert repository.revoke(token.token_id, T0, "changed") is True
        assert repository.consume(token.token_id, T0) is False
        revoked = repository.get_token(token.token_id)
        assert revoked is not None
        assert revoked.revoke_reason == "changed"

    def test_concurrent_consumes_have_one_winner(
        self, repository: ResetRepository, second_repository: ResetRepository
    ) -> None:
        """Twenty consumes at once, on two instances: exactly one succeeds."""
        token = repository.add_token(new_token_record())
        barrier = threading.Barrier(20)

        def consume(repo: ResetRepository) -> bool:
            barrier.wait()
            return repo.consume(token.token_id, T0)

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(consume, [repository, second_repository] * 10))
        assert results.count(True) == 1

    def test_revoke_person_spares_the_kept_token(self, repository: ResetRepository) -> None:
        """Revoking a person's tokens leaves the one kept, and other persons' tokens."""
        first = repository.add_token(new_token_record("1" * 64))
        second = repository.add_token(new_token_record("2" * 64))
        other = repository.add_token(new_token_record("3" * 64, person_id="p-2"))
        assert repository.revoke_person("p-1", T0, "reset-done", keep=second.token_id) == [
            first.token_id
        ]
        live = {t.token_id for t in repository.tokens_for("p-1") if t.revoked_at is None}
        assert live == {second.token_id}
        assert [t.revoked_at for t in repository.tokens_for("p-2")] == [None]
        assert other.person_id == "p-2"

    def test_peek_time_is_the_first_one(self, repository: ResetRepository) -> None:
        """Only the first peek is remembered."""
        token = repository.add_token(new_token_record())
        repository.mark_peeked(token.token_id, T0 + timedelta(minutes=1))
        repository.mark_peeked(token.token_id, T0 + timedelta(minutes=2))
        peeked = repository.get_token(token.token_id)
        assert peeked is not None
        assert peeked.peeked_at == T0 + timedelta(minutes=1)

    # -- audit and purge -----------------------------------------------------------------

    def test_audit_lines_come_back_in_order(self, repository: ResetRepository) -> None:
        """Audit lines keep their fields and order."""
        repository.add_audit(at=T0, kind="reset.requested", request_id=1, address_label="a")
        repository.add_audit(at=T0, kind="reset.suppressed", reason="no_account", request_id=1)
        lines = repository.audit_records()
        assert [(a.kind, a.reason, a.request_id) for a in lines] == [
            ("reset.requested", None, 1),
            ("reset.suppressed", "no_account", 1),
        ]
        assert lines[0].address_label == "a"

    def test_purge_removes_old_rows_only(self, repository: ResetRepository) -> None:
        """Rows older than the cut-off go; newer ones stay."""
        repository.add_request(at=T0, address_label="a", ip_label="i", address_sealed="s")
        repository.add_audit(at=T0, kind="reset.requested")
        old = repository.add_token(new_token_record("1" * 64))
        new = repository.add_token(new_token_record("2" * 64, issued_at=T0 + timedelta(days=2)))
        assert repository.purge(T0 + timedelta(days=1)) >= 3
        assert repository.get_token(old.token_id) is None
        assert repository.get_token(new.token_id) is not None
        assert repository.audit_records() == []

    def test_naive_instant_is_refused(self, repository: ResetRepository) -> None:
        """A naive datetime is refused."""
        with pytest.raises(ValueError, match="timezone-aware"):
            repository.add_audit(at=datetime(2026, 1, 1), kind="reset.requested")
