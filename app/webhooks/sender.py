"""One webhook request: to the address the SSRF check just approved, no redirects,
a deadline, and at most the first KB of the answer read (and kept)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from app.webhooks.addresses import AddressRefused, checked

EXCERPT_BYTES = 1024


def storable(text: str | None) -> str | None:
    """`text` as every database stores it: NUL (which PostgreSQL refuses in text) and
    anything that is not UTF-8 (a lone surrogate) replaced. A receiver's answer or an
    error's message that could not be recorded would have its delivery sent again."""
    if text is None:
        return None
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


class Sender:
    def __init__(self, *, timeout: float, allow_private: bool) -> None:
        self.allow_private = allow_private
        # The whole delivery's deadline: httpx's timeout bounds each read, so a receiver
        # answering a byte at a time would hold a delivery (and its lease) for ever.
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
            trust_env=False,  # no proxy from the environment: it would connect elsewhere
        )

    async def close(self) -> None:
        await self._client.aclose()

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
        request = self._client.build_request(
            "POST",
            parsed.copy_with(host=literal.strip("[]")),
            headers={**headers, "host": parsed.netloc.decode("ascii")},
            content=body,
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.send(request, stream=True)
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
