"""The SSRF guard of webhooks: which URLs Rota may POST to, and at which address.

A webhook URL is chosen by a tenant, and the worker that sends it sits inside the operator's
network. So the host is resolved and the URL refused when ANY of its addresses is not public
(loopback, private, shared 100.64/10, link-local, multicast, reserved, unspecified, ...), unless
it is inside one of `ROTA_WEBHOOK_ALLOW_NETWORKS`. The check runs at registration and again at
every send, and the sender connects to the very address checked here (`Target.address`): a DNS
answer that changes between the two ("DNS rebinding") cannot redirect the request.

Host spellings that the C library resolves to an address without DNS (`0x7f000001`,
`2130706433`, `0177.0.0.1`, `127.1`: inet_aton's forms) are parsed here the same way, so they are
judged by the address they mean. IPv6 addresses that carry an IPv4 address for a translator to
reach (IPv4-mapped `::ffff:a.b.c.d`, 6to4 `2002::/16`, NAT64 `64:ff9b::/96`) are judged by that
IPv4 address; Teredo and the other tunnelling ranges are not public and are refused.

URLs are parsed by httpx, the client that sends them, so the guard and the sender can never
disagree about which host a URL names.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from domain.webhooks import (
    WEBHOOK_URL_FORBIDDEN,
    WEBHOOK_URL_INVALID,
    WEBHOOK_URL_UNRESOLVABLE,
    UnsafeWebhookUrl,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (text, as getaddrinfo gives them).
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048
_SCHEMES = {"http": 80, "https": 443}
# Letters, digits, hyphens and underscores in dot-separated labels (httpx has already turned an
# internationalised name into its xn-- form).
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_-]{1,63})*$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
# Not flagged by Python's `ipaddress` (whose tables differ between patch releases), but not
# somewhere a webhook may go: the deprecated 6to4 relay anycast (RFC 7526).
_EXTRA_BLOCKED = (ipaddress.IPv4Network("192.88.99.0/24"),)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address of `host` (A and AAAA), as the system resolver answers now."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what to call the host in HTTP and TLS."""

    url: httpx.URL  # as given
    address: IPAddress  # the checked address to connect to
    host_header: str  # the URL's host[:port], as the receiver expects in `Host`
    tls_name: str | None  # the name for SNI and certificate checks; None for IP literals

    @property
    def connect_url(self) -> httpx.URL:
        return self.url.copy_with(host=str(self.address))


class WebhookGuard:
    def __init__(
        self, allow_networks: Iterable[str] = (), resolver: Resolver = system_resolver
    ) -> None:
        self._allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)
        self._resolver = resolver

    def check(self, url: str) -> Target:
        """The URL's target, or UnsafeWebhookUrl saying why it may not be used."""
        parsed = _parse(url)
        host = parsed.raw_host.decode("ascii").lower()
        port = parsed.port or _SCHEMES[parsed.scheme]
        literal = _literal_address(host)
        addresses = [literal] if literal is not None else self._resolve(host.rstrip("."), port)
        refused = [a for a in addresses if not self.allows(a)]
        if refused:
            raise UnsafeWebhookUrl(
                f"the webhook host resolves to a non-public address ({refused[0]})",
                code=WEBHOOK_URL_FORBIDDEN,
            )
        return Target(
            url=parsed,
            address=addresses[0],
            host_header=parsed.netloc.decode("ascii"),
            tls_name=None if literal is not None else host.rstrip("."),
        )

    def allows(self, address: IPAddress) -> bool:
        """Whether a webhook may be sent to `address`."""
        if any(
            address in network for network in self._allowed if network.version == address.version
        ):
            return True
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return self.allows(embedded)
        return _is_public(address)

    def _resolve(self, host: str, port: int) -> list[IPAddress]:
        if not _HOSTNAME.match(host):
            raise UnsafeWebhookUrl("the webhook URL has an invalid host", code=WEBHOOK_URL_INVALID)
        try:
            answers = self._resolver(host, port)
        except (OSError, UnicodeError):
            answers = []
        addresses = []
        for text in answers:
            try:
                # A link-local IPv6 answer carries its zone ("fe80::1%eth0").
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                continue
        if not addresses:
            raise UnsafeWebhookUrl(
                f"the webhook host {host} does not resolve", code=WEBHOOK_URL_UNRESOLVABLE
            )
        return addresses


def _parse(url: str) -> httpx.URL:
    def invalid(why: str) -> UnsafeWebhookUrl:
        return UnsafeWebhookUrl(f"the webhook URL {why}", code=WEBHOOK_URL_INVALID)

    if len(url) > MAX_URL_LENGTH:
        raise invalid(f"is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise invalid("contains whitespace or control characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise invalid("is malformed") from None
    if parsed.scheme not in _SCHEMES:
        raise invalid("must be http or https")
    if parsed.userinfo:
        # Credentials in a URL end up in logs and listings; receivers authenticate us by the
        # signature instead.
        raise invalid("must not contain credentials")
    if not parsed.raw_host:
        raise invalid("has no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise invalid("has an invalid port")
    if b"%" in parsed.raw_host:
        raise invalid("has an IPv6 zone or an escaped host")
    return parsed


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP means, in any form the C library accepts; None for a
    name. A host that ends in a number but is not a valid address is refused (WHATWG URL:
    such a host is an IPv4 address or an error, never a name)."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeWebhookUrl(
                "the webhook URL has an invalid IPv6 host", code=WEBHOOK_URL_INVALID
            ) from None
    labels = host.removesuffix(".").split(".")
    if not _is_number(labels[-1]):
        return None
    address = _inet_aton(labels)
    if address is None:
        raise UnsafeWebhookUrl("the webhook URL has an invalid IPv4 host", code=WEBHOOK_URL_INVALID)
    return address


def _is_number(label: str) -> bool:
    if label.startswith(("0x", "0X")):
        return all(c in "0123456789abcdefABCDEF" for c in label[2:])
    return label.isdigit()


def _inet_aton(labels: list[str]) -> ipaddress.IPv4Address | None:
    """inet_aton's parse: 1 to 4 parts, each decimal, 0x-hex or 0-octal; the last part fills
    the remaining bytes ("127.1" is 127.0.0.1, "2130706433" is 127.0.0.1)."""
    if not 1 <= len(labels) <= 4:
        return None
    values = []
    for label in labels:
        try:
            if label[:2].lower() == "0x":
                values.append(int(label[2:] or "0", 16))
            elif len(label) > 1 and label.startswith("0"):
                values.append(int(label, 8))
            else:
                values.append(int(label, 10))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for index, value in enumerate(head):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to through a translator, if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: IPAddress) -> bool:
    if any(address in network for network in _EXTRA_BLOCKED if network.version == address.version):
        return False
    flags = (
        address.is_private,
        address.is_loopback,
        address.is_link_local,
        address.is_multicast,
        address.is_reserved,
        address.is_unspecified,
        isinstance(address, ipaddress.IPv6Address) and address.is_site_local,
    )
    # is_global also excludes what the flags above miss, e.g. shared 100.64/10 (RFC 6598).
    return address.is_global and not any(flags)
