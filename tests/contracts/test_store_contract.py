"""The Store contract, run against the in-memory store, a SQLite file and real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from ecampus_idm.clock import FixedClock
from ecampus_idm.config import StoreSettings
from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.store.sql import SqlStore, open_store
from ecampus_idm.testing.postgres import PostgresServer
from ecampus_idm.testing.store_contract import CANARY_PASSWORD, SqlStoreContract, StoreContract


class TestMemoryStore(StoreContract):
    """The in-memory twin honours the contract."""

    @pytest.fixture
    def store(self, clock: FixedClock) -> MemoryStore:
        return MemoryStore(clock=clock)

    @pytest.fixture
    def second_store(self, store: MemoryStore) -> MemoryStore:
        return store


class TestSqliteStore(SqlStoreContract):
    """The SQL store on a SQLite file honours the contract."""

    @pytest.fixture
    def store_settings(self, sqlite_settings: StoreSettings) -> StoreSettings:
        return sqlite_settings

    @pytest.fixture
    def store(self, store_settings: StoreSettings, clock: FixedClock) -> Iterator[SqlStore]:
        store = open_store(store_settings, clock=clock)
        yield store
        store.close()

    @pytest.fixture
    def second_store(self, store: SqlStore, store_settings: StoreSettings) -> Iterator[SqlStore]:
        other = open_store(store_settings)
        yield other
        other.close()

    @pytest.fixture
    def fresh_settings(self, tmp_path: Path) -> StoreSettings:
        return StoreSettings(url=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")

    @pytest.fixture
    def unreachable_settings(self, tmp_path: Path) -> StoreSettings:
        missing = tmp_path / "no-such-folder" / "state.sqlite3"
        return StoreSettings(url=f"sqlite:///{missing}", password=SecretStr(CANARY_PASSWORD))


@pytest.mark.integration
@pytest.mark.postgres
class TestPostgresStore(SqlStoreContract):
    """The SQL store on a throwaway PostgreSQL server honours the contract."""

    @pytest.fixture
    def store_settings(self, postgres_settings: StoreSettings) -> StoreSettings:
        return postgres_settings

    @pytest.fixture
    def store(self, store_settings: StoreSettings, clock: FixedClock) -> Iterator[SqlStore]:
        store = open_store(store_settings, clock=clock)
        yield store
        store.close()

    @pytest.fixture
    def second_store(self, store: SqlStore, store_settings: StoreSettings) -> Iterator[SqlStore]:
        other = open_store(store_settings)
        yield other
        other.close()

    @pytest.fixture
    def fresh_settings(self, postgres_server: PostgresServer) -> Iterator[StoreSettings]:
        database = postgres_server.create_database()
        yield postgres_server.settings(database)
        postgres_server.drop_database(database)

    @pytest.fixture
    def unreachable_settings(self, postgres_server: PostgresServer) -> StoreSettings:
        """The right server and user with a wrong password: authentication fails."""
        return StoreSettings(url=postgres_server.url(), password=SecretStr(CANARY_PASSWORD))
