"""Whom a client address belongs to, for counting by address: the rate limits
(app/http/rate_limits.py) and an anonymous caller's shares (`caller_of`,
app/graphql/context.py) count alike."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


# Worked out once per address among the most recent (parsing one took a few percent of
# a small query's CPU, asked by the rate limits and again by the caller's shares).
@lru_cache(maxsize=4096)
def address_key(address: str) -> str:
    """Whom an address belongs to: an IPv4 address itself, an IPv6 address's /64 (one
    host holds a whole /64 and may pick any address in it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client, a Unix socket's peer)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
