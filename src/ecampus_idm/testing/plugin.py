"""The pytest plugin of ecampus-idm, registered through the ``pytest11`` entry point.

Fixtures:

``ldap_server`` (session)
    A throwaway OpenLDAP (:class:`~ecampus_idm.testing.slapd.SlapdServer`): the local
    ``slapd`` by default; with ``ECAMPUS_IDM_LDAP_BACKEND=container`` and a Docker engine
    that answers, an OpenLDAP container through testcontainers with the same
    configuration. Without either the test is skipped, unless
    ``ECAMPUS_IDM_REQUIRE_LDAP=1`` (CI sets it): then it fails, so that a green run can
    never hide skipped integration tests.
``ldap_directory`` (function)
    An :class:`~ecampus_idm.directory.ldap.LdapDirectory` bound as admin over StartTLS;
    after the test, everything the test added is deleted, leaving the base tree.
``memory_directory`` (function)
    A :class:`~ecampus_idm.directory.memory.MemoryDirectory` with the same base tree.
``postgres_server`` (session)
    A throwaway PostgreSQL (:class:`~ecampus_idm.testing.postgres.PostgresServer`)
    started from the local server binaries (``/usr/lib/postgresql/<major>/bin``).
    Skipped without them or without the psycopg driver, unless
    ``ECAMPUS_IDM_REQUIRE_POSTGRES=1`` (CI sets it): then it fails.
``postgres_settings`` (function)
    :class:`~ecampus_idm.config.StoreSettings` for a new empty database on
    ``postgres_server``, dropped after the test.
``postgres_store`` (function)
    A migrated :class:`~ecampus_idm.store.sql.SqlStore` on that database.
``sqlite_settings`` / ``sqlite_store`` (function)
    The same for a SQLite file in the test's ``tmp_path``.
``memory_store`` (function)
    An empty :class:`~ecampus_idm.store.memory.MemoryStore`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

from ecampus_idm.directory.dn import dn_path
from ecampus_idm.directory.memory import MemoryDirectory
from ecampus_idm.testing.samba import ad_directory, ad_server  # noqa: F401 - AD fixtures
from ecampus_idm.testing.slapd import SlapdServer, find_slapd, start_slapd
from ecampus_idm.testing.smtp import smtp_server  # noqa: F401 - the SMTP fixture

if TYPE_CHECKING:
    from pathlib import Path

    from ecampus_idm.config import StoreSettings
    from ecampus_idm.directory.ldap import LdapDirectory
    from ecampus_idm.store.memory import MemoryStore
    from ecampus_idm.store.sql import SqlStore
    from ecampus_idm.testing.postgres import PostgresServer

__all__ = [
    "ldap_directory",
    "ldap_server",
    "memory_directory",
    "memory_store",
    "postgres_server",
    "postgres_settings",
    "postgres_store",
    "sqlite_settings",
    "sqlite_store",
]

BACKEND_VARIABLE = "ECAMPUS_IDM_LDAP_BACKEND"
REQUIRE_VARIABLE = "ECAMPUS_IDM_REQUIRE_LDAP"
REQUIRE_POSTGRES_VARIABLE = "ECAMPUS_IDM_REQUIRE_POSTGRES"
BASE_DN = "dc=ecampus,dc=test"
BASE_TREE = ("ou=people", "ou=groups", "ou=policies", "cn=default,ou=policies")


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers."""
    config.addinivalue_line("markers", "ldap: the test uses a real OpenLDAP server")
    config.addinivalue_line("markers", "postgres: the test uses a real PostgreSQL server")


