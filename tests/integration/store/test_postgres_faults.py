"""PostgreSQL restarted in the middle of a real nightly run (slapd, PostgreSQL store).

Three moments: during the apply (the server is back before the run records anything),
inside the store transaction that records the accounts (a crash: ``immediate`` mode),
and down from the apply until after the run ended. Each time the run either completes
or ends with a clear, typed error that names the store and never its password; nothing is
half-recorded (no account without its custody deposit and its outbox message); the run
row never stays "running"; and a re-run converges.

The server is this module's own (not the session's ``postgres_server``): restarting a
shared server would disturb the other tests.
"""

from __future__ import annotations

import importlib.util
import secrets
import tomllib
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import Settings, StoreSettings
from ecampus_idm.connectors import open_connectors, write_sample
from ecampus_idm.crypto import generate_key
from ecampus_idm.custody import open_custody
from ecampus_idm.directory.base import Directory
from ecampus_idm.directory.filters import eq
from ecampus_idm.errors import IdmError
from ecampus_idm.mail.schema import mail_outbox, password_custody
from ecampus_idm.mail.wiring import keyring_from_settings
from ecampus_idm.runner import NightlyRun, RunReport
from ecampus_idm.store.base import RunStatus
from ecampus_idm.store.errors import StoreError, StoreUnavailableError
from ecampus_idm.store.sql import SqlStore, open_store
from ecampus_idm.testing.plugin import REQUIRE_POSTGRES_VARIABLE, _unavailable
from ecampus_idm.testing.postgres import PostgresServer, find_postgres, start_postgres
from ecampus_idm.testing.slapd import SlapdServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.ldap]

BASE = "dc=ecampus,dc=test"
PEOPLE = 80


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own, restarted by its tests."""
    layout = find_postgres()
    if layout is None:
        _unavailable("PostgreSQL is not installed", REQUIRE_POSTGRES_VARIABLE)
    if importlib.util.find_spec("psycopg") is None:
        _unavailable("the psycopg driver is not installed", REQUIRE_POSTGRES_VARIABLE)
    server = start_postgres(layout=layout, durable=True)  # a crash keeps what was committed
    try:
        yield server
    finally:
        server.stop()


@dataclass
class World:
    """A sample school group on slapd with a PostgreSQL store."""

    folder: Path
    settings: Settings
    clock: FixedClock
    store: SqlStore
    directory: Directory
    pg: PostgresServer

    def run(
        self,
        progress: Callable[[str, int, int | None], None] | None = None,
        approve: str | None = None,
    ) -> RunReport:
        assert self.settings.sources is not None
        with open_connectors(self.settings.sources) as connectors:
            return NightlyRun(
                self.settings,
                clock=self.clock,
                store=self.store,
                directory=self.directory,
                connectors=connectors,
                progress=progress,
            ).run(approve=approve)

    def rerun(self) -> RunReport:
        """The operator's re-run: a plan held by its budgets is reviewed and approved."""
        report = self.run()
        if report.status is RunStatus.HELD:
            assert report.plan is not None
            report = self.run(approve=report.plan.hash)
        assert report.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), report.to_dict()
        return report

    def entries(self) -> dict[str, str]:
        """uid → DN of every person entry in the directory."""
        found = self.directory.search(f"ou=people,{BASE}", eq("objectClass", "ecampusPerson"))
        return {e.first("uid") or "": e.dn for e in found}

    def count(self, table: sa.Table) -> int:
        with self.store.connection() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar())

    def custody_people(self) -> set[str]:
        with self.store.connection() as connection:
            rows = connection.execute(sa.select(password_custody.c.person_id)).scalars()
            return set(rows)

    def welcome_per_person(self) -> Counter[str]:
        with self.store.connection() as connection:
            rows = connection.execute(
                sa.select(mail_outbox.c.person_id).where(mail_outbox.c.purpose == "welcome")
            ).scalars()
            return Counter(rows)


@pytest.fixture
def world(
    pg: PostgresServer, ldap_server: SlapdServer, ldap_directory: Directory, tmp_path: Path
) -> Iterator[World]:
    write_sample(tmp_path, PEOPLE)
    sample = tomllib.loads((tmp_path / "sources.toml").read_text("utf-8"))
    database = pg.create_database()
    settings = Settings(
        institution={"mail_domain": "ecampus.test"},
        schools=sample["schools"],
        sources={
            **sample["sources"],
            "pseudonym_key": secrets.token_urlsafe(48),
            "ledger_path": None,
        },
        directory=ldap_server.settings().model_dump(),
        store=StoreSettings(url=pg.url(database), password=pg.password),
        mail={"maildir": "mail", "keys": [generate_key()]},
    ).resolve_paths(tmp_path, ca_file=False)
    clock = FixedClock.on(date(2026, 10, 2))
    store = open_store(settings.store, clock=clock)
    try:
        yield World(tmp_path, settings, clock, store, ldap_directory, pg)
    finally:
        store.close()
        pg.start()  # a test that failed half-way may have left it stopped
        pg.drop_database(database)


