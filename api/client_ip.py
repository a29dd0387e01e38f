"""The client's address, for rate limits: the direct peer, or what a trusted proxy says.

`X-Forwarded-For` is written by whoever sent the request, so it is believed only when the
direct peer is one of our proxies (settings.trusted_proxies), and then only up to the first
hop that is not ours: reading right to left, each trusted proxy vouches for the address to
its left, and the right-most untrusted address is the client. Anything further left came
from the client itself; a client that rotates it still lands on the same address.

Uvicorn must not rewrite the peer itself (its `--proxy-headers` is on by default and trusts
127.0.0.1): every place that starts it passes `--no-proxy-headers`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_XFF = b"x-forwarded-for"
UNKNOWN = "unknown"  # no peer address (an in-process test client)


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is the same client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def within(address: Address | None, nets: tuple[Network, ...]) -> bool:
    return address is not None and any(address in net for net in nets)


def client_ip(scope: Scope, trusted: tuple[Network, ...]) -> str:
    """The address requests of this connection are counted under."""
    client = scope.get("client")
    peer_text = client[0] if client else UNKNOWN
    peer = parse_address(peer_text)
    if peer is None:
        return peer_text
    if not within(peer, trusted):
        return str(peer)
    hops = [
        part
        for name, value in scope.get("headers", ())
        if name == _XFF
        for part in value.decode("latin-1").split(",")
    ]
    current = peer
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            # Garbage can only come from the client: the last proxy's peer is the client.
            return str(current)
        if not within(address, trusted):
            return str(address)
        current = address
    return str(current)  # every hop is ours: the left-most is the best we know
