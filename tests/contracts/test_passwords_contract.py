"""The reset-repository contract, run against memory, a SQLite file and real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecampus_idm.config import StoreSettings
from ecampus_idm.passwords.memory import MemoryResetRepository
from ecampus_idm.passwords.sql import SqlResetRepository
from ecampus_idm.store.sql import SqlStore, open_store
from ecampus_idm.testing.passwords_contract import ResetRepositoryContract


class TestMemoryResetRepository(ResetRepositoryContract):
    """The in-memory twin honours the contract."""

    @pytest.fixture
    def repository(self) -> MemoryResetRepository:
        return MemoryResetRepository()

    @pytest.fixture
    def second_repository(self, repository: MemoryResetRepository) -> MemoryResetRepository:
        return repository


class TestSqliteResetRepository(ResetRepositoryContract):
    """The SQL repository on a SQLite file honours the contract."""

    @pytest.fixture
    def repository(self, sqlite_store: SqlStore) -> SqlResetRepository:
        return SqlResetRepository(sqlite_store)

    @pytest.fixture
    def second_repository(self, sqlite_settings: StoreSettings) -> Iterator[SqlResetRepository]:
        other = open_store(sqlite_settings)
        yield SqlResetRepository(other)
        other.close()


@pytest.mark.integration
class TestPostgresResetRepository(ResetRepositoryContract):
    """The SQL repository on a real PostgreSQL honours the contract."""

    @pytest.fixture
    def repository(self, postgres_store: SqlStore) -> SqlResetRepository:
        return SqlResetRepository(postgres_store)

    @pytest.fixture
    def second_repository(self, postgres_settings: StoreSettings) -> Iterator[SqlResetRepository]:
        other = open_store(postgres_settings)
        yield SqlResetRepository(other)
        other.close()