def _unavailable(reason: str, variable: str = REQUIRE_VARIABLE) -> NoReturn:
    if os.environ.get(variable) == "1":
        pytest.fail(f"{reason}, and {variable}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ldap_server() -> Iterator[SlapdServer]:
    """A throwaway OpenLDAP server for the whole session."""
    backend = os.environ.get(BACKEND_VARIABLE, "local")
    if backend == "container":
        from ecampus_idm.testing.container import (  # noqa: PLC0415 - optional extra
            docker_available,
            start_container_slapd,
        )

        if not docker_available():
            _unavailable(f"{BACKEND_VARIABLE}=container but no Docker engine answers")
        server = start_container_slapd(base_dn=BASE_DN)
    elif backend == "local":
        layout = find_slapd()
        if layout is None:
            _unavailable("slapd is not installed (apt-get install slapd ldap-utils)")
        server = start_slapd(base_dn=BASE_DN, layout=layout)
    else:
        pytest.fail(f"{BACKEND_VARIABLE} must be 'local' or 'container', not {backend!r}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ldap_directory(ldap_server: SlapdServer) -> Iterator[LdapDirectory]:
    """An admin connection to ``ldap_server``; the tree is reset after the test."""
    directory = ldap_server.connect()
    try:
        yield directory
    finally:
        reset_tree(directory, ldap_server.base_dn)
        directory.close()


@pytest.fixture
def memory_directory() -> MemoryDirectory:
    """An in-memory directory holding the same base tree as ``ldap_server``."""
    return memory_base_tree()


def memory_base_tree(base_dn: str = BASE_DN) -> MemoryDirectory:
    """Return a :class:`MemoryDirectory` with the base tree of the throwaway slapd."""
    directory = MemoryDirectory([base_dn])
    for rdn_text in ("ou=people", "ou=groups", "ou=policies"):
        name = rdn_text.split("=", 1)[1]
        directory.add(f"{rdn_text},{base_dn}", {"objectClass": "organizationalUnit", "ou": name})
    return directory


def reset_tree(directory: LdapDirectory | MemoryDirectory, base_dn: str) -> None:
    """Delete every entry under ``base_dn`` that is not part of the base tree."""
    keep = {dn_path(base_dn)} | {dn_path(f"{rdn},{base_dn}") for rdn in BASE_TREE}
    doomed = [
        entry.dn
        for entry in directory.search(base_dn, attributes=["1.1"])
        if dn_path(entry.dn) not in keep
    ]
    for dn in sorted(doomed, key=lambda d: len(dn_path(d)), reverse=True):
        directory.delete(dn)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole session."""
    from ecampus_idm.testing import postgres  # noqa: PLC0415 - loaded only when used

    layout = postgres.find_postgres()
    if layout is None:
        _unavailable(
            "PostgreSQL is not installed (apt-get install postgresql)", REQUIRE_POSTGRES_VARIABLE
        )
    if importlib.util.find_spec("psycopg") is None:
        _unavailable("the psycopg driver is not installed", REQUIRE_POSTGRES_VARIABLE)
    server = postgres.start_postgres(layout=layout)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_settings(postgres_server: PostgresServer) -> Iterator[StoreSettings]:
    """Store settings for a new, empty database on ``postgres_server``; dropped afterwards."""
    database = postgres_server.create_database()
    try:
        yield postgres_server.settings(database)
    finally:
        postgres_server.drop_database(database)


@pytest.fixture
def postgres_store(postgres_settings: StoreSettings) -> Iterator[SqlStore]:
    """A migrated store on a new PostgreSQL database."""
    from ecampus_idm.store.sql import open_store  # noqa: PLC0415 - SQLAlchemy stays lazy

    store = open_store(postgres_settings)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> StoreSettings:
    """Store settings for a new SQLite file in the test's temporary folder."""
    from ecampus_idm.config import StoreSettings  # noqa: PLC0415

    return StoreSettings(url=f"sqlite:///{tmp_path / 'state.sqlite3'}")


@pytest.fixture
def sqlite_store(sqlite_settings: StoreSettings) -> Iterator[SqlStore]:
    """A migrated store on a new SQLite file."""
    from ecampus_idm.store.sql import open_store  # noqa: PLC0415 - SQLAlchemy stays lazy

    store = open_store(sqlite_settings)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def memory_store() -> MemoryStore:
    """An empty in-memory store."""
    from ecampus_idm.store.memory import MemoryStore  # noqa: PLC0415

    return MemoryStore()
