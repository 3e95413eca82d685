"""What the SQL store adds on SQLite, its embedded default, and how it opens URLs.

These need no server: SQLite is a file in the test's folder, and URL handling is checked
by capturing what would be handed to SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from ecampus_idm.config import StoreSettings
from ecampus_idm.store import sql
from ecampus_idm.store.errors import SensitiveDataError, StoreError, StoreUnavailableError
from ecampus_idm.store.schema import schema_version
from ecampus_idm.store.sql import SqlStore, open_store
from ecampus_idm.testing.store_contract import CANARY_PASSWORD


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """The path of a new SQLite file."""
    return tmp_path / "state.sqlite3"


@pytest.fixture
def store(database: Path) -> Iterator[SqlStore]:
    """A migrated store on that file."""
    store = open_store(StoreSettings(url=f"sqlite:///{database}"))
    yield store
    store.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(store: SqlStore) -> None:
    """Every connection has the WAL journal and enforces foreign keys."""
    with store.connection() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_refused_canary_never_reaches_the_file(store: SqlStore, database: Path) -> None:
    """A refused secret is in neither the database file nor its write-ahead log."""
    store.record_event("p1", "account.created", reason_fr="créé", reason_en="created")
    with pytest.raises(SensitiveDataError):
        store.record_event(
            "p1", "x", reason_fr="x", reason_en="x", data={"password": CANARY_PASSWORD}
        )
    store.close()
    files = [database, database.with_name(database.name + "-wal")]
    content = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"account.created" in content  # the scan does see what was stored
    assert CANARY_PASSWORD.encode() not in content


def test_writer_waits_then_gives_up_when_locked(database: Path) -> None:
    """A writer blocked longer than the busy timeout fails as unavailable, not hanging."""
    store = open_store(StoreSettings(url=f"sqlite:///{database}"))
    store.close()
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    store = open_store(StoreSettings(url=f"sqlite:///{database}"), busy_timeout=0.2)
    try:
        with pytest.raises(StoreUnavailableError, match="locked"):
            store.reserve_username("jean.dupont", "p1")
    finally:
        blocker.rollback()
        blocker.close()
        store.close()


def test_reads_do_not_wait_for_a_writer(store: SqlStore, database: Path) -> None:
    """In WAL mode a reader is not blocked by another process's open write transaction."""
    store.reserve_username("jean.dupont", "p1")
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        assert store.is_taken("jean.dupont")
    finally:
        blocker.rollback()
        blocker.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"], ids=["bare", "memory"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    """An in-memory database would differ per connection: it is refused."""
    with pytest.raises(StoreUnavailableError, match="in-memory"):
        open_store(StoreSettings(url=url))


def test_unsupported_database_is_refused() -> None:
    """Only SQLite and PostgreSQL are supported."""
    with pytest.raises(StoreUnavailableError, match="unsupported database 'mysql'"):
        open_store(StoreSettings(url="mysql://idm@db/ecampus"))


def test_missing_folder_is_unavailable(tmp_path: Path) -> None:
    """A SQLite file in a folder that does not exist is unavailable, naming the URL."""
    url = f"sqlite:///{tmp_path / 'missing' / 'state.sqlite3'}"
    with pytest.raises(StoreUnavailableError) as caught:
        open_store(StoreSettings(url=url))
    assert caught.value.url == url


class _CapturedError(Exception):
    """Raised by the fake engine factory to stop open_store after capturing the URL."""


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[URL]:
    """The URLs open_store hands to the engine factory (which then stops it)."""
    urls: list[URL] = []

    def fake_engine(url: URL, *, busy_timeout: float) -> None:
        del busy_timeout
        urls.append(url)
        raise _CapturedError

    monkeypatch.setattr(sql, "create_store_engine", fake_engine)
    return urls


def test_postgresql_url_uses_psycopg_with_the_secret(captured: list[URL]) -> None:
    """A plain postgresql:// URL gets the psycopg driver and the password from the secret."""
    settings = StoreSettings(url="postgresql://idm@db/ecampus", password=SecretStr("s3cret"))
    with pytest.raises(_CapturedError):
        open_store(settings)
    [url] = captured
    assert url.drivername == "postgresql+psycopg"
    assert url.password == "s3cret"
    assert "s3cret" not in repr(url)


