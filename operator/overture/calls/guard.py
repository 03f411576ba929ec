"""Where the operator may send a request: no cluster-internal, loopback or metadata addresses.

An ``http`` task, a ``notify`` webhook, an SMTP server and a PostgreSQL server are named by flow
authors, but the request leaves from the operator's own network position: next to the API
server, the cloud's metadata service (169.254.169.254 hands out node credentials) and every
Service of the cluster. So a host is resolved once, every address it resolves to is checked, and
the connection is made to a checked address (a name that resolves to a public address at check
time and a private one at connect time cannot slip through: we connect to what we checked).

Blocked unless a platform setting allows them (``OVERTURE_CALLS_ALLOWED_NETWORKS``, CIDRs):
loopback, private (RFC 1918, unique local), link-local (metadata), carrier-grade NAT, "this
network", multicast and reserved ranges. ``OVERTURE_CALLS_ALLOW_PRIVATE=true`` allows them all
(a single-tenant cluster whose flows call internal services).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from overture.calls.errors import CallError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata lives there)"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "a reserved address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a reserved address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("fc00::/7", "a private address"),
    ("fe80::/10", "a link-local address"),
    ("ff00::/8", "a multicast address"),
)
_BLOCKED = tuple((ipaddress.ip_network(cidr), why) for cidr, why in BLOCKED)


def parse_networks(text: str, setting: str = "OVERTURE_CALLS_ALLOWED_NETWORKS") -> tuple[Network, ...]:
    """``10.0.0.0/8, 127.0.0.1`` -> networks; raises ValueError naming the entry that is no CIDR."""
    networks: list[Network] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{setting}: {entry!r} is not a CIDR; use e.g. 10.0.0.0/8") from None
    return tuple(networks)


@dataclass(frozen=True)
class AddressGuard:
    """Which addresses calls may reach: everything public, plus ``allowed`` (or all with ``allow_private``)."""

    allowed: tuple[Network, ...] = field(default=())
    allow_private: bool = False

    def refusal(self, address: Address) -> str | None:
        """Why ``address`` may not be called, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if self.allow_private or any(address in network for network in self.allowed):
            return None
        for network, why in _BLOCKED:
            if address in network:
                return why
        return None

    def check(self, host: str, addresses: Iterable[str]) -> list[str]:
        """The addresses of ``host``, all of them allowed; CallError names the first that is not."""
        found = list(addresses)
        if not found:
            raise CallError(f"{host} did not resolve to any address")
        for text in found:
            why = self.refusal(ipaddress.ip_address(text.split("%")[0]))
            if why is not None:
                what = f"{host} is" if host == text else f"{host} resolves to {text},"
                raise CallError(
                    f"{what} {why}: the operator does not call it"
                    " (a platform setting, OVERTURE_CALLS_ALLOWED_NETWORKS, can allow it)"
                )
        return found

    def resolve(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` (blocking; call it in a thread) and check every address it has."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise CallError(f"{host} does not resolve: {exc.strerror}") from None
        return self.check(host, dict.fromkeys(str(info[4][0]) for info in infos))
