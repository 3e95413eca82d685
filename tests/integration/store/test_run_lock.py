"""One nightly run at a time, even when two start at the same instant (defect 10).

Two jobs, each with its own store instance on the same database (as two processes
would be), are released together by a barrier, many times; every time exactly one may
run and the other must be refused with ``RunInProgressError`` before doing anything.
"""

from __future__ import annotations

import itertools
import mailbox
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.cli import main
from ecampus_idm.clock import SystemClock
from ecampus_idm.config import Settings, StoreSettings, load_config
from ecampus_idm.crypto import generate_key
from ecampus_idm.errors import IdmError
from ecampus_idm.mail.welcome import Addressee, WelcomeDesk
from ecampus_idm.mail.wiring import keyring_from_settings
from ecampus_idm.runner import NightlyRun, RunInProgressError
from ecampus_idm.store.base import GONE_MESSAGE, Run, RunStatus, Store
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.store.sql import open_store
from ecampus_idm.testing.plugin import memory_base_tree

pytestmark = pytest.mark.integration

ROUNDS = 60
MAIL_ROUNDS = 30
BASE = "dc=ecampus,dc=test"


class _StopError(IdmError):
    """Raised by the winner once it got through the start: the rest of the run is moot."""


class _Job(NightlyRun):
    """A nightly run whose work after the start is a rendezvous with the other job."""

    def __init__(self, store: Store, rendezvous: Callable[[], None]) -> None:
        settings = Settings(
            institution={"mail_domain": "ecampus.test"},
            directory={
                "url": "ldap://127.0.0.1",
                "bind_dn": f"cn=admin,{BASE}",
                "bind_password": "unused-by-the-memory-twin",
                "base_dn": BASE,
            },
        )
        super().__init__(
            settings,
            clock=SystemClock(),
            store=store,
            directory=memory_base_tree(),
            connectors=[],
        )
        self._rendezvous = rendezvous

    def _prepare(self, *, record_exports: bool) -> object:  # type: ignore[override]
        del record_exports
        self._rendezvous()  # still running while the other job tries to start
        raise _StopError("the winner stops here")


def _rounds(stores: tuple[Store, Store]) -> list[list[str]]:
    outcomes: list[list[str]] = []
    for _ in range(ROUNDS):
        start = threading.Barrier(2)
        after = threading.Barrier(2, timeout=30)

        def attempt(
            store: Store, start: threading.Barrier = start, after: threading.Barrier = after
        ) -> str:
            job = _Job(store, after.wait)
            start.wait()
            try:
                job.run()
            except _StopError:
                return "ran"
            except RunInProgressError:
                after.wait()
                return "refused"
            return "finished"

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes.append(sorted(pool.map(attempt, stores)))
    return outcomes


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two store instances on one database (the memory twin: one instance, shared)."""
    if request.param == "memory":
        store = MemoryStore()
        yield store, store
        return
    if request.param == "sqlite":
        settings = StoreSettings(url=f"sqlite:///{tmp_path / 'state.sqlite3'}")
    else:
        request.applymarker(pytest.mark.postgres)
        settings = request.getfixturevalue("postgres_settings")
    first, second = open_store(settings), open_store(settings)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_simultaneous_runs_have_exactly_one_winner(two_stores: tuple[Store, Store]) -> None:
    """Released together, one run starts and the other is refused, every time."""
    outcomes = _rounds(two_stores)
    bad = [o for o in outcomes if o != ["ran", "refused"]]
    assert not bad, f"{len(bad)} of {ROUNDS} rounds without exactly one winner: {bad[:5]}"
    runs = two_stores[0].recent_runs(3 * ROUNDS, kind="run")
    assert len(runs) == ROUNDS  # a refused run leaves no row behind
    assert {r.status for r in runs} == {RunStatus.FAILED}  # each winner finished (as _StopError)


def _mail_config(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "ecampus.toml"
    path.write_text(
        f"""
[directory]
url = "ldap://127.0.0.1"
bind_dn = "cn=admin,{BASE}"
base_dn = "{BASE}"
bind_password = "unused-here"

[store]
url = "{store_url}"