def test_explicit_driver_is_kept(captured: list[URL]) -> None:
    """A URL naming its driver keeps it."""
    with pytest.raises(_CapturedError):
        open_store(StoreSettings(url="postgresql+psycopg://idm@db/ecampus"))
    assert captured[0].drivername == "postgresql+psycopg"
    assert captured[0].password is None


def test_unreachable_postgresql_is_unavailable() -> None:
    """A PostgreSQL that refuses connections is unavailable; the URL shown has no password."""
    settings = StoreSettings(
        url="postgresql://idm@127.0.0.1:1/ecampus", password=SecretStr(CANARY_PASSWORD)
    )
    with pytest.raises(StoreUnavailableError) as caught:
        open_store(settings)
    assert caught.value.url == "postgresql://idm@127.0.0.1:1/ecampus"
    assert CANARY_PASSWORD not in str(caught.value)


def test_repr_shows_url_without_password(database: Path) -> None:
    """A password configured for SQLite is ignored and never shown."""
    settings = StoreSettings(url=f"sqlite:///{database}", password=SecretStr(CANARY_PASSWORD))
    store = open_store(settings)
    try:
        assert repr(store) == f"SqlStore('sqlite:///{database}')"
        assert store.dialect == "sqlite"
    finally:
        store.close()


def test_unknown_driver_is_unavailable() -> None:
    """A URL naming a driver that is not installed is unavailable, not an import error."""
    with pytest.raises(StoreUnavailableError, match="cannot load the database driver"):
        open_store(StoreSettings(url="postgresql+nosuchdriver://idm@db/ecampus"))


def test_unparseable_url_is_unavailable() -> None:
    """A URL SQLAlchemy cannot parse is refused without echoing it."""
    with pytest.raises(StoreUnavailableError, match="not a database URL") as caught:
        open_store(StoreSettings(url="://nowhere"))
    assert caught.value.url == "<invalid database URL>"


def test_other_database_errors_become_store_errors(store: SqlStore) -> None:
    """A database error that is not about availability is a plain StoreError, chained."""

    def record_version_one_again() -> None:
        with store.connection() as connection:
            connection.execute(
                schema_version.insert().values(
                    version=1, description="again", applied_at=datetime(2026, 9, 1, tzinfo=UTC)
                )
            )

    with pytest.raises(StoreError, match="failed: IntegrityError") as caught:
        record_version_one_again()
    assert not isinstance(caught.value, StoreUnavailableError)
    assert caught.value.__cause__ is not None


def test_store_closes_as_a_context_manager(database: Path) -> None:
    """``with open_store(...) as store:`` closes the store's connections at the end."""
    with open_store(StoreSettings(url=f"sqlite:///{database}")) as store:
        store.reserve_username("jean.dupont", "p1")
    with open_store(StoreSettings(url=f"sqlite:///{database}")) as again:
        assert again.is_taken("jean.dupont")


def test_many_processes_opening_one_new_file_at_once_all_get_wal(tmp_path: Path) -> None:
    """Switching a new file to WAL waits for a concurrent opener instead of failing.

    SQLite answers ``PRAGMA journal_mode=WAL`` with "database is locked" without its busy
    handler when another connection switches the same new file at the same moment (before
    the retry: 4 rounds of 60 failed). Twenty-five rounds of four openers each.
    """
    import threading  # noqa: PLC0415

    import sqlalchemy as sa  # noqa: PLC0415

    from ecampus_idm.store._engine import create_store_engine  # noqa: PLC0415

    for round_number in range(25):
        url = sa.engine.make_url(f"sqlite:///{tmp_path / f'fresh-{round_number}.sqlite3'}")
        barrier = threading.Barrier(4)
        modes: list[str] = []
        errors: list[BaseException] = []

        def open_one(
            url: sa.engine.URL = url,
            barrier: threading.Barrier = barrier,
            modes: list[str] = modes,
            errors: list[BaseException] = errors,
        ) -> None:
            engine = create_store_engine(url, busy_timeout=30)
            barrier.wait()
            try:
                with engine.connect() as connection:
                    modes.append(connection.exec_driver_sql("PRAGMA journal_mode").scalar_one())
            except sa.exc.OperationalError as error:
                errors.append(error)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=open_one) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert modes == ["wal"] * 4
