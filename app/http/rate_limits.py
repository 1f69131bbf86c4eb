"""Rate limits: how many requests one client address, and one credential, may make.

Two budgets, each a setting in the `limits` notation ("600/minute", or several:
"20/second;600/minute"); empty turns one off:
- RATE_LIMIT_PER_ADDRESS counts every request to /graphql and the CSV downloads, and
  every WebSocket connection, by the client's address, before its credential is
  checked: guessing keys costs the guesser's budget, not the service's.
- RATE_LIMIT_PER_KEY counts every request made with a credential (an API key, or a
  token's subject), and every WebSocket connection, by the caller.
- Every operation on a WebSocket connection counts too: by its caller, or by the
  connection's address when anonymous.

An IPv6 client is counted by its /64 (one host holds a whole /64). The counts live in
memory (one process) or in Redis (RATE_LIMIT_STORAGE, on REDIS_URL), where every
process shares them. Windows slide (the `limits` library's sliding-window counter), so
a client cannot double its rate at a window's edge; every window is tested before any
counts a request.

A refused request is answered 429 with `Retry-After` and the code RATE_LIMITED
naming the setting and the window; a WebSocket connection is closed with 4429. Nothing
runs and nothing is written. When the storage fails (or takes over 0.25 s) the request
is let through, the failure logged, and the storage left alone for 5 s: an outage of
Redis must neither take the service down nor slow it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, cast

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import ConnectionPool

from app.auth.principal import Principal
from app.config import Settings
from app.kit.addresses import address_key

# Storage failures are logged at most this often.
_LOG_EVERY_SECONDS = 30.0
# A storage call that takes longer has failed; after a failure, requests are let
# through without asking the storage for this long, so a hung Redis slows nobody.
STORAGE_TIMEOUT_SECONDS = 0.25
SKIP_AFTER_FAILURE_SECONDS = 5.0
# Connections to Redis per process (and storage calls at once).
STORAGE_CONNECTIONS = 32

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Exceeded:
    """A budget that ran out: which, and when the client may try again."""

    setting: str
    limit: str
    retry_after: int

    @property
    def message(self) -> str:
        who = "this address" if self.setting == "RATE_LIMIT_PER_ADDRESS" else "this caller"
        return (
            f"too many requests from {who}: the limit is {self.limit} ({self.setting}); "
            f"try again in {self.retry_after} s"
        )

    @property
    def extensions(self) -> dict[str, object]:
        return {"limit": self.limit, "setting": self.setting, "retryAfter": self.retry_after}

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _items(text: str) -> list[RateLimitItem]:
    return parse_many(text) if text.strip() else []


def notation(item: RateLimitItem) -> str:
    """One window in the settings' notation: "600/minute", "10/5 seconds"."""
    unit = item.GRANULARITY.name
    if item.multiples == 1:
        return f"{item.amount}/{unit}"
    return f"{item.amount}/{item.multiples} {unit}s"


class _MemoryStorage(MemoryStorage):
    """limits' in-process storage, sweeping expired counts at most every few seconds.
    It starts a sweep over every count at each request otherwise, so a request's cost
    grew with the number of clients seen in the last windows (1.6 ms at 20,000).
    Expired counts are ignored when read whether swept or not."""

    SWEEP_EVERY_SECONDS = 5.0
    _swept_at = -math.inf

    async def _MemoryStorage__schedule_expiry(self) -> None:
        # limits' private hook (name-mangled), called at every count
        now = time.monotonic()
        if now - self._swept_at >= self.SWEEP_EVERY_SECONDS:
            self._swept_at = now
            sweep = getattr(MemoryStorage, "_MemoryStorage__schedule_expiry")  # noqa: B009
            await sweep(self)


def storage_for(settings: Settings) -> Storage:
    if settings.rate_limit_backend == "redis":
        assert settings.redis_url is not None  # the settings refuse redis without it
        # Our own pool from the URL as redis-py reads it (the events broker's reading):
        # limits' own URL parsing refuses some URLs redis-py takes (no port, a socket).
        pool = ConnectionPool.from_url(
            settings.redis_url,
            max_connections=STORAGE_CONNECTIONS,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
        )
        return RedisStorage(
            "async+redis://redis:6379",  # not used: the pool below is
            implementation="redispy",
            key_prefix="pledge-ledger:rate",
            connection_pool=cast(Any, pool),
        )
    return _MemoryStorage()


class RateLimiter:
    """The two budgets of one app. `check_*` return the budget that ran out, or None."""

    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.per_address = _items(settings.rate_limit_per_address)
        self.per_key = _items(settings.rate_limit_per_key)
        self.enabled = bool(self.per_address or self.per_key)
        self.storage = (storage or storage_for(settings)) if self.enabled else None
        self.strategy = (
            SlidingWindowCounterRateLimiter(self.storage) if self.storage is not None else None
        )
        self._logged_at = -math.inf
        # While the storage is failing, it is not asked again before this (monotonic).
        self._skip_until = -math.inf
        # Storage calls at once: no more than the Redis pool's connections, so a burst
        # of requests waits its turn rather than find the pool empty (an error, which
        # would lapse the limits for everyone).
        self._calls = asyncio.Semaphore(STORAGE_CONNECTIONS)

    async def check_address(self, address: str | None) -> Exceeded | None:
        if not self.per_address or address is None:
            return None
        return await self._hit(
            self.per_address, "address", address_key(address), "RATE_LIMIT_PER_ADDRESS"
        )

    async def check_caller(self, principal: Principal) -> Exceeded | None:
        if not self.per_key or principal.role is None:
            return None  # anonymous callers are counted by address only
        return await self._hit(self.per_key, "key", principal.name, "RATE_LIMIT_PER_KEY")

    async def check_operation(self, principal: Principal, address: str | None) -> Exceeded | None:
        """An operation on an open WebSocket: by its caller, or by address if anonymous."""
        if principal.role is None:
            return await self.check_address(address)
        return await self.check_caller(principal)

    async def _hit(
        self, items: list[RateLimitItem], kind: str, who: str, setting: str
    ) -> Exceeded | None:
        assert self.strategy is not None
        now = time.monotonic()
        if now < self._skip_until:
            return None  # the storage failed a moment ago: let requests through
        try:
            async with self._calls:
                # Every window is tested before any counts the request, so a request
                # refused by one window spends none of the others; counting decides,
                # though: concurrent requests may all have passed the test.
                for item in items:
                    if not await self.strategy.test(item, kind, who):
                        return await self._exceeded(item, kind, who, setting)
                for item in items:
                    if not await self.strategy.hit(item, kind, who):
                        return await self._exceeded(item, kind, who, setting)
        except Exception as exc:  # the storage is down or hung: let the request through
            self._skip_until = now + SKIP_AFTER_FAILURE_SECONDS
            if now - self._logged_at > _LOG_EVERY_SECONDS:
                self._logged_at = now
                log.warning("rate limits not enforced: storage unreachable (%r)", exc)
        return None

    async def _exceeded(self, item: RateLimitItem, kind: str, who: str, setting: str) -> Exceeded:
        assert self.strategy is not None
        stats = await self.strategy.get_window_stats(item, kind, who)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        return Exceeded(setting, notation(item), wait)

    async def close(self) -> None:
        bridge = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()
            await client.connection_pool.disconnect()
