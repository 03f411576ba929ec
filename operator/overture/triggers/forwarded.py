"""Who called a webhook: the peer's address, or behind a trusted proxy the one it forwarded. Pure.

Wrong webhook keys are throttled per client address. Behind an ingress or a load balancer every
call comes from the proxy, so one client's wrong keys would throttle everybody, and a client
could not be told from another. ``X-Forwarded-For`` says who the proxy served, but anyone can
send that header: it is read only when the peer is a trusted proxy
(``OVERTURE_WEBHOOK_TRUSTED_PROXIES``, chart ``webhooks.trustedProxies``), and then from the right,
skipping the trusted proxies of a chain: the first address no trusted proxy could have written
is the client (a client's own ``X-Forwarded-For`` entries sit to the left of it and are ignored).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from overture.calls.guard import Network

FORWARDED_FOR = "X-Forwarded-For"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, proxies: Iterable[Network]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in proxies)


def client_address(peer: str, forwarded_for: Iterable[str], proxies: tuple[Network, ...]) -> str:
    """The caller's address: ``peer`` unless it is a trusted proxy, else the right-most address of
    ``forwarded_for`` (every such header's values, in order) that is not a trusted proxy (the
    left-most if all are). A value that is no address ends the walk there: the proxy wrote it."""
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        parsed = _address(hop)
        if parsed is None:
            break
        client = str(parsed)
        if not any(parsed in network for network in proxies):
            break
    return client
