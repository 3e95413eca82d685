"""The client's address, as the reset service's rate limits need it.

The service counts requests per client IP (IPv6 per network, see the service). It takes
an IP address, never a free string: a raw ``X-Forwarded-For`` header passed as is would
put every client behind the same proxy in one bucket, and let a client choose its own.

:func:`client_address` is what a portal calls with what its web framework gives it: the
address of the TCP peer and the ``X-Forwarded-For`` header. The header is believed only
as far as it was written by the configured trusted proxies: read from the right, each hop
appended by a trusted proxy is skipped, and the first address not a trusted proxy is the
client (RFC 7239's rule, the one Werkzeug's ``ProxyFix`` and uvicorn's
``--forwarded-allow-ips`` follow).

Pure standard library: importing this module loads nothing else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ecampus_idm.passwords.errors import PasswordError

__all__ = ["ClientAddress", "InvalidClientAddressError", "client_address", "parse_client_ip"]

ClientAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
"""The type of a client's address."""


class InvalidClientAddressError(PasswordError, ValueError):
    """What was given as the client's address is not an IP address."""

    message_fr = "L'adresse du client n'est pas une adresse IP."
    message_en = "The client address is not an IP address."

    def __init__(self, value: str) -> None:
        shown = value if len(value) <= 64 else value[:61] + "..."  # noqa: PLR2004
        super().__init__(f"client_ip: not an IP address: {shown!r}")


def parse_client_ip(value: str | ClientAddress) -> ClientAddress:
    """Return ``value`` as an IP address (IPv4-mapped IPv6 as IPv4).

    Raises:
        InvalidClientAddressError: ``value`` is not one IP address (a list, a host name,
            an address with a port or a zone).
    """
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        ip: ClientAddress = value
    else:
        try:
            ip = ipaddress.ip_address(value.strip())
        except ValueError:
            raise InvalidClientAddressError(value) from None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            raise InvalidClientAddressError(str(value))
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
    return ip


def client_address(
    peer: str | ClientAddress,
    forwarded_for: str | Iterable[str] | None,
    trusted_proxies: Iterable[str],
) -> ClientAddress:
    """The client's address behind the configured trusted proxies.

    Args:
        peer: The address of the TCP peer (``request.client.host`` in Starlette,
            ``REMOTE_ADDR`` in WSGI).
        forwarded_for: The ``X-Forwarded-For`` header(s), comma-separated, or ``None``.
        trusted_proxies: Addresses or networks (``"10.0.0.0/8"``) of the proxies in front
            of the portal. Empty: the header is ignored and the peer is the client.

    Returns:
        The rightmost address that is not a trusted proxy; the peer itself when the peer
        is not a trusted proxy (its header was written by the client and is ignored).

    Raises:
        InvalidClientAddressError: The peer, or the hop the proxies vouch for, is not an
            IP address (a proxy that writes garbage is misconfigured: say so, never
            count it in a shared bucket).
    """
    networks = [ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies]

    def trusted(ip: ClientAddress) -> bool:
        return any(ip in network for network in networks)

    current = parse_client_ip(peer)
    if forwarded_for is None or not trusted(current):
        return current
    headers = [forwarded_for] if isinstance(forwarded_for, str) else list(forwarded_for)
    hops = [hop.strip() for header in headers for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        current = parse_client_ip(hop)
        if not trusted(current):
            return current
    return current
