"""Who called a webhook: X-Forwarded-For is read only from a trusted proxy (issue 14)."""

from __future__ import annotations

import pytest

from overture.calls.guard import parse_networks
from overture.triggers.forwarded import client_address

PROXIES = parse_networks("10.0.0.0/8, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", [], "203.0.113.9"),  # no proxy
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # an untrusted peer's header is ignored
        ("10.0.0.5", ["198.51.100.1"], "198.51.100.1"),  # the proxy's word
        ("10.0.0.5", [], "10.0.0.5"),  # a proxy that forwarded nothing is the client
        ("10.0.0.5", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client's own entry is ignored
        ("10.0.0.5", ["198.51.100.1, 10.1.1.1"], "198.51.100.1"),  # a chain of trusted proxies
        ("10.0.0.5", ["198.51.100.1", "10.1.1.1"], "198.51.100.1"),  # the header given twice
        ("10.0.0.5", ["10.2.2.2, 10.1.1.1"], "10.2.2.2"),  # all trusted: the left-most
        ("10.0.0.5", ["198.51.100.1:4711"], "198.51.100.1"),  # with a port
        ("10.0.0.5", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("10.0.0.5", ["6.6.6.6, unknown"], "10.0.0.5"),  # the proxy wrote no address: the proxy counts
        ("fd00::1", ["2001:db8::7"], "2001:db8::7"),
    ],
)
def test_the_client_behind_a_trusted_proxy(peer: str, forwarded: list[str], client: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == client


def test_without_trusted_proxies_the_header_never_counts() -> None:
    assert client_address("10.0.0.5", ["198.51.100.1"], ()) == "10.0.0.5"


def test_a_setting_that_is_no_cidr_is_named() -> None:
    with pytest.raises(ValueError, match="OVERTURE_WEBHOOK_TRUSTED_PROXIES: 'proxy' is not a CIDR"):
        parse_networks("10.0.0.0/8,proxy", "OVERTURE_WEBHOOK_TRUSTED_PROXIES")
