"""How many live queries one caller runs at once.

A live query (no `asOf`, not a partner's) holds one pooled connection, its read
snapshot (app/db/shared.py), for its whole run; the pool has POOL_SIZE + POOL_OVERFLOW
of them (app/db/session.py). Without a bound, one caller sending many slow queries at
once takes them all and every other caller waits for a connection. So each caller (an
API key, a token's subject, or an anonymous address: `caller_of`) runs at most
MAX_QUERIES_PER_CALLER of them at once, fewer than POOL_SIZE; one more is refused BUSY
at once, with `retryAfter`, never after a wait. Queries over HTTP and over a WebSocket
count alike, and so does each report of a live `budgetSummaryUpdates` (it reads through
a snapshot too): a report waits for its caller's slot rather than fail, as the
subscriber cannot retry one event. `asOf` and partner operations read through views,
outside the pool, and are bounded by MAX_VIEWS_PER_CALLER instead (app/views/pool.py).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.config import Settings
from app.errors import DomainError, ErrorCode
from app.kit.loops import PerLoop, kept_for_loop

SETTING = "MAX_QUERIES_PER_CALLER"


class QuerySlots:
    """The live queries each caller runs now, in one app on one event loop."""

    def __init__(self, settings: Settings) -> None:
        self.most = settings.max_queries_per_caller
        self.retry_after = settings.retry_after_seconds
        self._running: Counter[str] = Counter()
        self._freed = asyncio.Event()

    def running(self, caller: str | None = None) -> int:
        """Queries `caller` runs now (None: every caller's)."""
        return self._running[caller] if caller is not None else sum(self._running.values())

    def take(self, caller: str) -> None:
        """One more query of `caller`; DomainError BUSY at once when it runs its most."""
        if self._running[caller] >= self.most:
            raise DomainError(
                f"this caller already runs {self.most} queries at once "
                f"({SETTING}); retry in {self.retry_after} s",
                code=ErrorCode.BUSY,
                details={"limit": self.most, "setting": SETTING, "retryAfter": self.retry_after},
            )
        self._running[caller] += 1

    def give_back(self, caller: str) -> None:
        self._running[caller] -= 1
        if self._running[caller] <= 0:
            del self._running[caller]
        freed, self._freed = self._freed, asyncio.Event()
        freed.set()

    @asynccontextmanager
    async def held(self, caller: str, *, wait: bool = False) -> AsyncIterator[None]:
        """A slot of `caller` for the block; `wait`: until one is free, not BUSY."""
        while wait and self._running[caller] >= self.most:
            await self._freed.wait()
        self.take(caller)
        try:
            yield
        finally:
            self.give_back(caller)


_SLOTS: PerLoop[QuerySlots] = weakref.WeakKeyDictionary()


def query_slots(schema: Any, settings: Settings) -> QuerySlots:
    """The slots of `schema` (so of one app) on the running event loop."""
    return kept_for_loop(_SLOTS, schema, lambda: QuerySlots(settings))
