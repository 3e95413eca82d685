"""Migrations: numbered steps, applied in order, each atomic, recorded, never twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from ecampus_idm.clock import FixedClock
from ecampus_idm.store._engine import create_store_engine
from ecampus_idm.store.errors import SchemaVersionError
from ecampus_idm.store.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    current_version,
    migrate,
)
from ecampus_idm.store.schema import schema_version

T0 = datetime(2026, 9, 1, tzinfo=UTC)
URL = "sqlite:///state.sqlite3"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A store engine on a new SQLite file."""
    engine = create_store_engine(make_url(f"sqlite:///{tmp_path / 'm.sqlite3'}"), busy_timeout=5)
    yield engine
    engine.dispose()


def _version(engine: Engine) -> int:
    with engine.connect() as connection:
        return current_version(connection)


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _create(name: str) -> Migration:
    def step(connection: Connection) -> None:
        connection.exec_driver_sql(f"CREATE TABLE {name} (x INTEGER)")

    return Migration(0, f"create {name}", step)


def _numbered(*steps: Migration) -> list[Migration]:
    return [Migration(n, s.description, s.apply) for n, s in enumerate(steps, start=1)]


def test_real_steps_are_numbered_from_one() -> None:
    """The shipped steps are 1..n in order and LATEST_VERSION is n."""
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len(MIGRATIONS) == LATEST_VERSION


def test_fresh_database_is_version_zero(engine: Engine) -> None:
    """A database never migrated reports version 0."""
    assert _version(engine) == 0


def test_steps_apply_in_order_and_are_recorded(engine: Engine) -> None:
    """Each step runs once, in order, and leaves a row with its time and description."""
    steps = _numbered(_create("a"), _create("b"))
    assert migrate(engine, url=URL, clock=FixedClock(T0), steps=steps) == 2
    assert {"a", "b"} <= _tables(engine)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(schema_version).order_by("version")).all()
    assert [(r.version, r.description, r.applied_at) for r in rows] == [
        (1, "create a", T0),
        (2, "create b", T0),
    ]


def test_migrating_twice_changes_nothing(engine: Engine) -> None:
    """A second migration of an up-to-date database applies no step."""
    steps = _numbered(_create("a"))
    migrate(engine, url=URL, clock=FixedClock(T0), steps=steps)
    migrate(engine, url=URL, clock=FixedClock(T0), steps=steps)
    with engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(schema_version)).scalar() == 1
        )


def test_only_pending_steps_run(engine: Engine) -> None:
    """A database at version 1 gets step 2 only."""
    migrate(engine, url=URL, clock=FixedClock(T0), steps=_numbered(_create("a")))
    migrate(engine, url=URL, clock=FixedClock(T0), steps=_numbered(_create("a"), _create("b")))
    assert _version(engine) == 2
    assert "b" in _tables(engine)


def test_failed_step_leaves_the_previous_version(engine: Engine) -> None:
    """A step that fails is rolled back whole; the database stays at the version before."""

    def half_done(connection: Connection) -> None:
        connection.exec_driver_sql("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("step failed")

    steps = _numbered(_create("a"), Migration(0, "broken", half_done))
    with pytest.raises(RuntimeError, match="step failed"):
        migrate(engine, url=URL, clock=FixedClock(T0), steps=steps)
    assert _version(engine) == 1
    assert "half" not in _tables(engine)


def test_newer_database_is_refused(engine: Engine) -> None:
    """Code that knows fewer steps than the database refuses it."""
    migrate(engine, url=URL, clock=FixedClock(T0), steps=_numbered(_create("a"), _create("b")))
    with pytest.raises(SchemaVersionError) as caught:
        migrate(engine, url=URL, clock=FixedClock(T0), steps=_numbered(_create("a")))
    assert (caught.value.found, caught.value.supported, caught.value.url) == (2, 1, URL)


def test_older_database_is_refused_when_not_allowed(engine: Engine) -> None:
    """With migrations not allowed, pending steps are an error, not applied."""
    with pytest.raises(SchemaVersionError):
        migrate(engine, url=URL, clock=FixedClock(T0), allow=False, steps=_numbered(_create("a")))
    assert "a" not in _tables(engine)


def test_badly_numbered_steps_are_refused(engine: Engine) -> None:
    """Steps must be numbered 1, 2, ... without gaps."""
    steps = [Migration(1, "a", _create("a").apply), Migration(3, "c", _create("c").apply)]
    with pytest.raises(ValueError, match=r"numbered 1\.\.n"):
        migrate(engine, url=URL, clock=FixedClock(T0), steps=steps)


def test_real_migrations_create_the_tables(engine: Engine) -> None:
    """The shipped steps create every table of the store."""
    migrate(engine, url=URL, clock=FixedClock(T0))
    assert _tables(engine) == {
        "accepted_exports",
        "accounts",
        "events",
        "identity_links",
        "mail_outbox",
        "mail_recipients",
        "password_custody",
        "reset_audit",
        "reset_rate_counters",
        "reset_requests",
        "reset_tokens",
        "run_locks",
        "runs",
        "schema_version",
        "usernames",
    }
