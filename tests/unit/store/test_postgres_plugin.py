"""The pytest plugin's store fixtures, and its rules when PostgreSQL is missing."""

from __future__ import annotations

import importlib.util

import pytest

USES_POSTGRES = """
def test_needs_postgres(postgres_server):
    assert postgres_server.port
"""

USES_EMBEDDED_STORES = """
def test_sqlite_store_is_migrated(sqlite_store):
    assert sqlite_store.schema_version() >= 1
    assert sqlite_store.url.startswith("sqlite:///")

def test_memory_store_is_empty(memory_store):
    assert memory_store.username_records() == []
"""


@pytest.fixture
def without_postgres(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project in which the PostgreSQL binaries cannot be found."""
    monkeypatch.delenv("ECAMPUS_IDM_REQUIRE_POSTGRES", raising=False)
    monkeypatch.setattr("ecampus_idm.testing.postgres.find_postgres", lambda: None)
    pytester.makepyfile(test_uses_postgres=USES_POSTGRES)
    return pytester


def test_missing_postgres_skips(without_postgres: pytest.Pytester) -> None:
    """Without PostgreSQL, a test that needs the server is skipped."""
    result = without_postgres.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)


def test_missing_postgres_fails_when_required(
    without_postgres: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ECAMPUS_IDM_REQUIRE_POSTGRES=1 the same situation is an error, never a skip."""
    monkeypatch.setenv("ECAMPUS_IDM_REQUIRE_POSTGRES", "1")
    result = without_postgres.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ECAMPUS_IDM_REQUIRE_POSTGRES=1 forbids skipping*"])


def test_ldap_requirement_does_not_force_postgres(
    without_postgres: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each server has its own require variable: LDAP's does not make PostgreSQL mandatory."""
    monkeypatch.setenv("ECAMPUS_IDM_REQUIRE_LDAP", "1")
    result = without_postgres.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)


def test_missing_driver_skips(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the binaries but without psycopg, the test is skipped too."""
    monkeypatch.delenv("ECAMPUS_IDM_REQUIRE_POSTGRES", raising=False)
    # Any non-None layout will do: the driver check comes first.
    monkeypatch.setattr("ecampus_idm.testing.postgres.find_postgres", object)
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "psycopg" else real(name, package)

    monkeypatch.setattr("importlib.util.find_spec", find_spec)
    pytester.makepyfile(test_uses_postgres=USES_POSTGRES)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*psycopg driver is not installed*"])


def test_embedded_store_fixtures(pytester: pytest.Pytester) -> None:
    """The sqlite_store and memory_store fixtures are available to any project."""
    pytester.makepyfile(test_stores=USES_EMBEDDED_STORES)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
