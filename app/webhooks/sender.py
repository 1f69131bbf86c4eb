"""One webhook request: to the address the SSRF check just approved, no redirects,
a deadline, and at most the first KB of the answer read (and kept)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass

import httpx

from app.webhooks.addresses import AddressRefused, Target, checked

EXCERPT_BYTES = 1024


def storable(text: str) -> str:
    """`text` as every database stores it: NUL (which PostgreSQL refuses in text) and
    anything that is not UTF-8 (a lone surrogate) replaced. A receiver's answer or an
    error's message that could not be recorded would have its delivery sent again."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    excerpt: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# Clients kept, one per target (scheme, host name, port); the least recently used idle
# one is closed beyond this.
MAX_CLIENTS = 256


class Sender:
    """Sends deliveries, with one HTTP client (and pool of connections) per target
    host name. Each request goes to the address just checked, so a client's pool is
    keyed by that address: one client for every host would let a TLS connection made
    and verified for one host name carry the deliveries of another host on the same
    address, unverified."""

    def __init__(
        self, *, timeout: float, allow_private: bool, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.allow_private = allow_private
        # The whole delivery's deadline: httpx's timeout bounds each read, so a receiver
        # answering a byte at a time would hold a delivery (and its lease) for ever.
        self.timeout = timeout
        # One TLS context for every client (tests pass their own authority's): httpx
        # would build one per client, ~15 ms of the event loop and ~0.7 MB each. Shared,
        # it still checks each connection against the host name it was opened for.
        self.verify = httpx.create_ssl_context() if verify is True else verify
        self._clients: OrderedDict[tuple[str, str, int], httpx.AsyncClient] = OrderedDict()
        self._using: Counter[tuple[str, str, int]] = Counter()

    def _client(self, key: tuple[str, str, int]) -> httpx.AsyncClient:
        client = self._clients.pop(key, None)
        if client is None:
            client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=50),
                trust_env=False,  # no proxy from the environment: it would connect elsewhere
                verify=self.verify,
            )
        self._clients[key] = client  # the most recently used last
        self._using[key] += 1
        return client

    async def _done_with(self, key: tuple[str, str, int]) -> None:
        self._using[key] -= 1
        if self._using[key] <= 0:
            del self._using[key]
        idle = [k for k in self._clients if k not in self._using]
        for old in idle[: max(0, len(self._clients) - MAX_CLIENTS)]:
            await self._clients.pop(old).aclose()

    async def close(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        started = time.perf_counter()
        try:
            target = await checked(url, allow_private=self.allow_private)
        except AddressRefused as exc:
            error = storable(exc.message[:1000])
            return Outcome(None, error, None, time.perf_counter() - started)
        # Connect to the checked address itself, naming the host in Host (and, for
        # https, in SNI and the certificate check).
        address = target.addresses[0]
        literal = f"[{address}]" if address.version == 6 else str(address)
        parsed = httpx.URL(url)
        key = (target.scheme, target.host, target.port)
        client = self._client(key)
        try:
            return await self._send(client, target, literal, parsed, headers, body, started)
        finally:
            await self._done_with(key)

    async def _send(
        self,
        client: httpx.AsyncClient,
        target: Target,
        literal: str,
        parsed: httpx.URL,
        headers: dict[str, str],
        body: bytes,
        started: float,
    ) -> Outcome:
        request = client.build_request(
            "POST",
            parsed.copy_with(host=literal.strip("[]")),
            headers={**headers, "host": parsed.netloc.decode("ascii")},
            content=body,
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            async with asyncio.timeout(self.timeout):
                response = await client.send(request, stream=True)
                try:
                    excerpt = b""
                    async for chunk in response.aiter_raw():
                        excerpt += chunk
                        if len(excerpt) >= EXCERPT_BYTES:
                            break
                finally:
                    await response.aclose()
        except TimeoutError:
            error = f"no whole answer within {self.timeout:g} s"
            return Outcome(None, error, None, time.perf_counter() - started)
        except httpx.HTTPError as exc:
            error = storable(f"{type(exc).__name__}: {exc}"[:1000])
            return Outcome(None, error, None, time.perf_counter() - started)
        text = storable(excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"))
        return Outcome(response.status_code, None, text, time.perf_counter() - started)
