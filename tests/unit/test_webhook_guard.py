"""The SSRF guard refuses every way of writing a non-public address, and opens allowed ranges.

A fake resolver stands in for DNS, so names resolve to exactly the addresses a test chooses.
"""

from __future__ import annotations

import ipaddress

import pytest

from domain.adapters.webhook_guard import WebhookGuard
from domain.webhooks import (
    WEBHOOK_URL_FORBIDDEN,
    WEBHOOK_URL_INVALID,
    WEBHOOK_URL_UNRESOLVABLE,
    UnsafeWebhookUrl,
)

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class FakeDns:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.answers:
            raise OSError("Name or service not known")
        return self.answers[host]


def guard(answers: dict[str, list[str]] | None = None, allow: tuple[str, ...] = ()) -> WebhookGuard:
    return WebhookGuard(allow, resolver=FakeDns(answers or {}))


def refused_with(url: str, code: str, g: WebhookGuard | None = None) -> None:
    with pytest.raises(UnsafeWebhookUrl) as caught:
        (g or guard()).check(url)
    assert caught.value.code == code, caught.value.detail


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",  # inet_aton: the last part fills the remaining bytes
        "0x7f000001",  # one hexadecimal number
        "2130706433",  # one decimal number
        "0x7f.0.0.1",
        "0x7f.1",
        "127.0.0.1.",  # trailing dot
        "0",  # 0.0.0.0
        "0.0.0.0",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata (link-local)
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "192.0.0.1",
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "[::1]",
        "[::]",
        "[fe80::1]",
        "[fc00::1]",
        "[fd12:3456::1]",
        "[fec0::1]",  # deprecated site-local
        "[ff02::1]",  # multicast
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:7f00:1]",  # the same, in hex
        "[::ffff:10.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[::127.0.0.1]",  # IPv4-compatible (deprecated)
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
        "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[2001::1]",  # Teredo
        "[2001:db8::1]",  # documentation
        "[100::1]",  # discard-only
    ],
)
def test_every_spelling_of_a_non_public_address_is_refused(host):
    refused_with(f"http://{host}/hook", WEBHOOK_URL_FORBIDDEN)


@pytest.mark.parametrize("host", ["0177.0.0.1", "012.0.0.1", "0300.0250.0.1"])
def test_octal_parts_are_refused_before_any_lookup(host):
    # inet_aton reads 0177.0.0.1 as 127.0.0.1; httpx, which sends the request, refuses a part
    # with a leading zero outright, so such a URL could not be sent anyway.
    refused_with(f"http://{host}/hook", WEBHOOK_URL_INVALID)


@pytest.mark.parametrize("url", [f"https://{PUBLIC_V4}/hook", f"https://[{PUBLIC_V6}]:8443/"])
def test_a_public_address_is_accepted_and_connected_to_as_written(url):
    target = guard().check(url)

    assert str(target.address) in url
    assert target.tls_name is None  # an IP literal has no name to send in SNI


def test_a_name_with_only_public_addresses_is_accepted_and_pinned_to_the_first():
    dns = FakeDns({"hooks.example.com": [PUBLIC_V4, PUBLIC_V6]})

    target = WebhookGuard(resolver=dns).check("https://Hooks.Example.com:8443/in?x=1")

    assert target.address == ipaddress.ip_address(PUBLIC_V4)
    assert dns.asked == [("hooks.example.com", 8443)]
    assert target.host_header == "hooks.example.com:8443"
    assert target.tls_name == "hooks.example.com"
    assert str(target.connect_url) == f"https://{PUBLIC_V4}:8443/in?x=1"


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        [PUBLIC_V4, "10.1.2.3"],  # ANY private address is enough
        [PUBLIC_V6, "::1"],
        [PUBLIC_V4, "::ffff:192.168.0.1"],
        ["fe80::1%eth0"],  # link-local with its zone, as getaddrinfo gives it
    ],
)
def test_a_name_resolving_to_any_non_public_address_is_refused(answers):
    g = guard({"hooks.example.com": answers})

    refused_with("https://hooks.example.com/", WEBHOOK_URL_FORBIDDEN, g)


def test_localhost_is_refused_through_its_address():
    g = guard({"localhost": ["127.0.0.1", "::1"]})

    refused_with("http://localhost:8080/", WEBHOOK_URL_FORBIDDEN, g)


def test_a_name_that_does_not_resolve_is_refused_as_unresolvable():
    refused_with("https://nowhere.example.com/", WEBHOOK_URL_UNRESOLVABLE)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/",
        "file:///etc/passwd",
        "gopher://hooks.example.com/",
        "hooks.example.com/hook",
        "https://user:password@hooks.example.com/",
        "https://user@hooks.example.com/",
        "http:///no-host",
        "https://hooks.example.com:0/",
        "https://hooks.example.com:70000/",
        "https://hooks example.com/",
        "https://hooks.example.com/\nX-Injected: 1",
        "http://1.2.3.4.5/",  # ends in a number but is no address
        "http://256.0.0.1/",
        "http://0x100000000/",
        "http://hooks.example.123/",
        "http://[fe80::1%25eth0]/",
        "https://hooks.example.com/" + "a" * 2048,
    ],
)
def test_malformed_urls_other_schemes_and_credentials_are_invalid(url):
    g = guard({"hooks.example.com": [PUBLIC_V4]})

    refused_with(url, WEBHOOK_URL_INVALID, g)


def test_the_allow_list_opens_its_range_and_nothing_else():
    g = guard({"receiver.internal": ["10.20.0.5"]}, allow=("127.0.0.0/8", "10.20.0.0/16"))

    assert str(g.check("http://127.0.0.1:9000/").address) == "127.0.0.1"
    assert str(g.check("http://0x7f000001:9000/").address) == "127.0.0.1"
    mapped = g.check("http://[::ffff:127.0.0.1]:9000/").address
    assert mapped == ipaddress.ip_address("::ffff:127.0.0.1")
    assert str(g.check("http://receiver.internal/").address) == "10.20.0.5"
    refused_with("http://10.21.0.5/", WEBHOOK_URL_FORBIDDEN, g)
    refused_with("http://[::1]/", WEBHOOK_URL_FORBIDDEN, g)
    refused_with("http://169.254.169.254/", WEBHOOK_URL_FORBIDDEN, g)


def test_an_ipv6_allow_list_opens_ipv6_loopback():
    g = guard(allow=("::1/128",))

    assert str(g.check("http://[::1]:9000/").address) == "::1"
    refused_with("http://127.0.0.1/", WEBHOOK_URL_FORBIDDEN, g)
