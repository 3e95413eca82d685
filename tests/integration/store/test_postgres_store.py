"""The SQL store on a real PostgreSQL beyond the contract; the throwaway server itself."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ecampus_idm.config import StoreSettings
from ecampus_idm.store.migrations import LATEST_VERSION
from ecampus_idm.store.sql import SqlStore, open_store
from ecampus_idm.testing.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_fixture_gives_a_migrated_store(postgres_store: SqlStore) -> None:
    """The postgres_store fixture is a PostgreSQL store at the latest schema version."""
    assert postgres_store.dialect == "postgresql"
    assert postgres_store.schema_version() == LATEST_VERSION


def test_times_are_timestamptz_and_data_is_jsonb(postgres_store: SqlStore) -> None:
    """Instants are stored with their zone and event data as JSONB."""
    with postgres_store.connection() as connection:
        columns = {c["name"]: c["type"] for c in sa.inspect(connection).get_columns("events")}
    assert isinstance(columns["at"], sa.DateTime)
    assert columns["at"].timezone
    assert isinstance(columns["data"], postgresql.JSONB)


def test_session_time_zone_does_not_change_instants(postgres_settings: StoreSettings) -> None:
    """Times come back in UTC whatever the server's session time zone is."""
    store = open_store(postgres_settings)
    try:
        database = store.url.rsplit("/", 1)[1]
        with store.connection() as connection:
            connection.exec_driver_sql(
                f"ALTER DATABASE \"{database}\" SET timezone TO 'Pacific/Auckland'"
            )
        store.close()  # new connections pick the database's time zone up
        run = store.start_run("run")
        with store.connection() as connection:
            assert connection.exec_driver_sql("SHOW timezone").scalar() == "Pacific/Auckland"
        stored = store.get_run(run.run_id).started_at
        assert stored == run.started_at
        assert stored.utcoffset() == timedelta(0)
    finally:
        store.close()


def test_store_reconnects_after_the_server_drops_connections(
    postgres_store: SqlStore, postgres_server: PostgresServer
) -> None:
    """Pooled connections killed by the server are replaced transparently."""
    postgres_store.reserve_username("jean.dupont", "p1")
    database = postgres_store.url.rsplit("/", 1)[1]
    engine = sa.create_engine(
        sa.engine.make_url(postgres_server.url()).set(
            password=postgres_server.password.get_secret_value()
        ),
        poolclass=sa.pool.NullPool,
    )
    with engine.begin() as connection:
        killed = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        ).scalar()
    engine.dispose()
    assert killed
    assert postgres_store.is_taken("jean.dupont")


def test_server_url_has_no_password(postgres_server: PostgresServer) -> None:
    """The server's URL and repr never carry its password; its settings do, as a secret."""
    secret = postgres_server.password.get_secret_value()
    assert secret not in postgres_server.url()
    assert secret not in repr(postgres_server)
    assert postgres_server.settings().password == postgres_server.password


def test_server_runs_without_root(postgres_server: PostgresServer) -> None:
    """The throwaway server's processes never run as root (PostgreSQL refuses it anyway)."""
    pid = (postgres_server.data_dir / "postmaster.pid").read_text().splitlines()[0]
    assert Path(f"/proc/{pid}").stat().st_uid != 0


def test_each_test_database_is_new(postgres_settings: StoreSettings) -> None:
    """postgres_settings names a database nobody has migrated yet."""
    store = open_store(postgres_settings, migrate=True)
    try:
        assert store.username_records() == []
        assert store.recent_runs() == []
    finally:
        store.close()
