"""Rate limits: how many requests one client address, and one credential, may make.

Two budgets, each a setting in the `limits` notation ("600/minute", or several:
"20/second;600/minute"); empty turns one off:
- RATE_LIMIT_PER_ADDRESS counts every request to /graphql and the CSV downloads, and
  every WebSocket connection, by the client's address, before its credential is
  checked: guessing keys costs the guesser's budget, not the service's.
- RATE_LIMIT_PER_KEY counts every request made with a credential (an API key, or a
  token's subject), and every operation on a WebSocket connection, by the caller.

The counts live in memory (one process) or in Redis (RATE_LIMIT_STORAGE, on
REDIS_URL), where every process shares them. Windows slide (the `limits` library's
sliding-window counter), so a client cannot double its rate at a window's edge.

A refused request is answered 429 with `Retry-After` and the code RATE_LIMITED
naming the setting; a WebSocket connection is closed with 4429. Nothing runs and
nothing is written. When the storage cannot be reached the request is let through
(and the failure logged): an outage of Redis must not take the service down.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from app.auth.principal import Principal
from app.config import Settings

RATE_LIMITED = "RATE_LIMITED"
# Storage failures are logged at most this often.
_LOG_EVERY_SECONDS = 30.0

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


def storage_for(settings: Settings) -> Storage:
    if settings.rate_limit_backend == "redis":
        assert settings.redis_url is not None  # the settings refuse redis without it
        return RedisStorage(
            "async+" + settings.redis_url,
            implementation="redispy",
            key_prefix="pledge-ledger:rate",
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
        )
    return MemoryStorage()


class RateLimiter:
    """The two budgets of one app. `check_*` return the budget that ran out, or None."""

    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.per_address = _items(settings.rate_limit_per_address)
        self.per_key = _items(settings.rate_limit_per_key)
        self.address_text = settings.rate_limit_per_address
        self.key_text = settings.rate_limit_per_key
        self.enabled = bool(self.per_address or self.per_key)
        self.storage = (storage or storage_for(settings)) if self.enabled else None
        self.strategy = (
            SlidingWindowCounterRateLimiter(self.storage) if self.storage is not None else None
        )
        self._logged_at = -math.inf

    async def check_address(self, address: str | None) -> Exceeded | None:
        if not self.per_address or address is None:
            return None
        return await self._hit(
            self.per_address, "address", address, "RATE_LIMIT_PER_ADDRESS", self.address_text
        )

    async def check_caller(self, principal: Principal) -> Exceeded | None:
        if not self.per_key or principal.role is None:
            return None  # anonymous callers are counted by address only
        return await self._hit(
            self.per_key, "key", principal.name, "RATE_LIMIT_PER_KEY", self.key_text
        )

    async def _hit(
        self, items: list[RateLimitItem], kind: str, who: str, setting: str, text: str
    ) -> Exceeded | None:
        assert self.strategy is not None
        try:
            for item in items:
                if not await self.strategy.hit(item, kind, who):
                    stats = await self.strategy.get_window_stats(item, kind, who)
                    wait = max(1, math.ceil(stats.reset_time - time.time()))
                    return Exceeded(setting, text, wait)
        except Exception as exc:  # the storage is down: let the request through
            now = time.monotonic()
            if now - self._logged_at > _LOG_EVERY_SECONDS:
                self._logged_at = now
                log.warning("rate limits not enforced: storage unreachable (%s)", exc)
        return None

    async def close(self) -> None:
        bridge = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()
