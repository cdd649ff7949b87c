"""The real address of whoever sent a request, behind trusted proxies only.

`X-Forwarded-For` is a list anyone can start: only the hops added by proxies we run count, so
the address is the right-most entry not in `TRUSTED_PROXIES` (nginx on the same machine by
default). A direct client that sends the header gets its own address, not the one it claims.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

DEFAULT_TRUSTED_PROXIES = "127.0.0.1/32,::1/128"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def parse_networks(spec: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def real_client_address(peer: str | None, forwarded_for: str | None, trusted_spec: str) -> str:
    """The client's address: the peer, or — when the peer is a trusted proxy — the first untrusted
    hop of X-Forwarded-For read from the right."""
    networks = parse_networks(trusted_spec)
    address = peer or ""
    if not forwarded_for or not _trusted(address, networks):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop
        if not _trusted(hop, networks):
            break
    return address


def address_bucket(address: str) -> str:
    """What one client controls: an IPv4 address, or the /64 of an IPv6 one (a single host is handed a
    whole /64, so counting its addresses one by one would give it 2^64 budgets)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def forwarded_proto(peer: str | None, header: str | None, trusted_spec: str) -> str | None:
    """X-Forwarded-Proto, believed only from a trusted proxy."""
    if header and _trusted(peer or "", parse_networks(trusted_spec)):
        return header.split(",")[0].strip().lower()
    return None
