"""The stateful property test of issue 13: random nights on real servers, invariants held.

:class:`~ecampus_idm.testing.nightly_machine.NightlyMachine` drives real nightly runs
(throwaway slapd per example, recording SMTP server, fixed clock) through random steps —
people coming, moving, leaving and returning, exports refused, the clock across openings
and lifecycle boundaries, slapd SIGKILLed mid-apply, SMTP failing — and checks the
invariants of :mod:`ecampus_idm.testing.invariants` after every step. Twice: on a SQLite
store, and on PostgreSQL (skipped without it, unless ``ECAMPUS_IDM_REQUIRE_POSTGRES=1``).

The budget is the hypothesis profile named by ``HYPOTHESIS_PROFILE`` (``ci`` by default:
10 examples of 20 nights per store, about a minute each);
``tests/benchmarks/soak_nightly.py`` runs the same machine for longer.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import pytest
from hypothesis.stateful import run_state_machine_as_test

from ecampus_idm.config import StoreSettings
from ecampus_idm.testing.nightly_machine import (
    MachineEnvironment,
    machine_for,
    machine_settings,
)
from ecampus_idm.testing.plugin import REQUIRE_POSTGRES_VARIABLE, _unavailable
from ecampus_idm.testing.postgres import PostgresServer, find_postgres, start_postgres
from ecampus_idm.testing.slapd import find_slapd
from ecampus_idm.testing.smtp import REQUIRE_MAIL_VARIABLE

pytestmark = [pytest.mark.integration, pytest.mark.ldap]


@pytest.fixture(scope="module", autouse=True)
def _servers_available() -> None:
    """slapd and aiosmtpd are needed (each example starts its own)."""
    if find_slapd() is None:
        _unavailable("slapd is not installed (apt-get install slapd ldap-utils)")
    if importlib.util.find_spec("aiosmtpd") is None:
        _unavailable("aiosmtpd is not installed", REQUIRE_MAIL_VARIABLE)


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own (one database per example)."""
    layout = find_postgres()
    if layout is None:
        _unavailable("PostgreSQL is not installed", REQUIRE_POSTGRES_VARIABLE)
    if importlib.util.find_spec("psycopg") is None:
        _unavailable("the psycopg driver is not installed", REQUIRE_POSTGRES_VARIABLE)
    server = start_postgres(layout=layout)
    try:
        yield server
    finally:
        server.stop()


def _postgres_stores(
    pg: PostgresServer,
) -> Callable[[], tuple[StoreSettings | None, Callable[[], None]]]:
    def make() -> tuple[StoreSettings | None, Callable[[], None]]:
        database = pg.create_database()
        return StoreSettings(url=pg.url(database), password=pg.password), (
            lambda: pg.drop_database(database)
        )

    return make


def test_nightly_runs_keep_their_promises_on_sqlite() -> None:
    """Random nights on slapd + SQLite: every invariant after every step."""
    run_state_machine_as_test(machine_for(MachineEnvironment()), settings=machine_settings())


@pytest.mark.postgres
def test_nightly_runs_keep_their_promises_on_postgres(pg: PostgresServer) -> None:
    """Random nights on slapd + PostgreSQL: every invariant after every step."""
    environment = MachineEnvironment(store=_postgres_stores(pg))
    run_state_machine_as_test(machine_for(environment), settings=machine_settings())
