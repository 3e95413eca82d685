"""The store package as users see it: a pinned public API and light imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ecampus_idm import store
from ecampus_idm.config import StoreSettings
from ecampus_idm.store.sql import SqlStore


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_public_api_is_pinned() -> None:
    """The names exported by ecampus_idm.store are exactly the documented ones."""
    assert sorted(store.__all__) == [
        "AccountRecord",
        "Event",
        "IdentityLinks",
        "JsonValue",
        "MemoryStore",
        "NewEvent",
        "PersonHasUsernameError",
        "Run",
        "RunFinishedError",
        "RunInProgressError",
        "RunNotFoundError",
        "RunStatus",
        "SchemaVersionError",
        "SensitiveDataError",
        "Store",
        "StoreError",
        "StoreUnavailableError",
        "UsernameNotFoundError",
        "UsernameRecord",
        "UsernameTakenError",
        "open_store",
    ]


@pytest.mark.parametrize(
    "statement",
    ["import ecampus_idm.store", "import ecampus_idm.testing.plugin"],
    ids=["store", "plugin"],
)
def test_light_imports_load_no_database_driver(statement: str) -> None:
    """The store package and the pytest plugin load neither SQLAlchemy nor psycopg."""
    loaded = _modules_after(statement)
    assert "sqlalchemy" not in loaded
    assert "psycopg" not in loaded


def test_sql_store_does_load_sqlalchemy() -> None:
    """The check above can fail: the SQL store module does load SQLAlchemy."""
    assert "sqlalchemy" in _modules_after("import ecampus_idm.store.sql")


def test_memory_and_sql_stores_satisfy_the_port() -> None:
    """Both implementations are structurally a Store."""
    memory: store.Store = store.MemoryStore()
    assert isinstance(memory, store.Store)
    assert issubclass(SqlStore, store.Store)


def test_package_open_store_opens_the_sql_store(tmp_path: Path) -> None:
    """ecampus_idm.store.open_store loads and returns the SQL store."""
    opened = store.open_store(StoreSettings(url=f"sqlite:///{tmp_path / 's.sqlite3'}"))
    try:
        assert isinstance(opened, SqlStore)
        assert opened.schema_version() >= 1
    finally:
        opened.close()