[mail]
transport = "maildir"
maildir = "{tmp_path}/mail"
keys = ["{generate_key()}"]
""",
        "utf-8",
    )
    return path


def _mail_send(config: Path) -> int:
    try:
        main(
            ["mail", "send", "--config", str(config), "--no-throttle", "--json"],
            standalone_mode=False,
        )
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_simultaneous_mail_sends_never_overlap(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two `mail send` released together: never two flushes at once (one is refused)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
        config = _mail_config(tmp_path, url)
    else:
        request.applymarker(pytest.mark.postgres)
        settings: StoreSettings = request.getfixturevalue("postgres_settings")
        assert settings.password is not None
        config = _mail_config(tmp_path, settings.url)
        os.environ["ECAMPUS_IDM_STORE__PASSWORD"] = settings.password.get_secret_value()
        request.addfinalizer(lambda: os.environ.pop("ECAMPUS_IDM_STORE__PASSWORD", None))
    refused = 0
    settings = load_config(config)
    desk_store = open_store(settings.store)
    request.addfinalizer(desk_store.close)
    desk = WelcomeDesk(desk_store, keyring_from_settings(settings), settings.mail)
    for n in range(MAIL_ROUNDS):
        # One due welcome mail per round: two flushes at once would both deliver it.
        who = Addressee(f"p{n}", f"user.{n}", f"User {n}", f"user{n}@example.be")
        with desk_store.transaction():
            desk_store.record_events(
                desk.issue(who, SecretStr(f"Pw-{n}-x9!"), now=SystemClock().now(), run_id=None)
            )
        start = threading.Barrier(2)

        def attempt(_: int, start: threading.Barrier = start) -> int:
            start.wait()
            return _mail_send(config)

        with ThreadPoolExecutor(max_workers=2) as pool:
            codes = sorted(pool.map(attempt, range(2)))
        assert codes[0] == 0, codes
        refused += codes[1] != 0
    with open_store(load_config(config).store) as store:
        sends = sorted(store.recent_runs(3 * MAIL_ROUNDS, kind="mail.send"), key=_start)
    assert all(r.status is RunStatus.SUCCEEDED for r in sends)
    overlapping = [
        (a.run_id, b.run_id)
        for a, b in itertools.pairwise(sends)
        if a.finished_at is not None and b.started_at < a.finished_at
    ]
    assert not overlapping, f"{len(overlapping)} of {MAIL_ROUNDS} rounds flushed twice at once"
    assert len(sends) + refused == 2 * MAIL_ROUNDS
    assert len(mailbox.Maildir(tmp_path / "mail")) == MAIL_ROUNDS  # each mail exactly once


def _start(run: Run) -> tuple[datetime, int]:
    return run.started_at, run.run_id


_CRASHING_RUN = """
import os, signal, sys
from ecampus_idm.config import StoreSettings
from ecampus_idm.store.sql import open_store
store = open_store(StoreSettings(url=sys.argv[1], password=os.environ.get("PW") or None))
run = store.start_run("run", exclusive=True, stale_after=__import__("datetime").timedelta(hours=6))
print(run.run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # killed mid-run: no finish, the lock row stays
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_run_of_a_killed_process_is_taken_for_crashed_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A run whose process died on this host no longer blocks: no 6-hour wait."""
    environment = dict(os.environ)
    if backend == "sqlite":
        settings = StoreSettings(url=f"sqlite:///{tmp_path / 'state.sqlite3'}")
    else:
        request.applymarker(pytest.mark.postgres)
        settings = request.getfixturevalue("postgres_settings")
        assert settings.password is not None
        environment["PW"] = settings.password.get_secret_value()
    open_store(settings).close()  # migrated before the child starts
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_RUN, settings.url],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    crashed = int(child.stdout.split()[0])
    with open_store(settings) as store:
        assert store.get_run(crashed).status is RunStatus.RUNNING
        fresh = store.start_run("run", exclusive=True, stale_after=timedelta(hours=6))
        ended = store.get_run(crashed)
        assert ended.status is RunStatus.FAILED
        assert ended.message == GONE_MESSAGE
        assert fresh.run_id > crashed
