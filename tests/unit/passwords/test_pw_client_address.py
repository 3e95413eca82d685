"""Issue 14 item 3: the client's address is an IP address, found behind trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest

from ecampus_idm.passwords import (
    InvalidClientAddressError,
    PasswordResetService,
    client_address,
    parse_client_ip,
)

PROXIES = ("10.0.0.0/8", "2001:db8:ffff::/48")


@pytest.mark.parametrize(
    "value",
    [
        "203.0.113.9, 10.0.0.1",  # a raw X-Forwarded-For list (it made one shared bucket)
        "portal.condorcet.be",
        "203.0.113.9:443",
        "fe80::1%eth0",
        "",
        "unknown",
    ],
)
def test_request_refuses_a_client_ip_that_is_not_one_address(
    service: PasswordResetService, value: str
) -> None:
    """A typed error naming client_ip; nothing is recorded."""
    with pytest.raises(InvalidClientAddressError, match="client_ip"):
        service.request_reset("parent@example.org", value)
    assert service.repository.pending_count() == 0


def test_request_takes_an_ipaddress_object(service: PasswordResetService) -> None:
    """What client_address returns goes straight in."""
    service.request_reset("parent@example.org", ipaddress.ip_address("2001:db8:1:2::5"))
    assert service.repository.pending_count() == 1


def test_ipv4_mapped_ipv6_is_the_ipv4_client() -> None:
    """::ffff:203.0.113.9 (a dual-stack socket) is 203.0.113.9: one bucket, not two."""
    assert parse_client_ip("::ffff:203.0.113.9") == ipaddress.ip_address("203.0.113.9")


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        # A client that is not behind our proxy writes what it likes: ignored.
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        # Behind one trusted proxy: the hop it appended.
        ("10.0.0.1", "198.51.100.1", "198.51.100.1"),
        # A forged left part is never believed: the rightmost untrusted hop wins.
        ("10.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        # Two trusted proxies in a row.
        ("10.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"),
        ("2001:db8:ffff::1", "2001:db8:1::7", "2001:db8:1::7"),
        # Only proxies: the leftmost proxy is the client (an internal request).
        ("10.0.0.1", "10.0.0.2", "10.0.0.2"),
    ],
)
def test_client_address_behind_trusted_proxies(peer: str, header: str | None, client: str) -> None:
    """RFC 7239's rule: read from the right, skip the trusted proxies."""
    assert client_address(peer, header, PROXIES) == ipaddress.ip_address(client)


def test_several_header_lines_are_one_list() -> None:
    """Two X-Forwarded-For lines read as one list, in order."""
    found = client_address("10.0.0.1", ["6.6.6.6", "198.51.100.1, 10.0.0.9"], PROXIES)
    assert found == ipaddress.ip_address("198.51.100.1")


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    """No proxy configured: the peer is the client."""
    assert client_address("10.0.0.1", "198.51.100.1", ()) == ipaddress.ip_address("10.0.0.1")


def test_garbage_from_a_trusted_proxy_is_an_error() -> None:
    """A misconfigured proxy is reported, never counted in a shared bucket."""
    with pytest.raises(InvalidClientAddressError):
        client_address("10.0.0.1", "198.51.100.1, not-an-ip", PROXIES)
