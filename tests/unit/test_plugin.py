"""The pytest plugin's rules for servers it cannot start: skip, or fail when required."""

from __future__ import annotations

import pytest

USES_SERVER = """
def test_needs_ldap(ldap_server):
    assert ldap_server.url
"""


@pytest.fixture
def without_slapd(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project in which slapd cannot be found."""
    monkeypatch.delenv("ECAMPUS_IDM_REQUIRE_LDAP", raising=False)
    monkeypatch.delenv("ECAMPUS_IDM_LDAP_BACKEND", raising=False)
    monkeypatch.setattr("ecampus_idm.testing.plugin.find_slapd", lambda: None)
    pytester.makepyfile(test_uses_server=USES_SERVER)
    return pytester


def test_missing_slapd_skips(without_slapd: pytest.Pytester) -> None:
    """Without slapd, a test that needs the server is skipped."""
    result = without_slapd.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)


def test_missing_slapd_fails_when_required(
    without_slapd: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ECAMPUS_IDM_REQUIRE_LDAP=1 the same situation is an error, never a skip."""
    monkeypatch.setenv("ECAMPUS_IDM_REQUIRE_LDAP", "1")
    result = without_slapd.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*forbids skipping*"])


def test_unknown_backend_fails(
    without_slapd: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt backend name is an error, not a silent fallback."""
    monkeypatch.setenv("ECAMPUS_IDM_LDAP_BACKEND", "dokcer")
    result = without_slapd.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*must be 'local' or 'container'*"])


def test_container_backend_without_docker_skips(
    without_slapd: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The container backend with no Docker engine answering skips (or fails if required)."""
    monkeypatch.setenv("ECAMPUS_IDM_LDAP_BACKEND", "container")
    monkeypatch.setattr("ecampus_idm.testing.container.docker_available", lambda: False)
    result = without_slapd.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
