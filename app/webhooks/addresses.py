"""Where a webhook may be sent: the server-side request forgery check.

A URL is http(s) with a host; unless private addresses are allowed, every address its
host resolves to must be a public unicast one. The check runs when an endpoint is
registered and again before each connection, which then goes to the address just
checked (never resolved a second time), so a name that resolves to a public address
at registration and to 127.0.0.1 later (DNS rebinding) is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.errors import DomainError, ErrorCode

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(DomainError):
    code = ErrorCode.ADDRESS_REFUSED


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    # The addresses the host resolved to, every one checked.
    addresses: tuple[IPAddress, ...]


def parse(url: str) -> tuple[str, str, int]:
    """The URL's scheme, host and port; AddressRefused for anything else."""
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"url: at most {MAX_URL_LENGTH} characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"url: not a URL ({exc})", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("url: give an http:// or https:// URL with a host", field="url")
    if parts.username or parts.password:
        raise AddressRefused("url: credentials in the URL are not accepted", field="url")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return public(address.ipv4_mapped)
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise AddressRefused(
            f"url: the host {host!r} does not resolve ({exc})", field="url"
        ) from None
    # getaddrinfo's sockaddr[0] is the address; an IPv6 one may carry a zone ("%eth0").
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found}
    return tuple(sorted(addresses, key=lambda a: (a.version, int(a))))


async def checked(url: str, *, allow_private: bool) -> Target:
    """The URL's target with every address its host resolves to now, each allowed."""
    scheme, host, port = parse(url)
    addresses = await resolve(host, port)
    if not addresses:
        raise AddressRefused(f"url: the host {host!r} has no address", field="url")
    if not allow_private:
        for address in addresses:
            if not public(address):
                raise AddressRefused(
                    f"url: {host!r} is (or resolves to) {address}, a loopback, private, "
                    "link-local, multicast or reserved address; webhooks go to public "
                    "addresses only (WEBHOOK_ALLOW_PRIVATE_ADDRESSES allows others)",
                    field="url",
                    details={"address": str(address)},
                )
    return Target(scheme, host, port, addresses)
