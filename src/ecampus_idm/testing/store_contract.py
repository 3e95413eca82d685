"""Contract tests of the state store: written once, run against every Store.

Subclass :class:`StoreContract` in a test module (with a name starting with ``Test``)
and provide the fixtures ``store`` (the implementation under test, using the ``clock``
fixture) and ``second_store`` (another instance on the *same* data, for the concurrency
tests; the in-memory store passes itself)::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, clock):
            return MyStore(clock=clock)

        @pytest.fixture
        def second_store(self, store):
            return store

SQL implementations subclass :class:`SqlStoreContract` instead, which adds migrations
and secrecy of the database password; it needs ``store_settings`` (the settings both
stores were opened with), ``fresh_settings`` (another, new and empty database) and
``unreachable_settings`` (settings that cannot be opened, whose password is
:data:`CANARY_PASSWORD`).

ecampus-idm runs these classes against the in-memory store, a SQLite file and a real
PostgreSQL server (``tests/contracts/test_store_contract.py``).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import StoreSettings
from ecampus_idm.connectors.base import ExportFacts, ExportLedger
from ecampus_idm.model import AccountStatus, Role, SourceKey
from ecampus_idm.store.base import (
    AccountRecord,
    IdentityLinks,
    JsonValue,
    NewEvent,
    RunStatus,
    Store,
)
from ecampus_idm.store.errors import (
    PersonHasUsernameError,
    RunFinishedError,
    RunInProgressError,
    RunNotFoundError,
    SchemaVersionError,
    SensitiveDataError,
    StoreError,
    UsernameNotFoundError,
    UsernameTakenError,
)

if TYPE_CHECKING:
    from ecampus_idm.store.sql import SqlStore

__all__ = ["CANARY_PASSWORD", "NATIONAL_NUMBER", "SqlStoreContract", "StoreContract"]

CANARY_PASSWORD = "Canary-Store-Pw-5813"  # noqa: S105 - a canary, searched for in outputs
"""A password that must never appear in a repr, an error, a traceback or a log."""

NATIONAL_NUMBER = "85073003328"
"""A syntactically valid Belgian national number (check digits verified), for canaries."""

START = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)
_THREADS = 8
_RACE_ROUNDS = 25
_LEASE = timedelta(hours=6)


def _account(person_id: str, status: AccountStatus = AccountStatus.ACTIVE) -> AccountRecord:
    return AccountRecord(person_id, status, created_at=START, status_since=START)


def _facts(source: str, at: datetime | None, digest: str = "a") -> ExportFacts:
    return ExportFacts(
        source=source,
        path=f"/srv/exports/{source}.csv",
        rows=12,
        columns=("matricule", "nom"),
        encoding="cp1252",
        fingerprint=digest * 64,
        accepted_at=at,
    )


def _race(calls: list[Callable[[], object]]) -> list[str]:
    """Run ``calls`` at once in threads; return 'won' or the exception class name for each."""
    barrier = threading.Barrier(len(calls))

    def attempt(call: Callable[[], object]) -> str:
        barrier.wait()
        try:
            call()
        except StoreError as exc:
            return type(exc).__name__
        return "won"

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return sorted(pool.map(attempt, calls))


class StoreContract:
    """The behaviour every :class:`~ecampus_idm.store.base.Store` must have."""

    @pytest.fixture
    def clock(self) -> FixedClock:
        """The clock the store under test reads."""
        return FixedClock(START)

    @pytest.fixture
    def store(self) -> Store:
        """The implementation under test, built with ``clock`` (override)."""
        raise NotImplementedError

    @pytest.fixture
    def second_store(self) -> Store:
        """Another instance on the same data (override)."""
        raise NotImplementedError

    # -- runs ----------------------------------------------------------------------------

    def test_start_run_is_running_now(self, store: Store, clock: FixedClock) -> None:
        """A started run is running, stamped with the clock, with no end."""
        run = store.start_run("run", plan_hash="abc")
        assert run.status is RunStatus.RUNNING
        assert run.started_at == clock.now()
        assert run.finished_at is None
        assert run.plan_hash == "abc"
        assert store.get_run(run.run_id) == run

    def test_run_ids_increase(self, store: Store) -> None:
        """Each new run gets a larger id."""
        first, second = store.start_run("plan"), store.start_run("plan")
        assert second.run_id > first.run_id

    def test_finish_run_records_outcome(self, store: Store, clock: FixedClock) -> None:
        """Finishing stores status, counts, message and the end time."""
        run = store.start_run("apply")
        clock.advance(timedelta(minutes=3))
        done = store.finish_run(
            run.run_id, RunStatus.PARTIAL, counts={"create": 2, "failed": 1}, message="1 échec"
        )
        assert done.status is RunStatus.PARTIAL
        assert done.finished_at == START + timedelta(minutes=3)
        assert dict(done.counts) == {"create": 2, "failed": 1}
        assert done.message == "1 échec"
        assert store.get_run(run.run_id) == done

    def test_finish_run_keeps_plan_hash_unless_given(self, store: Store) -> None:
        """The plan hash given at start survives a finish that does not name one."""
        kept = store.start_run("run", plan_hash="h1")
        replaced = store.start_run("run", plan_hash="h1")
        assert store.finish_run(kept.run_id, RunStatus.HELD).plan_hash == "h1"
        done = store.finish_run(replaced.run_id, RunStatus.SUCCEEDED, plan_hash="h2")
        assert done.plan_hash == "h2"

    def test_finish_run_twice_fails(self, store: Store) -> None:
        """A run finishes once; the second finish names the first status."""
        run = store.start_run("run")
        store.finish_run(run.run_id, RunStatus.SUCCEEDED)
        with pytest.raises(RunFinishedError) as caught:
            store.finish_run(run.run_id, RunStatus.FAILED)
        assert caught.value.status == "succeeded"
        assert store.get_run(run.run_id).status is RunStatus.SUCCEEDED

    def test_finish_unknown_run_fails(self, store: Store) -> None:
        """Finishing a run that does not exist raises RunNotFoundError."""
        with pytest.raises(RunNotFoundError):
            store.finish_run(9999, RunStatus.SUCCEEDED)

    def test_finish_run_as_running_is_refused(self, store: Store) -> None:
        """'running' is not a final status."""
        run = store.start_run("run")
        with pytest.raises(ValueError, match="final status"):
            store.finish_run(run.run_id, RunStatus.RUNNING)

    def test_get_unknown_run_fails(self, store: Store) -> None:
        """Getting an unknown run raises RunNotFoundError carrying the id."""
        with pytest.raises(RunNotFoundError) as caught:
            store.get_run(4242)
        assert caught.value.run_id == 4242

    def test_recent_runs_newest_first_with_limit_and_kind(
        self, store: Store, clock: FixedClock
    ) -> None:
        """Recent runs come newest first, limited, optionally of one kind."""
        ids = []
        for kind in ("run", "mail.send", "run", "run"):
            ids.append(store.start_run(kind).run_id)
            clock.advance(timedelta(hours=1))
        assert [r.run_id for r in store.recent_runs(2)] == [ids[3], ids[2]]
        assert [r.run_id for r in store.recent_runs(kind="mail.send")] == [ids[1]]

    # -- one run at a time ----------------------------------------------------------------

    def test_exclusive_start_is_refused_while_one_runs(
        self, store: Store, clock: FixedClock
    ) -> None:
        """A second exclusive run of a kind is refused, naming the first; nothing recorded."""
        first = store.start_run("run", exclusive=True, stale_after=_LEASE)
        clock.advance(timedelta(minutes=5))
        with pytest.raises(RunInProgressError) as caught:
            store.start_run("run", exclusive=True, stale_after=_LEASE)
        assert (caught.value.run_id, caught.value.started_at) == (first.run_id, START)
        assert caught.value.kind == "run"
        assert f"run {first.run_id}" in str(caught.value)
        assert "6 h" in str(caught.value)
        assert [r.run_id for r in store.recent_runs(5)] == [first.run_id]
        assert store.start_run("plan", exclusive=True).status is RunStatus.RUNNING  # other kind

    def test_exclusive_start_goes_once_the_run_finished(self, store: Store) -> None:
        """Finishing a run releases its lock: the next exclusive start goes."""
        first = store.start_run("run", exclusive=True)
        store.finish_run(first.run_id, RunStatus.FAILED, message="boom")
        second = store.start_run("run", exclusive=True)
        assert second.run_id > first.run_id

    def test_exclusive_start_waits_for_a_plain_run_of_its_kind(self, store: Store) -> None:
        """A run of the kind started without the lock (older code) also blocks."""
        plain = store.start_run("run")
        with pytest.raises(RunInProgressError) as caught:
            store.start_run("run", exclusive=True)
        assert caught.value.run_id == plain.run_id

    def test_stale_run_is_finished_as_failed(self, store: Store, clock: FixedClock) -> None:
        """A run still running past the horizon is taken for crashed, then the start goes."""
        crashed = store.start_run("run", exclusive=True, stale_after=_LEASE)
        clock.advance(_LEASE - timedelta(seconds=1))
        with pytest.raises(RunInProgressError):
            store.start_run("run", exclusive=True, stale_after=_LEASE)
        clock.advance(timedelta(seconds=1))
        fresh = store.start_run("run", exclusive=True, stale_after=_LEASE)
        old = store.get_run(crashed.run_id)
        assert old.status is RunStatus.FAILED
        assert old.finished_at == clock.now()
        assert old.message == "taken for crashed: still running 6 h after it started"
        with pytest.raises(RunFinishedError):
            store.finish_run(crashed.run_id, RunStatus.SUCCEEDED)  # it was taken for crashed
        assert store.get_run(fresh.run_id).status is RunStatus.RUNNING

    def test_refused_start_inside_a_transaction_leaves_it_usable(self, store: Store) -> None:
        """A refused exclusive start rolls back alone; the transaction goes on."""
        first = store.start_run("run", exclusive=True)
        with store.transaction():
            with pytest.raises(RunInProgressError):
                store.start_run("run", exclusive=True)
            store.put_accounts([_account("p1")])
        assert store.get_account("p1") is not None
        assert [r.run_id for r in store.recent_runs(5)] == [first.run_id]

    def test_rolled_back_start_holds_no_lock(self, store: Store) -> None:
        """An exclusive start in a transaction that fails is undone with its lock."""

        def fail_inside() -> None:
            with store.transaction():
                store.start_run("run", exclusive=True)
                raise RuntimeError

        with pytest.raises(RuntimeError):
            fail_inside()
        assert store.recent_runs(5) == []
        assert store.start_run("run", exclusive=True).status is RunStatus.RUNNING

    def test_lock_is_shared_across_kinds(self, store: Store) -> None:
        """A `mail send` and a run that flushes hold one lock: whoever has it wins."""
        nightly = store.start_run("run", exclusive=True)
        assert store.claim_lock(nightly.run_id, "mail.flush", stale_after=_LEASE) is None
        assert store.claim_lock(nightly.run_id, "mail.flush") is None  # already held
        with pytest.raises(RunInProgressError) as caught:
            store.start_run("mail.send", exclusive=True, lock="mail.flush")
        assert (caught.value.run_id, caught.value.lock) == (nightly.run_id, "mail.flush")
        store.finish_run(nightly.run_id, RunStatus.SUCCEEDED)
        sending = store.start_run("mail.send", exclusive=True, lock="mail.flush")
        other = store.start_run("run", exclusive=True)
        holder = store.claim_lock(other.run_id, "mail.flush")
        assert holder is not None
        assert holder.run_id == sending.run_id

    def test_expired_lock_is_taken_over(self, store: Store, clock: FixedClock) -> None:
        """A lock past its lease is taken over; its holder is not finished by that."""
        holder = store.start_run("mail.send", exclusive=True, lock="mail.flush")
        nightly = store.start_run("run", exclusive=True)
        assert store.claim_lock(nightly.run_id, "flush2", stale_after=timedelta(hours=1)) is None
        clock.advance(timedelta(hours=1))
        later = store.start_run("run2", exclusive=True)
        assert store.claim_lock(later.run_id, "flush2") is None
        assert store.claim_lock(later.run_id, "mail.flush") is not None  # no lease: held
        assert store.get_run(nightly.run_id).status is RunStatus.RUNNING
        assert store.get_run(holder.run_id).status is RunStatus.RUNNING

    def test_claim_lock_needs_a_running_run(self, store: Store) -> None:
        """Only a running run can hold a lock."""
        with pytest.raises(RunNotFoundError):
            store.claim_lock(4242, "mail.flush")
        run = store.start_run("run")
        store.finish_run(run.run_id, RunStatus.SUCCEEDED)
        with pytest.raises(RunFinishedError):
            store.claim_lock(run.run_id, "mail.flush")

    def test_lock_arguments_are_checked(self, store: Store) -> None:
        """A lock without exclusivity, a bad name or a non-positive lease are refused."""
        with pytest.raises(ValueError, match="exclusive"):
            store.start_run("mail.send", lock="mail.flush")
        with pytest.raises(ValueError, match="stale_after"):
            store.start_run("run", exclusive=True, stale_after=timedelta(0))
        with pytest.raises(ValueError, match="lock name"):
            store.start_run("run", exclusive=True, lock="Not A Name")
        assert store.recent_runs(5) == []

    def test_concurrent_exclusive_starts_have_one_winner(
        self, store: Store, second_store: Store
    ) -> None:
        """Eight starts on two instances at the same instant, many times: one wins each."""
        stores = [store, second_store] * (_THREADS // 2)
        for _ in range(_RACE_ROUNDS):
            calls: list[Callable[[], object]] = [
                partial(s.start_run, "run", exclusive=True) for s in stores
            ]
            assert _race(calls) == ["RunInProgressError"] * (_THREADS - 1) + ["won"]
            everyone = store.recent_runs(_THREADS * _RACE_ROUNDS)  # clocks differ: read all
            [winner] = [r for r in everyone if not r.finished]
            store.finish_run(winner.run_id, RunStatus.SUCCEEDED)
        assert len(store.recent_runs(_THREADS * _RACE_ROUNDS)) == _RACE_ROUNDS

    def test_concurrent_lock_claims_have_one_winner(
        self, store: Store, second_store: Store
    ) -> None:
        """Runs of several kinds claiming one lock at once: exactly one holds it."""
        stores = [store, second_store] * (_THREADS // 2)
        runs = [s.start_run(f"kind{n}") for n, s in enumerate(stores)]
        held: list[int] = []

        def claim(s: Store, run_id: int) -> None:
            if s.claim_lock(run_id, "mail.flush") is not None:
                raise RunInProgressError(run_id, START)
            held.append(run_id)

        calls: list[Callable[[], object]] = [
            partial(claim, s, r.run_id) for s, r in zip(stores, runs, strict=True)
        ]
        assert _race(calls) == ["RunInProgressError"] * (_THREADS - 1) + ["won"]
        assert len(held) == 1

    # -- events --------------------------------------------------------------------------

    def test_event_round_trips_with_aware_utc_time(self, store: Store) -> None:
        """An event's time comes back aware, in UTC, at the same instant."""
        local = datetime(2026, 8, 31, 23, 30, tzinfo=ZoneInfo("Europe/Brussels"))
        store.record_event("p1", "decision.pending", reason_fr="fr", reason_en="en", at=local)
        [event] = store.events_for_person("p1")
        assert event.at == local
        assert event.at.tzinfo is not None
        assert event.at.utcoffset() == timedelta(0)

    def test_event_time_defaults_to_clock(self, store: Store, clock: FixedClock) -> None:
        """Without an explicit time, an event happens at the store clock's now."""
        event = store.record_event("p1", "account.created", reason_fr="créé", reason_en="made")
        assert event.at == clock.now()
        assert store.events_for_person("p1") == [event]

    def test_event_data_round_trips(self, store: Store) -> None:
        """Nested JSON data, accents and all, comes back equal."""
        data: dict[str, JsonValue] = {
            "school": "HEC-TOURNAI",
            "dates": ["2026-09-01"],
            "nested": {"ok": True, "n": 3, "ratio": 0.5, "none": None},
            "nom": "Hélène d’Œuvre",
        }
        store.record_event("p1", "mail.queued", reason_fr="fr", reason_en="en", data=data)
        [event] = store.events_for_person("p1")
        assert event.data == data

    def test_events_for_person_oldest_first(self, store: Store) -> None:
        """A person's timeline is ordered by time, not by insertion."""
        later = START + timedelta(days=1)
        store.record_event("p1", "b.later", reason_fr="x", reason_en="x", at=later)
        store.record_event("p1", "a.earlier", reason_fr="x", reason_en="x", at=START)
        store.record_event("p2", "other", reason_fr="x", reason_en="x", at=START)
        assert [e.kind for e in store.events_for_person("p1")] == ["a.earlier", "b.later"]

    def test_events_for_run(self, store: Store) -> None:
        """Events recorded by a run are found by its id, and only those."""
        run = store.start_run("run")
        store.record_event("p1", "account.created", reason_fr="x", reason_en="x", run_id=run.run_id)
        store.record_event("p2", "account.created", reason_fr="x", reason_en="x")
        assert [e.person_id for e in store.events_for_run(run.run_id)] == ["p1"]

    def test_record_events_is_atomic(self, store: Store) -> None:
        """A batch naming an unknown run records nothing."""
        good = NewEvent("p1", "account.created", "x", "x")
        bad = NewEvent("p2", "account.created", "x", "x", run_id=777)
        with pytest.raises(RunNotFoundError):
            store.record_events([good, bad])
        assert store.events_for_person("p1") == []

    def test_record_events_keeps_order_and_ids(self, store: Store) -> None:
        """A batch returns its events in order, with increasing ids."""
        batch = [NewEvent(f"p{n}", "account.created", "x", "x") for n in range(5)]
        recorded = store.record_events(batch)
        assert [e.person_id for e in recorded] == [f"p{n}" for n in range(5)]
        assert [e.event_id for e in recorded] == sorted(e.event_id for e in recorded)

    def test_naive_event_time_is_refused(self, store: Store) -> None:
        """A naive datetime is refused before anything is stored."""
        with pytest.raises(ValueError, match="timezone-aware"):
            store.record_event("p1", "x", reason_fr="x", reason_en="x", at=datetime(2026, 1, 1))

    def test_purge_events_removes_only_older(self, store: Store) -> None:
        """Retention purges events before the limit and says how many."""
        for days in (0, 10, 20):
            at = START + timedelta(days=days)
            store.record_event("p1", "x", reason_fr="x", reason_en="x", at=at)
        assert store.purge_events(START + timedelta(days=10)) == 1
        assert [e.at for e in store.events_for_person("p1")] == [
            START + timedelta(days=10),
            START + timedelta(days=20),
        ]

    # -- nothing secret is stored (canaries) ---------------------------------------------

    @pytest.mark.parametrize(
        "data",
        [
            {"password": CANARY_PASSWORD},
            {"initial_password": SecretStr(CANARY_PASSWORD)},
            {"mail": {"resetToken": CANARY_PASSWORD}},
            {"people": [{"niss": "x"}]},
            {
                "note": f"NN {NATIONAL_NUMBER[:2]}.{NATIONAL_NUMBER[2:4]}.{NATIONAL_NUMBER[4:6]}-"
                f"{NATIONAL_NUMBER[6:9]}.{NATIONAL_NUMBER[9:]}"
            },
        ],
        ids=["password", "secretstr", "nested-token", "niss-key", "formatted-niss"],
    )
    def test_secret_in_event_data_is_refused(self, store: Store, data: dict[str, Any]) -> None:
        """Event data holding a secret or national number is refused; nothing is stored."""
        with pytest.raises(SensitiveDataError) as caught:
            store.record_event("p1", "x", reason_fr="x", reason_en="x", data=data)
        assert CANARY_PASSWORD not in str(caught.value)
        assert NATIONAL_NUMBER not in str(caught.value)
        assert store.events_for_person("p1") == []

    def test_national_number_in_reason_is_refused(self, store: Store) -> None:
        """A reason text quoting a national number is refused."""
        with pytest.raises(SensitiveDataError) as caught:
            store.record_event("p1", "x", reason_fr=f"NISS {NATIONAL_NUMBER}", reason_en="x")
        assert caught.value.field == "reason_fr"
        assert store.events_for_person("p1") == []

    def test_national_number_as_person_id_is_refused(self, store: Store) -> None:
        """A national number is never a person id."""
        with pytest.raises(SensitiveDataError):
            store.record_event(NATIONAL_NUMBER, "x", reason_fr="x", reason_en="x")

    def test_flags_under_secret_names_are_allowed(self, store: Store) -> None:
        """A flag or a count under a secret's name is a fact, not a secret."""
        data = {"password_changed": True, "tokens_revoked": 2}
        event = store.record_event("p1", "reset.completed", reason_fr="x", reason_en="x", data=data)
        assert event.data == data

    # -- username registry ---------------------------------------------------------------

    def test_reserve_then_look_up_both_ways(self, store: Store, clock: FixedClock) -> None:
        """A reserved username is found by name and by person, and is taken."""
        record = store.reserve_username("jean.dupont", "p1")
        assert record.reserved_at == clock.now()
        assert not record.tombstoned
        assert store.username_record("jean.dupont") == record
        assert store.username_of("p1") == record
        assert store.is_taken("jean.dupont")
        assert not store.is_taken("jean.dupont2")

    def test_reserve_is_idempotent_for_the_same_person(self, store: Store) -> None:
        """Reserving one's own live username again changes nothing."""
        first = store.reserve_username("jean.dupont", "p1")
        assert store.reserve_username("jean.dupont", "p1") == first

    def test_reserve_taken_username_fails(self, store: Store) -> None:
        """Another person's live username is refused, not tombstoned."""
        store.reserve_username("jean.dupont", "p1")
        with pytest.raises(UsernameTakenError) as caught:
            store.reserve_username("jean.dupont", "p2")
        assert not caught.value.tombstoned
        assert store.username_of("p2") is None

    def test_release_makes_a_tombstone(self, store: Store, clock: FixedClock) -> None:
        """A released username stays taken, but the person no longer holds it."""
        store.reserve_username("jean.dupont", "p1")
        clock.advance(timedelta(days=1))
        record = store.release_username("jean.dupont")
        assert record.tombstoned
        assert record.released_at == clock.now()
        assert store.is_taken("jean.dupont")
        assert store.username_of("p1") is None

    def test_tombstone_is_never_reissued(self, store: Store) -> None:
        """A released username is refused to anyone else, forever."""
        store.reserve_username("jean.dupont", "p1")
        store.release_username("jean.dupont")
        with pytest.raises(UsernameTakenError) as caught:
            store.reserve_username("jean.dupont", "p2")
        assert caught.value.tombstoned

    def test_own_tombstone_is_revived(self, store: Store, clock: FixedClock) -> None:
        """A returning person gets their own released username back."""
        store.reserve_username("jean.dupont", "p1")
        store.release_username("jean.dupont")
        clock.advance(timedelta(days=400))
        record = store.reserve_username("jean.dupont", "p1")
        assert not record.tombstoned
        assert record.reserved_at == clock.now()
        assert store.username_of("p1") == record

    def test_person_holds_one_live_username(self, store: Store) -> None:
        """A second live username for the same person is refused, naming the first."""
        store.reserve_username("jean.dupont", "p1")
        with pytest.raises(PersonHasUsernameError) as caught:
            store.reserve_username("jean.dupont2", "p1")
        assert caught.value.username == "jean.dupont"
        assert not store.is_taken("jean.dupont2")

    def test_rename_in_one_transaction(self, store: Store) -> None:
        """Release then reserve inside a transaction gives the person a new username."""
        store.reserve_username("jean.dupont", "p1")
        with store.transaction():
            store.release_username("jean.dupont")
            store.reserve_username("jean.dupont-martin", "p1")
        current = store.username_of("p1")
        assert current is not None
        assert current.username == "jean.dupont-martin"
        assert store.is_taken("jean.dupont")

    def test_release_unknown_username_fails(self, store: Store) -> None:
        """Releasing a username never reserved raises UsernameNotFoundError."""
        with pytest.raises(UsernameNotFoundError):
            store.release_username("nobody")

    def test_release_is_idempotent(self, store: Store, clock: FixedClock) -> None:
        """Releasing twice keeps the first release time."""
        store.reserve_username("jean.dupont", "p1")
        first = store.release_username("jean.dupont")
        clock.advance(timedelta(days=1))
        assert store.release_username("jean.dupont") == first

    @pytest.mark.parametrize(
        "username", ["", "Jean.Dupont", "jean dupont", ".jean", "x" * 65], ids=repr
    )
    def test_invalid_username_is_refused(self, store: Store, username: str) -> None:
        """Usernames are 1-64 lower-case letters, digits, dots and hyphens."""
        with pytest.raises(ValueError, match="invalid username"):
            store.reserve_username(username, "p1")

    def test_bulk_reservation_is_all_or_nothing(self, store: Store) -> None:
        """One taken username in a batch leaves every other one free."""
        store.reserve_username("taken", "p0")
        pairs = [("a.one", "p1"), ("taken", "p2"), ("c.three", "p3")]
        with pytest.raises(UsernameTakenError):
            store.reserve_usernames(pairs)
        assert not store.is_taken("a.one")
        assert not store.is_taken("c.three")

    def test_bulk_reservation_gives_one_person_one_name(self, store: Store) -> None:
        """A batch giving one person two usernames is refused whole."""
        with pytest.raises(PersonHasUsernameError):
            store.reserve_usernames([("first", "p1"), ("second", "p1")])
        assert store.username_records() == []

    def test_empty_batches_do_nothing(self, store: Store) -> None:
        """Empty batches of reservations, events and accounts are no-ops."""
        assert store.reserve_usernames([]) == []
        assert store.record_events([]) == []
        store.put_accounts([])
        assert store.accounts() == {}

    def test_bulk_reservation_returns_records_in_order(self, store: Store) -> None:
        """A bulk reservation returns one record per pair, in the given order."""
        pairs = [(f"user{n:04d}", f"p{n}") for n in range(1200, 0, -1)]
        records = store.reserve_usernames(pairs)
        assert [(r.username, r.person_id) for r in records] == pairs
        assert len(store.username_records()) == 1200

    def test_username_records_lists_live_and_tombstones(self, store: Store) -> None:
        """The bulk read holds every username, sorted, tombstones included."""
        store.reserve_usernames([("b.user", "p2"), ("a.user", "p1")])
        store.release_username("b.user")
        records = store.username_records()
        assert [(r.username, r.tombstoned) for r in records] == [
            ("a.user", False),
            ("b.user", True),
        ]

    def test_concurrent_reservations_of_one_username_have_one_winner(
        self, store: Store, second_store: Store
    ) -> None:
        """Eight writers on two instances race for one username: exactly one wins."""
        stores = [store, second_store] * (_THREADS // 2)
        calls: list[Callable[[], object]] = [
            partial(s.reserve_username, "popular", f"p{n}") for n, s in enumerate(stores)
        ]
        outcomes = _race(calls)
        assert outcomes == ["UsernameTakenError"] * (_THREADS - 1) + ["won"]
        record = store.username_record("popular")
        assert record is not None
        assert second_store.username_record("popular") == record

    def test_concurrent_reservations_for_one_person_have_one_winner(
        self, store: Store, second_store: Store
    ) -> None:
        """Racing to give one person several usernames leaves exactly one live."""
        stores = [store, second_store] * (_THREADS // 2)
        calls: list[Callable[[], object]] = [
            partial(s.reserve_username, f"name{n}", "p1") for n, s in enumerate(stores)
        ]
        outcomes = _race(calls)
        assert outcomes == ["PersonHasUsernameError"] * (_THREADS - 1) + ["won"]
        assert len(store.username_records()) == 1

    def test_concurrent_distinct_reservations_all_succeed(
        self, store: Store, second_store: Store
    ) -> None:
        """Writers that do not conflict all succeed: they wait, they do not fail."""
        stores = [store, second_store] * (_THREADS // 2)
        calls: list[Callable[[], object]] = [
            partial(s.reserve_username, f"name{n}", f"p{n}") for n, s in enumerate(stores)
        ]
        assert _race(calls) == ["won"] * _THREADS
        assert len(store.username_records()) == _THREADS

    # -- account memory ------------------------------------------------------------------

    def test_transaction_after_a_finished_run(self, store: Store) -> None:
        """A transaction works after runs finished with counts, and rolls back as one."""
        run = store.start_run("run")
        store.finish_run(run.run_id, RunStatus.SUCCEEDED, counts={"create": 3})

        def fail_inside() -> None:
            with store.transaction():
                store.put_accounts([_account("p1")])
                raise RuntimeError

        with pytest.raises(RuntimeError):
            fail_inside()
        assert store.get_account("p1") is None
        assert store.get_run(run.run_id).counts == {"create": 3}

    def test_account_round_trips(self, store: Store) -> None:
        """A stored account record reads back equal, times aware in UTC."""
        record = AccountRecord(
            "p1",
            AccountStatus.GRACE,
            created_at=START,
            status_since=START + timedelta(days=30),
            last_seen_in_sources=START + timedelta(days=29),
            roles=frozenset({Role.STUDENT, Role.TEACHER}),
        )
        store.put_accounts([record])
        assert store.get_account("p1") == record

    def test_put_accounts_replaces(self, store: Store) -> None:
        """Putting a record again replaces the previous one."""
        store.put_accounts([_account("p1")])
        disabled = AccountRecord(
            "p1", AccountStatus.DISABLED, created_at=START, status_since=START + timedelta(days=60)
        )
        store.put_accounts([disabled])
        assert store.get_account("p1") == disabled

    def test_accounts_bulk_read(self, store: Store) -> None:
        """The bulk read returns every record by person id."""
        store.put_accounts([_account(f"p{n}") for n in range(700)])
        everything = store.accounts()
        assert len(everything) == 700
        assert everything["p42"] == _account("p42")

    def test_unknown_account_is_none(self, store: Store) -> None:
        """A person without a record gives None."""
        assert store.get_account("nobody") is None

    # -- identity links ------------------------------------------------------------------

    def test_no_identity_links_yet(self, store: Store) -> None:
        """A new store knows nobody."""
        assert len(store.identity_links()) == 0

    def test_identity_links_round_trip(self, store: Store) -> None:
        """Remembered links answer the correlator's two questions."""
        key = SourceKey(source="secretariat-hec", matricule="000123")
        links = {IdentityLinks.key_link(key): "p-1", IdentityLinks.pseudonym_link("ab12"): "p-1"}
        assert store.remember_identities(links) == 2
        known = store.identity_links()
        assert known.person_for_key(key) == "p-1"
        assert known.person_for_pseudonym("ab12") == "p-1"
        assert known.person_for_pseudonym("cd34") is None

    def test_identity_link_is_repointed(self, store: Store) -> None:
        """Remembering a link again with another person moves it (the latest merge wins)."""
        store.remember_identities({"key:hec:1": "p-1"})
        store.remember_identities({"key:hec:1": "p-2", "key:hec:2": "p-2"})
        assert store.identity_links().as_dict() == {"key:hec:1": "p-2", "key:hec:2": "p-2"}

    @pytest.mark.parametrize(
        ("link", "person_id"),
        [("12345678901", "p-1"), ("key:", "p-1"), ("niss:a b", "p-1"), ("key:hec:1", "")],
        ids=["bare-number", "empty", "space", "no-person"],
    )
    def test_malformed_link_is_refused(self, store: Store, link: str, person_id: str) -> None:
        """A link must be typed (niss:/key:) and name a person: nothing is stored otherwise."""
        with pytest.raises(ValueError, match=r"link|person"):
            store.remember_identities({"key:hec:9": "p-9", link: person_id})
        assert len(store.identity_links()) == 0

    def test_identity_links_bulk(self, store: Store) -> None:
        """More links than one statement's parameters are stored and read back."""
        links = {f"key:hec:{n:06d}": f"p-{n}" for n in range(1700)}
        assert store.remember_identities(links) == 1700
        assert store.identity_links().as_dict() == links

    # -- export ledger -------------------------------------------------------------------

    def test_store_is_an_export_ledger(self, store: Store) -> None:
        """The store satisfies the connectors' ExportLedger protocol."""
        ledger: ExportLedger = store
        assert isinstance(ledger, ExportLedger)

    def test_no_export_accepted_yet(self, store: Store) -> None:
        """A source never seen has no last accepted export."""
        assert store.last_accepted("secretariat-hec") is None

    def test_export_facts_round_trip(self, store: Store) -> None:
        """Recorded export facts come back equal."""
        facts = _facts("secretariat-hec", START - timedelta(hours=2))
        store.record_accepted(facts)
        assert store.last_accepted("secretariat-hec") == facts

    def test_export_without_time_is_stamped(self, store: Store, clock: FixedClock) -> None:
        """Facts recorded without an acceptance time get the store clock's now."""
        store.record_accepted(_facts("hec", None))
        latest = store.last_accepted("hec")
        assert latest is not None
        assert latest.accepted_at == clock.now()

    def test_last_recorded_export_wins_per_source(self, store: Store) -> None:
        """The last accepted export of a source is the one recorded last, per source."""
        store.record_accepted(_facts("hec", START, "a"))
        store.record_accepted(_facts("hec", START + timedelta(days=1), "b"))
        store.record_accepted(_facts("personnel", START + timedelta(days=5), "c"))
        latest = store.last_accepted("hec")
        assert latest is not None
        assert latest.fingerprint == "b" * 64

    # -- transactions --------------------------------------------------------------------

    def test_transaction_commits_together(self, store: Store, second_store: Store) -> None:
        """Writes grouped in a transaction are all visible afterwards, to everyone."""
        with store.transaction():
            store.reserve_username("jean.dupont", "p1")
            store.put_accounts([_account("p1")])
            store.record_event("p1", "account.created", reason_fr="x", reason_en="x")
        assert second_store.username_of("p1") is not None
        assert second_store.get_account("p1") == _account("p1")
        assert len(second_store.events_for_person("p1")) == 1

    def test_transaction_rolls_back_on_error(self, store: Store) -> None:
        """An exception inside a transaction undoes all of its writes."""

        def create_then_fail() -> None:
            with store.transaction():
                store.reserve_username("jean.dupont", "p1")
                store.put_accounts([_account("p1")])
                store.record_event("p1", "account.created", reason_fr="x", reason_en="x")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            create_then_fail()
        assert not store.is_taken("jean.dupont")
        assert store.get_account("p1") is None
        assert store.events_for_person("p1") == []

    def test_transaction_survives_a_taken_username(self, store: Store) -> None:
        """Inside a transaction, a taken username can be caught and the next one tried."""
        store.reserve_username("jean.dupont", "p0")
        with store.transaction():
            with pytest.raises(UsernameTakenError):
                store.reserve_username("jean.dupont", "p1")
            store.reserve_username("jean.dupont2", "p1")
            store.record_event("p1", "account.created", reason_fr="x", reason_en="x")
        record = store.username_of("p1")
        assert record is not None
        assert record.username == "jean.dupont2"

    def test_transaction_reads_its_own_writes(self, store: Store) -> None:
        """Reads inside a transaction see the transaction's writes."""
        with store.transaction():
            store.reserve_username("jean.dupont", "p1")
            assert store.is_taken("jean.dupont")
            assert store.username_of("p1") is not None

    def test_nested_transaction_rolls_back_alone(self, store: Store) -> None:
        """A failing inner block undoes its own writes, not the outer block's."""

        def inner_fails() -> None:
            with store.transaction():
                store.reserve_username("inner", "p2")
                raise RuntimeError("boom")

        with store.transaction():
            store.reserve_username("outer", "p1")
            with pytest.raises(RuntimeError, match="boom"):
                inner_fails()
        assert store.is_taken("outer")
        assert not store.is_taken("inner")


class SqlStoreContract(StoreContract):
    """The Store contract plus what a database adds: migrations and a secret password."""

    @pytest.fixture
    def store_settings(self) -> StoreSettings:
        """The settings ``store`` and ``second_store`` were opened with (override)."""
        raise NotImplementedError

    @pytest.fixture
    def unreachable_settings(self) -> StoreSettings:
        """Settings that cannot be opened, with :data:`CANARY_PASSWORD` (override)."""
        raise NotImplementedError

    @pytest.fixture
    def fresh_settings(self) -> StoreSettings:
        """Settings of another, new and empty database (override)."""
        raise NotImplementedError

    def _open(self, settings: StoreSettings, **options: Any) -> SqlStore:
        from ecampus_idm.store.sql import open_store  # noqa: PLC0415 - SQLAlchemy stays lazy

        return open_store(settings, **options)

    def test_opening_twice_keeps_version_and_data(
        self, store: SqlStore, store_settings: StoreSettings
    ) -> None:
        """Migrations are idempotent: reopening changes neither version nor data."""
        from ecampus_idm.store.migrations import LATEST_VERSION  # noqa: PLC0415

        store.reserve_username("jean.dupont", "p1")
        again = self._open(store_settings)
        try:
            assert again.schema_version() == LATEST_VERSION
            assert again.is_taken("jean.dupont")
        finally:
            again.close()

    def test_newer_schema_is_refused(self, store: SqlStore, store_settings: StoreSettings) -> None:
        """A database migrated by newer code is refused, naming both versions."""
        from ecampus_idm.store.migrations import LATEST_VERSION  # noqa: PLC0415
        from ecampus_idm.store.schema import schema_version  # noqa: PLC0415

        with store.connection() as connection:
            connection.execute(
                schema_version.insert().values(
                    version=LATEST_VERSION + 1, description="future", applied_at=START
                )
            )
        with pytest.raises(SchemaVersionError) as caught:
            self._open(store_settings)
        assert caught.value.found == LATEST_VERSION + 1
        assert caught.value.supported == LATEST_VERSION

    def test_old_schema_is_refused_without_migrations(self, fresh_settings: StoreSettings) -> None:
        """With migrations not allowed, an unmigrated database is refused."""
        from ecampus_idm.store.migrations import LATEST_VERSION  # noqa: PLC0415

        with pytest.raises(SchemaVersionError) as caught:
            self._open(fresh_settings, migrate=False)
        assert (caught.value.found, caught.value.supported) == (0, LATEST_VERSION)

    def test_concurrent_first_opens_migrate_once(self, fresh_settings: StoreSettings) -> None:
        """Several processes opening the same new database at once all succeed."""
        from ecampus_idm.store.migrations import LATEST_VERSION  # noqa: PLC0415

        opened: list[SqlStore] = []
        lock = threading.Lock()

        def open_one() -> None:
            instance = self._open(fresh_settings)
            with lock:
                opened.append(instance)

        try:
            assert _race([open_one] * 4) == ["won"] * 4
            assert {s.schema_version() for s in opened} == {LATEST_VERSION}
        finally:
            for instance in opened:
                instance.close()

    def test_migrated_schema_matches_the_code(self, store: SqlStore) -> None:
        """A migrated database has exactly the tables, columns and indexes the code uses."""
        import sqlalchemy as sa  # noqa: PLC0415 - SQLAlchemy stays lazy

        from ecampus_idm.store.migrations import LIVE_METADATA  # noqa: PLC0415

        live = [table for metadata in LIVE_METADATA for table in metadata.sorted_tables]
        with store.connection() as connection:
            inspector = sa.inspect(connection)
            assert set(inspector.get_table_names()) == {t.name for t in live}
            for table in live:
                columns = {column["name"] for column in inspector.get_columns(table.name)}
                assert columns == set(table.c.keys()), table.name
                indexes = {
                    index["name"]
                    for index in inspector.get_indexes(table.name)
                    # PostgreSQL also lists the index behind each unique constraint.
                    if "duplicates_constraint" not in index
                }
                assert indexes == {index.name for index in table.indexes}, table.name
                uniques = {u["name"] for u in inspector.get_unique_constraints(table.name)}
                declared = {c.name for c in table.constraints if isinstance(c, sa.UniqueConstraint)}
                assert uniques == declared, table.name

    def test_password_not_in_repr(self, store: SqlStore) -> None:
        """The store's repr, str and URL never show the password."""
        for text in (repr(store), str(store), store.url):
            assert CANARY_PASSWORD not in text
            assert ":***" not in text

    def test_password_not_in_errors_tracebacks_or_logs(
        self, unreachable_settings: StoreSettings, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failed open names the URL but never shows the password, even in the chain."""
        from ecampus_idm.store.errors import StoreUnavailableError  # noqa: PLC0415

        assert unreachable_settings.password is not None
        assert unreachable_settings.password.get_secret_value() == CANARY_PASSWORD
        with caplog.at_level(logging.DEBUG), pytest.raises(StoreUnavailableError) as caught:
            self._open(unreachable_settings)
        shown = "".join(traceback.format_exception(caught.value))
        assert CANARY_PASSWORD not in shown
        assert CANARY_PASSWORD not in repr(caught.value)
        assert CANARY_PASSWORD not in caplog.text
        assert caught.value.url is not None
        assert caught.value.url in str(caught.value)
