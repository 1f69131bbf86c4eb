"""A caller's share of something the process holds few of (connections, views): how
many each caller runs at once, refused BUSY at once past its most, with `retryAfter`."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.errors import DomainError, ErrorCode


class CallerShares:
    """What each caller runs now, up to `most` each (`setting` names the limit and
    `what` the thing counted, in the refusal)."""

    def __init__(self, most: int, *, setting: str, what: str, retry_after: int) -> None:
        self.most = most
        self.setting = setting
        self.what = what
        self.retry_after = retry_after
        self._running: Counter[str] = Counter()
        self._freed = asyncio.Event()

    def running(self, caller: str | None = None) -> int:
        """What `caller` runs now (None: every caller's)."""
        return self._running[caller] if caller is not None else sum(self._running.values())

    def take(self, caller: str) -> None:
        """One more for `caller`; DomainError BUSY at once when it runs its most."""
        if self._running[caller] >= self.most:
            raise DomainError(
                f"this caller already runs {self.most} {self.what} at once "
                f"({self.setting}); retry in {self.retry_after} s",
                code=ErrorCode.BUSY,
                details={
                    "limit": self.most,
                    "setting": self.setting,
                    "retryAfter": self.retry_after,
                },
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
        """A share of `caller` for the block; `wait`: until one is free, not BUSY."""
        while wait and self._running[caller] >= self.most:
            await self._freed.wait()
        self.take(caller)
        try:
            yield
        finally:
            self.give_back(caller)
