"""Who the client is and whether it came over HTTPS, believing X-Forwarded-* only from trusted proxies.

Behind a reverse proxy every request comes from the proxy's address; without these headers one
address would stand for every manager. Anyone can send the headers, so they count only when the
connection itself comes from an address listed in ``dashboard.trusted_proxies``.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _address(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(addr, trusted: tuple[Network, ...]) -> bool:
    return addr is not None and any(addr.version == n.version and addr in n for n in trusted)


def client_of(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client address: the peer, or, when the peer is a trusted proxy, the nearest X-Forwarded-For
    entry that is not itself a trusted proxy (entries further left can be made up by the client)."""
    if not forwarded_for or not _trusted(_address(peer), trusted):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        addr = _address(hop)
        if addr is None:
            return peer  # a garbled list: fall back to the proxy rather than guess
        if not _trusted(addr, trusted):
            return str(addr)
    return peer


def is_https(peer: str, forwarded_proto: str | None, trusted: tuple[Network, ...], tls: bool = False) -> bool:
    """Served over TLS directly, or a trusted proxy says the client used https."""
    if tls:
        return True
    if not forwarded_proto or not _trusted(_address(peer), trusted):
        return False
    return forwarded_proto.split(",")[-1].strip().lower() == "https"
