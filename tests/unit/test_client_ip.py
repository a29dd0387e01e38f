"""api/client_ip.py: X-Forwarded-For is believed only through trusted proxies."""

from __future__ import annotations

from api.client_ip import client_ip, networks

PROXIES = networks(["10.0.0.0/8"])


def scope(peer: str | None, *xff: str) -> dict:
    return {
        "client": (peer, 1234) if peer else None,
        "headers": [(b"x-forwarded-for", v.encode()) for v in xff],
    }


def test_an_untrusted_peer_is_the_client_whatever_it_forwards():
    assert client_ip(scope("203.0.113.9", "198.51.100.1"), PROXIES) == "203.0.113.9"


def test_a_trusted_proxy_names_the_right_most_untrusted_hop():
    # client 198.51.100.7 wrote "1.2.3.4" itself; proxies 10.0.0.5 and 10.0.0.6 appended.
    assert client_ip(scope("10.0.0.6", "1.2.3.4, 198.51.100.7, 10.0.0.5"), PROXIES) == (
        "198.51.100.7"
    )


def test_several_forwarded_headers_read_as_one_list():
    assert client_ip(scope("10.0.0.6", "1.2.3.4", "198.51.100.7"), PROXIES) == "198.51.100.7"


def test_garbage_from_the_client_falls_back_to_the_hop_that_saw_it():
    assert client_ip(scope("10.0.0.6", "not-an-ip, 10.0.0.5"), PROXIES) == "10.0.0.5"


def test_only_proxies_in_the_chain_gives_the_left_most():
    assert client_ip(scope("10.0.0.6", "10.0.0.1, 10.0.0.2"), PROXIES) == "10.0.0.1"


def test_ipv4_mapped_ipv6_peer_is_the_ipv4_client():
    assert client_ip(scope("::ffff:198.51.100.7"), PROXIES) == "198.51.100.7"


def test_no_peer_or_a_test_client_name():
    assert client_ip(scope(None), PROXIES) == "unknown"
    assert client_ip(scope("testclient"), PROXIES) == "testclient"
