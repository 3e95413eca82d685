"""The outbox and custody contracts, run against the memory twins, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ecampus_idm.store.memory import MemoryStore
from ecampus_idm.store.sql import SqlStore
from ecampus_idm.testing.outbox_contract import CustodyContract, OutboxContract


class TestMemoryOutbox(OutboxContract):
    """The memory outbox honours the contract."""

    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


class TestSqliteOutbox(OutboxContract):
    """The SQL outbox on SQLite honours the contract."""

    @pytest.fixture
    def store(self, sqlite_store: SqlStore) -> SqlStore:
        return sqlite_store


@pytest.mark.postgres
class TestPostgresOutbox(OutboxContract):
    """The SQL outbox on PostgreSQL honours the contract."""

    @pytest.fixture
    def store(self, postgres_store: SqlStore) -> SqlStore:
        return postgres_store


class TestMemoryCustody(CustodyContract):
    """The memory custody honours the contract."""

    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


class TestSqliteCustody(CustodyContract):
    """The SQL custody on SQLite honours the contract."""

    @pytest.fixture
    def store(self, sqlite_store: SqlStore) -> SqlStore:
        return sqlite_store


@pytest.mark.postgres
class TestPostgresCustody(CustodyContract):
    """The SQL custody on PostgreSQL honours the contract."""

    @pytest.fixture
    def store(self, postgres_store: SqlStore) -> SqlStore:
        return postgres_store
