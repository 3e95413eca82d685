"""Engines for the state store: the SQLite and PostgreSQL settings that make it safe.

SQLite is the embedded default and gets the most care:

* WAL journal (readers never block the writer, nor the writer readers), foreign keys on,
  and a busy timeout so that a second process waits for the lock instead of failing;
* the ``sqlite3`` module's own transaction handling is switched off and SQLAlchemy emits
  ``BEGIN`` itself: a plain ``BEGIN`` for reads, ``BEGIN IMMEDIATE`` for writes. Taking
  the write lock up front is what makes concurrent writers queue; a deferred transaction
  that reads and then tries to write would instead fail at once with "database is
  locked" when another writer got there first (the busy handler cannot help then).
* switching a fresh file to WAL is retried: ``PRAGMA journal_mode=WAL`` needs an exclusive
  lock and SQLite answers "database is locked" at once, without its busy handler, when
  another process opens the same new file at the same moment. The mode is persistent, so
  only the first opens of a file ever wait.

A connection is a writer when it carries the :data:`WRITE` execution option.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

__all__ = ["WRITE", "create_store_engine", "is_writer"]

WRITE = "ecampus_idm_write"
"""Execution option marking a connection whose transactions will write."""

_CONNECT_TIMEOUT_SECONDS = 10


def is_writer(connection: Connection) -> bool:
    """Whether ``connection`` was marked with the :data:`WRITE` option."""
    return bool(connection.get_execution_options().get(WRITE, False))


def create_store_engine(url: URL, *, busy_timeout: float) -> Engine:
    """Return an engine for ``url`` (SQLite file or PostgreSQL) set up for the store.

    Args:
        url: The database URL, password included for PostgreSQL.
        busy_timeout: Seconds a SQLite writer waits for the lock before giving up.
    """
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout})

        def on_connect(dbapi_connection: Any, connection_record: object) -> None:
            del connection_record
            _sqlite_connect(dbapi_connection, busy_timeout)

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,  # a connection broken by a server restart is replaced
        connect_args={"connect_timeout": _CONNECT_TIMEOUT_SECONDS},
    )


def _sqlite_connect(dbapi_connection: Any, busy_timeout: float) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    try:
        _set_wal(cursor, busy_timeout)
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


_WAL_RETRY_FIRST_PAUSE = 0.005
_WAL_RETRY_MAX_PAUSE = 0.2


def _set_wal(cursor: Any, busy_timeout: float) -> None:
    """Put the file in WAL mode, waiting up to ``busy_timeout`` for a concurrent opener.

    Raises:
        sqlite3.OperationalError: The file stayed locked for the whole ``busy_timeout``.
    """
    deadline = time.monotonic() + busy_timeout
    pause = _WAL_RETRY_FIRST_PAUSE
    while True:
        try:
            row = cursor.execute("PRAGMA journal_mode").fetchone()
            if row is None or str(row[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        else:
            return
        time.sleep(pause)
        pause = min(pause * 2, _WAL_RETRY_MAX_PAUSE)


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE" if is_writer(connection) else "BEGIN")