class _AtApply:
    """A progress callback running ``action`` once, ``fraction`` of the way into the apply."""

    def __init__(self, action: Callable[[], None], *, fraction: float = 0.5) -> None:
        self.action = action
        self.fraction = fraction
        self.fired = False

    def __call__(self, step: str, count: int, total: int | None) -> None:
        if step == "apply" and total and count >= int(total * self.fraction) and not self.fired:
            self.fired = True
            self.action()


def _clear_error(error: BaseException, world: World) -> None:
    """A typed store error naming the store, without the password anywhere."""
    assert isinstance(error, StoreError), repr(error)
    assert isinstance(error, IdmError)
    text = "".join(traceback.format_exception(error))
    secret = world.pg.password.get_secret_value()
    assert secret not in text
    assert secret not in repr(error)
    assert world.store.url in str(error)


def _nothing_half_recorded(world: World) -> None:
    """Every recorded account has its deposit and its welcome mail, and nothing else is."""
    accounts = set(world.store.accounts())
    custody = world.custody_people()
    welcome = world.welcome_per_person()
    assert custody <= accounts
    assert set(welcome) <= custody
    assert all(n == 1 for n in welcome.values()), welcome.most_common(3)
    assert all(r.status is not RunStatus.RUNNING for r in world.store.recent_runs(10))


def _converged(world: World) -> None:
    """Every account recorded, every custody password binds, one welcome mail each."""
    entries = world.entries()
    usernames = {r.person_id: r.username for r in world.store.username_records()}
    accounts = world.store.accounts()
    nameless = sorted(p for p in accounts if p not in usernames)
    assert not nameless, f"{len(nameless)} account(s) recorded without a username"
    assert {usernames[p] for p in accounts} == set(entries)
    custody = open_custody(world.store, keyring_from_settings(world.settings))
    welcome = world.welcome_per_person()
    for person_id in accounts:
        password = custody.reveal(person_id)
        assert password is not None, f"no custody deposit for {usernames[person_id]}"
        world.directory.authenticate(entries[usernames[person_id]], password)
        assert welcome[person_id] <= 1
    assert sum(welcome.values()) == len(welcome)
    assert len(welcome) > PEOPLE // 2


@pytest.mark.parametrize(("mode", "fraction"), [("fast", 0.5), ("immediate", 1.0)])
def test_restart_during_apply_is_absorbed(world: World, mode: str, fraction: float) -> None:
    """Restarted mid-apply (or just before the recording) and back: the run completes."""
    restart = _AtApply(lambda: world.pg.restart(mode), fraction=fraction)
    report = world.run(progress=restart)
    assert restart.fired
    assert report.status is RunStatus.SUCCEEDED, report.to_dict()
    _nothing_half_recorded(world)
    _converged(world)
    world.clock.advance(timedelta(days=1))
    again = world.run()
    assert again.plan is not None
    assert again.plan.is_empty


def _crash_inside_the_recording(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Crash PostgreSQL (immediate) inside the transaction that records the accounts."""
    real = world.store.put_accounts
    crashed: list[bool] = []

    def put_then_crash(records):  # type: ignore[no-untyped-def]
        real(records)
        if not crashed:
            crashed.append(True)
            world.pg.restart("immediate")

    monkeypatch.setattr(world.store, "put_accounts", put_then_crash)
    with pytest.raises(StoreUnavailableError) as caught:
        world.run()
    monkeypatch.undo()
    assert crashed
    _clear_error(caught.value, world)
    [failed] = world.store.recent_runs(1)
    assert failed.status is RunStatus.FAILED
    assert "unavailable" in (failed.message or "")
    # Nothing of the broken transaction was committed: no account, deposit or mail at all.
    assert world.store.accounts() == {}
    assert world.count(password_custody) == 0
    assert world.count(mail_outbox) == 0
    assert world.store.events_for_run(failed.run_id) == []
    _nothing_half_recorded(world)


def test_crash_inside_the_recording_ends_clearly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash mid-transaction: typed error, run failed, nothing half-recorded; re-run runs."""
    _crash_inside_the_recording(world, monkeypatch)
    world.clock.advance(timedelta(hours=1))
    world.rerun()  # not blocked: the failed run holds no lock
    _nothing_half_recorded(world)


def test_crash_inside_the_recording_then_rerun_converges(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the crash, one re-run: every entry recorded, every custody password binds."""
    _crash_inside_the_recording(world, monkeypatch)
    world.clock.advance(timedelta(hours=1))
    world.rerun()
    _converged(world)  # the reserved usernames stay their persons' (StoreSnapshot.reserved)


def test_down_from_apply_until_after_the_run(world: World) -> None:
    """Stopped mid-apply, back only after the run ended: clear error; re-run not blocked."""
    halt = _AtApply(lambda: world.pg.halt("fast"))
    with pytest.raises(StoreUnavailableError) as caught:
        world.run(progress=halt)
    assert halt.fired
    _clear_error(caught.value, world)
    world.pg.start()
    [first] = world.store.recent_runs(1)
    world.clock.advance(timedelta(hours=1))
    world.rerun()  # not blocked for 6 h: the end the store could not write is written first
    ended = world.store.get_run(first.run_id)
    assert ended.status is RunStatus.FAILED
    assert "unavailable" in (ended.message or "")
    _nothing_half_recorded(world)
