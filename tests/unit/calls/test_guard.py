"""The address guard: which addresses the operator's own requests may reach."""

from __future__ import annotations

import ipaddress

import pytest

from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard, parse_networks


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("10.96.0.1", "private"),
        ("172.20.3.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.10", "carrier-grade NAT"),
        ("0.0.0.0", "this network"),
        ("::1", "loopback"),
        ("fd00:ec2::254", "private"),
        ("fe80::1", "link-local"),
        ("::ffff:169.254.169.254", "metadata"),
    ],
)
def test_internal_addresses_are_refused(address: str, why: str) -> None:
    refusal = AddressGuard().refusal(ipaddress.ip_address(address))
    assert refusal is not None
    assert why in refusal


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert AddressGuard().refusal(ipaddress.ip_address(address)) is None


def test_a_platform_setting_allows_named_networks_only() -> None:
    guard = AddressGuard(parse_networks("10.244.8.0/24, 127.0.0.1"))
    assert guard.refusal(ipaddress.ip_address("10.244.8.1")) is None
    assert guard.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert guard.refusal(ipaddress.ip_address("10.244.9.1")) is not None
    assert guard.refusal(ipaddress.ip_address("169.254.169.254")) is not None


def test_allow_private_allows_everything() -> None:
    assert AddressGuard(allow_private=True).refusal(ipaddress.ip_address("169.254.169.254")) is None


def test_one_bad_address_of_a_name_refuses_the_name() -> None:
    with pytest.raises(CallError, match=r"api.example resolves to 10.0.0.5, a private address"):
        AddressGuard().check("api.example", ["93.184.215.14", "10.0.0.5"])


def test_a_literal_is_named_once() -> None:
    with pytest.raises(CallError, match=r"^127.0.0.1 is a loopback address: .*OVERTURE_CALLS_ALLOWED_NETWORKS"):
        AddressGuard().check("127.0.0.1", ["127.0.0.1"])


def test_a_setting_that_is_no_cidr_is_named() -> None:
    with pytest.raises(ValueError, match=r"'intranet' is not a CIDR"):
        parse_networks("10.0.0.0/8, intranet")
