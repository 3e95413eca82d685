"""The ad_server fixture's rules when Samba cannot run: skip, or fail when required."""

from __future__ import annotations

import pytest

from ecampus_idm.testing.samba import free_loopback_address

USES_AD = """
def test_needs_ad(ad_server):
    assert ad_server.ldaps_url
"""


@pytest.fixture
def without_samba(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project in which Samba cannot be found."""
    monkeypatch.delenv("ECAMPUS_IDM_REQUIRE_AD", raising=False)
    monkeypatch.setattr("ecampus_idm.testing.samba.find_samba", lambda: None)
    pytester.makepyfile(test_uses_ad=USES_AD)
    return pytester


def test_missing_samba_skips(without_samba: pytest.Pytester) -> None:
    """Without Samba, a test that needs the AD server is skipped."""
    result = without_samba.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)


def test_missing_samba_fails_when_required(
    without_samba: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ECAMPUS_IDM_REQUIRE_AD=1 the same situation is an error, never a skip."""
    monkeypatch.setenv("ECAMPUS_IDM_REQUIRE_AD", "1")
    result = without_samba.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ECAMPUS_IDM_REQUIRE_AD=1 forbids skipping*"])


def test_free_loopback_address_is_a_loopback_address() -> None:
    """The chosen address is 127.0.0.x with x at least 2 (127.0.0.1 is everyone's)."""
    host = free_loopback_address()
    first, last = host.rsplit(".", 1)
    assert first == "127.0.0"
    assert 2 <= int(last) <= 254
